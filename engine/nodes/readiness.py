"""github.pull_request.status: is the pull request ready? Reviews, checks and mergeability.

Reviews: each reviewer's latest review that approves, requests changes or was dismissed
decides their stance (a COMMENTED review changes nothing), as GitHub counts approvals; only
reviewers with write access count (`author_association` OWNER, MEMBER or COLLABORATOR, as
branch protection counts them), so two throwaway accounts cannot approve a pull request.
https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request
Checks: the latest check run of each name on the head commit (`filter=latest`) and the
latest status of each context (the combined status), each counted once as success, failure,
pending, neutral or skipped.
https://docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference
https://docs.github.com/en/rest/commits/statuses#get-the-combined-status-for-a-specific-reference
"""

from __future__ import annotations

from typing import Any

from engine.lang.patterns import PatternError, PatternList, compile_name_pattern
from engine.nodes.context import NodeContext, NodeError
from engine.nodes.rest import get, repo_path, segment

CHECK_PAGES = 10  # at most 1,000 check runs are read
# check run conclusions -> the bucket they count in; an unfinished run is pending
CONCLUSIONS = {
    "success": "success",
    "neutral": "neutral",
    "skipped": "skipped",
    "failure": "failure",
    "cancelled": "failure",
    "timed_out": "failure",
    "action_required": "failure",
    "startup_failure": "failure",
    "stale": "failure",
}
STATUS_STATES = {"success": "success", "pending": "pending", "failure": "failure", "error": "failure"}
BUCKETS = ("success", "failure", "pending", "neutral", "skipped")


async def pull_request_status(ctx: NodeContext) -> dict[str, Any]:
    """The pull request's readiness: approvals, checks and mergeability (github.pull_request.status)."""
    github = ctx.require_github()
    base = f"{repo_path(ctx)}/pulls/{ctx.number()}"
    pull = await github.request("GET", base)
    reviews = await github.paginate(f"{base}/reviews", params={"per_page": 100})
    sha = str(get(get(pull, "head"), "sha") or "")
    if not sha:
        raise NodeError(f"pull request #{ctx.number()} has no head commit")
    ignore = _ignored(ctx.inputs.get("ignore"))
    checks = await _check_runs(ctx, sha) + await _statuses(ctx, sha)
    counted = [(name, bucket) for name, bucket in checks if not ignore.selects(name)]
    counts = {bucket: 0 for bucket in BUCKETS}
    for _, bucket in counted:
        counts[bucket] += 1
    approved_by, changes_requested_by = stances(reviews)
    return {
        "approvals": len(approved_by),
        "approved_by": approved_by,
        "changes_requested_by": changes_requested_by,
        "checks": {**counts, "total": len(counted)},
        "failing": sorted(name for name, bucket in counted if bucket == "failure"),
        "pending": sorted(name for name, bucket in counted if bucket == "pending"),
        "passing": sorted(name for name, bucket in counted if bucket == "success"),
        "green": bool(counted) and counts["failure"] == 0 and counts["pending"] == 0,
        "mergeable": get(pull, "mergeable"),
        "mergeable_state": get(pull, "mergeable_state"),
        "draft": bool(get(pull, "draft")),
        "labels": [str(get(label, "name")) for label in get(pull, "labels") or []],
        "sha": sha,
    }


WRITE_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


def stances(reviews: list[Any]) -> tuple[list[str], list[str]]:
    """(approved_by, changes_requested_by): each reviewer's latest deciding review counts,
    among reviewers with write access."""
    latest: dict[str, str] = {}
    for review in reviews:  # GitHub lists reviews oldest first
        login = get(get(review, "user"), "login")
        state = get(review, "state")
        if get(review, "author_association") not in WRITE_ASSOCIATIONS:
            continue
        if login and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[str(login)] = str(state)
    approved = sorted(login for login, state in latest.items() if state == "APPROVED")
    changes = sorted(login for login, state in latest.items() if state == "CHANGES_REQUESTED")
    return approved, changes


def _ignored(value: Any) -> PatternList:
    names = [value] if isinstance(value, str) else list(value or [])
    try:
        return PatternList(tuple(compile_name_pattern(str(n), crosses_slash=True) for n in names))
    except PatternError as exc:
        raise NodeError(f"ignore: {exc}") from None


async def _check_runs(ctx: NodeContext, sha: str) -> list[tuple[str, str]]:
    github = ctx.require_github()
    path = f"{repo_path(ctx)}/commits/{segment(sha, 'sha')}/check-runs"
    found: list[tuple[str, str]] = []
    for page in range(1, CHECK_PAGES + 1):
        params = {"filter": "latest", "per_page": 100, "page": page}
        listed = await github.request("GET", path, params=params)
        runs = get(listed, "check_runs") or []
        for run in runs:
            name = str(get(run, "name") or "")
            if get(run, "status") != "completed":
                found.append((name, "pending"))
            else:
                found.append((name, CONCLUSIONS.get(str(get(run, "conclusion")), "failure")))
        total = get(listed, "total_count")
        if len(runs) < 100 or (isinstance(total, int) and page * 100 >= total):
            break
    return found


async def _statuses(ctx: NodeContext, sha: str) -> list[tuple[str, str]]:
    combined = await ctx.require_github().request(
        "GET", f"{repo_path(ctx)}/commits/{segment(sha, 'sha')}/status", params={"per_page": 100}
    )
    return [
        (str(get(s, "context") or ""), STATUS_STATES.get(str(get(s, "state")), "pending"))
        for s in get(combined, "statuses") or []
    ]
