"""Headers + payload -> Event: what the matcher and the expressions read from a delivery. Pure.

Which field each filter reads follows GitHub Actions: branch filters see the short branch
name (for pull requests the *base* branch), tag filters the short tag name, path filters the
changed files. https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine.lang import catalogue
from engine.match.payload import PayloadError, Reader, kind_of, repository_name

ZERO_SHA = "0" * 40
# docs/design.md §2.1: a push payload's `commits` is cut at 20 entries when the push is larger.
# Push webhooks carry no `size` (the Events API does); when `size` is absent we treat a list
# of 20 or more commits as possibly cut and ask the compare API for the exact files.
PUSH_COMMITS_LIMIT = 20
# and each commit lists at most 3,000 changed files: a commit listing 3,000 may have more
PUSH_COMMIT_FILES_LIMIT = 3000


@dataclass(frozen=True)
class Event:
    """One webhook delivery, as the matcher and the expressions see it."""

    name: str
    payload: Mapping[str, Any] = field(repr=False)
    delivery: str = ""
    action: str | None = None
    repository: str | None = None  # owner/name
    installation_id: int | None = None
    ref: str | None = None  # the full ref where there is one (refs/heads/main)
    ref_kind: str | None = None  # "branch" or "tag"
    ref_name: str | None = None  # short name: main, v1.2
    base_ref: str | None = None  # PR-like events: the base (target) branch
    head_ref: str | None = None
    number: int | None = None
    sha: str | None = None  # the head commit
    labels: tuple[str, ...] = ()  # the subject's current labels
    label: str | None = None  # labeled/unlabeled: the label the delivery is about
    author: str | None = None
    sender: str | None = None
    sender_is_bot: bool = False
    deleted: bool = False
    # None: not in the payload (a pull request's files, a cut push); see files_source
    changed_files: tuple[str, ...] | None = None
    files_source: str | None = None  # "payload", "pull_request", "compare" or None
    # (org/team, login), lower-cased -> member?, or why it could not be read (filled in by
    # the caller when a `teams:` filter asks; see engine.match.filters.Needed)
    memberships: Mapping[tuple[str, str], bool | str] = field(default_factory=dict, repr=False)
    # the decision time within() reads (seconds since the epoch): when the delivery arrived,
    # a schedule's tick, or `--at`; None where nobody said
    at: float | None = None

    @property
    def owner(self) -> str | None:
        """The repository owner's login."""
        return self.repository.split("/", 1)[0] if self.repository else None

    @property
    def repo(self) -> str | None:
        """The repository name without the owner."""
        return self.repository.split("/", 1)[1] if self.repository else None

    @property
    def subject(self) -> str:
        """What the delivery is about, for messages: pull request, issue, push..."""
        if self.name in catalogue.PR_EVENTS:
            return "pull request"
        if self.name in catalogue.ISSUE_EVENTS:
            return "issue"
        return self.name.replace("_", " ")

    def with_files(self, files: tuple[str, ...]) -> Event:
        """A copy with the changed files filled in."""
        return replace(self, changed_files=files)

    def with_memberships(self, facts: Mapping[tuple[str, str], bool | str]) -> Event:
        """A copy that also knows these team memberships (keyed by membership_key)."""
        return replace(self, memberships={**self.memberships, **facts})


def is_bot(login: str | None, kind: str | None) -> bool:
    """GitHub marks App accounts `type: Bot`; their logins end in `[bot]`."""
    return kind == "Bot" or (login or "").lower().endswith("[bot]")


def parse_event(
    name: str, payload: Mapping[str, Any], *, delivery: str = "", at: float | None = None
) -> Event:
    """Derive the Event model from an event name and its payload.

    Raises PayloadError when a field hookwise reads has the wrong type or range.
    """
    read = Reader(payload)
    action = read.text("action")
    pr = read.mapping("pull_request")
    issue = read.mapping("issue")
    subject = "pull_request" if pr is not None else "issue" if issue is not None else None
    if subject is not None:
        number = read.integer(f"{subject}.number")
        labels = read.names(f"{subject}.labels")
    else:
        number = read.integer("number")
        if number is None and name in _CHECK_SUBJECTS:
            number = _check_pull_request(name, read)
        labels = ()
    installation = read.integer("installation.id", low=1) if read.mapping("installation") else None
    sender = read.login("sender")
    label = read.text("label.name") if action in ("labeled", "unlabeled") else None
    tick = read.text("schedule.tick") if name == "schedule" else None
    if tick:  # a scheduled run is decided at its tick, whenever it runs
        try:
            at = datetime.fromisoformat(tick).timestamp()
        except ValueError:
            raise PayloadError("schedule.tick", f"must be an ISO 8601 time, found {tick!r}") from None
    ref, kind, short = _ref(name, read)
    changed, source = _changed_files(name, read, kind)
    return Event(
        name=name,
        payload=payload,
        delivery=delivery,
        at=at,
        action=action,
        repository=repository_name(read),
        installation_id=installation,
        ref=ref,
        ref_kind=kind,
        ref_name=short,
        base_ref=read.text("pull_request.base.ref"),
        head_ref=read.text("pull_request.head.ref"),
        number=number,
        sha=_sha(name, read),
        labels=labels,
        label=label,
        author=_author(name, read),
        sender=sender,
        sender_is_bot=is_bot(sender, read.text("sender.type") if sender else None),
        deleted=bool(read.boolean("deleted")) if name == "push" else False,
        changed_files=changed,
        files_source=source,
    )


