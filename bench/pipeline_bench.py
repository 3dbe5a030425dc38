"""The pipeline past ingest: a sustained stream, workers that scale out, idle latency.

* Sustained: 60 s of 21 KB pull_request deliveries at half of hookwise's maximum ingest rate
  (paced by wrk's `delay()` over the kit's own load.lua), shipped rules, dry-run; then how
  long the queue takes to empty, and the answers' p99.
* Scale-out on PostgreSQL with ingest idle: 3,000 queued deliveries (one job each) drained by
  one `hookwise worker`, then by two; jobs per second of each.
* Idle latency: one delivery at a time on an idle server; from its answer to the first GitHub
  call the double receives for it (p50 over 40 deliveries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import peerkit
from bench.common import REPO, header

SUSTAIN_SECONDS = 60
DRAIN_LIMIT = 30.0
WAIT_LIMIT = 120.0  # past this, the time to empty is estimated from the drain rate
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/"
ONE_JOB_RULE = """name: note
on:
  events:
    issues: {types: [opened]}
nodes:
  note:
    uses: core.log
    with:
      message: seen ${{ github.delivery }}
"""


def _paced_script(delay_ms: float) -> Path:
    """The kit's load.lua plus a wrk `delay()` per request: a paced stream."""
    kit = peerkit.kit()
    script = kit / "paced.lua"
    base = (kit / "load.lua").read_text()
    script.write_text(base + f"\nfunction delay()\n   return {delay_ms:.1f}\nend\n")
    return script


def _wrk(url: str, script: Path, seconds: int, connections: int = 32) -> peerkit.Load:
    body = peerkit.PR_PAYLOAD.read_bytes()
    digest = hmac.new(peerkit.SECRET.encode(), body, hashlib.sha256).hexdigest()
    env = {
        **os.environ,
        "WEBHOOK_PAYLOAD": str(peerkit.PR_PAYLOAD),
        "WEBHOOK_SIGNATURE": f"sha256={digest}",
        "WEBHOOK_EVENT": "pull_request",
        "WEBHOOK_RUN_ID": uuid.uuid4().hex[:8],
    }
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("rps=")]
    if not lines:
        raise RuntimeError(result.stderr[-400:])
    return peerkit.Load.parse(lines[-1])


def _queued(database: Path) -> int:
    db = sqlite3.connect(database)
    try:
        row = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchone()
        return int(row[0])
    finally:
        db.close()


def sustained() -> str:
    """The 60 s stream at half the maximum ingest rate, and the drain after it."""
    with tempfile.TemporaryDirectory(prefix="hookwise-sustain-") as folder:
        database = Path(folder) / "hookwise.db"
        port = peerkit.free_port()
        url = f"http://127.0.0.1:{port}/webhooks/github"
        env = peerkit.hookwise_env(f"sqlite:///{database}")
        with peerkit.running(peerkit.hookwise(port), env, f"http://127.0.0.1:{port}/health"):
            peak = peerkit.load(url, seconds=5).rps
            rate = peak / 2
            delay_ms = max(0.0, 32 * 1000 / rate - 2.0)  # per connection, less the answer time
            stream = _wrk(url, _paced_script(delay_ms), SUSTAIN_SECONDS)
            ended = time.monotonic()
            at_end = left = _queued(database)
            while left and time.monotonic() - ended < WAIT_LIMIT:
                time.sleep(0.5)
                left = _queued(database)
            waited = time.monotonic() - ended
            jobs = sqlite3.connect(database).execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    rate = (at_end - left) / waited if waited else 0.0
    drained = waited if not left else waited + (left / rate if rate else float("inf"))
    print(
        f"  peak ingest {peak:,.0f} req/s; stream {stream.rps:,.0f} req/s for {SUSTAIN_SECONDS} s, "
        f"p99 {stream.p99_ms:.0f} ms, errors {stream.errors}; {jobs:,} jobs, {at_end:,} queued at "
        f"the end, drained at {rate:,.0f} jobs/s"
        + (f"; {left:,} left after {WAIT_LIMIT:.0f} s" if left else "")
    )
    ok = "met" if drained <= DRAIN_LIMIT and stream.p99_ms < 1000 else "not met"
    estimate = "" if not left else " (estimated from the drain rate)"
    return (
        f"sustained: queue empty {drained:.0f} s after the stream{estimate} (target <= "
        f"{DRAIN_LIMIT:.0f} s), answers p99 {stream.p99_ms:.0f} ms (target < 1000 ms): {ok}"
    )


