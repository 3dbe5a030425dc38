"""Shared by the GitHub node implementations: REST paths of the event's repository, inputs
picked by their REST names, and the hidden markers that make a node's write findable again.

A write node may run again after a crash or a failed attempt (its earlier attempt may have
written before dying). Each one that creates something tags it with a marker carrying its
idempotency key (delivery:rule:node), and when it runs again it looks for that marker before
creating anything: the object GitHub already has is the node's result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

from engine.nodes.context import NodeContext, NodeError

DIFF = "application/vnd.github.diff"


def pick(inputs: dict[str, Any], *names: str) -> dict[str, Any]:
    """The inputs of those names that are set, as a REST body."""
    return {n: inputs[n] for n in names if inputs.get(n) is not None}


def segment(value: Any, name: str) -> str:
    """One path segment: percent-encoded whole (a `/` cannot start another segment), and never
    empty, `.` or `..`, which an HTTP client would resolve into another endpoint."""
    text = str(value)
    if text in ("", ".", "..") or unquote(text) in (".", ".."):  # %2e%2e decoded by a proxy
        raise NodeError(f"{name} {text!r} cannot stand in a request path")
    return quote(text, safe="")


def segments(value: Any, name: str) -> str:
    """A slash-separated path (a file's) with each part a `segment`."""
    return "/".join(segment(part, name) for part in str(value).split("/"))


def repo_path(ctx: NodeContext) -> str:
    """`/repos/{owner}/{repo}` of the node's target repository."""
    owner, repo = ctx.target()
    return f"/repos/{segment(owner, 'owner')}/{segment(repo, 'repo')}"


def head_sha(ctx: NodeContext, name: str = "sha") -> str:
    """The commit a node acts on: its input, else the event's head commit."""
    sha = ctx.inputs.get(name) or ctx.event.sha
    if not sha:
        raise NodeError(f"{ctx.uses} needs a commit SHA ({name}); the event has none")
    return str(sha)


def get(data: Any, key: str) -> Any:
    """A key of a JSON object, or None."""
    return data.get(key) if isinstance(data, dict) else None


def write_marker(key: str) -> str:
    """The hidden tag that makes a write findable after a crash or a failed attempt."""
    return f"<!-- hookwise:write={key} -->"


def may_have_written(ctx: NodeContext) -> bool:
    """Whether an earlier attempt of this node may already have written (so look first)."""
    github = ctx.github
    return (
        bool(ctx.delivery)
        and (ctx.recovering or ctx.attempt > 1)
        and bool(getattr(github, "can_read", True))
    )


def find_marked(items: Iterable[Any], marker: str, field: str = "body") -> Any:
    """The first item whose `field` carries the marker, or None."""
    return next((item for item in items if marker in str(get(item, field) or "")), None)
