"""The GitHub node types: each one a few REST calls through ctx.github.

Paths and bodies follow GitHub's REST API (shared/fixtures/github/rest-api-subset.openapi.json).
`owner`, `repo` and `number` / `sha` default to the event's.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from engine.github.changed_files import PR_FILES_LIMIT, pr_files_key
from engine.nodes.context import NodeContext, NodeError, NodeSkipped

DIFF = "application/vnd.github.diff"


def _pick(inputs: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: inputs[n] for n in names if inputs.get(n) is not None}


def _repo_path(ctx: NodeContext) -> str:
    owner, repo = ctx.target()
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


def _head_sha(ctx: NodeContext, name: str = "sha") -> str:
    sha = ctx.inputs.get(name) or ctx.event.sha
    if not sha:
        raise NodeError(f"{ctx.uses} needs a commit SHA ({name}); the event has none")
    return str(sha)


async def pr_files(ctx: NodeContext) -> list[dict[str, Any]]:
    """The pull request's changed files, fetched once per run and shared by the nodes."""
    key = pr_files_key(*ctx.target(), ctx.number())
    if key in ctx.shared:
        return list(ctx.shared[key])
    github = ctx.github
    can_read = github is not None and getattr(github, "can_read", True)
    if not can_read and ctx.changed_files is not None and ctx.number() == ctx.event.number:
        files: list[dict[str, Any]] = [{"filename": f} for f in ctx.changed_files]
    else:
        files = await ctx.require_github().paginate(
            f"{_repo_path(ctx)}/pulls/{ctx.number()}/files",
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
    key = f"pr:{_repo_path(ctx)}#{ctx.number()}"
    if key not in ctx.shared:
        github = ctx.require_github()
        base = f"{_repo_path(ctx)}/pulls/{ctx.number()}"
        pull = await github.request("GET", base)
        diff = await github.request("GET", base, accept=DIFF)
        comments = await github.paginate(
            f"{_repo_path(ctx)}/issues/{ctx.number()}/comments", params={"per_page": 100}
        )
        ctx.shared[key] = {"pull_request": pull, "diff": diff, "comments": comments}
    context = dict(ctx.shared[key])
    context["files"] = await pr_files(ctx)
    return context


async def pull_request_review(ctx: NodeContext) -> dict[str, Any]:
    """Submit a pull request review: approve, request changes or comment (github.pull_request.review)."""
    body = _pick(ctx.inputs, "event", "body", "comments", "commit_id")
    if body.get("event") in ("REQUEST_CHANGES", "COMMENT") and not body.get("body"):
        raise NodeError(f"a {body['event']} review needs a body")
    result = await ctx.require_github().request(
        "POST", f"{_repo_path(ctx)}/pulls/{ctx.number()}/reviews", body=body
    )
    return {
        "id": _get(result, "id"),
        "state": _get(result, "state"),
        "url": _get(result, "html_url"),
    }


async def request_reviewers(ctx: NodeContext) -> dict[str, Any]:
    """Request reviews from users or teams (github.pull_request.request_reviewers)."""
    body = _pick(ctx.inputs, "reviewers", "team_reviewers")
    if not body:
        raise NodeError("give reviewers or team_reviewers")
    await ctx.require_github().request(
        "POST", f"{_repo_path(ctx)}/pulls/{ctx.number()}/requested_reviewers", body=body
    )
    return {
        "reviewers": body.get("reviewers", []),
        "team_reviewers": body.get("team_reviewers", []),
    }


async def merge(ctx: NodeContext) -> dict[str, Any]:
    """Merge the pull request, only if its head is still the SHA the rule saw (github.pull_request.merge)."""
    body = _pick(ctx.inputs, "merge_method", "commit_title", "commit_message")
    body["sha"] = _head_sha(ctx)  # GitHub refuses the merge if the head moved since
    result = await ctx.require_github().request(
        "PUT", f"{_repo_path(ctx)}/pulls/{ctx.number()}/merge", body=body
    )
    return {
        "merged": _get(result, "merged"),
        "sha": _get(result, "sha"),
        "message": _get(result, "message"),
    }


def write_marker(key: str) -> str:
    """The hidden tag that makes a comment findable after a crash or a failed attempt."""
    return f"<!-- hookwise:write={key} -->"


async def comment(ctx: NodeContext) -> dict[str, Any]:
    """Comment on an issue or pull request (github.issue.comment)."""
    path = f"{_repo_path(ctx)}/issues/{ctx.number()}/comments"
    marker = write_marker(ctx.idempotency_key) if ctx.delivery else ""
    github = ctx.require_github()
    if marker and (ctx.recovering or ctx.attempt > 1) and getattr(github, "can_read", True):
        # an earlier attempt may have posted before it died: find it instead of posting twice
        earlier = await github.paginate(path, params={"per_page": 100})
        found = next((c for c in earlier if marker in str(_get(c, "body") or "")), None)
        if found is not None:
            ctx.log("the comment was already posted by an earlier attempt")
            return {"id": _get(found, "id"), "url": _get(found, "html_url")}
    body = f"{ctx.inputs['body']}\n{marker}" if marker else str(ctx.inputs["body"])
    result = await github.request("POST", path, body={"body": body})
    return {"id": _get(result, "id"), "url": _get(result, "html_url")}


def marker_text(marker: str) -> str:
    """The hidden HTML comment that tags an upserted comment."""
    return f"<!-- hookwise:{marker} -->"


async def upsert_comment(ctx: NodeContext) -> dict[str, Any]:
    """Create, or update in place, the one comment that carries a hidden marker (github.issue.upsert_comment)."""
    tag = marker_text(str(ctx.inputs["marker"]))
    body = f"{tag}\n{ctx.inputs['body']}"
    base = f"{_repo_path(ctx)}/issues/{ctx.number()}/comments"
    github = ctx.require_github()
    try:
        existing = await github.paginate(base, params={"per_page": 100})
    except NodeSkipped:
        ctx.log("cannot look for an earlier comment without credentials; planning a new one")
        existing = []
    found = next((c for c in existing if tag in str(_get(c, "body") or "")), None)
    if found is not None:
        comment_id = _get(found, "id")
        result = await github.request(
            "PATCH", f"{_repo_path(ctx)}/issues/comments/{comment_id}", body={"body": body}
        )
        return {
            "id": comment_id,
            "url": _get(result, "html_url") or _get(found, "html_url"),
            "created": False,
        }
    result = await github.request("POST", base, body={"body": body})
    return {"id": _get(result, "id"), "url": _get(result, "html_url"), "created": True}


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
        "POST", f"{_repo_path(ctx)}/issues/{ctx.number()}/labels", body={"labels": missing}
    )
    names = (
        [_get(item, "name") for item in result] if isinstance(result, list) else present + missing
    )
    return {"labels": names, "added": missing}


