"""GitHub API calls per delivery (issue 23): a fixed stream of real deliveries through the
double with the shipped rules and a repository's own rules.

The stream is every webhook example shipped in vendor/shared/fixtures that names a repository
(71 of GitHub's own payloads), each delivered as to installation 1 with a fresh delivery id, twice over (GitHub
sends several events for one pull request head: opened, labeled, review_requested...; the
second pass is the same activity again). The double holds each repository and pull request
the payloads name, and Codertocat/Hello-World keeps rules in `.github/hookwise/`, which the
payloads' pull request head changes, so every pull request delivery also runs the rules check.

Printed: calls per delivery (all, and those GitHub counts against the rate limit: a 304 is not
counted), the share answered 304, the most writes in any minute for the
installation, and the calls one more delivery of an already-checked head costs the rules check.
The same stream runs twice in the same run: with the conditional-request cache (the default),
and with it off (HOOKWISE_GITHUB_CACHE_ENTRIES=0). With git history at hand, the stream also
runs against the last commit before issue 23 (the "before" figure), from a git worktree.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import peerkit
from bench.common import REPO, header, tree_at

FIXTURES = REPO / "vendor" / "shared" / "fixtures" / "github" / "webhooks"
BEFORE_COMMIT = "017dac1"  # the last commit before issue 23's economy
PASSES = 2
CHECK_NAME = "hookwise / rules"
INSTALLATION = 1
REPOSITORY_RULE = """name: greet-opened
on:
  events:
    pull_request: {types: [opened]}
nodes:
  hello:
    uses: core.log
    with:
      message: a pull request was opened
"""
PULL_FILES = ["docs/guide.md", "src/app.py", ".github/hookwise/greet.yaml"]


@dataclass
class Calls:
    """What one pass of the stream cost on the double."""

    deliveries: int
    calls: int
    not_modified: int
    peak_writes_per_minute: int
    redelivery_calls: int
    redelivery_rule_reads: int

    @property
    def per_delivery(self) -> float:
        """Calls per delivery."""
        return self.calls / self.deliveries

    @property
    def charged_per_delivery(self) -> float:
        """Calls per delivery that count against the rate limit (GitHub does not count a 304)."""
        return (self.calls - self.not_modified) / self.deliveries


def stream() -> list[tuple[str, dict[str, Any]]]:
    """(event, payload) for every shipped example that names a repository, as installation 1's."""
    index = json.loads((FIXTURES / "INDEX.json").read_text())
    deliveries = []
    for entry in index:
        if entry["repository_full_name"] is None:
            continue  # installation-level events: nothing for rules to act on
        payload = json.loads((FIXTURES / entry["file"]).read_text())
        payload["installation"] = {"id": INSTALLATION}
        deliveries.append((entry["event"], payload))
    return deliveries


def _seed(double: Any, deliveries: list[tuple[str, dict[str, Any]]]) -> None:
    """The repositories, pull requests and issues the payloads name, as GitHub would hold them."""
    world = double.world
    for _, payload in deliveries:
        owner, name = payload["repository"]["full_name"].split("/")
        repo = world.repo(owner, name)
        repo.id = payload["repository"]["id"]
        repo.default_branch = payload["repository"].get("default_branch") or "main"
    for _, payload in deliveries:
        full_name = payload["repository"]["full_name"]
        pull = payload.get("pull_request")
        if pull is not None and pull["number"] not in world.repo(*full_name.split("/")).pulls:
            world.add_pull(
                full_name,
                pull["number"],
                title=pull["title"],
                head_sha=pull["head"]["sha"],
                head_ref=pull["head"]["ref"],
                base_ref=pull["base"]["ref"],
                user=pull["user"]["login"],
                files=list(PULL_FILES),
            )
        issue = payload.get("issue")
        if issue is not None and issue["number"] not in world.repo(*full_name.split("/")).issues:
            world.add_issue(
                full_name, issue["number"], title=issue["title"], body=issue["body"] or ""
            )
    hello = world.repo("Codertocat", "Hello-World")
    world.commit_files(
        "Codertocat/Hello-World", {"README.md": "hello"}, branch=hello.default_branch
    )
    rules = {".github/hookwise/greet.yaml": REPOSITORY_RULE}
    for pull in hello.pulls.values():  # each head changes the repository's rules
        hello.snapshots[pull.head_sha] = {**hello.files, **rules}
        hello.branches[pull.head_ref] = pull.head_sha


