"""What the server keeps (the records the store hands back) and the Store interface.

Every backend stores the same tables (DESIGN §6) and hands back these frozen records, so the
server, the workers and the command line never see a database row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Job:
    """A (delivery, rule) to run, claimed by one worker under a lease."""

    id: int
    delivery_id: str
    rule: str
    generation: int
    kind: str  # "run", or "files" when the rule waits for the changed files
    attempts: int


@dataclass(frozen=True)
class StoredDelivery:
    """A recorded delivery."""

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None
    payload: dict[str, Any] | None
    headers: dict[str, str]
    received_at: float
    status: str
    match_trace: dict[str, Any]
    raw_payload: str | None = None  # the JSON text as received; stored instead of re-encoding


class Store(Protocol):
    """What the server needs from its database."""

    def record_delivery(self, delivery: StoredDelivery, jobs: list[tuple[str, str]]) -> bool: ...
    def claim_job(
        self, worker: str, lease: float, *, delivery_id: str | None = None
    ) -> Job | None: ...