async def remove_labels(ctx: NodeContext) -> dict[str, Any]:
    """Remove labels that are present (github.issue.remove_labels)."""
    present = _current_labels(ctx)
    removed = []
    for label in [str(label) for label in ctx.inputs["labels"]]:
        if present is not None and label.lower() not in {p.lower() for p in present}:
            continue
        await ctx.require_github().request(
            "DELETE", f"{_repo_path(ctx)}/issues/{ctx.number()}/labels/{quote(label, safe='')}"
        )
        removed.append(label)
    return {"removed": removed}


async def assign(ctx: NodeContext) -> dict[str, Any]:
    """Add assignees (github.issue.assign)."""
    assignees = [str(a) for a in ctx.inputs["assignees"]]
    await ctx.require_github().request(
        "POST",
        f"{_repo_path(ctx)}/issues/{ctx.number()}/assignees",
        body={"assignees": assignees},
    )
    return {"assignees": assignees}


async def update_issue(ctx: NodeContext) -> dict[str, Any]:
    """Edit an issue or pull request: title, body, state (github.issue.update)."""
    body = _pick(ctx.inputs, "title", "body", "state", "state_reason")
    if not body:
        raise NodeError("give at least one of title, body, state, state_reason")
    result = await ctx.require_github().request(
        "PATCH", f"{_repo_path(ctx)}/issues/{ctx.number()}", body=body
    )
    return {
        "number": ctx.number(),
        "state": _get(result, "state") or body.get("state"),
        "url": _get(result, "html_url"),
    }


async def create_issue(ctx: NodeContext) -> dict[str, Any]:
    """Open a new issue (github.issue.create)."""
    body = _pick(ctx.inputs, "title", "body", "labels", "assignees")
    result = await ctx.require_github().request("POST", f"{_repo_path(ctx)}/issues", body=body)
    return {"number": _get(result, "number"), "url": _get(result, "html_url")}


async def commit_get(ctx: NodeContext) -> dict[str, Any]:
    """Fetch a commit with its files and patches (github.commit.get)."""
    sha = _head_sha(ctx)
    key = f"commit:{_repo_path(ctx)}@{sha}"
    if key not in ctx.shared:
        ctx.shared[key] = await ctx.require_github().request(
            "GET", f"{_repo_path(ctx)}/commits/{sha}"
        )
    commit = ctx.shared[key]
    return {
        "commit": commit,
        "files": _get(commit, "files") or [],
        "sha": _get(commit, "sha") or sha,
    }


