"""The GitHub seam each node gets: records every call, and in dry-run records writes unsent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.nodes.base import GitHubAPI, NodeSkipped
from engine.record import CallRecord

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RecordingGitHub:
    """A GitHubAPI that records calls into the run record; dry-run writes are not sent."""

    def __init__(
        self,
        inner: GitHubAPI | None,
        calls: list[CallRecord],
        *,
        dry_run: bool,
        node: str,
        idempotency_key: str,
    ) -> None:
        self.inner = inner
        self.calls = calls
        self.dry_run = dry_run
        self.node = node
        self.idempotency_key = idempotency_key

    @property
    def can_read(self) -> bool:
        """Whether reads reach GitHub (there are credentials)."""
        return self.inner is not None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: str | None = None,
    ) -> Any:
        """Send (or in dry-run, for writes, only record) one REST call."""
        method = method.upper()
        record = CallRecord(method, path, body, node=self.node)
        if method in WRITE_METHODS:
            record.idempotency_key = self.idempotency_key
        self.calls.append(record)
        if method in WRITE_METHODS and self.dry_run:
            return None
        if self.inner is None:
            self.calls.remove(record)
            raise NodeSkipped(
                f"no GitHub App credentials: cannot read {method} {path} in a dry run"
            )
        result = await self.inner.request(method, path, params=params, body=body, accept=accept)
        record.sent = True
        return result

    async def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[Any]:
        """Every item of a list endpoint (reads only)."""
        if self.inner is None:
            raise NodeSkipped(f"no GitHub App credentials: cannot read GET {path} in a dry run")
        record = CallRecord("GET", path, None, node=self.node)
        self.calls.append(record)
        items = await self.inner.paginate(path, params=params, limit=limit)
        record.sent = True
        return items
