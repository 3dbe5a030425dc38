"""`github.search.issues`: GitHub's issue and pull request search, paginated, capped, and
paced under the search API's own limit (30 requests a minute for an installation).

The query is scoped to the event's repository unless it names its own `repo:`, `org:` or
`user:`; a repository rule's query may name no other repository (its scope decides)."""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any

from engine.nodes.context import NodeContext, NodeError

SEARCH_PER_MINUTE = 30  # GitHub's limit for the search API (installation tokens)
SEARCH_MAX_RESULTS = 1000  # the search API returns at most 1,000 results for a query
_PER_PAGE = 100
# a qualifier that says where to search (`-repo:x` excludes, so it says nothing of where)
_SCOPING = re.compile(r"(?:^|\s)(repo|org|user):(\S+)", re.I)
# the search requests this process sent, per installation: (monotonic time) of each, a minute
_sent: dict[int | None, deque[float]] = {}


async def search_issues(ctx: NodeContext) -> dict[str, Any]:
    """Search issues and pull requests; outputs `items`, `count`, `total_count`, `incomplete`."""
    query = str(ctx.inputs["q"]).strip()
    query = _scoped(ctx, query)
    cap = int(ctx.inputs.get("max") or 100)
    params: dict[str, Any] = {"q": query, "per_page": min(_PER_PAGE, cap)}
    for name in ("sort", "order"):
        if ctx.inputs.get(name):
            params[name] = ctx.inputs[name]
    github = ctx.require_github()
    items: list[Any] = []
    total = 0
    incomplete = False
    page = 1
    while len(items) < cap:
        _pace(ctx.event.installation_id)
        answer = await github.request("GET", "/search/issues", params={**params, "page": page})
        found = answer.get("items", []) if isinstance(answer, dict) else []
        total = int(answer.get("total_count") or 0) if isinstance(answer, dict) else 0
        incomplete = incomplete or bool(isinstance(answer, dict) and answer.get("incomplete_results"))
        items.extend(found)
        if len(found) < params["per_page"] or page * params["per_page"] >= min(total, SEARCH_MAX_RESULTS):
            break
        page += 1
    items = items[:cap]
    ctx.log(f"search {query!r}: {len(items)} of {total} result(s)")
    return {"items": items, "count": len(items), "total_count": total, "incomplete": incomplete}


def _scoped(ctx: NodeContext, query: str) -> str:
    """The query limited to the event's repository unless it names where to search; a
    repository rule's query may only name its own repository."""
    named = _SCOPING.findall(query)
    if ctx.scope is not None:
        for kind, value in named:
            owner, _, repo = value.partition("/")
            if kind.lower() != "repo" or not ctx.scope.allows(owner, repo):
                raise NodeError(
                    f"a repository rule may search only {ctx.scope.describe()}; "
                    f"the query names {kind}:{value}"
                )
    if named and ctx.scope is None:
        return query
    owner, repo = ctx.target()  # a repository rule's query is always limited to its own
    return f"repo:{owner}/{repo} {query}"


def _pace(installation: int | None) -> None:
    """Keep under SEARCH_PER_MINUTE: past it, the job waits for the oldest request to age
    out of the minute (the executor defers it; no worker is held)."""
    now = time.monotonic()
    sent = _sent.setdefault(installation, deque())
    while sent and now - sent[0] >= 60.0:
        sent.popleft()
    if len(sent) >= SEARCH_PER_MINUTE:
        wait = 60.0 - (now - sent[0])
        raise NodeError(
            f"the search API allows {SEARCH_PER_MINUTE} requests a minute; waiting {wait:.0f}s",
            retryable=True,
            wait=wait,
        )
    sent.append(now)
