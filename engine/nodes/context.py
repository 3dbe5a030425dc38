"""What a node implementation sees (NodeContext) and how it reports failure.

A node implementation is `async def run(ctx: NodeContext) -> dict[str, Any]` (its outputs).
It reaches GitHub only through `ctx.github`, which the executor provides: so the executor
decides whether a write is sent or, in dry-run, recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.github.api import GitHubAPI
from engine.lang.model import Scope
from engine.match.events import Event


class NodeError(Exception):
    """The node failed; `retryable` lets the node's `retry` policy try again; `status` is
    GitHub's HTTP status when GitHub refused a call (a node may accept some: a 404 for a
    label already gone); `wait`, for a rate limit, how long the job waits before its next try."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        wait: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.wait = wait  # a rate limit: seconds GitHub asked to wait before trying again


class NodeSkipped(Exception):
    """The node cannot run here (a dry run without credentials must skip reads)."""


@dataclass
class NodeContext:
    """The inputs and services of one node attempt."""

    node_id: str
    uses: str
    inputs: dict[str, Any]
    event: Event
    github: GitHubAPI | None
    rule: str = ""
    delivery: str = ""
    attempt: int = 1
    logs: list[str] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)  # per-run cache (PR context)
    changed_files: tuple[str, ...] | None = None  # known offline (--changed-files)
    idempotency_key: str = ""  # delivery:rule:node, the same in every retry of this node
    # an earlier attempt of this run was interrupted (a crash): writes may already be done
    recovering: bool = False
    scope: Scope | None = None  # a repository rule acts only where its scope allows

    def log(self, message: str) -> None:
        """Append a line to the run record."""
        self.logs.append(f"{self.node_id}: {message}")

    def require_github(self) -> GitHubAPI:
        """The GitHub client, or a skip when there is none (dry run without credentials)."""
        if self.github is None:
            raise NodeSkipped("no GitHub App credentials: reads cannot be made in a dry run")
        return self.github

    def target(self) -> tuple[str, str]:
        """owner and repo: the inputs', else the event's repository."""
        owner = self.inputs.get("owner") or self.event.owner
        repo = self.inputs.get("repo") or self.event.repo
        if not owner or not repo:
            raise NodeError("no repository: the event has none and owner/repo are not given")
        if self.scope is not None and not self.scope.allows(str(owner), str(repo)):
            raise NodeError(
                f"a repository rule may act only on {self.scope.describe()}; "
                f"this node's owner/repo point at {owner}/{repo}"
            )
        return str(owner), str(repo)

    def number(self) -> int:
        """The issue or pull request number: the input's, else the event's."""
        number = self.inputs.get("number", self.event.number)
        if number is None:
            raise NodeError(f"{self.uses} needs a pull request or issue number; the event has none")
        return int(number)
