"""No delivery suffers for another: poisoned payloads in a burst, fuzzed deliveries, /health
under load, a locked and a read-only database, and workers that resume by themselves."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.edge.web import create_app
from engine.match.events import parse_event
from engine.match.payload import PayloadError
from tests import fuzzkit
from tests.rulekit import payload
from tests.serverkit import (
    SECRET,
    free_port,
    server_settings,
    signed,
    start_process,
    stop_process,
    wait_until,
    write_rule,
)
from tests.storekit import refuse_writes

LOG_RULE = """name: note
on:
  events:
    issues: {types: [opened]}
    pull_request: {}
nodes:
  note:
    uses: core.log
    with:
      message: seen ${{ github.delivery }}
"""


def good(number: int) -> dict[str, Any]:
    data = payload("issues", "opened.1")
    data["issue"] = dict(data["issue"], number=number)
    return data


def poisoned(kind: str) -> tuple[str, bytes]:
    """(event, body) of a delivery that must be refused alone."""
    if kind == "huge-installation":
        data = good(999)
        data["installation"] = {"id": 2**70}
        return "issues", json.dumps(data).encode()
    if kind == "list-full-name":
        data = good(999)
        data["repository"] = dict(data["repository"], full_name=[])
        return "issues", json.dumps(data).encode()
    if kind == "number-full-name":
        data = good(999)
        data["repository"] = dict(data["repository"], full_name=5)
        return "issues", json.dumps(data).encode()
    if kind == "commits-number":
        data = payload("push", "push.1")
        data["commits"] = 5
        return "push", json.dumps(data).encode()
    if kind == "labels-number":
        data = good(999)
        data["issue"] = dict(data["issue"], labels=7)
        return "issues", json.dumps(data).encode()
    if kind == "5000-digits":
        return "issues", json.dumps(good(999)).encode()[:-1] + b', "n": ' + b"7" * 5000 + b"}"
    if kind == "installation-string":
        data = good(999)
        data["installation"] = {"id": "one"}
        return "issues", json.dumps(data).encode()
    raise AssertionError(kind)


POISONS = [
    "huge-installation",
    "list-full-name",
    "number-full-name",
    "commits-number",
    "labels-number",
    "5000-digits",
    "installation-string",
]


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    rules = write_rule(tmp_path / "rules", "note", LOG_RULE)
    return {
        **os.environ,
        "HOOKWISE_RULES": str(rules),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hookwise.db'}",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "HOOKWISE_LOG_LEVEL": "WARNING",
        **extra,
    }


def test_a_poisoned_delivery_in_a_burst_is_refused_alone(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_process(
        ["serve", "--port", str(port)],
        server_env(tmp_path),
        tmp_path / "server.log",
        health=f"{url}/health",
    )
    try:
        with ThreadPoolExecutor(41) as pool:
            for kind in POISONS:

                def post(index: int, kind: str = kind) -> int:
                    if index == 20:
                        event, body = poisoned(kind)
                        body, headers = signed(body, event, f"{kind}-bad")
                    else:
                        body, headers = signed(good(index), "issues", f"{kind}-{index}")
                    # a client per request: one httpx client shared by 41 threads can lose a
                    # connection under another thread ("Bad file descriptor"), a test artefact
                    with httpx.Client(timeout=10) as client:
                        return client.post(
                            f"{url}/webhooks/github", content=body, headers=headers
                        ).status_code

                # how fast a burst is answered is a benchmark's figure (make bench), not a test's
                statuses = list(pool.map(post, range(41)))
                bad = statuses.pop(20)
                assert statuses == [202] * 40, (kind, Counter(statuses))
                assert 400 <= bad < 500, (kind, bad)
        db = sqlite3.connect(tmp_path / "hookwise.db")
        stored = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        assert stored == 40 * len(POISONS)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)  # shutdown completes; nothing hangs


@pytest.mark.parametrize("kind", POISONS)
def test_the_typed_parser_names_the_field(kind: str) -> None:
    event, body = poisoned(kind)
    try:
        data = json.loads(body)
    except ValueError:
        return  # refused as JSON before the parser sees it
    with pytest.raises(PayloadError, match="payload field "):
        parse_event(event, data)


EXAMPLES = int(os.environ.get("HOOKWISE_FUZZ_EXAMPLES", "2000"))


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    assert fuzzkit.payload_files(), "no vendored payloads"
    folder = tmp_path_factory.mktemp("fuzz")
    rules = write_rule(folder / "rules", "note", LOG_RULE)
    app = create_app(server_settings(folder, rules), start_workers=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@pytest.mark.slow
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_fuzzed_deliveries_never_get_a_5xx(fuzz_client: Any, seed: int) -> None:
    rng = random.Random(seed)
    event, raw = fuzzkit.delivery(rng, fuzzkit.payload_files(), _CACHE)
    body, headers = signed(raw, event, f"fuzz-{seed}")
    response = fuzz_client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "error" in response.json() or response.status_code in (200, 202)


_CACHE: dict[Path, Any] = {}


@pytest.mark.slow
def test_health_polled_under_webhook_load_never_costs_a_delivery(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_process(
        ["serve", "--port", str(port)],
        server_env(tmp_path),
        tmp_path / "server.log",
        health=f"{url}/health",
    )
    seconds = float(os.environ.get("HOOKWISE_SOAK_SECONDS", "20"))
    stop = threading.Event()
    webhook_statuses: Counter[int] = Counter()
    health_statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def send(worker: int) -> None:
        with httpx.Client(timeout=15) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body, headers = signed(good(n), "issues", f"soak-{worker}-{n}")
                status = client.post(f"{url}/webhooks/github", content=body, headers=headers)
                with lock:
                    webhook_statuses[status.status_code] += 1

    def poll() -> None:
        with httpx.Client(timeout=15) as client:
            while not stop.is_set():
                status = client.get(f"{url}/health").status_code
                with lock:
                    health_statuses[status] += 1

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    threads += [threading.Thread(target=poll) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        db = sqlite3.connect(tmp_path / "hookwise.db")
        wait_until(
            lambda: (
                db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
                ).fetchone()[0]
                == 0
            ),
            timeout=120,
            interval=0.5,
        )
        stored = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        failed = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'failed'").fetchone()[0]
    finally:
        stop.set()
        stop_process(server)
    print({"webhooks": dict(webhook_statuses), "health": dict(health_statuses)})
    assert set(webhook_statuses) == {202} and webhook_statuses[202] > 100
    assert set(health_statuses) == {200}
    assert stored == webhook_statuses[202]
    assert failed == 0


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


@pytest.mark.slow
def test_a_locked_database_gets_a_503_in_time_and_health_answers(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_process(
        ["serve", "--port", str(port)],
        server_env(tmp_path),
        tmp_path / "server.log",
        health=f"{url}/health",
    )
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(tmp_path / "hookwise.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        # the answers come while the lock is held (a hang would time out the client), without
        # asserting a duration: how long the store waits for its lock is configuration
        with httpx.Client(timeout=30) as client:
            body, headers = signed(good(1), "issues", "locked-1")
            response = client.post(f"{url}/webhooks/github", content=body, headers=headers)
            assert response.status_code == 503, response.status_code
            health = client.get(f"{url}/health")
            assert health.status_code == 503
            assert health.json()["checks"]["database_writable"] is False
            assert locker.stdin is not None
            locker.stdin.write("\n")
            locker.stdin.flush()
            locker.wait(timeout=10)
            again = client.post(f"{url}/webhooks/github", content=body, headers=headers)
            assert again.status_code == 202  # not stored before, so not a duplicate
            wait_until(lambda: client.get(f"{url}/health").status_code == 200)
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()
        for stream in (locker.stdin, locker.stdout):
            if stream is not None:
                stream.close()
        stop_process(server)


def test_read_only_then_writable_again_workers_resume_by_themselves(tmp_path: Path) -> None:
    rules = write_rule(tmp_path / "rules", "note", LOG_RULE)
    settings_ = server_settings(tmp_path, rules, workers=2)
    app = create_app(settings_)
    store = app.state.hookwise.store
    with TestClient(app) as client:
        refuse_writes(store.path)
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["checks"] == {"database_writable": False, "workers_alive": True}
        body, headers = signed(good(1), "issues", "ro-1")
        assert client.post("/webhooks/github", content=body, headers=headers).status_code == 503
        refuse_writes(store.path, False)
        wait_until(lambda: client.get("/health").status_code == 200)
        answer = client.post("/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 202
        wait_until(lambda: len(store.runs("ro-1")) == 1)
        metrics = client.get("/metrics").text
    assert store.runs("ro-1")[0]["status"] == "success"
    assert "hookwise_workers_alive 1.0" in metrics


def test_queue_depth_is_exported_in_dry_run(tmp_path: Path) -> None:
    rules = write_rule(tmp_path / "rules", "note", LOG_RULE)
    app = create_app(server_settings(tmp_path, rules), start_workers=False)
    with TestClient(app) as client:
        body, headers = signed(good(1), "issues", "depth-1")
        client.post("/webhooks/github", content=body, headers=headers)
        text = client.get("/metrics").text
    assert "hookwise_queue_depth 1.0" in text
    assert "hookwise_queue_oldest_age_seconds" in text
