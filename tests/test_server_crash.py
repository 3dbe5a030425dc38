"""Fault test: SIGKILL the server under a stream of deliveries, restart it, and check that
every answered delivery is stored and its job completes exactly once (by the double's record
of writes), and that no delivery is half-recorded.

Deterministic: the kill is triggered by the double itself, right after GitHub applied the
fifth comment and before the server heard back; the test waits on that event, not on time."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.double import GitHubDouble
from tests.serverkit import (
    ACK_RULE,
    SECRET,
    free_port,
    signed,
    start_server,
    wait_until,
    write_rule,
)

DELIVERIES = 60
KILL_AT_COMMENT = 5  # the double kills the server once it applied this many comments
DOWN = (20, 25)  # deliveries sent while the server is down: [20, 25)


def issue_payload(number: int) -> dict[str, Any]:
    return {
        "action": "opened",
        "issue": {
            "number": number,
            "title": f"Issue {number}",
            "labels": [],
            "user": {"login": "mona", "type": "User"},
        },
        "repository": {
            "full_name": "octo-org/hello",
            "name": "hello",
            "owner": {"login": "octo-org"},
        },
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_under_a_stream_of_deliveries(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(1, "octo-org")
    for number in range(1, DELIVERIES + 1):
        github.world.add_issue("octo-org/hello", number)
    github.inject("POST", r"/issues/\d+/comments$", delay=0.02, times=10_000)  # jobs in flight
    rules = write_rule(tmp_path / "rules", "ack", ACK_RULE)
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
        "HOOKWISE_LEASE_SECONDS": "2",
        "HOOKWISE_WORKERS": "4",
    }
    port = free_port()
    log = tmp_path / "server.log"
    server = start_server(port, env, log)
    killed = threading.Event()
    comments = iter(range(1, 10_000))

    def crash() -> None:
        if next(comments) == KILL_AT_COMMENT:
            server.send_signal(signal.SIGKILL)
            killed.set()

    github.after_write("POST", r"/issues/\d+/comments$", crash, times=10_000)
    answered: dict[str, int] = {}
    unanswered: list[str] = []
    try:
        with httpx.Client(timeout=5) as client:
            for number in range(1, DELIVERIES + 1):
                delivery = f"delivery-{number:03d}"
                if number == DOWN[0]:
                    assert killed.wait(timeout=30), "the fifth comment never came"
                    server.wait()
                if number == DOWN[1]:
                    server = start_server(port, env, log)
                body, headers = signed(issue_payload(number), "issues", delivery)
                try:
                    response = client.post(
                        f"http://127.0.0.1:{port}/webhooks/github", content=body, headers=headers
                    )
                    answered[delivery] = response.status_code
                except httpx.HTTPError:
                    unanswered.append(delivery)
        assert len(unanswered) >= DOWN[1] - DOWN[0], "the server was down for five deliveries"
        assert all(status == 202 for status in answered.values())

        db = sqlite3.connect(database)

        def all_done() -> bool:
            pending = db.execute("SELECT COUNT(*) FROM jobs WHERE state != 'done'").fetchone()[0]
            return pending == 0

        wait_until(all_done, timeout=60)
        stored = {row[0] for row in db.execute("SELECT delivery_id FROM deliveries")}
        assert set(answered) <= stored
        # nothing half-recorded: every stored delivery has its job, and at most one run
        jobs = dict(
            db.execute("SELECT delivery_id, COUNT(*) FROM jobs GROUP BY delivery_id").fetchall()
        )
        runs = dict(
            db.execute("SELECT delivery_id, COUNT(*) FROM runs GROUP BY delivery_id").fetchall()
        )
        assert {d: jobs.get(d, 0) for d in stored} == dict.fromkeys(stored, 1)
        assert {d: runs.get(d, 0) for d in stored} == dict.fromkeys(stored, 1)
        # exactly once on GitHub: one comment per stored delivery, none for the others
        repo = github.world.repo("octo-org", "hello")
        comments = {
            number: [c["body"].split("\n")[0] for c in repo.issues[number].comments]
            for number in range(1, DELIVERIES + 1)
        }
        for number in range(1, DELIVERIES + 1):
            delivery = f"delivery-{number:03d}"
            expected = [f"ack {delivery}"] if delivery in stored else []
            assert comments[number] == expected, (delivery, comments[number])
        statuses = db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
        assert statuses == [("success", len(stored))]
        # the kill interrupted jobs in flight; the restarted server claimed them again
        reclaimed = db.execute("SELECT COUNT(*) FROM jobs WHERE attempts > 1").fetchone()[0]
        assert reclaimed >= 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps({"answered": len(answered), "unanswered": len(unanswered)}))
