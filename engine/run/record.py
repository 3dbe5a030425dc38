"""The run record (pure data): what ran, how it ended, and the GitHub calls made or planned.

It is what the server stores and what `hookwise run --format json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallRecord:
    """One GitHub REST call: sent, or (in dry-run) only planned."""

    method: str
    path: str
    body: Any = None
    sent: bool = False
    status: int | None = None
    node: str | None = None
    idempotency_key: str | None = None
    in_doubt: bool = False  # a write that got no answer: GitHub may or may not have applied it

    def to_json(self) -> dict[str, Any]:
        """The docs/design.md §3 call shape: method, path, body, sent."""
        return {"method": self.method, "path": self.path, "body": self.body, "sent": self.sent}

    def to_store(self) -> dict[str, Any]:
        """Everything, as the delivery log keeps it."""
        return {**self.to_json(), "status": self.status, "node": self.node,
                "idempotency_key": self.idempotency_key, "in_doubt": self.in_doubt}


@dataclass
class NodeRecord:
    """How one node ran."""

    id: str
    uses: str
    status: str = "pending"
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why it failed
    reason: str | None = None  # why it was skipped or cancelled (not an error)
    retryable: bool = False  # its failure may pass on another try (GitHub 5xx, rate limits)
    wait: float | None = None  # a rate limit: GitHub asked to wait this long before trying again

    def to_json(self) -> dict[str, Any]:
        """The docs/design.md §3 node shape: id, status, outputs, error; and why it was skipped."""
        return {
            "id": self.id,
            "status": self.status,
            "outputs": self.outputs,
            "error": self.error,
            "reason": self.reason,
        }

    def to_store(self) -> dict[str, Any]:
        """Everything, as the delivery log keeps it."""
        return {
            **self.to_json(),
            "uses": self.uses,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "retryable": self.retryable,
        }


@dataclass
class RunRecord:
    """One rule's run for one delivery."""

    rule: str
    file: str
    delivery: str = ""
    event: str = ""
    status: str = "pending"
    started_at: float | None = None
    finished_at: float | None = None
    nodes: list[NodeRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False

    def node(self, node_id: str) -> NodeRecord:
        """The record of one node."""
        return next(n for n in self.nodes if n.id == node_id)

    def to_store(self) -> dict[str, Any]:
        """Everything, as the delivery log keeps it (faster than dataclasses.asdict)."""
        return {
            "rule": self.rule,
            "file": self.file,
            "delivery": self.delivery,
            "event": self.event,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "nodes": [n.to_store() for n in self.nodes],
            "calls": [c.to_store() for c in self.calls],
            "logs": list(self.logs),
            "error": self.error,
            "dry_run": self.dry_run,
        }

    def to_json(self) -> dict[str, Any]:
        """The docs/design.md §3 run shape: rule, status, nodes, calls."""
        return {
            "rule": self.rule,
            "status": self.status,
            "nodes": [n.to_json() for n in self.nodes],
            "calls": [c.to_json() for c in self.calls],
        }
