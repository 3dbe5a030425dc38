"""Workers that keep up (issue 24): what a delivery's rules cost past ingest, as ratios to the
kit's durable floor measured in the same run.

* Floor: the durable receiver's ingest rate (21 KB pull_request, 32 connections, and 1).
* Processing capacity: `hookwise serve` with default settings and the shipped rules (dry-run)
  takes a 30 s burst at its maximum ingest rate; then the queue drains. Deliveries fully
  processed per second (every job ended) over burst plus drain, against the floor's rate.
* Sustained: a 60 s stream at 25% of the floor's rate; how long after it the queue is empty,
  and the answers' p99.
* Ingest under backlog: while the burst's backlog drains in the same server, one connection
  of ingest against the floor's one connection.
* Rule-run cost: one `hookwise worker` on PostgreSQL drains 8,000 one-node CPU-only rule runs
  (core.log); now, and the code before issue 24 (a git worktree) at its default concurrency
  and at today's, in the same run.

Each line also says the figure the issue measured before the work ("issue: ...").
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import peerkit
from bench.common import REPO, header, tree_at
from bench.pipeline_bench import (
    ONE_JOB_RULE,
    PG_SERVER,
    _drain_rate,
    _paced_script,
    _queued,
    _wrk,
)

BEFORE_COMMIT = "202c316"  # the last commit before issue 24's workers
CPU_JOBS = 8000

BURST_SECONDS = 30
SUSTAIN_SECONDS = 60
SUSTAIN_SHARE = 0.25
DRAIN_LIMIT = 30.0
WAIT_LIMIT = 240.0  # past this, the time to empty is estimated from the drain rate


def _counts(database: Path) -> tuple[int, int]:
    db = sqlite3.connect(database)
    try:
        deliveries = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        jobs = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        return int(deliveries), int(jobs)
    finally:
        db.close()


def _drain(database: Path, limit: float) -> tuple[float, int, float]:
    """Wait for the queue to empty: (seconds waited, jobs left, seconds to empty, estimated
    from the drain rate when some are left)."""
    started = time.monotonic()
    at_start = left = _queued(database)
    while left and time.monotonic() - started < limit:
        time.sleep(0.25)
        left = _queued(database)
    waited = time.monotonic() - started
    if not left:
        return waited, 0, waited
    rate = (at_start - left) / waited if waited else 0.0
    return waited, left, waited + (left / rate if rate else float("inf"))


def _floor(folder: Path, connections: int) -> peerkit.Load:
    port = peerkit.free_port()
    url = f"http://127.0.0.1:{port}/webhooks/github"
    with peerkit.running(peerkit.floor(port, folder / f"floor-{connections}.db"), {}, url):
        return peerkit.load(url, seconds=10, connections=connections)


def _server(folder: Path, name: str) -> tuple[list[str], dict[str, str], str, str, Path]:
    database = folder / f"{name}.db"
    port = peerkit.free_port()
    env = peerkit.hookwise_env(f"sqlite:///{database}")
    return (
        peerkit.hookwise(port),
        env,
        f"http://127.0.0.1:{port}/health",
        f"http://127.0.0.1:{port}/webhooks/github",
        database,
    )


def capacity_and_backlog(folder: Path, floor32: float, floor1: float) -> list[str]:
    """The burst, 1-connection ingest while its backlog drains, and the time to drain."""
    argv, env, health, url, database = _server(folder, "burst")
    with peerkit.running(argv, env, health):
        started = time.monotonic()
        burst = peerkit.load(url, seconds=BURST_SECONDS)
        backlog = _queued(database)
        one = peerkit.load(url, seconds=10, connections=1)
        under = _queued(database)
        waited, left, to_empty = _drain(database, WAIT_LIMIT)
        elapsed = time.monotonic() - started - waited + to_empty  # from the burst to empty
        deliveries, jobs = _counts(database)
    capacity = deliveries / elapsed
    print(
        f"  burst: {burst.rps:,.0f} req/s for {BURST_SECONDS} s, p99 {burst.p99_ms:.0f} ms; "
        f"{deliveries:,} deliveries, {jobs:,} jobs ({jobs / max(deliveries, 1):.1f} each), "
        f"{backlog:,} queued after the burst, {under:,} after 10 s of 1-connection ingest; "
        f"empty {to_empty:.0f} s later" + (" (estimated from the drain rate)" if left else "")
    )
    return [
        peerkit.ratio_line(
            "processing capacity, deliveries fully processed vs the floor's ingest",
            capacity,
            floor32,
            ">= 0.25x; issue: 0.03x, 76 vs about 2,400",
            unit="deliveries/s",
        ),
        peerkit.ratio_line(
            f"ingest under backlog, 1 connection (p99 {one.p99_ms:.0f} ms)",
            one.rps,
            floor1,
            ">= 0.8x; issue: 0.21x, p99 88 ms",
        ),
    ]


def sustained(folder: Path, floor32: float) -> str:
    """A 60 s stream at 25% of the floor's rate, and the drain after it."""
    argv, env, health, url, database = _server(folder, "sustained")
    rate = floor32 * SUSTAIN_SHARE
    delay_ms = max(0.0, 32 * 1000 / rate - 2.0)  # per connection, less the answer time
    with peerkit.running(argv, env, health):
        stream = _wrk(url, _paced_script(delay_ms), SUSTAIN_SECONDS)
        at_end = _queued(database)
        _, left, to_empty = _drain(database, WAIT_LIMIT)
        deliveries, jobs = _counts(database)
    print(
        f"  stream {stream.rps:,.0f} req/s (asked {rate:,.0f}) for {SUSTAIN_SECONDS} s, "
        f"errors {stream.errors}; {deliveries:,} deliveries, {jobs:,} jobs, {at_end:,} queued "
        "at the end"
    )
    ok = "met" if to_empty <= DRAIN_LIMIT and stream.p99_ms < 100 else "not met"
    estimate = " (estimated from the drain rate)" if left else ""
    return (
        f"sustained at 25% of the floor: queue empty {to_empty:.0f} s after the stream{estimate} "
        f"(target <= {DRAIN_LIMIT:.0f} s), answers p99 {stream.p99_ms:.0f} ms (target < 100 ms): {ok}; issue: 267 s"
    )


