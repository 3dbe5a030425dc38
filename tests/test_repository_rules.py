"""Repository rules (docs/design.md §2.4) end to end on the API double: `.github/hookwise/` read from
the default branch, refreshed by a push, broken files skipped with their reason, organisation
defaults replaced or switched off, scope enforced, the `hookwise / rules` check run, and each
version read once however many workers meet it."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.edge.web import create_app
from engine.settings import Settings
from tests.double import GitHubDouble
from tests.serverkit import (
    SECRET,
    server_settings,
    signed,
    sql,
    start_process,
    stop_process,
    wait_until,
    write_rule,
)

OWNER = "octo-org"
GREET = """name: greet
on:
  events:
    issues: {{types: [opened]}}
nodes:
  hello:
    uses: github.issue.comment
    with:
      body: {body}
"""
BROKEN = """name: broken
on:
  events: [isues]
nodes:
  log:
    uses: core.log
    with: {message: x}
"""


def repo_id(github: GitHubDouble, name: str) -> int:
    return github.world.repo(OWNER, name).id


def issue(github: GitHubDouble, name: str, number: int) -> dict[str, Any]:
    github.world.add_issue(f"{OWNER}/{name}", number)
    return {
        "action": "opened",
        "issue": {"number": number, "labels": [], "user": {"login": "mona", "type": "User"}},
        "repository": {
            "full_name": f"{OWNER}/{name}",
            "name": name,
            "id": repo_id(github, name),
            "default_branch": "main",
        },
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


def push(github: GitHubDouble, name: str, before: str, after: str, paths: list[str]) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "deleted": False,
        "commits": [{"id": after, "added": paths, "removed": [], "modified": []}],
        "pusher": {"name": "mona"},
        "repository": {
            "full_name": f"{OWNER}/{name}",
            "name": name,
            "id": repo_id(github, name),
            "default_branch": "main",
        },
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


def settings(tmp_path: Path, github: GitHubDouble) -> Settings:
    rules = tmp_path / "server-rules"
    rules.mkdir(exist_ok=True)
    write_rule(rules, "noop", "name: noop\non: {events: [ping]}\nnodes:\n  l: {uses: core.log, with: {message: x}}\n")
    return server_settings(tmp_path, rules, github, repo_rules=True)


class Server:
    """The app in-process; `deliver` posts a signed delivery and waits for its jobs."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.count = 0

    def deliver(self, event: str, payload: dict[str, Any]) -> str:
        self.count += 1
        delivery = f"d-{self.count}"
        body, headers = signed(payload, event, delivery)
        answer = self.client.post("/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        store = self.client.app.state.hookwise.store  # type: ignore[attr-defined]
        wait_until(
            lambda: all(j["state"] not in ("queued", "running") for j in store.jobs(delivery))
        )
        return delivery

    def trace(self, delivery: str) -> dict[str, Any]:
        store = self.client.app.state.hookwise.store  # type: ignore[attr-defined]
        found = store.delivery(delivery)
        assert found is not None
        return dict(found.match_trace.get("repository", {}))

    def runs(self, delivery: str) -> dict[str, Any]:
        store = self.client.app.state.hookwise.store  # type: ignore[attr-defined]
        return {r["rule"]: r for r in store.runs(delivery)}


def app_environment(monkeypatch: Any, tmp_path: Path, github: GitHubDouble, config: Settings, **more: str) -> None:
    """The environment a user's command line has beside the server: the App on the double."""
    key = tmp_path / "app.pem"
    key.write_text(github.private_key_pem)
    for name, value in {
        "GITHUB_APP_ID": github.app_id,
        "GITHUB_APP_PRIVATE_KEY_PATH": str(key),
        "GITHUB_API_BASE_URL": github.url,
        "HOOKWISE_GITHUB_WRITE_GAP": "0",
        "HOOKWISE_RULES": config.rules_path,
        **more,
    }.items():
        monkeypatch.setenv(name, value)


def comments(github: GitHubDouble, name: str, number: int) -> list[str]:
    found = github.world.repo(OWNER, name).issues[number].comments
    return [c["body"].split("\n")[0] for c in found]


def test_a_rule_added_by_a_push_acts_on_the_next_delivery(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(1, OWNER)
    first = github.world.commit_files(f"{OWNER}/hello", {"README.md": "hi"})
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        before = server.deliver("issues", issue(github, "hello", 1))
        assert comments(github, "hello", 1) == []
        assert server.trace(before)["sources"] == [f"repository {OWNER}/hello at {first[:7]}"]
        second = github.world.commit_files(
            f"{OWNER}/hello", {".github/hookwise/greet.yaml": GREET.format(body="hello from the repository")}
        )
        server.deliver("push", push(github, "hello", first, second, [".github/hookwise/greet.yaml"]))
        after = server.deliver("issues", issue(github, "hello", 2))
    assert comments(github, "hello", 2) == ["hello from the repository"]
    trace = server.trace(after)
    assert trace["sources"] == [f"repository {OWNER}/hello at {second[:7]}"]
    assert trace["matched"] == [
        {"rule": "greet", "file": ".github/hookwise/greet.yaml", "source": f"repository {OWNER}/hello at {second[:7]}"}
    ]
    assert list(server.runs(after)) == [f"repository:{OWNER}/hello@{second}#greet"]


def test_a_broken_file_is_skipped_with_its_reason_and_the_others_run(
    tmp_path: Path, github: GitHubDouble, cli: Any, monkeypatch: Any
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(
        f"{OWNER}/hello",
        {
            ".github/hookwise/broken.yaml": BROKEN,
            ".github/hookwise/greet.yaml": GREET.format(body="still here"),
        },
    )
    config = settings(tmp_path, github)
    with TestClient(create_app(config)) as client:
        server = Server(client)
        delivery = server.deliver("issues", issue(github, "hello", 1))
    assert comments(github, "hello", 1) == ["still here"]
    (skipped,) = server.trace(delivery)["skipped"]
    assert skipped["file"] == ".github/hookwise/broken.yaml"
    assert skipped["reason"].startswith('3:12: [unknown-event] unknown event "isues"; did you mean "issues"?')
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    code, out, _ = cli("deliveries", "show", delivery)
    assert code == 0
    assert "skipped .github/hookwise/broken.yaml" in out and "unknown event" in out


def test_organisation_defaults_apply_unless_replaced_or_switched_off(
    tmp_path: Path, github: GitHubDouble
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(
        f"{OWNER}/.github", {".github/hookwise/greet.yaml": GREET.format(body="hello from the organisation")}
    )
    github.world.commit_files(f"{OWNER}/plain", {"README.md": "no rules here"})
    github.world.commit_files(
        f"{OWNER}/own", {".github/hookwise/greet.yaml": GREET.format(body="hello from own")}
    )
    github.world.commit_files(
        f"{OWNER}/quiet", {".github/hookwise/greet.yaml": "name: greet\ndisabled: true\non: issues\nnodes:\n  l: {uses: core.log, with: {message: x}}\n"}
    )
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        for name in ("plain", "own", "quiet"):
            server.deliver("issues", issue(github, name, 1))
        quiet = server.deliver("issues", issue(github, "quiet", 2))
    assert comments(github, "plain", 1) == ["hello from the organisation"]
    assert comments(github, "own", 1) == ["hello from own"]
    assert comments(github, "quiet", 1) == []
    trace = server.trace(quiet)
    assert trace["replaced"] == ["default greet is switched off by .github/hookwise/greet.yaml"]
    assert trace["matched"] == []


def test_a_repository_rule_cannot_act_on_another_repository(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(1, OWNER)
    github.world.add_issue(f"{OWNER}/other", 1)
    github.world.commit_files(
        f"{OWNER}/hello",
        {
            ".github/hookwise/reach.yaml": (
                "name: reach\non: {events: {issues: {types: [opened]}}}\nnodes:\n"
                "  here:\n    uses: github.issue.comment\n    with: {body: here}\n"
                "  there:\n    uses: github.issue.comment\n    with: {repo: other, number: 1, body: there}\n"
            )
        },
    )
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        delivery = server.deliver("issues", issue(github, "hello", 1))
    (run,) = server.runs(delivery).values()
    nodes = {n["id"]: n for n in run["record"]["nodes"]}
    assert nodes["here"]["status"] == "success"
    assert nodes["there"]["status"] == "failure"
    assert nodes["there"]["error"] == (
        f"a repository rule may act only on {OWNER}/hello; this node's owner/repo point at {OWNER}/other"
    )
    assert comments(github, "other", 1) == []
    # its token was asked for its own repository only
    tokens = [r for r in github.calls("apps/create-installation-access-token") if r.body]
    assert tokens and all(r.body == {"repository_ids": [repo_id(github, "hello")]} for r in tokens)


def pull_request(github: GitHubDouble, head: str, files: list[str]) -> dict[str, Any]:
    github.world.add_pull(f"{OWNER}/hello", 5, files=files, head_sha=head)
    return {
        "action": "opened",
        "number": 5,
        "pull_request": {
            "number": 5,
            "title": "Add a rule",
            "labels": [],
            "user": {"login": "mona", "type": "User"},
            "base": {"ref": "main"},
            "head": {"ref": "add-rule", "sha": head},
        },
        "repository": {"full_name": f"{OWNER}/hello", "name": "hello", "id": repo_id(github, "hello"), "default_branch": "main"},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


def test_a_pull_request_adding_a_broken_rule_gets_a_failing_check_run(
    tmp_path: Path, github: GitHubDouble
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(f"{OWNER}/hello", {"README.md": "hi"})
    head = github.world.commit_files(
        f"{OWNER}/hello",
        {".github/hookwise/broken.yaml": BROKEN, ".github/hookwise/greet.yaml": GREET.format(body="x")},
        branch="add-rule",
    )
    hello = github.world.repo(OWNER, "hello")
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        payload = pull_request(github, head, [".github/hookwise/broken.yaml"])
        server.deliver("pull_request", payload)
        server.deliver("pull_request", payload)  # redelivered: the same check run stands
    (run,) = [r for r in hello.check_runs.values() if r["name"] == "hookwise / rules"]
    assert (run["head_sha"], run["status"], run["conclusion"]) == (head, "completed", "failure")
    assert run["output"]["title"] == "1 problem in 1 file"
    (annotation,) = hello.annotations[run["id"]]
    assert annotation == {
        "path": ".github/hookwise/broken.yaml",
        "start_line": 3,
        "end_line": 3,
        "start_column": 12,
        "end_column": 12,
        "annotation_level": "failure",
        "title": "unknown-event",
        "message": '[unknown-event] unknown event "isues"; did you mean "issues"?',
    }


def test_a_clean_rule_change_passes_and_other_pull_requests_get_no_check(
    tmp_path: Path, github: GitHubDouble
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(f"{OWNER}/hello", {"README.md": "hi"})
    head = github.world.commit_files(
        f"{OWNER}/hello", {".github/hookwise/greet.yaml": GREET.format(body="x")}, branch="add-rule"
    )
    hello = github.world.repo(OWNER, "hello")
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        server.deliver("pull_request", pull_request(github, head, ["src/app.py"]))
        assert hello.check_runs == {}
        server.deliver("pull_request", pull_request(github, head, [".github/hookwise/greet.yaml"]))
    (run,) = hello.check_runs.values()
    assert (run["conclusion"], run["output"]["title"]) == ("success", "1 rule in 1 file: no problems")


def test_each_version_is_read_once_by_two_workers_over_50_deliveries(
    tmp_path: Path, github: GitHubDouble
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(
        f"{OWNER}/.github", {".github/hookwise/audit.yaml": "name: audit\non: issues\nnodes:\n  l: {uses: core.log, with: {message: audited}}\n"}
    )
    github.world.commit_files(
        f"{OWNER}/hello",
        {
            ".github/hookwise/greet.yaml": GREET.format(body="hi"),
            ".github/hookwise/log.yaml": "name: log\non: issues\nnodes:\n  l: {uses: core.log, with: {message: x}}\n",
        },
    )
    payloads = [issue(github, "hello", n) for n in range(1, 51)]
    config = settings(tmp_path, github)
    env = {
        **os.environ,
        "HOOKWISE_RULES": config.rules_path,
        "DATABASE_URL": config.database_url,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_ID": github.app_id,
        "GITHUB_APP_PRIVATE_KEY": github.private_key_pem,
        "GITHUB_API_BASE_URL": github.url,
        "HOOKWISE_GITHUB_WRITE_GAP": "0",
        "GITHUB_APP_SLUG": "hookwise-test",
        "HOOKWISE_LOG_LEVEL": "WARNING",
    }
    # reads wait until both workers hold jobs, so both meet the unread versions at once
    both_working = threading.Event()
    github.inject("GET", "/contents/", hold=both_working, times=10_000)
    workers: list[Any] = []
    try:
        with TestClient(create_app(config, start_workers=False)) as client:
            database = sqlite3.connect(config.database_url.removeprefix("sqlite:///"))
            workers = [
                start_process(["worker", "--concurrency", "4"], env, tmp_path / f"worker-{i}.log")
                for i in (0, 1)
            ]
            wait_until(lambda: database.execute("SELECT COUNT(*) FROM workers").fetchone()[0] == 2)
            for number, payload in enumerate(payloads, start=1):
                body, headers = signed(payload, "issues", f"d-{number}")
                response = client.post("/webhooks/github", content=body, headers=headers)
                assert response.status_code == 202
            # the two workers share the deliveries: both hold jobs while the versions are unread
            wait_until(
                lambda: database.execute(
                    "SELECT COUNT(DISTINCT worker) FROM jobs WHERE state = 'running'"
                ).fetchone()[0] == 2,
                timeout=60,
            )
            both_working.set()

        def settled() -> bool:
            open_jobs = database.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()[0]
            runs = database.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            return bool(open_jobs == 0 and runs == 150)

        wait_until(settled, timeout=60)
    finally:
        both_working.set()
        for worker in workers:
            stop_process(worker)
    assert len(comments_of(github)) == 50
    reads: dict[str, int] = {}
    for request in github.requests:
        if request.operation in ("repos/get-content", "repos/get-branch", "repos/get"):
            key = f"{request.operation} {request.path}?{json.dumps(request.query, sort_keys=True)}"
            reads[key] = reads.get(key, 0) + 1
    assert reads and all(count == 1 for count in reads.values()), reads
    # the listing and the file of each repository: 2 files here, 1 in the defaults
    contents = [k for k in reads if k.startswith("repos/get-content")]
    assert len(contents) == 2 + 3


def comments_of(github: GitHubDouble) -> list[str]:
    repo = github.world.repo(OWNER, "hello")
    return [c["body"] for i in repo.issues.values() for c in i.comments]


def test_validate_reads_a_checkouts_github_hookwise(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".github" / "workflows").mkdir(parents=True)
    (checkout / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")  # not a rule
    (checkout / ".github" / "hookwise").mkdir()
    (checkout / ".github" / "hookwise" / "broken.yaml").write_text(BROKEN)
    monkeypatch.chdir(checkout)
    code, out, _ = cli("validate", ".")
    assert code == 1
    assert out.splitlines()[0].startswith(
        '.github/hookwise/broken.yaml:3:12: error [unknown-event] unknown event "isues"'
    )
    assert out.endswith("found 1 problem in 1 of 1 file\n")
    code, out, _ = cli("validate", ".github/hookwise")
    assert code == 1 and "1 of 1 file" in out


def test_validate_without_a_path_in_a_checkout_reads_github_hookwise(
    cli: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / ".github" / "hookwise").mkdir(parents=True)
    (tmp_path / ".github" / "hookwise" / "greet.yaml").write_text(GREET.format(body="hi"))
    monkeypatch.chdir(tmp_path)
    assert cli("validate") == (0, "checked 1 file: no problems\n", "")


def test_an_app_without_contents_permission_does_not_fail_deliveries(
    tmp_path: Path, github: GitHubDouble
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(f"{OWNER}/hello", {".github/hookwise/greet.yaml": GREET.format(body="x")})
    github.inject(
        "GET",
        "/contents/",
        status=403,
        times=100,
        body={"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com"},
    )
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        delivery = server.deliver("issues", issue(github, "hello", 1))
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]
        (job,) = [j for j in store.jobs(delivery) if j["rule"] == "@repository"]
        found = store.delivery(delivery)
    assert found is not None and found.status == "no_match"
    assert job["state"] == "not_matched"
    assert job["error"] == (
        "not matched: GitHub 403: Resource not accessible by integration; "
        "the App needs Contents: read for repository rules"
    )


def test_a_replay_reads_the_repositorys_rules_from_the_browser_and_the_command_line(
    tmp_path: Path, github: GitHubDouble, cli: Any, monkeypatch: Any
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(f"{OWNER}/hello", {".github/hookwise/greet.yaml": GREET.format(body="hi")})
    config = settings(tmp_path, github)
    with TestClient(create_app(config), client=("127.0.0.1", 5000), base_url="http://localhost") as client:
        server = Server(client)
        delivery = server.deliver("issues", issue(github, "hello", 1))
        page = client.get(f"/ui/deliveries/{delivery}").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = client.post(f"/ui/deliveries/{delivery}/replay", data={"csrf": csrf}, follow_redirects=False)
        assert answer.headers["location"].endswith("?replayed=1")
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]
        wait_until(lambda: all(j["state"] not in ("queued", "running") for j in store.jobs(delivery)))
        generation_one = {j["rule"] for j in store.jobs(delivery) if j["generation"] == 1}
    assert "@repository" in generation_one
    app_environment(monkeypatch, tmp_path, github, config, HOOKWISE_REPO_RULES="true")
    code, out, err = cli("deliveries", "replay", delivery, "--database", config.database_url, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["generation"] == 2
    database = sqlite3.connect(config.database_url.removeprefix("sqlite:///"))
    try:
        rows = database.execute(
            "SELECT rule, state FROM jobs WHERE delivery_id = ? AND generation = 2", (delivery,)
        ).fetchall()
    finally:
        database.close()
    assert ("@repository", "done") in rows


def test_a_late_push_never_rolls_the_rules_back(tmp_path: Path, github: GitHubDouble) -> None:
    """Push A adds `oo-old`, push B deletes it; GitHub delivers B first, then A. The rules
    stay at B (the branch's head), not A, and `oo-old` never runs."""
    github.add_installation(1, OWNER)
    base = github.world.commit_files(f"{OWNER}/hello", {"README.md": "hi"})
    path = ".github/hookwise/oo-old.yaml"
    a = github.world.commit_files(f"{OWNER}/hello", {path: GREET.format(body="old rule").replace("greet", "oo-old")})
    b = github.world.commit_files(f"{OWNER}/hello", {path: None, "README.md": "bye"})
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        server.deliver("push", push(github, "hello", a, b, [path]))  # B, on time
        server.deliver("push", push(github, "hello", base, a, [path]))  # A, late
        after = server.deliver("issues", issue(github, "hello", 1))
    assert comments(github, "hello", 1) == []
    assert server.trace(after)["sources"] == [f"repository {OWNER}/hello at {b[:7]}"]


def test_a_rate_limited_read_of_the_rules_waits_and_then_runs_them(tmp_path: Path, github: GitHubDouble) -> None:
    """A 403 with x-ratelimit-remaining 0 is a rate limit, not a missing permission: the
    repository job waits until the reset and then runs the repository's rules."""
    import time

    github.add_installation(1, OWNER)
    github.world.commit_files(f"{OWNER}/hello", {".github/hookwise/greet.yaml": GREET.format(body="after the reset")})
    reset = int(time.time()) + 70
    github.inject(
        "GET",
        "/contents/",
        status=403,
        times=1,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset), "x-ratelimit-limit": "5000"},
        body={"message": "API rate limit exceeded for installation ID 1.", "documentation_url": "https://docs.github.com"},
    )
    config = settings(tmp_path, github)
    with TestClient(create_app(config)) as client:
        data = issue(github, "hello", 1)
        body, headers = signed(data, "issues", "limited-1")
        assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]

        def deferred() -> Any:
            jobs = [j for j in store.jobs("limited-1") if j["rule"] == "@repository"]
            return jobs and jobs[0]["state"] == "queued" and (jobs[0]["error"] or "").startswith("rate limited")

        wait_until(deferred)
        (job,) = [j for j in store.jobs("limited-1") if j["rule"] == "@repository"]
        assert job["run_after"] >= reset - 5  # it waits for the reset, holding no worker
        # the reset comes: (instead of waiting 70 s) the limit and the job's wait are over
        sql(config, "DELETE FROM rate_limits")
        sql(config, "UPDATE jobs SET run_after = 0 WHERE rule = '@repository'")
        wait_until(lambda: comments(github, "hello", 1) == ["after the reset"], timeout=30)
        wait_until(lambda: all(j["state"] not in ("queued", "running") for j in store.jobs("limited-1")))
        jobs = {j["rule"]: j for j in store.jobs("limited-1")}
        found = store.delivery("limited-1")
    assert jobs["@repository"]["state"] == "done"
    assert found is not None and found.status == "done"
    # the delivery's log never says the App lacks a permission it has
    logged = json.dumps([found.match_trace, [j["error"] for j in jobs.values()]])
    assert "the App needs" not in logged and "permission" not in logged


def test_a_replay_from_the_command_line_waits_out_a_backoff_the_servers_set(
    tmp_path: Path, github: GitHubDouble, cli: Any, monkeypatch: Any
) -> None:
    """The CLI's replay assembles the servers' runtime: a rate limit a server met (kept in the
    database) holds the replay's calls of that installation until it passes."""
    import time

    github.add_installation(1, OWNER)
    config = settings(tmp_path, github)
    write_rule(Path(config.rules_path), "greet", GREET.format(body="hello"))
    with TestClient(create_app(config)) as client:
        delivery = Server(client).deliver("issues", issue(github, "hello", 1))
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]
        until = time.time() + 2.0
        store.block_rate("1", until)  # a server met installation 1's limit until then
    app_environment(monkeypatch, tmp_path, github, config)
    seen = len(github.requests)
    code, out, err = cli("deliveries", "replay", delivery, "--database", config.database_url, "--format", "json")
    assert code == 0, err
    assert {r["rule"]: r["status"] for r in json.loads(out)["runs"]}["greet"] == "success"
    comments_posted = [r for r in github.requests[seen:] if r.method == "POST" and r.path.endswith("/comments")]
    assert len(comments_posted) == 1
    assert comments_posted[0].at >= until


def test_twenty_redeliveries_of_one_head_read_its_rules_once_and_make_one_check_run(
    tmp_path: Path, github: GitHubDouble
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(f"{OWNER}/hello", {"README.md": "hi"})
    head = github.world.commit_files(
        f"{OWNER}/hello",
        {".github/hookwise/greet.yaml": GREET.format(body="x"), ".github/hookwise/broken.yaml": BROKEN},
        branch="add-rule",
    )
    payload = pull_request(github, head, [".github/hookwise/greet.yaml", ".github/hookwise/broken.yaml"])
    with TestClient(create_app(settings(tmp_path, github))) as client:
        server = Server(client)
        for _ in range(20):
            server.deliver("pull_request", payload)
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]
        checks = [j for d in range(1, 21) for j in store.jobs(f"d-{d}") if j["rule"] == "@rules-check"]
    at_head = [r for r in github.requests if r.method == "GET" and r.query.get("ref") == [head]]
    reads = {name: sum(r.path.endswith(f"/.github/hookwise/{name}") for r in at_head) for name in ("greet.yaml", "broken.yaml")}
    assert reads == {"greet.yaml": 1, "broken.yaml": 1}
    created = [r for r in github.requests if r.method == "POST" and r.path.endswith("/check-runs")]
    assert len(created) == 1
    assert len(checks) == 20 and all(j["state"] == "done" for j in checks)
    # a redelivery costs one call: the look for the head's finished check run
    lookups = [r for r in github.requests if r.method == "GET" and r.path.endswith(f"/commits/{head}/check-runs")]
    assert len(lookups) == 20


GREET_TEST = """cases:
  - name: an opened issue is greeted
    event: issues
    payload:
      data:
        action: opened
        issue: {{number: 1, labels: [], user: {{login: mona, type: User}}}}
        repository: {{full_name: octo-org/hello, name: hello}}
        sender: {{login: mona, type: User}}
    expect:
      matched: [greet]
      writes:
        - request: POST /repos/octo-org/hello/issues/{number}/comments
"""


@pytest.mark.parametrize(("number", "conclusion"), [(1, "success"), (2, "failure")])
def test_the_rules_check_runs_the_rule_tests_beside_the_rules(
    tmp_path: Path, github: GitHubDouble, number: int, conclusion: str
) -> None:
    github.add_installation(1, OWNER)
    github.world.commit_files(f"{OWNER}/hello", {"README.md": "hi"})
    head = github.world.commit_files(
        f"{OWNER}/hello",
        {
            ".github/hookwise/greet.yaml": GREET.format(body="x"),
            ".github/hookwise/greet.test.yaml": GREET_TEST.format(number=number),
        },
        branch="add-rule",
    )
    hello = github.world.repo(OWNER, "hello")
    with TestClient(create_app(settings(tmp_path, github))) as client:
        Server(client).deliver("pull_request", pull_request(github, head, [".github/hookwise/greet.test.yaml"]))
    (run,) = [r for r in hello.check_runs.values() if r["name"] == "hookwise / rules"]
    assert run["conclusion"] == conclusion
    assert all(i.comments == [] for i in hello.issues.values())  # the tests ran offline
    if conclusion == "failure":
        (annotation,) = hello.annotations[run["id"]]
        assert annotation["path"] == ".github/hookwise/greet.test.yaml"
        assert annotation["start_line"] == 13  # the write that differs
        assert annotation["title"] == "rule-test"
        assert 'case "an opened issue is greeted": planned write 1 differs' in annotation["message"]
    else:
        assert run["output"]["title"] == "1 rule in 2 files: no problems"
