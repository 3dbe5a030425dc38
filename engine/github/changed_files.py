"""Changed files from the GitHub API, for path filters the payload cannot answer, in full.

- A pull request: GET /repos/{o}/{r}/pulls/{n}/files, 100 a page, every page. GitHub lists at
  most 3,000 files there; past that (the payload's `changed_files` says how many), the full
  list is the difference between the trees of the merge base and the head.
- A push whose commit list was cut (20 commits in the payload): the compare API, which lists
  at most 300 files; past that, the difference between the trees of `before` and `after`.
- A tree too large for GitHub to list whole (`truncated`) leaves the rule undecided, never
  decided on part of the list.
https://docs.github.com/en/rest/pulls/pulls#list-pull-requests-files
https://docs.github.com/en/rest/commits/commits#compare-two-commits
https://docs.github.com/en/rest/git/trees#get-a-tree
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from engine.github.api import GitHubAPI
from engine.match.events import Event
from engine.match.matcher import FactUnknown

PR_FILES_LIMIT = 3000  # GitHub lists at most 3,000 files of a pull request
COMPARE_FILES_LIMIT = 300  # and at most 300 files of a comparison


class FilesUnknown(FactUnknown):
    """The changed files cannot be listed in full; the message says why."""


def pr_files_key(owner: str, repo: str, number: int) -> str:
    """Where a pull request's files are cached for a run (matching may have fetched them)."""
    return f"files:/repos/{quote(owner, safe='')}/{quote(repo, safe='')}#{number}"


async def fetch_changed_files(
    github: GitHubAPI, event: Event, cache: dict[str, Any] | None = None
) -> tuple[str, ...]:
    """Every changed path of the event's pull request or push (FilesUnknown if impossible).

    With a `cache` (a run's shared dict), a pull request's file entries are kept there, so
    that the `github.pull_request.files` node of the same run does not fetch them again.
    """
    if not event.repository:
        return ()
    owner, repo = (quote(part, safe="") for part in event.repository.split("/", 1))
    base = f"/repos/{owner}/{repo}"
    if event.files_source == "pull_request" and event.number is not None:
        entries = await github.paginate(
            f"{base}/pulls/{event.number}/files", params={"per_page": 100}, limit=PR_FILES_LIMIT
        )
        declared = _get(event.payload, "pull_request", "changed_files")
        if len(entries) >= PR_FILES_LIMIT and isinstance(declared, int) and declared > len(entries):
            head = _get(event.payload, "pull_request", "head", "sha")
            target = _get(event.payload, "pull_request", "base", "sha")
            compared = await github.request("GET", f"{base}/compare/{target}...{head}")
            merge_base = _get(compared, "merge_base_commit", "sha")
            if not isinstance(merge_base, str) or not isinstance(head, str):
                raise FilesUnknown("the pull request's merge base could not be found")
            return await _tree_difference(github, base, merge_base, head)
        if cache is not None:
            cache[pr_files_key(event.owner or "", event.repo or "", event.number)] = entries
        return _names(entries)
    if event.files_source == "compare":
        before, after = event.payload.get("before"), event.payload.get("after")
        result = await github.request("GET", f"{base}/compare/{before}...{after}")
        entries = _get(result, "files") or []
        if len(entries) >= COMPARE_FILES_LIMIT and isinstance(before, str):
            return await _tree_difference(github, base, before, str(after))
        return _names(entries)
    return event.changed_files or ()


async def _tree_difference(github: GitHubAPI, base: str, old: str, new: str) -> tuple[str, ...]:
    """The paths whose blob differs between two commits' trees (added, removed, changed)."""
    before = await _tree(github, base, old)
    after = await _tree(github, base, new)
    changed = {path for path, sha in after.items() if before.get(path) != sha}
    changed |= {path for path in before if path not in after}
    return tuple(sorted(changed))


async def _tree(github: GitHubAPI, base: str, commit: str) -> dict[str, str]:
    found = await github.request(
        "GET", f"{base}/git/trees/{quote(commit, safe='')}", params={"recursive": "1"}
    )
    if _get(found, "truncated"):
        raise FilesUnknown(f"the tree of {commit[:12]} is too large for GitHub to list whole")
    return {
        str(item["path"]): str(item["sha"])
        for item in _get(found, "tree") or []
        if isinstance(item, dict) and item.get("type") == "blob"
    }


def _names(entries: list[Any]) -> tuple[str, ...]:
    return tuple(str(e["filename"]) for e in entries if isinstance(e, dict) and "filename" in e)


def _get(data: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data
