"""The repository node types: commits, files, comparisons, check runs, statuses, dispatches."""

from __future__ import annotations

import base64
from typing import Any

from engine.nodes.context import NodeContext, NodeError
from engine.nodes.rest import (
    get,
    head_sha,
    may_have_written,
    pick,
    repo_path,
    segment,
    segments,
)


async def commit_get(ctx: NodeContext) -> dict[str, Any]:
    """Fetch a commit with its files and patches (github.commit.get)."""
    sha = head_sha(ctx)
    key = f"commit:{repo_path(ctx)}@{sha}"
    if key not in ctx.shared:
        ctx.shared[key] = await ctx.require_github().request(
            "GET", f"{repo_path(ctx)}/commits/{segment(sha, 'sha')}"
        )
    commit = ctx.shared[key]
    return {
        "commit": commit,
        "files": get(commit, "files") or [],
        "sha": get(commit, "sha") or sha,
    }


async def repository_file(ctx: NodeContext) -> dict[str, Any]:
    """Read a file's decoded content (github.repository.file)."""
    path = segments(ctx.inputs["path"], "path")
    params = pick(ctx.inputs, "ref")
    result = await ctx.require_github().request(
        "GET", f"{repo_path(ctx)}/contents/{path}", params=params
    )
    if not isinstance(result, dict) or result.get("type") != "file":
        raise NodeError(f"{ctx.inputs['path']} is not a file")
    raw = base64.b64decode(result.get("content") or "")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NodeError(f"{ctx.inputs['path']} is not UTF-8 text") from None
    return {"content": content, "sha": result.get("sha")}


async def compare(ctx: NodeContext) -> dict[str, Any]:
    """Compare two refs (github.repository.compare)."""
    base, head = segment(ctx.inputs["base"], "base"), segment(ctx.inputs["head"], "head")
    result = await ctx.require_github().request("GET", f"{repo_path(ctx)}/compare/{base}...{head}")
    return {k: get(result, k) for k in ("status", "ahead_by", "behind_by", "commits", "files")}


def _check_body(ctx: NodeContext, *names: str) -> dict[str, Any]:
    body = pick(ctx.inputs, *names)
    if body.get("status") == "completed" and "conclusion" not in body:
        raise NodeError("a completed check run needs a conclusion")
    return body


async def check_run_create(ctx: NodeContext) -> dict[str, Any]:
    """Create a check run on a commit (github.check_run.create); once, however often the
    node runs: its `external_id` carries the node's idempotency key unless one is given."""
    body = _check_body(ctx, "name", "status", "conclusion", "output", "details_url", "external_id")
    body["head_sha"] = head_sha(ctx, "head_sha")
    if ctx.delivery and "external_id" not in body:
        body["external_id"] = ctx.idempotency_key
    github = ctx.require_github()
    if may_have_written(ctx):
        listed = await github.request(
            "GET",
            f"{repo_path(ctx)}/commits/{segment(body['head_sha'], 'head_sha')}/check-runs",
            params={"check_name": body["name"], "filter": "all", "per_page": 100},
        )
        runs = get(listed, "check_runs") or []
        found = next((r for r in runs if get(r, "external_id") == body.get("external_id")), None)
        if found is not None:
            ctx.log("the check run was already created by an earlier attempt")
            return {"id": get(found, "id"), "url": get(found, "html_url")}
    result = await github.request("POST", f"{repo_path(ctx)}/check-runs", body=body)
    return {"id": get(result, "id"), "url": get(result, "html_url")}


async def check_run_update(ctx: NodeContext) -> dict[str, Any]:
    """Update a check run (github.check_run.update)."""
    body = _check_body(ctx, "name", "status", "conclusion", "output", "details_url", "external_id")
    run_id = ctx.inputs["check_run_id"]
    result = await ctx.require_github().request(
        "PATCH", f"{repo_path(ctx)}/check-runs/{segment(run_id, 'check_run_id')}", body=body
    )
    return {"id": get(result, "id") or run_id, "url": get(result, "html_url")}


async def status_set(ctx: NodeContext) -> dict[str, Any]:
    """Set a commit status (github.status.set); not again when the commit's latest status of
    that context already says the same (an earlier attempt set it)."""
    body = pick(ctx.inputs, "state", "context", "description", "target_url")
    sha = segment(head_sha(ctx), "sha")
    github = ctx.require_github()
    if may_have_written(ctx):
        statuses = await github.request(
            "GET", f"{repo_path(ctx)}/commits/{sha}/statuses", params={"per_page": 100}
        )
        context = body.get("context", "default")
        latest = next(
            (s for s in statuses or [] if get(s, "context") == context), None
        )  # GitHub lists the newest first
        if latest is not None and all(get(latest, k) == v for k, v in body.items()):
            ctx.log("the status was already set by an earlier attempt")
            return {"id": get(latest, "id"), "url": get(latest, "url")}
    result = await github.request("POST", f"{repo_path(ctx)}/statuses/{sha}", body=body)
    return {"id": get(result, "id"), "url": get(result, "url")}


async def workflow_dispatch(ctx: NodeContext) -> dict[str, Any]:
    """Start a GitHub Actions workflow (workflow_dispatch) (github.workflow.dispatch)."""
    ref = ctx.inputs.get("ref") or ctx.event.ref_name
    if not ref:
        raise NodeError("github.workflow.dispatch needs a ref; the event has no branch")
    body: dict[str, Any] = {"ref": str(ref)}
    if ctx.inputs.get("inputs"):
        body["inputs"] = {k: _as_input(v) for k, v in ctx.inputs["inputs"].items()}
    workflow = segment(ctx.inputs["workflow_id"], "workflow_id")
    await ctx.require_github().request(
        "POST", f"{repo_path(ctx)}/actions/workflows/{workflow}/dispatches", body=body
    )
    return {}


def _as_input(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else str(value)


async def repository_dispatch(ctx: NodeContext) -> dict[str, Any]:
    """Send a repository_dispatch event (github.repository.dispatch)."""
    body = pick(ctx.inputs, "event_type", "client_payload")
    await ctx.require_github().request("POST", f"{repo_path(ctx)}/dispatches", body=body)
    return {}
