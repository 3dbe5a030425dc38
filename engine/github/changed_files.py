"""Changed files from the GitHub API, for path filters the payload cannot answer.

A pull request's files come from GET /repos/{o}/{r}/pulls/{n}/files (100 a page, every page,
up to GitHub's 3,000-file limit); a push whose commit list was cut from the compare API
(before...after). The matcher asks for them at most once per delivery (match_delivery).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from engine.github.api import GitHubAPI
from engine.match.events import Event

PR_FILES_LIMIT = 3000  # GitHub lists at most 3,000 files of a pull request


def pr_files_key(owner: str, repo: str, number: int) -> str:
    """Where a pull request's files are cached for a run (matching may have fetched them)."""
    return f"files:/repos/{quote(owner, safe='')}/{quote(repo, safe='')}#{number}"


async def fetch_changed_files(
    github: GitHubAPI, event: Event, cache: dict[str, Any] | None = None
) -> tuple[str, ...]:
    """The changed paths of the event's pull request or push.

    With a `cache` (a run's shared dict), a pull request's file entries are kept there, so
    that the `github.pull_request.files` node of the same run does not fetch them again.
    """
    if not event.repository:
        return ()
    owner, repo = (quote(part, safe="") for part in event.repository.split("/", 1))
    if event.files_source == "pull_request" and event.number is not None:
        entries = await github.paginate(
            f"/repos/{owner}/{repo}/pulls/{event.number}/files",
            params={"per_page": 100},
            limit=PR_FILES_LIMIT,
        )
        if cache is not None:
            cache[pr_files_key(event.owner or "", event.repo or "", event.number)] = entries
    elif event.files_source == "compare":
        before, after = event.payload.get("before"), event.payload.get("after")
        result = await github.request("GET", f"/repos/{owner}/{repo}/compare/{before}...{after}")
        entries = result.get("files", []) if isinstance(result, dict) else []
    else:
        return event.changed_files or ()
    return tuple(str(e["filename"]) for e in entries if isinstance(e, dict) and "filename" in e)
