"""The pull request node types: read a PR, its files; review, request reviewers, merge."""

from __future__ import annotations

from typing import Any

from engine.github.changed_files import PR_FILES_LIMIT, pr_files_key
from engine.nodes.context import NodeContext, NodeError
from engine.nodes.rest import (
    DIFF,
    find_marked,
    get,
    head_sha,
    may_have_written,
    pick,
    repo_path,
    write_marker,
)


async def pr_files(ctx: NodeContext) -> list[dict[str, Any]]:
    """The pull request's changed files, fetched once per run and shared by the nodes."""
    key = pr_files_key(*ctx.target(), ctx.number())
    if key in ctx.shared:
        return list(ctx.shared[key])
    # files given offline (run --changed-files, a rule test's changed-files) are the answer
    if ctx.changed_files is not None and ctx.number() == ctx.event.number:
        files: list[dict[str, Any]] = [{"filename": f} for f in ctx.changed_files]
    else:
        files = await ctx.require_github().paginate(
            f"{repo_path(ctx)}/pulls/{ctx.number()}/files",
            params={"per_page": 100},
            limit=PR_FILES_LIMIT,
        )
    ctx.shared[key] = files
    return list(files)


async def pull_request_files(ctx: NodeContext) -> dict[str, Any]:
    """List the pull request's changed files (all pages, up to GitHub's 3,000) (github.pull_request.files)."""
    files = await pr_files(ctx)
    return {"files": files, "count": len(files)}


async def pull_request_get(ctx: NodeContext) -> dict[str, Any]:
    """Fetch the pull request with its diff, changed files and comments (github.pull_request.get)."""
    key = f"pr:{repo_path(ctx)}#{ctx.number()}"
    if key not in ctx.shared:
        github = ctx.require_github()
        base = f"{repo_path(ctx)}/pulls/{ctx.number()}"
        pull = await github.request("GET", base)
        diff, diff_error = None, None
        try:
            diff = await github.request("GET", base, accept=DIFF)
        except NodeError as exc:
            if exc.retryable or exc.status is None:
                raise
            # GitHub answers 406 for a diff too large to render: the rest is still worth having
            diff_error = exc.message
            ctx.log(f"the diff is not available: {exc.message}")
        comments = await github.paginate(
            f"{repo_path(ctx)}/issues/{ctx.number()}/comments", params={"per_page": 100}
        )
        ctx.shared[key] = {
            "pull_request": pull, "diff": diff, "diff_error": diff_error, "comments": comments
        }
    context = dict(ctx.shared[key])
    context["files"] = await pr_files(ctx)
    return context


async def pull_request_review(ctx: NodeContext) -> dict[str, Any]:
    """Submit a pull request review: approve, request changes or comment
    (github.pull_request.review); once, however often the node runs."""
    body = pick(ctx.inputs, "event", "body", "comments", "commit_id")
    if body.get("event") in ("REQUEST_CHANGES", "COMMENT") and not body.get("body"):
        raise NodeError(f"a {body['event']} review needs a body")
    path = f"{repo_path(ctx)}/pulls/{ctx.number()}/reviews"
    marker = write_marker(ctx.idempotency_key) if ctx.delivery else ""
    github = ctx.require_github()
    if marker and may_have_written(ctx):
        found = find_marked(await github.paginate(path, params={"per_page": 100}), marker)
        if found is not None:
            ctx.log("the review was already submitted by an earlier attempt")
            return {
                "id": get(found, "id"),
                "state": get(found, "state"),
                "url": get(found, "html_url"),
            }
    if marker:  # an HTML comment: invisible in the review, findable after a crash
        body["body"] = f"{body.get('body') or ''}\n{marker}".lstrip("\n")
    result = await github.request("POST", path, body=body)
    return {
        "id": get(result, "id"),
        "state": get(result, "state"),
        "url": get(result, "html_url"),
    }


async def request_reviewers(ctx: NodeContext) -> dict[str, Any]:
    """Request reviews from users or teams (github.pull_request.request_reviewers)."""
    body = pick(ctx.inputs, "reviewers", "team_reviewers")
    if not body:
        raise NodeError("give reviewers or team_reviewers")
    await ctx.require_github().request(
        "POST", f"{repo_path(ctx)}/pulls/{ctx.number()}/requested_reviewers", body=body
    )
    return {
        "reviewers": body.get("reviewers", []),
        "team_reviewers": body.get("team_reviewers", []),
    }


async def merge(ctx: NodeContext) -> dict[str, Any]:
    """Merge the pull request, only if its head is still the SHA the rule saw (github.pull_request.merge)."""
    body = pick(ctx.inputs, "merge_method", "commit_title", "commit_message")
    body["sha"] = head_sha(ctx)  # GitHub refuses the merge if the head moved since
    result = await ctx.require_github().request(
        "PUT", f"{repo_path(ctx)}/pulls/{ctx.number()}/merge", body=body
    )
    return {
        "merged": get(result, "merged"),
        "sha": get(result, "sha"),
        "message": get(result, "message"),
    }
