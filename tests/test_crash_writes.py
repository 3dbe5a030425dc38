"""Exactly once on GitHub across a crash: the server is killed after GitHub applied a write
but before the server recorded it; the restarted server takes the job over, finds the object
its earlier attempt made, and does not make a second one (counted on the double)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.double import GitHubDouble
from tests.serverkit import SECRET, free_port, signed, start_server, wait_until, write_rule

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
REPO = "octo-org/hello"


def rule(uses: str, inputs: str) -> str:
    return f"""name: once
on:
  events:
    pull_request: {{types: [opened]}}
nodes:
  write:
    uses: {uses}
    with:
{inputs}
"""


def count_check_runs(github: GitHubDouble) -> int:
    return len(github.world.repo("octo-org", "hello").check_runs)


def count_statuses(github: GitHubDouble) -> int:
    return len(github.world.repo("octo-org", "hello").statuses)


def count_issues(github: GitHubDouble) -> int:
    issues = github.world.repo("octo-org", "hello").issues
    return sum(1 for i in issues.values() if i.title == "Follow up")


def count_reviews(github: GitHubDouble) -> int:
    return len(github.world.reviews(REPO, 7))


CASES: list[tuple[str, str, str, str, Callable[[GitHubDouble], int]]] = [
    (
        "github.check_run.create",
        "      name: lint\n      status: completed\n      conclusion: success\n"
        "      output: {title: ok, summary: all good}",
        "POST",
        r"/check-runs$",
        count_check_runs,
    ),
    (
        "github.status.set",
        "      state: success\n      context: hookwise/ci\n      description: fine",
        "POST",
        r"/statuses/",
        count_statuses,
    ),
    (
        "github.issue.create",
        "      title: Follow up\n      body: after ${{ github.delivery }}",
        "POST",
        r"/repos/octo-org/hello/issues$",
        count_issues,
    ),
    (
        "github.pull_request.review",
        "      event: APPROVE",
        "POST",
        r"/pulls/7/reviews$",
        count_reviews,
    ),
]


def pull_request_payload() -> dict[str, Any]:
    return {
        "action": "opened",
        "number": 7,
        "pull_request": {
            "number": 7,
            "labels": [],
            "user": {"login": "mona", "type": "User"},
            "head": {"sha": SHA, "ref": "feature"},
            "base": {"ref": "main"},
        },
        "repository": {"full_name": REPO, "name": "hello", "owner": {"login": "octo-org"}},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


@pytest.mark.parametrize(
    ("uses", "inputs", "method", "path", "count"), CASES, ids=[c[0] for c in CASES]
)
def test_a_write_survives_a_crash_between_github_and_the_record(
    tmp_path: Path,
    github: GitHubDouble,
    uses: str,
    inputs: str,
    method: str,
    path: str,
    count: Callable[[GitHubDouble], int],
) -> None:
    github.add_installation(1, "octo-org")
    github.world.add_pull(REPO, 7, head_sha=SHA)
    rules = write_rule(tmp_path / "rules", "once", rule(uses, inputs))
    database = tmp_path / "hookwise.db"
    env = {
        **os.environ,
        "HOOKWISE_RULES": str(rules),
        "DATABASE_URL": f"sqlite:///{database}",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_ID": github.app_id,
        "HOOKWISE_REPO_RULES": "false",  # this test is about its own rules
        "GITHUB_APP_PRIVATE_KEY": github.private_key_pem,
        "GITHUB_API_BASE_URL": github.url,
        "HOOKWISE_GITHUB_WRITE_GAP": "0",
        "GITHUB_APP_SLUG": "hookwise-test",
        "HOOKWISE_LEASE_SECONDS": "1",
    }
    port = free_port()
    log = tmp_path / "server.log"
    server = start_server(port, env, log)
    killed = threading.Event()

    def crash() -> None:  # GitHub has applied the write; the server never hears back
        server.send_signal(signal.SIGKILL)
        killed.set()

    github.after_write(method, path, crash)
    try:
        body, headers = signed(pull_request_payload(), "pull_request", "crash-1")
        answer = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/github", content=body, headers=headers, timeout=5
        )
        assert answer.status_code == 202
        assert killed.wait(timeout=30)
        server.wait(timeout=10)
        assert count(github) == 1  # the write happened once, before the crash
        server = start_server(port, env, log)
        db = sqlite3.connect(database)
        wait_until(lambda: db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1, timeout=30)
        status, attempts = db.execute(
            "SELECT r.status, j.attempts FROM runs r JOIN jobs j ON j.id = r.job_id"
        ).fetchone()
        assert (status, attempts) == ("success", 2)
        assert count(github) == 1  # found again, not made again
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