async def repository_file(ctx: NodeContext) -> dict[str, Any]:
    """Read a file's decoded content (github.repository.file)."""
    path = "/".join(quote(part, safe="") for part in str(ctx.inputs["path"]).split("/"))
    params = _pick(ctx.inputs, "ref")
    result = await ctx.require_github().request(
        "GET", f"{_repo_path(ctx)}/contents/{path}", params=params
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
    base, head = quote(str(ctx.inputs["base"]), safe=""), quote(str(ctx.inputs["head"]), safe="")
    result = await ctx.require_github().request("GET", f"{_repo_path(ctx)}/compare/{base}...{head}")
    return {k: _get(result, k) for k in ("status", "ahead_by", "behind_by", "commits", "files")}


def _check_body(ctx: NodeContext, *names: str) -> dict[str, Any]:
    body = _pick(ctx.inputs, *names)
    if body.get("status") == "completed" and "conclusion" not in body:
        raise NodeError("a completed check run needs a conclusion")
    return body


async def check_run_create(ctx: NodeContext) -> dict[str, Any]:
    """Create a check run on a commit (github.check_run.create)."""
    body = _check_body(ctx, "name", "status", "conclusion", "output", "details_url", "external_id")
    body["head_sha"] = _head_sha(ctx, "head_sha")
    result = await ctx.require_github().request("POST", f"{_repo_path(ctx)}/check-runs", body=body)
    return {"id": _get(result, "id"), "url": _get(result, "html_url")}


async def check_run_update(ctx: NodeContext) -> dict[str, Any]:
    """Update a check run (github.check_run.update)."""
    body = _check_body(ctx, "name", "status", "conclusion", "output", "details_url", "external_id")
    run_id = ctx.inputs["check_run_id"]
    result = await ctx.require_github().request(
        "PATCH", f"{_repo_path(ctx)}/check-runs/{run_id}", body=body
    )
    return {"id": _get(result, "id") or run_id, "url": _get(result, "html_url")}


async def status_set(ctx: NodeContext) -> dict[str, Any]:
    """Set a commit status (github.status.set)."""
    body = _pick(ctx.inputs, "state", "context", "description", "target_url")
    result = await ctx.require_github().request(
        "POST", f"{_repo_path(ctx)}/statuses/{_head_sha(ctx)}", body=body
    )
    return {"id": _get(result, "id"), "url": _get(result, "url")}


async def workflow_dispatch(ctx: NodeContext) -> dict[str, Any]:
    """Start a GitHub Actions workflow (workflow_dispatch) (github.workflow.dispatch)."""
    ref = ctx.inputs.get("ref") or ctx.event.ref_name
    if not ref:
        raise NodeError("github.workflow.dispatch needs a ref; the event has no branch")
    body: dict[str, Any] = {"ref": str(ref)}
    if ctx.inputs.get("inputs"):
        body["inputs"] = {k: _as_input(v) for k, v in ctx.inputs["inputs"].items()}
    workflow = quote(str(ctx.inputs["workflow_id"]), safe="")
    await ctx.require_github().request(
        "POST", f"{_repo_path(ctx)}/actions/workflows/{workflow}/dispatches", body=body
    )
    return {}


def _as_input(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else str(value)


async def repository_dispatch(ctx: NodeContext) -> dict[str, Any]:
    """Send a repository_dispatch event (github.repository.dispatch)."""
    body = _pick(ctx.inputs, "event_type", "client_payload")
    await ctx.require_github().request("POST", f"{_repo_path(ctx)}/dispatches", body=body)
    return {}


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


IMPLEMENTATIONS = {
    "github.pull_request.get": pull_request_get,
    "github.pull_request.files": pull_request_files,
    "github.pull_request.review": pull_request_review,
    "github.pull_request.request_reviewers": request_reviewers,
    "github.pull_request.merge": merge,
    "github.issue.comment": comment,
    "github.issue.upsert_comment": upsert_comment,
    "github.issue.add_labels": add_labels,
    "github.issue.remove_labels": remove_labels,
    "github.issue.assign": assign,
    "github.issue.update": update_issue,
    "github.issue.create": create_issue,
    "github.commit.get": commit_get,
    "github.repository.file": repository_file,
    "github.repository.compare": compare,
    "github.check_run.create": check_run_create,
    "github.check_run.update": check_run_update,
    "github.status.set": status_set,
    "github.workflow.dispatch": workflow_dispatch,
    "github.repository.dispatch": repository_dispatch,
}
