"""Headers + payload -> Event: what the matcher and the expressions read from a delivery. Pure.

Which field each filter reads follows GitHub Actions: branch filters see the short branch
name (for pull requests the *base* branch), tag filters the short tag name, path filters the
changed files. https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.lang import catalogue

ZERO_SHA = "0" * 40
# DESIGN §2.1: a push payload's `commits` is cut at 20 entries when the push is larger.
# Push webhooks carry no `size` (the Events API does); when `size` is absent we treat a list
# of 20 or more commits as possibly cut and ask the compare API for the exact files.
PUSH_COMMITS_LIMIT = 20


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
        from dataclasses import replace

        return replace(self, changed_files=files)


def _get(data: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def _login(user: Any) -> str | None:
    login = _get(user, "login")
    return login if isinstance(login, str) else None


def is_bot(user: Any) -> bool:
    """GitHub marks App accounts `type: Bot`; their logins end in `[bot]`."""
    login = _login(user) or ""
    return _get(user, "type") == "Bot" or login.lower().endswith("[bot]")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def event_from_headers(headers: Mapping[str, str], payload: Mapping[str, Any]) -> Event:
    """The Event of a delivery from its headers (X-GitHub-Event, X-GitHub-Delivery)."""
    name = header(headers, "X-GitHub-Event") or ""
    delivery = header(headers, "X-GitHub-Delivery") or ""
    return parse_event(name, payload, delivery=delivery)


def parse_event(name: str, payload: Mapping[str, Any], *, delivery: str = "") -> Event:
    """Derive the Event model from an event name and its payload."""
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    pr = _get(payload, "pull_request")
    issue = _get(payload, "issue")
    subject = pr if isinstance(pr, Mapping) else issue if isinstance(issue, Mapping) else None
    installation = _get(payload, "installation", "id")
    number = _get(subject, "number") if subject is not None else payload.get("number")
    sender = _get(payload, "sender")
    label = _get(payload, "label", "name") if action in ("labeled", "unlabeled") else None
    labels = tuple(
        str(item["name"])
        for item in (_get(subject, "labels") or [])
        if isinstance(item, Mapping) and "name" in item
    )
    ref, kind, short = _ref(name, payload)
    changed, source = _changed_files(name, payload, kind)
    return Event(
        name=name,
        payload=payload,
        delivery=delivery,
        action=action,
        repository=_get(payload, "repository", "full_name"),
        installation_id=installation if isinstance(installation, int) else None,
        ref=ref,
        ref_kind=kind,
        ref_name=short,
        base_ref=_get(pr, "base", "ref"),
        head_ref=_get(pr, "head", "ref"),
        number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        sha=_sha(name, payload),
        labels=labels,
        label=label if isinstance(label, str) else None,
        author=_author(name, payload),
        sender=_login(sender),
        sender_is_bot=is_bot(sender),
        deleted=bool(payload.get("deleted")) if name == "push" else False,
        changed_files=changed,
        files_source=source,
    )


def github_context(event: Event) -> dict[str, Any]:
    """The `github` context of an event (DESIGN §2.3)."""
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
    }


def _short(ref: str) -> tuple[str | None, str]:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return kind, ref[len(prefix) :]
    return None, ref


def _ref(name: str, payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(full ref, kind, short name) that the branch and tag filters read."""
    if name == "push":
        ref = payload.get("ref")
        if isinstance(ref, str):
            kind, short = _short(ref)
            return ref, kind, short
    elif name in ("create", "delete"):
        ref, ref_type = payload.get("ref"), payload.get("ref_type")
        if isinstance(ref, str) and ref_type in ("branch", "tag"):
            prefix = "refs/heads/" if ref_type == "branch" else "refs/tags/"
            return prefix + ref, ref_type, ref
    elif name == "release":
        tag = _get(payload, "release", "tag_name")
        if isinstance(tag, str):
            return "refs/tags/" + tag, "tag", tag
    elif name in catalogue.PR_EVENTS:
        base = _get(payload, "pull_request", "base", "ref")
        if isinstance(base, str):
            return "refs/heads/" + base, "branch", base
    else:
        branch = _branch_of(name, payload)
        if isinstance(branch, str):
            kind, short = _short(branch)
            return "refs/heads/" + short if kind is None else branch, kind or "branch", short
    return None, None, None


def _branch_of(name: str, payload: Mapping[str, Any]) -> Any:
    if name == "check_run":
        return _get(payload, "check_run", "check_suite", "head_branch")
    if name == "check_suite":
        return _get(payload, "check_suite", "head_branch")
    if name == "workflow_run":
        return _get(payload, "workflow_run", "head_branch")
    if name in ("deployment", "deployment_status"):
        return _get(payload, "deployment", "ref")
    if name == "merge_group":
        return _get(payload, "merge_group", "base_ref")
    return None


def _sha(name: str, payload: Mapping[str, Any]) -> str | None:
    candidates = {
        "push": ("after",),
        "check_run": ("check_run", "head_sha"),
        "check_suite": ("check_suite", "head_sha"),
        "workflow_run": ("workflow_run", "head_sha"),
        "deployment": ("deployment", "sha"),
        "deployment_status": ("deployment", "sha"),
        "status": ("sha",),
    }
    path = candidates.get(name, ("pull_request", "head", "sha"))
    value = _get(payload, *path)
    return value if isinstance(value, str) and value != ZERO_SHA else None


def _author(name: str, payload: Mapping[str, Any]) -> str | None:
    """PR/issue/comment/review author, else the pusher, else the sender."""
    if name in ("issue_comment", "pull_request_review_comment", "commit_comment"):
        found = _login(_get(payload, "comment", "user"))
    elif name == "pull_request_review":
        found = _login(_get(payload, "review", "user"))
    elif isinstance(_get(payload, "pull_request"), Mapping):
        found = _login(_get(payload, "pull_request", "user"))
    elif isinstance(_get(payload, "issue"), Mapping):
        found = _login(_get(payload, "issue", "user"))
    elif name == "push":
        pusher = _get(payload, "pusher", "name")
        found = pusher if isinstance(pusher, str) else None
    else:
        found = None
    return found or _login(_get(payload, "sender"))


def _changed_files(
    name: str, payload: Mapping[str, Any], kind: str | None
) -> tuple[tuple[str, ...] | None, str | None]:
    if name == "pull_request":
        return None, "pull_request"
    if name != "push":
        return (), None
    if payload.get("deleted") or kind == "tag":
        return (), None  # a deleted branch has no changed files; tags skip path filters
    commits = payload.get("commits") or []
    size = payload.get("size")
    cut = size > len(commits) if isinstance(size, int) else len(commits) >= PUSH_COMMITS_LIMIT
    if cut and payload.get("before") not in (None, ZERO_SHA):
        return None, "compare"
    files: dict[str, None] = {}
    for commit in commits:
        for key in ("added", "removed", "modified"):
            for path in _get(commit, key) or []:
                if isinstance(path, str):
                    files[path] = None
    return tuple(files), "payload"