def _post(client: httpx.Client, url: str, event: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    signature = hmac.new(peerkit.SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = client.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )
    if answer.status_code not in (200, 202):
        raise RuntimeError(f"{event}: {answer.status_code} {answer.text[:200]}")


def _settle(database: Path, limit: float = 300.0) -> None:
    """Wait until no job is queued or running (deferred ones included)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        db = sqlite3.connect(database)
        try:
            row = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
        finally:
            db.close()
        if int(row[0]) == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"jobs still queued after {limit:.0f} s")


def measure(root: Path, extra_env: dict[str, str]) -> Calls:
    """One server (the engine under `root`) on a fresh double and database: the stream, then
    one more delivery of a checked head."""
    sys.path.insert(0, str(REPO))
    from tests.double import GitHubDouble

    deliveries = stream()
    double = GitHubDouble().start()
    try:
        double.add_installation(INSTALLATION, "Codertocat")
        _seed(double, deliveries)
        with tempfile.TemporaryDirectory(prefix="hookwise-calls-") as folder:
            database = Path(folder) / "h.db"
            port = peerkit.free_port()
            env = {
                **peerkit.hookwise_env(f"sqlite:///{database}"),
                "HOOKWISE_RULES": str(REPO / "rules"),
                "GITHUB_APP_ID": double.app_id,
                "GITHUB_APP_PRIVATE_KEY": double.private_key_pem,
                "GITHUB_API_BASE_URL": double.url,
                "GITHUB_APP_SLUG": "hookwise-bench",
                "HOOKWISE_CACHE_DIR": str(Path(folder) / "cache"),  # this engine's own
                **extra_env,
            }
            url = f"http://127.0.0.1:{port}/webhooks/github"
            argv = [sys.executable, "-m", "engine", "serve", "--port", str(port)]
            with (
                peerkit.running(argv, env, f"http://127.0.0.1:{port}/health", cwd=root),
                httpx.Client(timeout=30) as client,
            ):
                started = time.time()
                for _ in range(PASSES):
                    for event, payload in deliveries:
                        _post(client, url, event, payload)
                    _settle(database)
                seen = len(double.requests)
                opened = next(
                    p for e, p in deliveries if e == "pull_request" and p["action"] == "opened"
                )
                _post(client, url, "pull_request", opened)  # the same head, delivered again
                _settle(database)
                again = _rules_check_calls(double.requests[seen:])
            requests = [
                r
                for r in double.requests[:seen]
                if r.operation != "apps/create-installation-access-token"
            ]
            return Calls(
                deliveries=len(deliveries) * PASSES,
                calls=len(requests),
                not_modified=sum(1 for r in requests if r.status == 304),
                peak_writes_per_minute=_peak(
                    sorted(r.at for r in requests if r.method != "GET" and r.at >= started)
                ),
                redelivery_calls=len(again),
                redelivery_rule_reads=sum(
                    1 for r in again if "/contents/.github/hookwise/" in r.path
                ),
            )
    finally:
        double.stop()


def _rules_check_calls(requests: list[Any]) -> list[Any]:
    """The calls the rules check made: the look for its check run, the run's creation and
    updates, and the rule files it read (the shipped rules make check runs of their own)."""
    runs: set[str] = set()
    calls = []
    for r in requests:
        if r.query.get("check_name") == [CHECK_NAME] or "/contents/.github/hookwise" in r.path:
            calls.append(r)
        elif (
            r.method == "POST"
            and r.path.endswith("/check-runs")
            and (r.body or {}).get("name") == CHECK_NAME
        ):
            calls.append(r)
            runs.add(r.path + "/")
        elif r.method == "PATCH" and any(r.path.startswith(run) for run in runs):
            calls.append(r)
    return calls


def _peak(writes: list[float]) -> int:
    """The most writes within any one minute."""
    most, start = 0, 0
    for end, at in enumerate(writes):
        while writes[start] <= at - 60.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def _line(label: str, calls: Calls) -> str:
    return (
        f"  {label}: {calls.calls} calls for {calls.deliveries} deliveries ({calls.per_delivery:.2f} each), "
        f"{calls.not_modified / max(calls.calls, 1):.0%} answered 304, "
        f"{calls.charged_per_delivery:.2f} per delivery counted against the rate limit, "
        f"peak {calls.peak_writes_per_minute} writes/minute; one more delivery of a checked head: "
        f"{calls.redelivery_calls} rules-check call(s), {calls.redelivery_rule_reads} rule-file read(s)"
    )


def run() -> dict[str, str]:
    """Calls per delivery now, with the cache off, and before issue 23."""
    header(
        f"GitHub API calls per delivery ({len(stream())} real payloads x {PASSES}, shipped and repository rules)"
    )
    now = measure(REPO, {})
    print(_line("now", now))
    print(_line("cache off", measure(REPO, {"HOOKWISE_GITHUB_CACHE_ENTRIES": "0"})))
    before: Calls | None = None
    with tree_at(BEFORE_COMMIT) as before_tree:
        if before_tree is not None:
            before = measure(before_tree, {})
            print(_line(f"before (commit {BEFORE_COMMIT})", before))
        else:
            print(f"  before: no git history with commit {BEFORE_COMMIT} here; not measured")
    figures = {}
    if before is not None:
        figures["calls"] = (
            "calls per delivery counted against the rate limit: "
            f"now {now.charged_per_delivery:.2f}, before {before.charged_per_delivery:.2f}: "
            f"{now.charged_per_delivery / before.charged_per_delivery:.2f}x (target <= 0.50x)"
        )
    figures["redelivery"] = (
        f"a checked head delivered again: {now.redelivery_calls} rules-check call(s), "
        f"{now.redelivery_rule_reads} rule-file read(s) (target <= 1 call, 0 reads)"
    )
    for line in figures.values():
        print(line)
    return figures
