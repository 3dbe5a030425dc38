"""The GitHub seam each node gets: records every call, and in dry-run records writes unsent.

GitHub's errors become NodeErrors here, with GitHub's status and message; rate limits, 5xx
and network errors are retryable by the node's `retry` policy. Every path is checked here,
last, before anything is sent: no `.` or `..` segment (an HTTP client resolves those into
another endpoint), and a repository rule's only under `/repos/{owner}/{repo}/` of its scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from engine.github.api import GitHubAPI, GitHubError, RateLimited, retryable
from engine.lang.model import Scope
from engine.nodes.context import NodeError, NodeSkipped
from engine.run.record import CallRecord

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def refused_path(method: str, path: str, scope: Scope | None) -> str | None:
    """Why a node's request may not be sent, or None when it may."""
    parts = path.split("?", 1)[0].split("/")
    if parts[0] != "" or len(parts) < 2:
        return f"refused {method} {path!r}: not an API path"
    for part in parts[1:]:
        if unquote(part) in ("", ".", "..") or unquote(unquote(part)) in (".", ".."):
            return f"refused {method} {path!r}: a path may not have an empty, '.' or '..' segment"
    searching = method == "GET" and parts[1:] == ["search", "issues"]  # scoped by its query
    if scope is not None and not searching and not (
        len(parts) >= 4 and parts[1] == "repos" and scope.allows(unquote(parts[2]), unquote(parts[3]))
    ):
        return (
            f"refused {method} {path!r}: a repository rule may call GitHub only under "
            f"/repos/ of {scope.describe()}"
        )
    return None


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
        scope: Scope | None = None,
        spent: Callable[[], str | None] | None = None,
    ) -> None:
        self.inner = inner
        self.calls = calls
        self.spent = spent  # the run's operations budget: why no more calls may be made
        self.dry_run = dry_run
        self.node = node
        self.idempotency_key = idempotency_key
        self.scope = scope

    def _guard(self, method: str, path: str) -> None:
        over = self.spent() if self.spent is not None else None
        if over is not None:  # the node stops here; the next run picks up what is left
            raise NodeSkipped(over)
        why = refused_path(method, path, self.scope)
        if why is not None:
            self.calls.append(CallRecord(method, path, None, node=self.node))
            raise NodeError(why)

    @property
    def memo(self) -> dict[Any, tuple[float, Any]] | None:
        """The process's memo of the client behind this one (None offline: canned answers)."""
        client = getattr(self.inner, "client", None)
        memo = getattr(client, "memo", None)
        return memo if isinstance(memo, dict) else None

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
        on_status: Callable[[int], None] | None = None,
    ) -> Any:
        """Send (or in dry-run, for writes, only record) one REST call."""
        method = method.upper()
        self._guard(method, path)
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
        def heard(status: int) -> None:
            record.status = status

        try:
            result = await self.inner.request(
                method, path, params=params, body=body, accept=accept, on_status=heard
            )
        except GitHubError as exc:
            record.sent = exc.status != 0
            record.status = exc.status or None
            record.in_doubt = method in WRITE_METHODS and exc.status == 0
            raise node_error(exc) from None
        record.sent = True
        return result

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """Every item of a list endpoint (reads only)."""
        self._guard("GET", path)
        if self.inner is None:
            raise NodeSkipped(f"no GitHub App credentials: cannot read GET {path} in a dry run")
        record = CallRecord("GET", path, None, node=self.node)
        self.calls.append(record)
        def heard(status: int) -> None:
            record.status = status

        try:
            items = await self.inner.paginate(path, params=params, limit=limit, on_status=heard)
        except GitHubError as exc:
            record.sent = exc.status != 0
            record.status = exc.status or None
            raise node_error(exc) from None
        record.sent = True
        return items


def node_error(exc: GitHubError) -> NodeError:
    """A GitHub failure as a node failure: 5xx, rate limits and network errors may be retried."""
    return NodeError(
        f"GitHub {exc.status}: {exc.message}",
        retryable=retryable(exc),
        status=exc.status or None,
        wait=exc.wait if isinstance(exc, RateLimited) else None,
    )