def _cpu_rate(code: Path, concurrency: int | None) -> float:
    """Jobs per second one worker process (of the code in `code`) drains, CPU-only jobs."""
    sys.path.insert(0, str(REPO))
    from tests.storekit import drop_database

    with tempfile.TemporaryDirectory(prefix="hookwise-cost-") as folder:
        rules = Path(folder) / "rules"
        rules.mkdir()
        (rules / "note.yaml").write_text(ONE_JOB_RULE)
        url = f"{PG_SERVER}bench_cost_{uuid.uuid4().hex[:8]}"
        subprocess.run(
            [sys.executable, "-m", "engine", "db", "upgrade", "--database", url],
            cwd=code,
            check=True,
            capture_output=True,
        )
        try:
            return _drain_rate(url, rules, 1, CPU_JOBS, {}, None, cwd=code, concurrency=concurrency)
        finally:
            drop_database(url)


def rule_run_cost() -> str:
    """One-node CPU-only rule runs per second, one worker, now against before issue 24."""
    from engine.settings import Settings

    default = Settings.from_mapping({}).workers
    now = _cpu_rate(REPO, None)
    with tree_at(BEFORE_COMMIT) as before_tree:
        if before_tree is None:
            return (
                f"rule-run cost: now {now:,.0f} jobs/s; no commit {BEFORE_COMMIT} here to compare"
            )
        before_default = _cpu_rate(before_tree, None)
        before_same = _cpu_rate(before_tree, default)
    print(
        f"  CPU-only rule runs, one worker on PostgreSQL: now {now:,.0f} jobs/s (default "
        f"concurrency {default}); before (commit {BEFORE_COMMIT}) {before_default:,.0f} at its "
        f"default, {before_same:,.0f} at {default}"
    )
    return peerkit.ratio_line(
        "rule-run cost, one-node CPU-only runs per worker vs before at the same concurrency",
        now,
        before_same,
        ">= 5x today's 745 jobs/s, i.e. >= 3,725; issue: 745 jobs/s",
        unit="jobs/s",
    )


def run() -> dict[str, str]:
    """Every figure of issue 24 but ingest (the ingest benchmark prints that)."""
    header("workers: capacity, sustained stream, ingest under backlog (SQLite, shipped rules)")
    peerkit.kit()
    with tempfile.TemporaryDirectory(prefix="hookwise-workers-") as name:
        folder = Path(name)
        floor32 = _floor(folder, 32)
        floor1 = _floor(folder, 1)
        print(f"  floor: {floor32.rps:,.0f} req/s at 32 connections, {floor1.rps:,.0f} at 1")
        lines = capacity_and_backlog(folder, floor32.rps, floor1.rps)
        lines.append(sustained(folder, floor32.rps))
    lines.append(rule_run_cost())
    for line in lines:
        print(line)
    return dict(zip(("capacity", "backlog", "sustained", "cost"), lines, strict=True))
