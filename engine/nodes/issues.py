"""The issue node types (they act on pull requests too): comments, labels, assignees, edits, new issues."""

from __future__ import annotations

from typing import Any

from engine.nodes.context import NodeContext, NodeError, NodeSkipped
from engine.nodes.rest import (
    find_marked,
    get,
    may_have_written,
    pick,
    repo_path,
    segment,
    write_marker,
)


async def comment(ctx: NodeContext) -> dict[str, Any]:
    """Comment on an issue or pull request (github.issue.comment)."""
    path = f"{repo_path(ctx)}/issues/{ctx.number()}/comments"
    marker = write_marker(ctx.idempotency_key) if ctx.delivery else ""
    github = ctx.require_github()
    if marker and may_have_written(ctx):
        # an earlier attempt may have posted before it died: find it instead of posting twice
        found = find_marked(await github.paginate(path, params={"per_page": 100}), marker)
        if found is not None:
            ctx.log("the comment was already posted by an earlier attempt")
            return {"id": get(found, "id"), "url": get(found, "html_url")}
    body = f"{ctx.inputs['body']}\n{marker}" if marker else str(ctx.inputs["body"])
    result = await github.request("POST", path, body={"body": body})
    return {"id": get(result, "id"), "url": get(result, "html_url")}


def marker_text(marker: str) -> str:
    """The hidden HTML comment that tags an upserted comment."""
    return f"<!-- hookwise:{marker} -->"


async def upsert_comment(ctx: NodeContext) -> dict[str, Any]:
    """Create, or update in place, the one comment that carries a hidden marker (github.issue.upsert_comment)."""
    tag = marker_text(str(ctx.inputs["marker"]))
    body = f"{tag}\n{ctx.inputs['body']}"
    base = f"{repo_path(ctx)}/issues/{ctx.number()}/comments"
    github = ctx.require_github()
    try:
        existing = await github.paginate(base, params={"per_page": 100})
    except NodeSkipped:
        ctx.log("cannot look for an earlier comment without credentials; planning a new one")
        existing = []
    found = next((c for c in existing if tag in str(get(c, "body") or "")), None)
    if found is not None:
        comment_id = get(found, "id")
        if str(get(found, "body") or "") == body:
            # the same text again: an edit would spend a write (and the secondary limit) on nothing
            ctx.log("the comment already says this")
            return {"id": comment_id, "url": get(found, "html_url"), "created": False, "updated": False}
        result = await github.request(
            "PATCH", f"{repo_path(ctx)}/issues/comments/{segment(comment_id, 'comment id')}", body={"body": body}
        )
        return {
            "id": comment_id,
            "url": get(result, "html_url") or get(found, "html_url"),
            "created": False,
            "updated": True,
        }
    result = await github.request("POST", base, body={"body": body})
    return {"id": get(result, "id"), "url": get(result, "html_url"), "created": True, "updated": False}


def _current_labels(ctx: NodeContext) -> list[str] | None:
    """The target's labels as of this delivery, when the target is the event's subject."""
    if ctx.number() == ctx.event.number and ctx.target() == (ctx.event.owner, ctx.event.repo):
        return list(ctx.event.labels)
    return None


async def add_labels(ctx: NodeContext) -> dict[str, Any]:
    """Add labels (only those not already present are sent) (github.issue.add_labels)."""
    wanted = [str(label) for label in ctx.inputs["labels"]]
    present = _current_labels(ctx) or []
    lowered = {p.lower() for p in present}
    missing = [label for label in dict.fromkeys(wanted) if label.lower() not in lowered]
    if not missing:
        ctx.log(f"labels {wanted} are already present")
        return {"labels": present, "added": []}
    result = await ctx.require_github().request(
        "POST", f"{repo_path(ctx)}/issues/{ctx.number()}/labels", body={"labels": missing}
    )
    names = (
        [get(item, "name") for item in result] if isinstance(result, list) else present + missing
    )
    return {"labels": names, "added": missing}


async def remove_labels(ctx: NodeContext) -> dict[str, Any]:
    """Remove labels that are present (github.issue.remove_labels)."""
    present = _current_labels(ctx)
    removed = []
    for label in [str(label) for label in ctx.inputs["labels"]]:
        if present is not None and label.lower() not in {p.lower() for p in present}:
            continue
        try:
            await ctx.require_github().request(
                "DELETE", f"{repo_path(ctx)}/issues/{ctx.number()}/labels/{segment(label, 'label')}"
            )
        except NodeError as exc:
            if exc.status != 404:
                raise
            # GitHub: 404 when the label is not on the issue; the state asked for holds
            ctx.log(f"label {label!r} was not on the issue")
            continue
        removed.append(label)
    return {"removed": removed}


async def assign(ctx: NodeContext) -> dict[str, Any]:
    """Add assignees (github.issue.assign); `@mona` is mona (no login starts with @)."""
    assignees = [str(a).removeprefix("@") for a in ctx.inputs["assignees"]]
    await ctx.require_github().request(
        "POST",
        f"{repo_path(ctx)}/issues/{ctx.number()}/assignees",
        body={"assignees": assignees},
    )
    return {"assignees": assignees}


async def unassign(ctx: NodeContext) -> dict[str, Any]:
    """Remove assignees (github.issue.unassign); someone not assigned is no error."""
    assignees = [str(a).removeprefix("@") for a in ctx.inputs["assignees"]]
    await ctx.require_github().request(
        "DELETE",
        f"{repo_path(ctx)}/issues/{ctx.number()}/assignees",
        body={"assignees": assignees},
    )
    return {"assignees": assignees}


async def update_issue(ctx: NodeContext) -> dict[str, Any]:
    """Edit an issue or pull request: title, body, state (github.issue.update)."""
    body = pick(ctx.inputs, "title", "body", "state", "state_reason")
    if not body:
        raise NodeError("give at least one of title, body, state, state_reason")
    result = await ctx.require_github().request(
        "PATCH", f"{repo_path(ctx)}/issues/{ctx.number()}", body=body
    )
    return {
        "number": ctx.number(),
        "state": get(result, "state") or body.get("state"),
        "url": get(result, "html_url"),
    }


async def create_issue(ctx: NodeContext) -> dict[str, Any]:
    """Open a new issue (github.issue.create); once, however often the node runs."""
    body = pick(ctx.inputs, "title", "body", "labels", "assignees")
    marker = write_marker(ctx.idempotency_key) if ctx.delivery else ""
    github = ctx.require_github()
    if marker and may_have_written(ctx):
        recent = await github.paginate(
            f"{repo_path(ctx)}/issues",
            params={"state": "all", "sort": "created", "direction": "desc", "per_page": 100},
            limit=300,
        )
        found = find_marked(recent, marker)
        if found is not None:
            ctx.log("the issue was already opened by an earlier attempt")
            return {"number": get(found, "number"), "url": get(found, "html_url")}
    if marker:
        body["body"] = f"{body.get('body') or ''}\n{marker}".lstrip("\n")
    result = await github.request("POST", f"{repo_path(ctx)}/issues", body=body)
    return {"number": get(result, "number"), "url": get(result, "html_url")}
