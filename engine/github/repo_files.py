"""Reading a repository's rule files (`.github/hookwise/*.yaml`) at one commit.

- The default branch's head: GET /repos/{o}/{r}/branches/{branch} (`commit.sha`).
- The folder: GET /repos/{o}/{r}/contents/.github/hookwise?ref=<commit>, a list of entries
  with each file's blob `sha` and `size` (404: the repository has no rules).
- Each file: GET /repos/{o}/{r}/contents/<path>?ref=<commit>, base64 content. A file whose
  blob SHA is already known (an earlier version held the same bytes) is not fetched again,
  nor is one larger than the limit or past the file count.
https://docs.github.com/en/rest/repos/contents#get-repository-content
https://docs.github.com/en/rest/branches/branches#get-a-branch
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from engine.errors import HookwiseError
from engine.github.api import GitHubAPI, NotFound
from engine.lang.repository_limits import RULE_SUFFIXES, RULES_DIR, RepositoryLimits
from engine.lang.ruletests import is_test_file


class RuleFilesError(HookwiseError):
    """GitHub answered, but not with a file's content."""


@dataclass
class RuleFiles:
    """The rule files of one repository at one commit."""

    commit: str
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (blob sha, bytes)
    too_many: list[str] = field(default_factory=list)  # paths past the file limit, not read
    too_large: dict[str, int] = field(default_factory=dict)  # path -> size, not read
    tests: dict[str, bytes] = field(default_factory=dict)  # rule tests (*.test.yaml): path -> bytes


def _repo(full_name: str) -> str:
    owner, name = full_name.split("/", 1)
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


async def branch_head(github: GitHubAPI, repository: str, branch: str) -> str | None:
    """The commit a branch points at, or None when the repository or branch is not there."""
    try:
        path = f"{_repo(repository)}/branches/{quote(branch, safe='')}"
        body = await github.request("GET", path)
    except NotFound:
        return None
    sha = body.get("commit", {}).get("sha") if isinstance(body, dict) else None
    return str(sha) if sha else None


async def default_branch(github: GitHubAPI, repository: str) -> str | None:
    """A repository's default branch, or None when the App cannot see the repository."""
    try:
        body = await github.request("GET", _repo(repository))
    except NotFound:
        return None
    branch = body.get("default_branch") if isinstance(body, dict) else None
    return str(branch) if branch else None


async def read_rule_files(
    github: GitHubAPI,
    repository: str,
    commit: str,
    limits: RepositoryLimits,
    known: Mapping[str, bytes] | None = None,
    *,
    tests: bool = False,
) -> RuleFiles:
    """The rule files at `commit`; `known` maps blob SHAs to bytes already read; with `tests`,
    the rule tests beside them too."""
    result = RuleFiles(commit)
    try:
        listing = await github.request(
            "GET", f"{_repo(repository)}/contents/{RULES_DIR}", params={"ref": commit}
        )
    except NotFound:
        return result
    files = [
        e
        for e in (listing if isinstance(listing, list) else [])
        if isinstance(e, dict)
        and e.get("type") == "file"
        and str(e.get("name", "")).endswith(RULE_SUFFIXES)
    ]
    entries = [e for e in files if not is_test_file(str(e.get("name", "")))]
    entries.sort(key=lambda e: str(e.get("path")))
    for index, entry in enumerate(entries):
        path, sha, size = str(entry["path"]), str(entry.get("sha", "")), int(entry.get("size", 0))
        if index >= limits.files:
            result.too_many.append(path)
            continue
        if size > limits.file_bytes:
            result.too_large[path] = size
            continue
        raw = (known or {}).get(sha)
        if raw is None:
            raw = await _file(github, repository, path, commit)
        result.files[path] = (sha, raw)
    if tests:
        # the rule tests beside the rules, under the same limits (read for the rules check)
        for entry in sorted((e for e in files if is_test_file(str(e.get("name", "")))), key=lambda e: str(e["path"]))[
            : limits.files
        ]:
            if int(entry.get("size", 0)) <= limits.file_bytes:
                result.tests[str(entry["path"])] = await _file(github, repository, str(entry["path"]), commit)
    return result


async def _file(github: GitHubAPI, repository: str, path: str, commit: str) -> bytes:
    body: Any = await github.request(
        "GET", f"{_repo(repository)}/contents/{quote(path)}", params={"ref": commit}
    )
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str) or body.get("encoding", "base64") != "base64":
        raise RuleFilesError(f"{path}: GitHub returned no base64 content")
    try:
        return base64.b64decode(content)
    except (binascii.Error, ValueError):
        raise RuleFilesError(f"{path}: the content is not valid base64") from None
