"""The App's webhook deliveries as GitHub recorded them, and which to ask GitHub to send again.

GitHub does not retry a delivery that failed (hookwise down, a 5xx, a timeout); it keeps
each attempt for a few days under `GET /app/hook/deliveries`, newest first, with cursor
pagination, and redelivers one on `POST /app/hook/deliveries/{id}/attempts`. One event
(`guid`, our X-GitHub-Delivery id) may have several attempts: the first and redeliveries.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.github.client import GitHubClient

PER_PAGE = 100


@dataclass(frozen=True)
class HookDelivery:
    """One delivery attempt of the App's webhook."""

    id: int
    guid: str
    delivered_at: float
    status_code: int
    event: str
    action: str | None
    redelivery: bool

    @property
    def succeeded(self) -> bool:
        """GitHub's own split: a status code from 200 to 399 is a success."""
        return 200 <= self.status_code < 400

    @property
    def worth_redelivering(self) -> bool:
        """Failed for a reason that may pass: no answer (0), a timeout, a rate limit, a 5xx.
        A 4xx hookwise gave on purpose (bad signature, malformed) would fail again."""
        return self.status_code == 0 or self.status_code >= 500 or self.status_code in (408, 429)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> HookDelivery:
        """From one item of GET /app/hook/deliveries."""
        when = datetime.fromisoformat(str(item["delivered_at"]).replace("Z", "+00:00"))
        return cls(
            id=int(item["id"]),
            guid=str(item["guid"]),
            delivered_at=when.timestamp(),
            status_code=int(item.get("status_code") or 0),
            event=str(item.get("event") or ""),
            action=item.get("action"),
            redelivery=bool(item.get("redelivery")),
        )


async def deliveries_since(client: GitHubClient, since: float) -> list[HookDelivery]:
    """Every attempt delivered at or after `since` (all the pages of that window)."""
    found: list[HookDelivery] = []
    pages = client.app_pages("/app/hook/deliveries", {"per_page": PER_PAGE})
    async with aclosing(pages):  # stopping early closes the pages now
        async for page in pages:
            items = [HookDelivery.from_api(i) for i in page if isinstance(i, dict)]
            found.extend(i for i in items if i.delivered_at >= since)
            if not items or items[-1].delivered_at < since:
                break  # newest first: the rest is older than the window
    return found


def failed_events(attempts: Iterable[HookDelivery]) -> list[HookDelivery]:
    """Per event (guid) that no attempt delivered, its newest attempt, oldest event first
    (`worth_redelivering` says whether asking again may help)."""
    newest: dict[str, HookDelivery] = {}
    delivered: set[str] = set()
    for attempt in attempts:
        if attempt.succeeded:
            delivered.add(attempt.guid)
        held = newest.get(attempt.guid)
        if held is None or (attempt.delivered_at, attempt.id) > (held.delivered_at, held.id):
            newest[attempt.guid] = attempt
    failed = [a for guid, a in newest.items() if guid not in delivered]
    return sorted(failed, key=lambda a: (a.delivered_at, a.id))


async def redeliver(client: GitHubClient, attempt: HookDelivery) -> None:
    """Ask GitHub to send one delivery again (202; it is posted soon after)."""
    await client.app_request("POST", f"/app/hook/deliveries/{attempt.id}/attempts")
