"""What a user meets first (issue 12): each case failed before its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.declarations.registry import NodeType, Registry
from engine.edge.web import create_app
from engine.lang.validate import check_source
from engine.match.events import parse_event
from tests.conftest import REPO, shared
from tests.double import GitHubDouble
from tests.rulekit import compile_rule, matched_names, payload
from tests.serverkit import server_settings, signed, wait_until, write_rule
from tests.storekit import queue_depth

LOG = "nodes:\n  log:\n    uses: core.log\n    with: {message: x}\n"


# --- the command line ------------------------------------------------------------------


def test_version(cli: Any) -> None:
    code, out, err = cli("--version")
    assert (code, err) == (0, "") and out.startswith("hookwise ")


@pytest.mark.parametrize("command", ["simulate", "run"])
def test_an_unknown_event_name_is_refused_with_the_closest(cli: Any, command: str) -> None:
    pr = REPO / "tests" / "data" / "server-rules" / "greet-issues.yaml"  # any readable file
    code, out, err = cli(command, "--event", "pull_requests", "--payload", str(pr))
    assert code == 1 and out == ""
    assert 'unknown event "pull_requests"' in err and 'did you mean "pull_request"?' in err


def test_validating_an_empty_folder_is_an_error(cli: Any, tmp_path: Path) -> None:
    code, out, err = cli("validate", str(tmp_path))
    assert (code, out) == (1, "")
    assert "no rule files (*.yaml, *.yml)" in err


def test_sarif_for_an_absolute_path_is_a_file_uri(cli: Any, tmp_path: Path) -> None:
    rule = tmp_path / "bad rule.yaml"
    rule.write_text("name: x\non: {events: [nope]}\n" + LOG)
    _, out, _ = cli("validate", str(rule), "--format", "sarif")
    location = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": rule.as_uri()}
    _, out, _ = cli("validate", os.path.relpath(rule), "--format", "sarif")
    relative = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert relative["artifactLocation"]["uriBaseId"] == "%SRCROOT%"


def test_a_duplicate_name_is_reported_even_when_that_file_has_other_errors(
    cli: Any, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text("name: same\non: {events: [issues]}\n" + LOG)
    (tmp_path / "b.yaml").write_text("name: same\non: {events: [nope]}\n" + LOG)
    _, out, _ = cli("validate", str(tmp_path), "--format", "json")
    checks = sorted(p["check"] for p in json.loads(out)["problems"])
    assert checks == ["duplicate-rule-name", "unknown-event"]


def test_on_push_short_forms_validate_and_match() -> None:
    for on in ("push", "[push]", "[push, pull_request]"):
        rule = compile_rule(f"name: short\non: {on}\n{LOG}")
        assert matched_names([rule], parse_event("push", payload("push", "push.1"))) == ["short"]


def test_ref_name_is_the_short_tag_of_a_tag_push() -> None:
    from engine.match.events import github_context

    data = payload("push", "push.1")
    data["ref"] = "refs/tags/v1.2.3"
    context = github_context(parse_event("push", data))
    assert (context["ref_name"], context["ref_type"], context["ref"]) == (
        "v1.2.3",
        "tag",
        "refs/tags/v1.2.3",
    )


def test_node_inputs_are_checked_per_registry_not_per_process() -> None:
    def registry(kind: str) -> Registry:
        schema = {"type": "object", "properties": {"n": {"type": kind}}}
        return Registry([NodeType("x.node", "test", schema)])

    text = "name: r\non: {events: [issues]}\nnodes:\n  a:\n    uses: x.node\n    with: {n: 5}\n"
    assert check_source(text.encode(), "r.yaml", registry("integer"))[2] == []
    problems = check_source(text.encode(), "r.yaml", registry("string"))[2]
    assert [p.check for p in problems] == ["node-input"]


def test_the_server_prints_every_rule_problem(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write_rule(rules, "a", "name: a\non: {events: [nope]}\n" + LOG)
    write_rule(rules, "b", "name: b\non: {events: [issues]}\nnodes:\n  x: {uses: core.lg}\n")
    env = {
        **os.environ,
        "GITHUB_WEBHOOK_SECRET": "s",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--rules", str(rules), "--port", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "the rules have 2 problems" in done.stderr
    assert "[unknown-event]" in done.stderr and "[unknown-node-type]" in done.stderr


# --- the delivery log -------------------------------------------------------------------

MIXED_RULES = {
    "ack": "name: ack\non:\n  events:\n    issues: {types: [opened]}\n" + LOG,
    "docs": "name: docs\non:\n  events:\n    pull_request: {paths: ['docs/**']}\n" + LOG,
    "boom": "name: boom\non:\n  events:\n    release: {}\nnodes:\n  fail:\n    uses: core.fail\n    with: {message: no}\n",
}


def test_show_and_list_agree_on_every_status(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules"
    for name, text in MIXED_RULES.items():
        write_rule(rules, name, text)
    settings = server_settings(tmp_path, rules)
    app = create_app(settings)
    sent = {
        "matched": ("issues", payload("issues", "opened.1")),
        "undecided": ("pull_request", payload("pull_request", "opened.1")),
        "no-match": ("push", payload("push", "push.1")),
        "ping": ("ping", payload("ping", "ping.1")),
        "failed": ("release", payload("release", "published.1")),
    }
    with TestClient(app) as client:
        for delivery, (event, body) in sent.items():
            data, headers = signed(body, event, delivery)
            assert client.post("/webhooks/github", content=data, headers=headers).status_code < 300
        store = app.state.hookwise.store
        wait_until(lambda: queue_depth(store) == 0)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    code, out, _ = cli("deliveries", "list", "--format", "json")
    listed = {d["delivery"]: d["status"] for d in json.loads(out)}
    assert listed == {
        "matched": "done",
        "undecided": "undecided",
        "no-match": "no_match",
        "ping": "no_match",
        "failed": "failed",
    }
    for delivery, status in listed.items():
        code, out, _ = cli("deliveries", "show", delivery, "--format", "json")
        assert code == 0 and json.loads(out)["status"] == status, delivery
    code, out, _ = cli("deliveries", "show", "undecided")
    assert code == 0
    assert "undecided: docs: the changed files can only be read with App credentials" in out


def test_the_log_commands_never_create_a_database(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, _, err = cli("deliveries", "list")
    assert code == 1 and "no database at hookwise.db" in err
    assert list(tmp_path.iterdir()) == []


def test_undecided_rules_are_a_third_outcome_in_simulate_and_run(cli: Any) -> None:
    pr = shared("github", "webhooks", "pull_request", "opened.1.json")
    rules = str(REPO / "rules" / "docs-label.yaml")
    _, out, _ = cli(
        "simulate",
        "--event",
        "pull_request",
        "--payload",
        str(pr),
        "--rules",
        rules,
        "--format",
        "json",
    )
    report = json.loads(out)
    assert [u["rule"] for u in report["undecided"]] == ["docs-label"]
    assert report["not_matched"] == []
    _, text, _ = cli(
        "run", "--dry-run", "--event", "pull_request", "--payload", str(pr), "--rules", rules
    )
    assert text.startswith("docs-label: undecided (paths needs the changed files")


# --- the GitHub API double ----------------------------------------------------------------


def test_the_double_reads_files_in_folders_and_answers_422_as_github(github: GitHubDouble) -> None:
    import httpx

    github.add_installation(1, "octo-org")
    github.world.repo("octo-org", "hello").files["docs/guide/a.md"] = "hello"
    token_answer = httpx.post(
        f"{github.url}/app/installations/1/access_tokens",
        headers=_app_headers(github),
    )
    token = token_answer.json()["token"]
    headers = {
        "Authorization": f"token {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "test",
    }
    found = httpx.get(
        f"{github.url}/repos/octo-org/hello/contents/docs/guide/a.md", headers=headers
    )
    assert found.status_code == 200 and found.json()["path"] == "docs/guide/a.md"
    bad = httpx.post(f"{github.url}/repos/octo-org/hello/issues", headers=headers, json={"x": 1})
    assert bad.status_code == 422
    github.violations.clear()  # the bad request was this test's own
    spec = github.spec
    schema = spec.resolve({"$ref": "#/components/schemas/validation-error"})
    assert list(spec.validator(schema).iter_errors(bad.json())) == []
    odd = httpx.get(
        f"{github.url}/repos/octo-org/hello/contents/docs/guide/a.md",
        headers={**headers, "Accept": "text/html"},
    )
    assert odd.status_code == 422
    assert any("is not a GitHub media type" in v for v in github.violations)
    github.violations.clear()


def _app_headers(github: GitHubDouble) -> dict[str, str]:
    import time

    from engine.github.credentials import AppCredentials

    credentials = AppCredentials.from_pem(github.app_id, github.private_key_pem)
    return {
        "Authorization": f"Bearer {credentials.jwt(time.time())}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "test",
    }


def test_recorded_calls_carry_their_status(github: GitHubDouble) -> None:
    import asyncio

    from engine.github.client import GitHubClient
    from engine.run.record import CallRecord
    from engine.run.recorded_github import RecordingGitHub
    from engine.settings import Settings

    github.add_installation(1, "octo-org")
    github.world.add_issue("octo-org/hello", 3)
    settings = Settings(app_id=github.app_id, app_private_key=github.private_key_pem)

    async def body() -> list[CallRecord]:
        client = GitHubClient(settings.app_credentials(), base_url=github.url)
        calls: list[CallRecord] = []
        recording = RecordingGitHub(
            client.installation(1), calls, dry_run=False, node="n", idempotency_key="k"
        )
        await recording.request(
            "POST", "/repos/octo-org/hello/issues/3/comments", body={"body": "x"}
        )
        await recording.paginate("/repos/octo-org/hello/issues/3/comments")
        await client.aclose()
        return calls

    calls = asyncio.run(body())
    assert [(c.method, c.sent, c.status) for c in calls] == [
        ("POST", True, 201),
        ("GET", True, 200),
    ]
