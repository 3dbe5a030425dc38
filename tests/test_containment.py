"""What a rule can reach: the traversal matrix. Every node input that ends up in a request path,
given the payloads an attacker used, for a repository rule (scoped to its repository) and a
server rule: no request leaves `/repos/{owner}/{repo}/` of the repository rule's own
repository, and no request of any rule has an empty, `.` or `..` segment."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from engine.edge.web import create_app
from engine.github.client import GitHubClient
from engine.github.credentials import AppCredentials
from engine.lang.model import Scope
from engine.nodes import default_registry
from engine.run.executor import ExecutionOptions, execute
from engine.run.record import RunRecord
from engine.run.recorded_github import refused_path
from tests.double import APP_ID, GitHubDouble
from tests.rulekit import compile_rule
from tests.serverkit import SECRET, server_settings, signed, sql, wait_until, write_rule
from tests.test_github_nodes import HEAD, REPO, pr_event

REGISTRY = default_registry()
PAYLOADS = [
    "../../../../orgs/Codertocat/teams/admins/memberships/alice",
    "${{ format('{0}','../../issues/1') }}",
    "..",
    ".",
    "%2e%2e",
    "%2E%2E/%2E%2E/issues/1",
    "a/../../../../issues/1",
    "${{ '' }}",
]
# node type -> the inputs it needs anyway, and the inputs that reach a URL
TARGETS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "github.commit.get": ({}, ("sha", "owner", "repo")),
    "github.repository.file": ({"path": "README.md"}, ("path", "owner", "repo")),
    "github.repository.compare": ({"base": "main", "head": "changes"}, ("base", "head")),
    "github.check_run.create": ({"name": "lint"}, ("head_sha",)),
    "github.check_run.update": ({"check_run_id": 1, "status": "in_progress"}, ("check_run_id",)),
    "github.status.set": ({"state": "success"}, ("sha",)),
    "github.workflow.dispatch": ({"workflow_id": "ci.yml", "ref": "main"}, ("workflow_id",)),
    "github.issue.remove_labels": ({"labels": ["bug"]}, ("labels",)),
    "github.issue.comment": ({"body": "hi"}, ("number", "owner", "repo")),
    "github.pull_request.status": ({}, ("number",)),
}
CASES = [
    pytest.param(uses, name, id=f"{uses}.{name}") for uses, (_, names) in TARGETS.items() for name in names
]
OWN = Scope("octo-org", REPO)


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    github.add_installation(1, "octo-org")
    github.add_installation(2, "Codertocat")
    github.world.add_pull(REPO, 7, title="Docs", files=["docs/a.md"], labels=["bug"], head_sha=HEAD)
    github.world.repo("octo-org", "hello").files["README.md"] = "hello\n"
    return github


def run_many(
    github: GitHubDouble, uses: str, cases: list[dict[str, Any]], scope: Scope | None
) -> list[tuple[RunRecord, list[str]]]:
    """Run a one-node rule per set of inputs, with one client; each record with the paths it
    made GitHub receive."""
    rules = []
    for inputs in cases:
        body = {"name": "t", "on": {"events": ["pull_request"]}, "nodes": {"n": {"uses": uses, "with": inputs}}}
        rules.append(compile_rule(json.dumps(body), registry=REGISTRY))

    async def go() -> list[tuple[RunRecord, list[str]]]:
        client = GitHubClient(AppCredentials.from_pem(APP_ID, github.private_key_pem), base_url=github.url)
        done = []
        try:
            for rule in rules:
                github.requests.clear()
                options = ExecutionOptions(github=client.installation(1), dry_run=False, scope=scope)
                record = await execute(rule, pr_event(), REGISTRY, options)
                done.append((record, api_paths(github)))
        finally:
            await client.aclose()
        return done

    return asyncio.run(go())


def run_one(github: GitHubDouble, uses: str, inputs: dict[str, Any], scope: Scope | None) -> RunRecord:
    return run_many(github, uses, [inputs], scope)[0][0]


def api_paths(github: GitHubDouble) -> list[str]:
    """The paths of the requests GitHub received, but the App's own token requests."""
    return [r.path for r in github.requests if not r.path.startswith("/app/")]


