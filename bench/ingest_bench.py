"""Ingest: signed 21 KB pull_request deliveries, 32 connections, 10 s of wrk per run, against the
kit's durable floor and `hookwise serve` (shipped rules, default logging, dry-run), on SQLite
and on PostgreSQL (the floor then INSERTs into PostgreSQL). Rounds alternate floor and
hookwise, so a noisy spell hits one run of each; the best round of each side counts."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench import peerkit
from bench.common import REPO, header

ROUNDS = 2
SECONDS = 10
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/"


def _round(
    floor_argv: list[str], floor_env: dict[str, str], hw_env: dict[str, str]
) -> tuple[float, float, str]:
    port = peerkit.free_port()
    url = f"http://127.0.0.1:{port}/webhooks/github"
    with peerkit.running(floor_argv(port), floor_env, url):  # type: ignore[operator]
        floor = peerkit.load(url, seconds=SECONDS)
    port = peerkit.free_port()
    url = f"http://127.0.0.1:{port}/webhooks/github"
    with peerkit.running(peerkit.hookwise(port), hw_env, f"http://127.0.0.1:{port}/health"):
        ours = peerkit.load(url, seconds=SECONDS)
    detail = (
        f"floor {floor.rps:,.0f} req/s p99 {floor.p99_ms:.0f} ms errors {floor.errors}; "
        f"hookwise {ours.rps:,.0f} req/s p99 {ours.p99_ms:.0f} ms errors {ours.errors}"
    )
    return floor.rps, ours.rps, detail


def _sqlite(folder: Path) -> str:
    floors, ours = [], []
    for number in range(ROUNDS):
        db = folder / f"floor-{number}.db"
        hw_db = folder / f"hookwise-{number}.db"
        floor_rps, our_rps, detail = _round(
            lambda port, db=db: peerkit.floor(port, db),  # type: ignore[misc]
            {},
            peerkit.hookwise_env(f"sqlite:///{hw_db}"),
        )
        print(f"  round {number + 1}: {detail}")
        floors.append(floor_rps)
        ours.append(our_rps)
    return peerkit.ratio_line(
        "ingest, SQLite", max(ours), max(floors), ">= 1.0x; issue 24: 0.67x, 1,893 vs 2,844"
    )


def _postgres() -> str:
    from engine.store.postgres import ensure_database
    from tests.storekit import drop_database

    floors, ours = [], []
    for number in range(ROUNDS):
        floor_url = f"{PG_SERVER}bench_floor_{uuid.uuid4().hex[:8]}"
        hw_url = f"{PG_SERVER}bench_hookwise_{uuid.uuid4().hex[:8]}"
        ensure_database(floor_url)
        subprocess.run(
            [sys.executable, "-m", "engine", "db", "upgrade", "--database", hw_url],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            floor_rps, our_rps, detail = _round(
                lambda port, url=floor_url: [  # type: ignore[misc]
                    sys.executable,
                    str(REPO / "bench" / "floor_postgres.py"),
                    str(port),
                    peerkit.SECRET,
                    url,
                ],
                {},
                peerkit.hookwise_env(hw_url),
            )
        finally:
            drop_database(floor_url)
            drop_database(hw_url)
        print(f"  round {number + 1}: {detail}")
        floors.append(floor_rps)
        ours.append(our_rps)
    return peerkit.ratio_line(
        "ingest, PostgreSQL", max(ours), max(floors), ">= 1.0x; issue 24: 0.67x, 910 vs 1,364"
    )


def run() -> dict[str, str]:
    """Measure and print both ingest figures."""
    header("ingest: 21 KB pull_request, 32 connections, wrk, vs the durable floor")
    peerkit.kit()
    with tempfile.TemporaryDirectory(prefix="hookwise-bench-") as folder:
        print("SQLite (WAL, synchronous=NORMAL):")
        sqlite = _sqlite(Path(folder))
        print(sqlite)
    print("PostgreSQL (127.0.0.1, synchronous_commit on):")
    postgres = _postgres()
    print(postgres)
    return {"sqlite": sqlite, "postgres": postgres}