def _fill(url: str, count: int, *, installation: int | None = None) -> None:
    """Queue `count` deliveries with ingest only (no worker runs)."""
    from engine.store.postgres import PostgresStore
    from engine.store.records import NewDelivery, StoredDelivery

    store = PostgresStore(url)
    payload: dict[str, object] = {
        "action": "opened",
        "issue": {"number": 1, "labels": []},
        "repository": {"full_name": "octo-org/hello"},
        "sender": {"login": "mona", "type": "User"},
    }
    if installation is not None:
        payload["installation"] = {"id": installation}
    raw = json.dumps(payload)
    batch = [
        NewDelivery(
            StoredDelivery(
                f"scale-{i}",
                "issues",
                "opened",
                installation,
                "octo-org/hello",
                None,
                {},
                time.time(),
                "queued",
                {"matched": ["note"]},
                raw_payload=raw,
            ),
            (("note", "run"),),
        )
        for i in range(count)
    ]
    for start in range(0, count, 500):
        store.record_deliveries(batch[start : start + 500])
    store.close()


def _depth(store: Any) -> int:
    stats = store.queue_stats()
    return int(stats.queued + stats.running)


def _drain_rate(
    url: str,
    rules: Path,
    workers: int,
    count: int,
    env: dict[str, str],
    installation: int | None,
    *,
    cwd: Path = REPO,
    concurrency: int | None = 8,
) -> float:
    """Start the workers (from the code in `cwd`; `concurrency` None for the default), wait
    until each reports itself, then queue `count` deliveries and time from the first one
    queued to the queue empty (process start-up is not counted)."""
    from engine.store.postgres import PostgresStore

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HOOKWISE_RULES": str(rules),
        "HOOKWISE_LOG_LEVEL": "WARNING",
        "GITHUB_WEBHOOK_SECRET": peerkit.SECRET,
        **env,
    }
    store = PostgresStore(url)
    argv = [sys.executable, "-m", "engine", "worker"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    processes = [
        subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(store.workers()) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        started = time.monotonic()
        _fill(url, count, installation=installation)
        while _depth(store) > 0 and time.monotonic() - started < 300:
            time.sleep(0.1)
        seconds = time.monotonic() - started
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
        store.close()
    return count / seconds


COMMENT_RULE = ONE_JOB_RULE.replace(
    "uses: core.log\n    with:\n      message: seen ${{ github.delivery }}",
    "uses: github.issue.comment\n    with:\n      body: seen",
)


def _scale(rule: str, count: int, *, github_latency: float | None) -> tuple[float, float]:
    """(1 worker, 2 workers) jobs per second for a rule; with a latency, on the double."""
    sys.path.insert(0, str(REPO))
    from tests.double import GitHubDouble
    from tests.storekit import drop_database

    double = None
    env: dict[str, str] = {}
    installation = None
    if github_latency is not None:
        double = GitHubDouble().start()
        double.add_installation(1, "octo-org")
        double.world.add_issue("octo-org/hello", 1)
        double.inject("POST", r"/comments$", delay=github_latency, times=10**9)
        env = {
            "GITHUB_APP_ID": double.app_id,
            "HOOKWISE_REPO_RULES": "false",  # the server rules alone, as measured before
            "GITHUB_APP_PRIVATE_KEY": double.private_key_pem,
            "GITHUB_API_BASE_URL": double.url,
            "GITHUB_APP_SLUG": "hookwise-bench",
        }
        installation = 1
    rates = {}
    try:
        with tempfile.TemporaryDirectory(prefix="hookwise-scale-") as folder:
            rules = Path(folder) / "rules"
            rules.mkdir()
            (rules / "note.yaml").write_text(rule)
            for workers in (1, 2):
                url = f"{PG_SERVER}bench_scale_{uuid.uuid4().hex[:8]}"
                subprocess.run(
                    [sys.executable, "-m", "engine", "db", "upgrade", "--database", url],
                    cwd=REPO,
                    check=True,
                    capture_output=True,
                )
                try:
                    rates[workers] = _drain_rate(url, rules, workers, count, env, installation)
                finally:
                    drop_database(url)
    finally:
        if double is not None:
            double.stop()
    return rates[1], rates[2]


def scale_out() -> str:
    """Jobs per second drained by one worker process, then by two, on PostgreSQL: jobs that
    wait on GitHub (a comment, 50 ms on the double: the usual job), and CPU-only jobs."""
    one, two = _scale(COMMENT_RULE, 2000, github_latency=0.05)
    cpu_one, cpu_two = _scale(ONE_JOB_RULE, 8000, github_latency=None)
    print(
        f"  jobs that wait on GitHub (50 ms): 1 worker {one:,.0f} jobs/s, 2 workers {two:,.0f}\n"
        f"  CPU-only jobs (core.log): 1 worker {cpu_one:,.0f} jobs/s, 2 workers {cpu_two:,.0f} "
        f"({cpu_two / cpu_one:.2f}x: two cores, shared with PostgreSQL and the load)"
    )
    return peerkit.ratio_line(
        "scale-out, 2 worker processes vs 1 (PostgreSQL)", two, one, ">= 1.7x", unit="jobs/s"
    )


def idle_latency() -> str:
    """Delivery answered -> first GitHub call for it on the double, one at a time."""
    sys.path.insert(0, str(REPO))
    from tests.double import GitHubDouble

    double = GitHubDouble().start()
    double.add_installation(1, "octo-org")
    seen: dict[str, float] = {}
    lock = threading.Lock()

    def mark() -> None:
        with lock:
            seen.setdefault("pending", time.monotonic())

    gaps = []
    try:
        for n in range(1, 41):
            double.world.add_issue("octo-org/hello", n)
        with tempfile.TemporaryDirectory(prefix="hookwise-latency-") as folder:
            rules = Path(folder) / "rules"
            rules.mkdir()
            (rules / "ack.yaml").write_text(
                ONE_JOB_RULE.replace(
                    "uses: core.log\n    with:\n      message: seen ${{ github.delivery }}",
                    "uses: github.issue.comment\n    with:\n      body: seen",
                )
            )
            port = peerkit.free_port()
            env = {
                **peerkit.hookwise_env(f"sqlite:///{Path(folder) / 'h.db'}"),
                "HOOKWISE_RULES": str(rules),
                "GITHUB_APP_ID": double.app_id,
                "HOOKWISE_REPO_RULES": "false",  # the server rules alone, as measured before
                "GITHUB_APP_PRIVATE_KEY": double.private_key_pem,
                "GITHUB_API_BASE_URL": double.url,
                "GITHUB_APP_SLUG": "hookwise-bench",
            }
            argv = [sys.executable, "-m", "engine", "serve", "--port", str(port)]
            with (
                peerkit.running(argv, env, f"http://127.0.0.1:{port}/health"),
                httpx.Client() as client,
            ):
                for n in range(1, 41):
                    seen.clear()
                    double.after_write("POST", rf"/issues/{n}/comments$", mark)
                    payload = {
                        "action": "opened",
                        "issue": {"number": n, "labels": []},
                        "repository": {"full_name": "octo-org/hello"},
                        "installation": {"id": 1},
                        "sender": {"login": "mona", "type": "User"},
                    }
                    body = json.dumps(payload).encode()
                    headers = {
                        "Content-Type": "application/json",
                        "X-GitHub-Event": "issues",
                        "X-GitHub-Delivery": f"latency-{n}",
                        "X-Hub-Signature-256": "sha256="
                        + hmac.new(peerkit.SECRET.encode(), body, hashlib.sha256).hexdigest(),
                    }
                    answered = time.monotonic()
                    client.post(
                        f"http://127.0.0.1:{port}/webhooks/github", content=body, headers=headers
                    )
                    answered = time.monotonic()
                    deadline = answered + 10
                    while "pending" not in seen and time.monotonic() < deadline:
                        time.sleep(0.0005)
                    if "pending" in seen:
                        gaps.append((seen["pending"] - answered) * 1000)
                    time.sleep(0.05)  # idle between deliveries
    finally:
        double.stop()
    p50 = statistics.median(gaps) if gaps else float("nan")
    return f"idle latency, answer -> first GitHub call: p50 {p50:.1f} ms over {len(gaps)} (target <= 20 ms)"


def run() -> dict[str, str]:
    """All three figures."""
    header("pipeline: sustained stream, scale-out, idle latency")
    figures = {"sustained": sustained(), "scale_out": scale_out(), "latency": idle_latency()}
    for line in figures.values():
        print(line)
    return figures