@pytest.mark.parametrize("scoped", [True, False], ids=["repository-rule", "server-rule"])
@pytest.mark.parametrize(("uses", "name"), CASES)
def test_traversal_never_leaves_the_rules_reach(
    world: GitHubDouble, uses: str, name: str, scoped: bool
) -> None:
    needed, _ = TARGETS[uses]
    cases = []
    for payload in PAYLOADS:
        # through an expression, so that only the rendered value is known (validate sees no text)
        rendered = payload if payload.startswith("${{") else f"${{{{ format('{{0}}', '{payload}') }}}}"
        cases.append({**needed, name: [rendered] if name == "labels" else rendered})
    for payload, (record, paths) in zip(PAYLOADS, run_many(world, uses, cases, OWN if scoped else None), strict=True):
        for path in paths:
            for part in urlsplit(path).path.split("/")[1:]:
                assert unquote(part) not in ("", ".", ".."), (payload, path)
                assert unquote(unquote(part)) not in (".", ".."), (payload, path)
            if scoped:
                assert path.startswith(f"/repos/{REPO}/"), (payload, path)
        assert record.nodes[0].status in ("success", "failure")


def test_the_attack_from_the_report_fails_the_node_and_sends_nothing(world: GitHubDouble) -> None:
    record = run_one(
        world,
        "github.check_run.update",
        {"check_run_id": "${{ format('{0}','../../issues/1') }}", "status": "in_progress"},
        None,
    )
    assert record.nodes[0].status == "failure"
    assert "with.check_run_id: '../../issues/1' as rendered is not valid here" in str(record.nodes[0].error)
    assert api_paths(world) == []
    record = run_one(world, "github.commit.get", {"sha": PAYLOADS[0]}, None)
    assert api_paths(world) == [f"/repos/{REPO}/commits/..%2F..%2F..%2F..%2Forgs%2FCodertocat%2Fteams%2Fadmins%2Fmemberships%2Falice"]


@pytest.mark.parametrize(
    ("path", "scope", "refused"),
    [
        (f"/repos/{REPO}/issues/1/comments", OWN, False),
        (f"/repos/{REPO}", OWN, False),
        ("/repos/octo-org/other/issues/1", OWN, True),
        ("/orgs/octo-org/teams", OWN, True),
        (f"/repos/{REPO}/../other/issues", None, True),
        (f"/repos/{REPO}/%2e%2e/other", None, True),
        (f"/repos/{REPO}/./issues", None, True),
        (f"/repos/{REPO}//issues", None, True),
        ("/orgs/octo-org/teams", None, False),
        ("repos/x", None, True),
        ("/repos/OCTO-ORG/HELLO/pulls/1?x=../..", OWN, False),
    ],
)
def test_the_last_check_before_sending(path: str, scope: Scope | None, refused: bool) -> None:
    assert (refused_path("GET", path, scope) is not None) is refused


# --- loops cannot start -----------------------------------------------------------------

ECHO = """name: echo
on:
  events:
    issue_comment: {types: [created]}
  ignore-bots: false
nodes:
  reply:
    uses: github.issue.comment
    with:
      body: seen ${{ event.comment.id }}
"""


