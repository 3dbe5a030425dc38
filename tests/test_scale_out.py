"""Scale-out on PostgreSQL: two accept-only replicas and two worker processes share one
database; one worker and one replica are SIGKILLed midway and restarted. Every delivery
answered 2xx is stored once, every run ran once, every comment exists exactly once."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.double import GitHubDouble
from tests.serverkit import (
    ACK_RULE,
    SECRET,
    free_port,
    signed,
    start_process,
    stop_process,
    wait_until,
    write_rule,
)

DELIVERIES = 2000
KILL_WORKER_AT, RESTART_WORKER_AT = 600, 900
KILL_REPLICA_AT, RESTART_REPLICA_AT = 1000, 1300


def issue_payload(number: int) -> dict[str, Any]:
    return {
        "action": "opened",
        "issue": {"number": number, "labels": [], "user": {"login": "mona", "type": "User"}},
        "repository": {"full_name": "octo-org/hello", "name": "hello"},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


@pytest.mark.slow
def test_two_replicas_and_two_workers_on_postgres_survive_kills(
    tmp_path: Path, github: GitHubDouble, fresh_postgres_url: str
) -> None:
    database = fresh_postgres_url
    github.add_installation(1, "octo-org")
    for number in range(1, DELIVERIES + 1):
        github.world.add_issue("octo-org/hello", number)
    rules = write_rule(tmp_path / "rules", "ack", ACK_RULE)
    env = {
        **os.environ,
        "HOOKWISE_RULES": str(rules),
        "DATABASE_URL": database,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_ID": github.app_id,
        "HOOKWISE_REPO_RULES": "false",  # this test is about its own rules
        "GITHUB_APP_PRIVATE_KEY": github.private_key_pem,
        "GITHUB_API_BASE_URL": github.url,
        "HOOKWISE_GITHUB_WRITE_GAP": "0",
        "GITHUB_APP_SLUG": "hookwise-test",
        "HOOKWISE_LEASE_SECONDS": "3",
        "HOOKWISE_LOG_LEVEL": "WARNING",
    }
    upgrade = start_process(["db", "upgrade"], env, tmp_path / "db.log")
    assert upgrade.wait(timeout=60) == 0
    ports = [free_port(), free_port()]

    def replica(index: int) -> Any:
        port = ports[index]
        return start_process(
            ["serve", "--port", str(port), "--workers", "0"],
            env,
            tmp_path / f"replica-{index}.log",
            health=f"http://127.0.0.1:{port}/health",
        )

    def worker(index: int) -> Any:
        return start_process(
            ["worker", "--concurrency", "6"], env, tmp_path / f"worker-{index}.log"
        )

    replicas = [replica(0), replica(1)]
    workers = [worker(0), worker(1)]
    answered: dict[str, int] = {}
    unanswered: list[str] = []
    try:
        local = threading.local()  # one client per thread: httpx clients are not shared
        clients: list[httpx.Client] = []
        with ThreadPoolExecutor(8) as pool:

            def send(number: int) -> tuple[str, int | None]:
                delivery = f"scale-{number:04d}"
                body, headers = signed(issue_payload(number), "issues", delivery)
                port = ports[number % 2]
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = httpx.Client(timeout=10)
                    clients.append(client)
                try:
                    response = client.post(
                        f"http://127.0.0.1:{port}/webhooks/github", content=body, headers=headers
                    )
                    return delivery, response.status_code
                except httpx.HTTPError:
                    return delivery, None

            for start in range(1, DELIVERIES + 1, 100):
                if (
                    start > KILL_WORKER_AT
                    and workers[0].poll() is None
                    and start < RESTART_WORKER_AT
                ):
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait()
                if start > RESTART_WORKER_AT and workers[0].poll() is not None:
                    workers[0] = worker(0)
                if (
                    start > KILL_REPLICA_AT
                    and replicas[0].poll() is None
                    and start < RESTART_REPLICA_AT
                ):
                    replicas[0].send_signal(signal.SIGKILL)
                    replicas[0].wait()
                if start > RESTART_REPLICA_AT and replicas[0].poll() is not None:
                    replicas[0] = replica(0)
                for delivery, status in pool.map(send, range(start, start + 100)):
                    if status is None:
                        unanswered.append(delivery)
                    else:
                        answered[delivery] = status
        for client in clients:
            client.close()
        assert unanswered, "the killed replica left some deliveries unanswered"
        assert set(answered.values()) == {202}

        with psycopg.connect(database, autocommit=True) as db:

            def drained() -> bool:
                row = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
                ).fetchone()
                return row is not None and row[0] == 0

            wait_until(drained, timeout=180, interval=0.5)
            stored = [r[0] for r in db.execute("SELECT delivery_id FROM deliveries")]
            runs = dict(
                db.execute("SELECT delivery_id, COUNT(*) FROM runs GROUP BY delivery_id").fetchall()
            )
            statuses = db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
            reclaimed = db.execute("SELECT COUNT(*) FROM jobs WHERE attempts > 1").fetchone()
        assert len(stored) == len(set(stored))
        assert set(answered) <= set(stored)
        assert {d: runs.get(d, 0) for d in stored} == dict.fromkeys(stored, 1)
        assert statuses == [("success", len(stored))]
        repo = github.world.repo("octo-org", "hello")
        for number in range(1, DELIVERIES + 1):
            delivery = f"scale-{number:04d}"
            bodies = [c["body"].split("\n")[0] for c in repo.issues[number].comments]
            assert bodies == ([f"ack {delivery}"] if delivery in stored else []), delivery
        print(
            {
                "answered": len(answered),
                "unanswered": len(unanswered),
                "stored": len(stored),
                "reclaimed": reclaimed[0] if reclaimed else 0,
            }
        )
    finally:
        for process in [*replicas, *workers]:
            stop_process(process)
