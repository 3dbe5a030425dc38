"""The double's in-memory GitHub: repositories, pull requests, issues, comments, labels,
check runs and statuses, with a handler per REST operation (keyed by operationId).

Response bodies start from GitHub's own example bodies in the OpenAPI description and
carry the double's state on top, so they validate against the same description.
"""

from __future__ import annotations

import base64
import calendar
import copy
import hashlib
import itertools
import re
import secrets
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.double.openapi import Spec

API = "http://api.github.invalid"
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def sha_of(text: str) -> str:
    """A stable 40-hex SHA for test data."""
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Pull:
    number: int
    title: str = "A pull request"
    head_sha: str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    head_ref: str = "changes"
    base_ref: str = "main"
    user: str = "octocat"
    files: list[str] = field(default_factory=list)
    state: str = "open"
    merged: bool = False
    reviews: list[dict[str, Any]] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    # each {"sha", "message", "author"}; the first is the one Dependabot's metadata is read from
    commits: list[dict[str, str]] = field(default_factory=list)
    draft: bool = False
    mergeable: bool | None = True
    mergeable_state: str = "clean"


@dataclass
class Issue:
    number: int
    title: str = "An issue"
    body: str = ""
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    # seconds since the epoch; every write to the issue moves updated_at, as on GitHub
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass
class Repo:
    owner: str
    name: str
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)  # commit -> {path: blob sha}
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head commit
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)  # commit -> files
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # check run -> all
    id: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            self.id = int(sha_of(f"{self.owner}/{self.name}".lower())[:7], 16)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Request:
    """What a handler sees."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    accept: str
    installation_id: int | None
    authorization: str = ""


Response = tuple[int, Any, dict[str, str]]


class World:
    """The state of the fake GitHub."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.repos: dict[str, Repo] = {}
        self.installations: dict[int, str] = {}  # id -> account login
        # id -> the repositories (owner/name, lower-cased) of one with selected repositories
        self.installation_repos: dict[int, set[str]] = {}
        # (owner/name, login), lower-cased -> the collaborator's role (read, triage, write,
        # maintain, admin); anyone else is no collaborator (GitHub's 404)
        self.collaborators: dict[tuple[str, str], str] = {}
        # reactions made: (where: issue_comment | review_comment, comment id, content)
        self.reactions: list[tuple[str, int, str]] = []
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (installation, expires_at)
        # OAuth: code -> (login, installations it reaches); user token -> the same
        self.oauth_codes: dict[str, tuple[str, set[int]]] = {}
        self.user_tokens: dict[str, tuple[str, set[int]]] = {}
        self.token_ttl = 3600.0
        # "org/team" (lower-cased) -> login (lower-cased) -> membership state (active, pending)
        self.teams: dict[str, dict[str, str]] = {}
        self.token_repos: dict[str, set[int]] = {}  # token -> the repository ids it may reach
        self._commits = itertools.count(1)
        self._ids = itertools.count(1000)
        # the App's webhook: its deliveries (oldest first), where a redelivery is posted
        self.hook_deliveries: list[dict[str, Any]] = []
        self.hook_payloads: dict[str, tuple[str, bytes]] = {}  # guid -> (event, body)
        self.hook_target: tuple[str, str] | None = None  # (url, secret) redeliveries go to
        self.redelivered: list[int] = []  # hook delivery ids asked to be redelivered
        # App manifest codes (single use) -> the App GitHub creates from the manifest
        self.manifest_codes: dict[str, dict[str, Any]] = {}

    def next_id(self) -> int:
        return next(self._ids)

    def repo(self, owner: str, name: str) -> Repo:
        """Get or create a repository."""
        key = f"{owner}/{name}".lower()
        if key not in self.repos:
            self.repos[key] = Repo(owner, name)
        return self.repos[key]

    def add_pull(self, repo: str, number: int, **fields: Any) -> Pull:
        """Create a pull request (and its issue, as on GitHub)."""
        owner, name = repo.split("/")
        target = self.repo(owner, name)
        labels = fields.pop("labels", [])
        pull = Pull(number, **fields)
        target.pulls[number] = pull
        target.issues[number] = Issue(number, title=pull.title, labels=list(labels))
        return pull

    def commit_files(self, repo: str, files: dict[str, str | None], branch: str | None = None) -> str:
        """A commit on a branch (the default one unless named) that writes these files (None
        deletes one); the branch moves to it. Returns the commit's SHA."""
        owner, name = repo.split("/")
        target = self.repo(owner, name)
        branch = branch or target.default_branch
        head = target.branches.get(branch)
        tree = dict(target.snapshots.get(head, target.files) if head else target.files)
        for path, text in files.items():
            if text is None:
                tree.pop(path, None)
            else:
                tree[path] = text
        sha = sha_of(f"{repo}:{branch}:{next(self._commits)}")
        target.snapshots[sha] = tree
        target.branches[branch] = sha
        if branch == target.default_branch:
            target.files = dict(tree)
        return sha

    def add_issue(self, repo: str, number: int, **fields: Any) -> Issue:
        owner, name = repo.split("/")
        issue = Issue(number, **fields)
        self.repo(owner, name).issues[number] = issue
        return issue

    # --- lookups --------------------------------------------------------------------------

    def _repo(self, request: Request) -> Repo | None:
        return self.repos.get(f"{request.params['owner']}/{request.params['repo']}".lower())

    def handle(self, operation_id: str, request: Request) -> Response:
        """Answer one request."""
        handler = getattr(self, "op_" + operation_id.replace("/", "__").replace("-", "_"), None)
        if handler is None:
            return 501, {"message": f"the double does not implement {operation_id}"}, {}
        if "owner" in request.params and self._repo(request) is None:
            return 404, NOT_FOUND, {}
        scoped = self.token_repos.get(request.authorization.partition(" ")[2])
        if scoped is not None and "owner" in request.params:
            found = self._repo(request)
            if found is None or found.id not in scoped:
                return 404, NOT_FOUND, {}  # as GitHub answers a token without that repository
        result: Response = handler(request)
        return result

    # --- representations ------------------------------------------------------------------

    def _label(self, name: str) -> dict[str, Any]:
        label = self.spec.example("label-items")[0]
        label.update(name=name, id=int(sha_of(name)[:8], 16), node_id=f"LA_{sha_of(name)[:10]}")
        label["url"] = f"{API}/labels/{name}"
        return label

    def _comment(self, repo: Repo, number: int, comment_id: int, body: str) -> dict[str, Any]:
        comment = self.spec.example("issue-comment")
        comment.update(
            id=comment_id,
            body=body,
            url=f"{API}/repos/{repo.full_name}/issues/comments/{comment_id}",
            html_url=f"https://github.invalid/{repo.full_name}/issues/{number}#issuecomment-{comment_id}",
            issue_url=f"{API}/repos/{repo.full_name}/issues/{number}",
        )
        return comment

    def _issue(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        body = self.spec.example("issue")
        body.update(
            number=issue.number,
            title=issue.title,
            body=issue.body,
            state=issue.state,
            labels=[self._label(n) for n in issue.labels],
            html_url=f"https://github.invalid/{repo.full_name}/issues/{issue.number}",
            url=f"{API}/repos/{repo.full_name}/issues/{issue.number}",
        )
        body["created_at"] = _iso(issue.created_at)
        body["updated_at"] = _iso(issue.updated_at)
        body["assignees"] = [dict(body["user"], login=a) for a in issue.assignees]
        body["assignee"] = body["assignees"][0] if body["assignees"] else None
        if issue.state_reason is not None:
            body["state_reason"] = issue.state_reason
        else:
            body.pop("state_reason", None)
        return body

    def _pull(self, repo: Repo, pull: Pull) -> dict[str, Any]:
        body = self.spec.example("pull-request")
        body.update(number=pull.number, title=pull.title, state=pull.state, merged=pull.merged)
        body.update(
            draft=pull.draft, mergeable=pull.mergeable, mergeable_state=pull.mergeable_state
        )
        body["head"]["sha"], body["head"]["ref"] = pull.head_sha, pull.head_ref
        body["base"]["ref"] = pull.base_ref
        body["user"]["login"] = pull.user
        body["labels"] = [self._label(n) for n in repo.issues[pull.number].labels]
        return body

    def _page(self, request: Request, items: list[Any]) -> Response:
        per_page = min(int(request.query.get("per_page", ["30"])[-1]), 100)
        page = int(request.query.get("page", ["1"])[-1])
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        headers = {}
        last = max(1, -(-len(items) // per_page))
        if page < last:
            base = f"{request.path}?per_page={per_page}"
            headers["link"] = (
                f'<{{base}}{base}&page={page + 1}>; rel="next", <{{base}}{base}&page={last}>; rel="last"'
            )
        return 200, chunk, headers

    # --- the App -------------------------------------------------------------------------

    def op_apps__create_installation_access_token(self, request: Request) -> Response:
        installation = int(request.params["installation_id"])
        if installation not in self.installations:
            return 404, NOT_FOUND, {}
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_ttl
        self.tokens[token] = (installation, expires)
        if isinstance(request.body, dict) and request.body.get("repository_ids"):
            self.token_repos[token] = {int(i) for i in request.body["repository_ids"]}
        body = self.spec.example("installation-token")
        body.update(
            token=token, expires_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        )
        return 201, body, {}

    def op_apps__get_installation(self, request: Request) -> Response:
        installation = int(request.params["installation_id"])
        if installation not in self.installations:
            return 404, NOT_FOUND, {}
        body = self.spec.example("base-installation")
        body["id"] = installation
        body["account"]["login"] = self.installations[installation]
        return 200, body, {}

    def op_apps__list_installations_for_authenticated_user(self, request: Request) -> Response:
        token = request.authorization.partition(" ")[2]
        _, reachable = self.user_tokens[token]
        items = []
        for installation in sorted(reachable & set(self.installations)):
            body = self.spec.example("base-installation")
            body["id"] = installation
            body["account"]["login"] = self.installations[installation]
            items.append(body)
        status, chunk, headers = self._page(request, items)
        return status, {"total_count": len(items), "installations": chunk}, headers

    def op_apps__list_repos_accessible_to_installation(self, request: Request) -> Response:
        """The repositories of the installation's account (every repository the double holds
        under that owner), one page at a time, shaped as GitHub's example."""
        installation = request.installation_id or 0
        account = self.installations.get(installation, "").lower()
        selected = self.installation_repos.get(installation)
        template = self.spec.example("repository-paginated-2")["repositories"][0]
        items = []
        for repo in sorted(self.repos.values(), key=lambda r: r.full_name.lower()):
            if repo.owner.lower() != account:
                continue
            if selected is not None and repo.full_name.lower() not in selected:
                continue
            body = copy.deepcopy(template)
            body.update(id=repo.id, name=repo.name, full_name=repo.full_name)
            body["owner"]["login"] = repo.owner
            items.append(body)
        status, chunk, headers = self._page(request, items)
        return status, {"total_count": len(items), "repositories": chunk}, headers

    # --- the App's webhook deliveries and the manifest flow -------------------------------

    def add_hook_delivery(
        self,
        guid: str,
        event: str,
        *,
        status_code: int,
        delivered_at: float | None = None,
        action: str | None = None,
        redelivery: bool = False,
        body: bytes | None = None,
    ) -> int:
        """Record one delivery attempt of the App's webhook; its id."""
        delivery_id = self.next_id()
        self.hook_deliveries.append(
            {
                "id": delivery_id,
                "guid": guid,
                "delivered_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(delivered_at or time.time())
                ),
                "redelivery": redelivery,
                "duration": 0.1,
                "status": "OK" if 200 <= status_code < 400 else f"Invalid HTTP Response: {status_code}",
                "status_code": status_code,
                "event": event,
                "action": action,
                "installation_id": next(iter(self.installations), None),
                "repository_id": None,
            }
        )
        if body is not None:
            self.hook_payloads[guid] = (event, body)
        return delivery_id

    def op_apps__list_webhook_deliveries(self, request: Request) -> Response:
        per_page = min(100, int(request.query.get("per_page", ["30"])[-1]))
        newest_first = list(reversed(self.hook_deliveries))
        cursor = request.query.get("cursor", [None])[-1]
        start = 0
        if cursor is not None:
            ids = [str(d["id"]) for d in newest_first]
            start = ids.index(cursor.removeprefix("v1_")) if cursor.removeprefix("v1_") in ids else len(ids)
        chunk = newest_first[start : start + per_page]
        headers = {}
        if start + per_page < len(newest_first):
            following = newest_first[start + per_page]["id"]
            headers["link"] = f'<{{base}}/app/hook/deliveries?per_page={per_page}&cursor=v1_{following}>; rel="next"'
        return 200, [dict(d) for d in chunk], headers

    def op_apps__redeliver_webhook_delivery(self, request: Request) -> Response:
        wanted = int(request.params["delivery_id"])
        found = next((d for d in self.hook_deliveries if d["id"] == wanted), None)
        if found is None:
            return 404, NOT_FOUND, {}
        self.redelivered.append(wanted)
        attempt = self.add_hook_delivery(
            found["guid"], found["event"], action=found["action"], status_code=0, redelivery=True
        )
        if self.hook_target is not None and found["guid"] in self.hook_payloads:
            # posted after this answer, as GitHub does: the receiver may be slow or down
            threading.Thread(target=self._redeliver, args=(attempt, found["guid"]), daemon=True).start()
        return 202, {}, {}

    def _redeliver(self, attempt: int, guid: str) -> None:
        import hashlib as _hashlib
        import hmac

        import httpx

        assert self.hook_target is not None
        url, secret = self.hook_target
        event, body = self.hook_payloads[guid]
        signature = "sha256=" + hmac.new(secret.encode(), body, _hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-Hub-Signature-256": signature,
            "User-Agent": "GitHub-Hookshot/double",
        }
        try:
            status = httpx.post(url, content=body, headers=headers, timeout=10).status_code
        except httpx.HTTPError:
            status = 0
        for item in self.hook_deliveries:
            if item["id"] == attempt:
                item["status_code"] = status
                item["status"] = "OK" if 200 <= status < 400 else f"Invalid HTTP Response: {status}"

    def add_manifest_code(self, code: str, app_id: str, pem: str, **app: Any) -> None:
        """A manifest code GitHub would redirect with, for an App with these credentials."""
        self.manifest_codes[code] = {"id": int(app_id), "pem": pem, **app}

    def op_apps__create_from_manifest(self, request: Request) -> Response:
        app = self.manifest_codes.pop(request.params["code"], None)
        if app is None:
            return 404, NOT_FOUND, {}
        body = self.spec.example("integration-from-manifest")
        body.update(app)
        return 201, body, {}

    def op_apps__get_authenticated(self, request: Request) -> Response:
        return 200, self.spec.example("integration"), {}

    # --- pull requests --------------------------------------------------------------------

    def _pull_of(self, request: Request) -> tuple[Repo, Pull] | None:
        repo = self._repo(request)
        number = int(request.params["pull_number"])
        if repo is None or number not in repo.pulls:
            return None
        return repo, repo.pulls[number]

    def op_pulls__get(self, request: Request) -> Response:
        found = self._pull_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        repo, pull = found
        if "diff" in request.accept:
            diff = "".join(
                f"diff --git a/{f} b/{f}\n--- a/{f}\n+++ b/{f}\n@@ -1 +1 @@\n-old\n+new\n"
                for f in pull.files
            )
            return 200, diff, {"content-type": "text/plain; charset=utf-8"}
        return 200, self._pull(repo, pull), {}

    def op_pulls__list_files(self, request: Request) -> Response:
        found = self._pull_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        template = self.spec.example("diff-entry-items")[0]
        entries = []
        for name in found[1].files[:3000]:
            entry = dict(template, filename=name, sha=sha_of(name), status="modified")
            entry["blob_url"] = entry["raw_url"] = entry["contents_url"] = (
                f"https://github.invalid/{name}"
            )
            entries.append(entry)
        return self._page(request, entries)

    def op_pulls__list_review_comments(self, request: Request) -> Response:
        return (404, NOT_FOUND, {}) if self._pull_of(request) is None else self._page(request, [])

    def op_pulls__create_review(self, request: Request) -> Response:
        found = self._pull_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        states = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }
        review = self.spec.example("pull-request-review")
        review.update(
            id=self.next_id(),
            body=request.body.get("body", ""),
            state=states.get(request.body.get("event", ""), "PENDING"),
        )
        found[1].reviews.append(review)
        return 200, review, {}

    def op_pulls__request_reviewers(self, request: Request) -> Response:
        found = self._pull_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        found[1].requested.extend(
            request.body.get("reviewers", []) + request.body.get("team_reviewers", [])
        )
        return 201, self.spec.example("pull-request-review-request"), {}

    def op_pulls__merge(self, request: Request) -> Response:
        found = self._pull_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        pull = found[1]
        if request.body.get("sha") not in (None, pull.head_sha):
            return (
                409,
                {
                    "message": "Head branch was modified. Review and try the merge again.",
                    "documentation_url": "https://docs.github.com/rest",
                },
                {},
            )
        pull.merged, pull.state = True, "closed"
        body = self.spec.example("pull-request-merge-result-response-if-merge-was-successful")
        body["sha"] = sha_of(f"merge-{pull.number}")
        return 200, body, {}

    # --- collaborators and reactions ---------------------------------------------------------

    def op_repos__get_collaborator_permission_level(self, request: Request) -> Response:
        repo = self._repo(request)
        login = request.params["username"]
        role = self.collaborators.get(((repo.full_name if repo else "").lower(), login.lower()))
        if role is None:
            return 404, {"message": f"{login} is not a user", "documentation_url": "https://docs.github.com/rest"}, {}
        body = self.spec.example("repository-collaborator-permission-response-if-user-has-admin-permissions")
        body["role_name"] = role
        body["permission"] = {"maintain": "write", "triage": "read"}.get(role, role)
        body["user"]["login"] = login
        return 200, body, {}

    def _react(self, where: str, request: Request) -> Response:
        comment_id = int(request.params["comment_id"])
        self.reactions.append((where, comment_id, request.body["content"]))
        body = self.spec.example("reaction")
        body.update(id=self.next_id(), content=request.body["content"])
        return 201, body, {}

    def op_reactions__create_for_issue_comment(self, request: Request) -> Response:
        return self._react("issue_comment", request)

    def op_reactions__create_for_pull_request_review_comment(self, request: Request) -> Response:
        return self._react("review_comment", request)

    # --- search ----------------------------------------------------------------------------

    def op_search__issues_and_pull_requests(self, request: Request) -> Response:
        """GitHub's issue search over the double's issues, for the qualifiers rules use: repo:,
        is:open|closed|issue, label:, -label:, no:assignee, updated:/created: with < <= > >=
        and a date; anything else is a 422, so a test never passes on a qualifier ignored."""
        query = request.query.get("q", [""])[0]
        try:
            tests = [_qualifier(token) for token in shlex.split(query)]
        except ValueError as exc:
            return 422, {"message": f"Validation Failed: {exc}", "errors": []}, {}
        found = []
        for repo in sorted(self.repos.values(), key=lambda r: r.full_name.lower()):
            for issue in repo.issues.values():
                if all(test(repo, issue) for test in tests):
                    found.append((repo, issue))
        if request.query.get("sort", [""])[0] == "updated":
            descending = request.query.get("order", ["desc"])[0] == "desc"
            found.sort(key=lambda pair: pair[1].updated_at, reverse=descending)
        items = [self._issue(repo, issue) for repo, issue in found]
        status, chunk, headers = self._page(request, items)
        return status, {"total_count": len(items), "incomplete_results": False, "items": chunk}, headers

    # --- issues ----------------------------------------------------------------------------

    def _issue_of(self, request: Request) -> tuple[Repo, Issue] | None:
        repo = self._repo(request)
        number = int(request.params["issue_number"])
        if repo is None or number not in repo.issues:
            return None
        if request.method != "GET":  # a write is activity: search's updated: sees it
            repo.issues[number].updated_at = time.time()
        return repo, repo.issues[number]

    def op_issues__list_comments(self, request: Request) -> Response:
        found = self._issue_of(request)
        return (
            (404, NOT_FOUND, {}) if found is None else self._page(request, list(found[1].comments))
        )

    def op_issues__create_comment(self, request: Request) -> Response:
        found = self._issue_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        repo, issue = found
        comment = self._comment(repo, issue.number, self.next_id(), request.body["body"])
        issue.comments.append(comment)
        return 201, comment, {}

    def op_issues__update_comment(self, request: Request) -> Response:
        repo = self._repo(request)
        comment_id = int(request.params["comment_id"])
        for issue in repo.issues.values() if repo else []:
            for comment in issue.comments:
                if comment["id"] == comment_id:
                    comment["body"] = request.body["body"]
                    return 200, comment, {}
        return 404, NOT_FOUND, {}

    def op_issues__update(self, request: Request) -> Response:
        found = self._issue_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        repo, issue = found
        for key in ("title", "body", "state", "state_reason"):
            if key in request.body:
                setattr(issue, key, request.body[key])
        return 200, self._issue(repo, issue), {}

    def op_issues__add_labels(self, request: Request) -> Response:
        found = self._issue_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        issue = found[1]
        for name in request.body.get("labels", []):
            if name.lower() not in {n.lower() for n in issue.labels}:
                issue.labels.append(name)
        return 200, [self._label(n) for n in issue.labels], {}

    def op_issues__remove_label(self, request: Request) -> Response:
        found = self._issue_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        issue = found[1]
        from urllib.parse import unquote

        name = unquote(request.params["name"])
        if name not in issue.labels:
            return (
                404,
                {
                    "message": "Label does not exist",
                    "documentation_url": "https://docs.github.com/rest",
                },
                {},
            )
        issue.labels.remove(name)
        return 200, [self._label(n) for n in issue.labels], {}

    def op_issues__add_assignees(self, request: Request) -> Response:
        found = self._issue_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        repo, issue = found
        issue.assignees.extend(
            a for a in request.body.get("assignees", []) if a not in issue.assignees
        )
        return 201, self._issue(repo, issue), {}

    def op_issues__remove_assignees(self, request: Request) -> Response:
        found = self._issue_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        repo, issue = found
        gone = set(request.body.get("assignees", []))
        issue.assignees = [a for a in issue.assignees if a not in gone]
        return 200, self._issue(repo, issue), {}

    def op_issues__create(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        number = max([0, *repo.issues]) + 1
        issue = Issue(
            number,
            title=request.body["title"],
            body=request.body.get("body") or "",
            labels=list(request.body.get("labels", [])),
            assignees=list(request.body.get("assignees", [])),
        )
        repo.issues[number] = issue
        return 201, self._issue(repo, issue), {}

    # --- commits, contents, checks, statuses, dispatches ---------------------------------------

    def op_repos__get(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        body = self.spec.example("full-repository-default-response")
        body.update(
            name=repo.name, full_name=repo.full_name, default_branch=repo.default_branch, id=repo.id
        )
        return 200, body, {}

    def op_repos__get_commit(self, request: Request) -> Response:
        body = self.spec.example("commit")
        body["sha"] = request.params["ref"]
        return 200, body, {}

    def op_repos__compare_commits_with_basehead(self, request: Request) -> Response:
        body = self.spec.example("commit-comparison")
        repo = self._repo(request)
        base, _, head = request.params["basehead"].partition("...")
        if repo is not None and base in repo.trees and head in repo.trees:
            old, new = repo.trees[base], repo.trees[head]
            changed = sorted({p for p in new if old.get(p) != new[p]} | (set(old) - set(new)))
            template = dict(body["files"][0]) if body.get("files") else {}
            body["files"] = [dict(template, filename=name) for name in changed[:300]]
            body["merge_base_commit"]["sha"] = base  # GitHub caps a comparison's files at 300
        return 200, body, {}

    def op_repos__get_content(self, request: Request) -> Response:
        from urllib.parse import unquote

        repo = self._repo(request)
        assert repo is not None
        path = unquote(request.params["path"]).strip("/")
        ref = request.query.get("ref", [None])[-1]
        files = repo.files
        if ref is not None and repo.snapshots:  # a test that made commits: refs must exist
            commit = repo.branches.get(ref, ref)
            if commit not in repo.snapshots:
                return 404, {"message": f"No commit found for the ref {ref}"}, {}
            files = repo.snapshots[commit]
        if path in files:
            return 200, self._file(path, files[path]), {}
        children = sorted(
            {p[len(path) + 1 :].split("/", 1)[0]: p for p in files if p.startswith(path + "/")}.items()
        )
        if not children:
            return 404, NOT_FOUND, {}
        template = self.spec.example("content-file-response-if-content-is-a-directory")[0]
        listing = []
        for child, full in children:
            child_path = f"{path}/{child}"
            is_file = full == child_path
            entry = dict(template, name=child, path=child_path, type="file" if is_file else "dir")
            entry.update(
                sha=sha_of(files[full]) if is_file else sha_of(child_path),
                size=len(files[full].encode()) if is_file else 0,
            )
            listing.append(entry)
        return 200, listing, {}

    def _file(self, path: str, content: str) -> dict[str, Any]:
        body = self.spec.example("content-file-response-if-content-is-a-file")
        body.update(
            path=path, name=path.rsplit("/", 1)[-1], sha=sha_of(content), size=len(content.encode())
        )
        body["content"] = base64.b64encode(content.encode()).decode()
        return body

    def op_repos__get_branch(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        head = repo.branches.get(request.params["branch"])
        if head is None:
            return 404, {"message": "Branch not found"}, {}
        body = self.spec.example("branch-get")
        body["name"] = request.params["branch"]
        body["commit"]["sha"] = head
        return 200, body, {}

    def op_checks__create(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        run = self.spec.example("check-run-example-of-completed-conclusion")
        run.update(
            id=self.next_id(),
            name=request.body["name"],
            head_sha=request.body["head_sha"],
            external_id=request.body.get("external_id", ""),
        )
        run.update({k: request.body[k] for k in ("status", "conclusion") if k in request.body})
        if "output" in request.body:
            run["output"].update(
                {
                    k: request.body["output"][k]
                    for k in ("title", "summary", "text")
                    if k in request.body["output"]
                }
            )
        repo.check_runs[run["id"]] = run
        self._annotate(repo, run, request.body)
        return 201, run, {}

    def _annotate(self, repo: Repo, run: dict[str, Any], body: dict[str, Any]) -> None:
        """GitHub appends each request's annotations (at most 50 a request) to the run."""
        added = (body.get("output") or {}).get("annotations") or []
        if len(added) > 50:
            raise AssertionError("GitHub takes at most 50 annotations per request")
        repo.annotations.setdefault(run["id"], []).extend(added)
        run["output"]["annotations_count"] = len(repo.annotations[run["id"]])

    def op_checks__update(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        run = repo.check_runs.get(int(request.params["check_run_id"]))
        if run is None:
            return 404, NOT_FOUND, {}
        run.update(
            {k: request.body[k] for k in ("name", "status", "conclusion") if k in request.body}
        )
        self._annotate(repo, run, request.body)
        return 200, run, {}

    def op_repos__create_commit_status(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        status = self.spec.example("status")
        status.update(
            id=self.next_id(),
            **{
                k: request.body[k]
                for k in ("state", "context", "description", "target_url")
                if k in request.body
            },
        )
        status["sha"] = request.params["sha"]
        repo.statuses.append(status)
        return 201, {k: v for k, v in status.items() if k != "sha"}, {}

    def op_repos__create_dispatch_event(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        repo.dispatches.append({"kind": "repository_dispatch", **request.body})
        return 204, None, {}

    def op_actions__create_workflow_dispatch(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        repo.dispatches.append(
            {"kind": "workflow_dispatch", "workflow": request.params["workflow_id"], **request.body}
        )
        return 204, None, {}


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _qualifier(token: str) -> Callable[[Repo, Issue], bool]:
    """One search term as a test of an issue (the qualifiers the double knows)."""
    negated = token.startswith("-")
    key, sep, value = token.lstrip("-").partition(":")
    if not sep:
        raise ValueError(f"free text {token!r} is not searched by the double")
    value = value.strip('"')
    test: Callable[[Repo, Issue], bool]
    if key == "repo":
        test = lambda repo, _issue: repo.full_name.lower() == value.lower()  # noqa: E731
    elif key == "is" and value in ("open", "closed"):
        test = lambda _repo, issue: issue.state == value  # noqa: E731
    elif key == "is" and value == "issue":  # a pull request is an issue too, but not is:issue
        test = lambda repo, issue: issue.number not in repo.pulls  # noqa: E731
    elif key == "is" and value in ("pr", "pull-request"):
        test = lambda repo, issue: issue.number in repo.pulls  # noqa: E731
    elif key == "label":
        test = lambda _repo, issue: value.lower() in {n.lower() for n in issue.labels}  # noqa: E731
    elif key == "no" and value == "assignee":
        test = lambda _repo, issue: not issue.assignees  # noqa: E731
    elif key in ("updated", "created"):
        match = re.fullmatch(r"(<=|>=|<|>)(\d{4}-\d{2}-\d{2}(?:T[0-9:]+Z?)?)", value)
        if match is None:
            raise ValueError(f"{token!r}: the double reads {key}:<DATE and the like")
        op, text = match.groups()
        bound = calendar.timegm(time.strptime(text[:19].rstrip("Z"), "%Y-%m-%dT%H:%M:%S"
                                               if "T" in text else "%Y-%m-%d"))
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[op]
        field_name = f"{key}_at"
        test = lambda _repo, issue: compare(float(getattr(issue, field_name)), float(bound))  # noqa: E731
    else:
        raise ValueError(f"the qualifier {token!r} is not known to the double")
    return (lambda repo, issue: not test(repo, issue)) if negated else test