def test_with_get_app_failing_hookwise_does_not_answer_its_own_comment(
    tmp_path: Path, github: GitHubDouble
) -> None:
    """GitHub's delivery of hookwise's own comment carries its marker: the App is recognised
    (and its bot learned, so its marker-less writes too) although GET /app answers 500."""
    github.add_installation(1, "octo-org")
    github.world.add_issue(REPO, 3)
    github.inject("GET", r"^/app$", status=500, times=1_000)
    rules = write_rule(tmp_path / "rules", "echo", ECHO)
    settings = server_settings(tmp_path, rules, github, app_login=None)
    human = {
        "action": "created",
        "issue": {"number": 3, "labels": [], "user": {"login": "mona", "type": "User"}},
        "comment": {"id": 1, "body": "hello", "user": {"login": "mona", "type": "User"}},
        "repository": {"full_name": REPO, "name": "hello", "owner": {"login": "octo-org"}},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }
    with TestClient(create_app(settings)) as client:
        body, headers = signed(human, "issue_comment", "loop-1")
        assert client.post("/webhooks/github", content=body, headers=headers).json()["matched"] == ["echo"]
        comments = github.world.repo("octo-org", "hello").issues[3].comments
        wait_until(lambda: len(comments) == 1)
        written = comments[0]
        assert "<!-- hookwise:write=" in written["body"]
        bot = {"login": "hookwise-test[bot]", "type": "Bot"}
        echo = dict(human, comment={"id": written["id"], "body": written["body"], "user": bot}, sender=bot)
        body, headers = signed(echo, "issue_comment", "loop-2")
        answer = client.post("/webhooks/github", content=body, headers=headers).json()
        assert answer["matched"] == []  # the loop stops at its first turn
        labeled = dict(human, action="created", comment={"id": 99, "body": "no marker", "user": bot}, sender=bot)
        body, headers = signed(labeled, "issue_comment", "loop-3")
        assert client.post("/webhooks/github", content=body, headers=headers).json()["matched"] == []
        other = {"login": "other-app[bot]", "type": "Bot"}
        body, headers = signed(dict(labeled, sender=other), "issue_comment", "loop-4")
        assert client.post("/webhooks/github", content=body, headers=headers).json()["matched"] == ["echo"]
        wait_until(lambda: len(comments) == 2)
        # the queue drained: nothing is left that could add a third comment
        wait_until(lambda: sql(settings, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')") == [(0,)])
    assert github.calls("apps/get-authenticated")  # it asked, and GitHub failed
    assert len(comments) == 2  # the human's delivery and the other bot's: never its own


def test_the_apps_login_is_asked_again_until_github_answers(tmp_path: Path, github: GitHubDouble) -> None:
    github.inject("GET", r"^/app$", status=500, times=1_000)
    settings = server_settings(tmp_path, write_rule(tmp_path / "rules", "echo", ECHO), github, app_login=None)
    app = create_app(settings, start_workers=False)
    hookwise = app.state.hookwise
    waited: list[float] = []

    async def no_backoff(seconds: float) -> None:  # the client's own retries of each 500
        return None

    hookwise.github.sleep = no_backoff

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) == 3:  # GitHub recovers
            github.faults.clear()

    async def go() -> None:
        assert not await hookwise.learn_app_login()  # start-up's attempt: GitHub answers 500
        await hookwise.keep_learning_app_login(sleep=sleep)
        await hookwise.github.aclose()

    asyncio.run(go())
    assert waited == [5.0, 10.0, 20.0]
    assert hookwise.app_login == f"{github.spec.example('integration')['slug']}[bot]"


# --- concurrency groups per scope --------------------------------------------------------

GROUPED = """name: deploy
on: [issues]
concurrency:
  group: {group}
  cancel-in-progress: true
nodes:
  n: {{uses: core.log, with: {{message: hi}}}}
"""


def _issue_event(repository: str) -> Any:
    from engine.match.events import parse_event

    owner, name = repository.split("/")
    return parse_event(
        "issues",
        {
            "action": "opened",
            "issue": {"number": 1, "labels": [], "user": {"login": "mona", "type": "User"}},
            "repository": {"full_name": repository, "name": name, "owner": {"login": owner}},
            "installation": {"id": 1},
            "sender": {"login": "mona", "type": "User"},
        },
        delivery="g-1",
    )


def test_a_repository_rule_cannot_take_a_server_rules_group() -> None:
    """The hijack: a rule in Hello-World names the group the server's `deploy` uses for
    Codertocat/Other; its runs must not meet (and cancel) the server rule's."""
    from dataclasses import replace

    from engine.run.contexts import concurrency_key

    server = compile_rule(GROUPED.format(group="deploy-${{ github.repository }}"))
    hijack = replace(
        compile_rule(GROUPED.format(group="deploy-Codertocat/Other")),
        scope=Scope("Codertocat", "Codertocat/Hello-World"),
    )
    default = replace(
        compile_rule(GROUPED.format(group="deploy-Codertocat/Other")), scope=Scope("Codertocat")
    )
    keys = {
        "server": concurrency_key(server, _issue_event("Codertocat/Other")),
        "repository": concurrency_key(hijack, _issue_event("Codertocat/Hello-World")),
        "default": concurrency_key(default, _issue_event("Codertocat/Hello-World")),
    }
    assert keys == {
        "server": ("deploy-Codertocat/Other", True),
        "repository": ("codertocat/hello-world: deploy-Codertocat/Other", True),
        "default": ("codertocat: deploy-Codertocat/Other", True),
    }


# --- budgets: the amplification rule -----------------------------------------------------


def amplification_rule(copies: int, nodes: int = 200) -> str:
    """The attack: 200 core.set nodes in a chain, each formatting `copies` copies of the
    event's JSON (each value just under the 1,000,000-character limit of one value)."""
    lines = ["name: amplify", "on: {events: {issues: {types: [opened]}}}", "nodes:", "  s0:", "    uses: core.set",
             "    with: {outputs: {v: '${{ toJSON(event) }}'}}"]
    pattern = "{0}" * copies
    for i in range(1, nodes):
        lines += [f"  s{i}:", "    uses: core.set", f"    needs: s{i - 1}",
                  f"    with: {{outputs: {{v: \"${{{{ format('{pattern}', nodes.s0.outputs.v) }}}}\"}}}}"]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_the_amplification_rule_is_contained(tmp_path: Path, github: GitHubDouble) -> None:
    import statistics
    import time

    import httpx

    from engine.expr.evaluate import MAX_STRING, to_json
    from tests.rulekit import payload
    from tests.serverkit import free_port, start_process, stop_process

    event = payload("issues", "opened.1")
    owner, name = event["repository"]["full_name"].split("/")
    event["installation"] = {"id": 1}
    github.add_installation(1, owner)
    copies = (MAX_STRING - 1000) // len(to_json(event))  # the attacker's: just under one value's limit
    assert copies * len(to_json(event)) > 300_000  # and far over a node's budget
    github.world.repo(owner, name).default_branch = event["repository"]["default_branch"]
    github.world.commit_files(f"{owner}/{name}", {".github/hookwise/amplify.yaml": amplification_rule(copies)})
    event["repository"]["id"] = github.world.repo(owner, name).id  # the repository-scoped token's
    rules = write_rule(tmp_path / "rules", "noop", "name: noop\non: [ping]\nnodes:\n  l: {uses: core.log, with: {message: x}}\n")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HOOKWISE_"))},
        "HOOKWISE_RULES": str(rules),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hookwise.db'}",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_ID": github.app_id,
        "GITHUB_APP_PRIVATE_KEY": github.private_key_pem,
        "GITHUB_API_BASE_URL": github.url,
        "HOOKWISE_GITHUB_WRITE_GAP": "0",
    }
    server = start_process(["serve", "--port", str(port)], env, tmp_path / "server.log", health=f"http://127.0.0.1:{port}/health")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for n in range(3):  # three attacking deliveries
                body, headers = signed(event, "issues", f"amplify-{n}")
                assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
            waits = []
            for n in range(10):  # good deliveries while the attack runs
                body, headers = signed(dict(event, action="edited"), "issues", f"good-{n}")
                started = time.perf_counter()
                assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
                waits.append(time.perf_counter() - started)
            wait_until(lambda: sql_file(tmp_path, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')") == [(0,)], timeout=120)
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    finally:
        stop_process(server)
    stored = sql_file(tmp_path, "SELECT COALESCE(SUM(LENGTH(record)), 0) FROM runs")[0][0]
    stored += sql_file(tmp_path, "SELECT COALESCE(SUM(LENGTH(outputs)) + SUM(LENGTH(COALESCE(error, ''))), 0) FROM node_runs")[0][0]
    runs = sql_file(tmp_path, "SELECT rule, status FROM runs WHERE rule LIKE '%#amplify'")
    assert len(runs) == 3 and {status for _, status in runs} == {"failure"}
    errors = sql_file(tmp_path, "SELECT node_id, error FROM node_runs WHERE status = 'failure'")
    assert {node for node, _ in errors} == {"s1"}
    assert all("over the limit of 256.0 KiB per node for repository rules" in error for _, error in errors)
    assert stored < 3 * 2 * (1 << 20), stored  # each delivery's records: a few MB at most
    assert peak < 300 * 1024, f"peak RSS {peak} KiB"
    assert statistics.median(waits) < 0.1 and max(waits) < 1.0, waits


def sql_file(tmp_path: Path, statement: str) -> list[tuple[Any, ...]]:
    import sqlite3

    db = sqlite3.connect(tmp_path / "hookwise.db")
    try:
        return db.execute(statement).fetchall()
    finally:
        db.close()


def test_the_delivery_page_cuts_large_outputs() -> None:
    from engine.edge.ui.pages import VALUE_SHOWN, run_view

    big = "x" * 200_000
    run = {
        "rule": "r",
        "generation": 0,
        "status": "success",
        "record": {
            "nodes": [{"id": "n", "uses": "core.set", "status": "success", "outputs": {"v": big}, "error": big}],
            "calls": [{"node": "n", "method": "POST", "path": "/x", "body": {"body": big}}],
            "logs": [f"n: {big}"],
        },
    }
    view = run_view(run, None)
    node = view["nodes"][0]
    for text in (node["outputs"], node["error"], node["calls"][0]["body"], view["logs"][0]):
        assert len(text) < VALUE_SHOWN + 200 and "(cut: " in text


# --- writes in doubt -------------------------------------------------------------------------


class _NoAnswer:
    """A GitHub whose writes get no answer (the client timed out; GitHub may apply them)."""

    async def request(self, method: str, path: str, **_: Any) -> Any:
        from engine.github.api import GitHubError

        raise GitHubError(0, "timed out", method=method, path=path)


@pytest.mark.parametrize(("method", "in_doubt"), [("POST", True), ("PATCH", True), ("GET", False)])
def test_a_write_without_an_answer_is_in_doubt(method: str, in_doubt: bool) -> None:
    from engine.nodes.context import NodeError
    from engine.run.record import CallRecord, RunRecord
    from engine.run.recorded_github import RecordingGitHub
    from engine.workers.jobs import writes_in_doubt

    calls: list[CallRecord] = []
    github = RecordingGitHub(_NoAnswer(), calls, dry_run=False, node="n", idempotency_key="d:r:n")  # type: ignore[arg-type]
    with pytest.raises(NodeError) as caught:
        asyncio.run(github.request(method, f"/repos/{REPO}/issues/1/comments"))
    assert caught.value.retryable
    assert calls[0].in_doubt is in_doubt
    record = RunRecord(rule="r", file="f", delivery="d", event="issues", started_at=0.0, nodes=[], calls=calls)
    assert writes_in_doubt(record) is in_doubt


def test_a_failed_job_records_why(tmp_path: Path) -> None:
    rule = "name: fails\non: [issues]\nnodes:\n  stop:\n    uses: core.fail\n    with: {message: no entry}\n"
    settings = server_settings(tmp_path, write_rule(tmp_path / "rules", "fails", rule))
    data = {
        "action": "opened",
        "issue": {"number": 1, "labels": [], "user": {"login": "mona", "type": "User"}},
        "repository": {"full_name": REPO, "name": "hello", "owner": {"login": "octo-org"}},
        "sender": {"login": "mona", "type": "User"},
    }
    with TestClient(create_app(settings)) as client:
        body, headers = signed(data, "issues", "fails-1")
        assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
        wait_until(lambda: sql(settings, "SELECT state FROM jobs") == [("failed",)])
    assert sql(settings, "SELECT error FROM jobs") == [("node stop: no entry",)]