def github_context(event: Event) -> dict[str, Any]:
    """The `github` context of an event (docs/design.md §2.3)."""
    return {
        "event": event.name,
        "event_name": event.name,
        "action": event.action,
        "delivery": event.delivery,
        "installation": event.installation_id,
        "repository": event.repository,
        "owner": event.owner,
        "repo": event.repo,
        "ref": event.ref,
        "sha": event.sha,
        "sender": event.sender,
        "actor": event.sender,
        "number": event.number,
        "base_ref": event.base_ref,
        "head_ref": event.head_ref,
        "ref_name": event.ref_name,
        "ref_type": event.ref_kind,
        "repository_owner": event.owner,
    }


def _short(ref: str) -> tuple[str | None, str]:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return kind, ref[len(prefix) :]
    return None, ref


def _ref(name: str, read: Reader) -> tuple[str | None, str | None, str | None]:
    """(full ref, kind, short name) that the branch and tag filters read."""
    if name == "push":
        ref = read.text("ref")
        if ref is not None:
            kind, short = _short(ref)
            return ref, kind, short
    elif name in ("create", "delete"):
        ref, ref_type = read.text("ref"), read.text("ref_type")
        if ref is not None and ref_type in ("branch", "tag"):
            prefix = "refs/heads/" if ref_type == "branch" else "refs/tags/"
            return prefix + ref, ref_type, ref
    elif name == "release":
        tag = read.text("release.tag_name")
        if tag is not None:
            return "refs/tags/" + tag, "tag", tag
    elif name in catalogue.PR_EVENTS:
        base = read.text("pull_request.base.ref")
        if base is not None:
            return "refs/heads/" + base, "branch", base
    else:
        branch = _branch_of(name, read)
        if branch is not None:
            kind, short = _short(branch)
            return "refs/heads/" + short if kind is None else branch, kind or "branch", short
    return None, None, None


_BRANCH_FIELDS = {
    "check_run": "check_run.check_suite.head_branch",
    "check_suite": "check_suite.head_branch",
    "workflow_run": "workflow_run.head_branch",
    "deployment": "deployment.ref",
    "deployment_status": "deployment.ref",
    "merge_group": "merge_group.base_ref",
    "workflow_job": "workflow_job.head_branch",
}
_SHA_FIELDS = {
    "push": "after",
    "check_run": "check_run.head_sha",
    "check_suite": "check_suite.head_sha",
    "workflow_run": "workflow_run.head_sha",
    "deployment": "deployment.sha",
    "deployment_status": "deployment.sha",
    "status": "sha",
    "merge_group": "merge_group.head_sha",
    "workflow_job": "workflow_job.head_sha",
}


_CHECK_SUBJECTS = {"check_run": "check_run.pull_requests", "check_suite": "check_suite.pull_requests"}


def _check_pull_request(name: str, read: Reader) -> int | None:
    """The pull request a check run or suite belongs to: GitHub lists the open pull requests
    whose head is the checked commit, from other repositories too (a fork syncing from
    upstream); hookwise takes the first whose base is this repository."""
    field = _CHECK_SUBJECTS[name]
    own = read.integer("repository.id")
    for index, entry in enumerate(read.items(field)):
        if not isinstance(entry, Mapping):
            raise PayloadError(f"{field}[{index}]", f"must be an object, found {kind_of(entry)}")
        pull = Reader(entry)
        base = pull.integer("base.repo.id") if pull.mapping("base") else None
        if own is None or base is None or base == own:
            return pull.integer("number")
    return None


def _branch_of(name: str, read: Reader) -> str | None:
    field = _BRANCH_FIELDS.get(name)
    return read.text(field) if field else None


def _sha(name: str, read: Reader) -> str | None:
    value = read.text(_SHA_FIELDS.get(name, "pull_request.head.sha"))
    return value if value and value != ZERO_SHA else None


def _author(name: str, read: Reader) -> str | None:
    """PR/issue/comment/review author, else the pusher, else the sender."""
    if name in ("issue_comment", "pull_request_review_comment", "commit_comment"):
        found = read.login("comment.user")
    elif name == "pull_request_review":
        found = read.login("review.user")
    elif read.mapping("pull_request") is not None:
        found = read.login("pull_request.user")
    elif read.mapping("issue") is not None:
        found = read.login("issue.user")
    elif name == "push":
        found = read.text("pusher.name") if read.mapping("pusher") else None
    else:
        found = None
    return found or read.login("sender")


def _changed_files(
    name: str, read: Reader, kind: str | None
) -> tuple[tuple[str, ...] | None, str | None]:
    if name == "pull_request":
        return None, "pull_request"
    if name != "push":
        return (), None
    commits = read.items("commits")
    if read.boolean("deleted") or kind == "tag":
        return (), None  # a deleted branch has no changed files; tags skip path filters
    size = read.integer("size")
    cut = size > len(commits) if size is not None else len(commits) >= PUSH_COMMITS_LIMIT
    files: dict[str, None] = {}
    for index, commit in enumerate(commits):
        if not isinstance(commit, Mapping):
            raise PayloadError(f"commits[{index}]", f"must be an object, found {kind_of(commit)}")
        entry = Reader(commit)
        listed = 0
        for key in ("added", "removed", "modified"):
            for path in entry.strings(key, f"commits[{index}].{key}"):
                files[path] = None
                listed += 1
        cut = cut or listed >= PUSH_COMMIT_FILES_LIMIT
    if cut and read.text("before") not in (None, ZERO_SHA):
        return None, "compare"
    return tuple(files), "payload"
