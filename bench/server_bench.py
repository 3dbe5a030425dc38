"""The webhook endpoint under load from a separate process: 32 connections for 10 s of signed
deliveries with unique ids, against hookwise and, in the same run, a minimal receiver that
only verifies, parses and inserts into SQLite. Both run under uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import REPO, header

SECONDS = 10
CONNECTIONS = 32
ROUNDS = 2  # best of two alternating rounds per side
SECRET = "bench-secret"
PAYLOAD = REPO.parent / "shared/fixtures/github/webhooks/pull_request/opened.1.json"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(
    app: str, env: dict[str, str], cwd: Path, health: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1)
            return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{app} did not start")


def _load(port: int, path: str, event: str) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "loadgen.py"),
            f"http://127.0.0.1:{port}{path}",
            str(SECONDS),
            str(CONNECTIONS),
            str(PAYLOAD),
            SECRET,
            event,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def run() -> dict[str, float]:
    """Run the benchmark and print its figures."""
    header(
        f"webhook ingest: {CONNECTIONS} connections for {SECONDS} s (pull_request payload), "
        f"best of {ROUNDS} alternating rounds"
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "MINIMAL_DB": f"{tmp}/minimal.db",
            "DATABASE_URL": f"sqlite:///{tmp}/hookwise.db",
            "HOOKWISE_RULES": str(REPO / "rules"),
            "HOOKWISE_RATE_LIMIT_WEBHOOKS": "0",
            "HOOKWISE_LOG_LEVEL": "WARNING",
            "HOOKWISE_WORKERS": os.environ.get("HOOKWISE_WORKERS", "4"),
        }
        env.pop("GITHUB_APP_ID", None)
        floors, ourses = [], []
        for _ in range(ROUNDS):  # alternate, so both sides share the machine's noise
            floor_proc, floor_port = _serve("minimal_receiver:app", env, REPO / "bench", "/")
            try:
                floors.append(_load(floor_port, "/", "pull_request"))
            finally:
                _stop(floor_proc)
            ours_proc, ours_port = _serve("server:app", env, REPO, "/health")
            try:
                ourses.append(_load(ours_port, "/webhooks/github", "pull_request"))
            finally:
                _stop(ours_proc)
        floor = max(floors, key=lambda r: r["rps"])
        ours = max(ourses, key=lambda r: r["rps"])
        ours["errors"] = sum(r["errors"] for r in ourses)
    ratio = ours["rps"] / floor["rps"] if floor["rps"] else 0.0
    for name, r in (("minimal receiver (floor)", floor), ("hookwise", ours)):
        print(
            f"{name:26s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
            f"errors {int(r['errors'])}  ({int(r['requests'])} requests)"
        )
    rounds = (
        f"floor {[round(r['rps']) for r in floors]}, hookwise {[round(r['rps']) for r in ourses]}"
    )
    print(f"every round, req/s:        {rounds}")
    print(f"ratio hookwise / floor:    {ratio:8.2f}x req/s (target >= 0.7, zero errors)")
    return {
        "ingest_rps": ours["rps"],
        "floor_rps": floor["rps"],
        "ingest_ratio": ratio,
        "ingest_errors": ours["errors"],
    }


if __name__ == "__main__":
    run()
