"""The peer kit (vendor/shared/peer-bench, a copy of ../shared/peer-bench): the durable floor
and wrk, for every ingest figure.

The floor is the kit's own receiver (`peers/python/floor.py --durable`: uvicorn on uvloop
and httptools, HMAC, json.loads, one SQLite INSERT committed before answering), run with this
project's venv, which pins the same uvicorn, uvloop and httptools as the kit's requirements.
The load is the kit's `run_load.sh` (wrk with a per-request delivery id and signature), from
a writable copy of the kit. Every figure is a ratio to a floor measured in the same run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import REPO

SHARED_KIT = REPO / "vendor" / "shared" / "peer-bench"
KIT = REPO / ".cache" / "peer-bench"
SECRET = "bench-secret"
PR_PAYLOAD = KIT / "payloads" / "pull_request.opened.json"


def kit() -> Path:
    """A writable copy of the shared kit (the shared folder is read-only)."""
    if not SHARED_KIT.exists():
        raise SystemExit(f"the peer kit is missing at {SHARED_KIT}")
    if not (KIT / "run_load.sh").exists():
        shutil.copytree(SHARED_KIT, KIT, dirs_exist_ok=True)
        for path in KIT.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it with apt-get)")
    return KIT


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Load:
    """One wrk run, as run_load.sh's last line reports it."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int

    @classmethod
    def parse(cls, line: str) -> Load:
        """From `rps=... p50_ms=... p99_ms=... errors=... requests=...`."""
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        return cls(
            float(fields["rps"]),
            float(fields["p50_ms"]),
            float(fields["p99_ms"]),
            int(fields["errors"]),
            int(fields["requests"]),
        )


def load(
    url: str, *, seconds: int = 10, connections: int = 32, payload: Path | None = None, **env: str
) -> Load:
    """Run the kit's run_load.sh against a receiver."""
    result = subprocess.run(
        [
            str(kit() / "run_load.sh"),
            url,
            str(payload or PR_PAYLOAD),
            SECRET,
            str(seconds),
            str(connections),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("rps=")]
    if not lines:
        raise RuntimeError(f"run_load.sh failed: {result.stderr[-500:]}")
    return Load.parse(lines[-1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the receiver answers (any HTTP answer), or fail if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the receiver exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def running(
    argv: list[str], env: dict[str, str], health: str, *, cwd: Path = REPO
) -> Iterator[subprocess.Popen[bytes]]:
    """A receiver process for the duration of a measurement (run from `cwd`)."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(health, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def floor(port: int, database: Path) -> list[str]:
    """The kit's durable floor (SQLite), on this venv's uvicorn, uvloop and httptools."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    script = kit() / "peers" / "python" / "floor.py"
    return [sys.executable, str(script), str(port), SECRET, "--durable", str(database)]


def hookwise(port: int, *extra: str) -> list[str]:
    """`hookwise serve` with the shipped rules."""
    return [
        sys.executable,
        "-m",
        "engine",
        "serve",
        "--port",
        str(port),
        "--rules",
        "rules/",
        *extra,
    ]


def hookwise_env(database_url: str, **extra: str) -> dict[str, str]:
    """Default settings, dry-run (no App credentials), the kit's secret."""
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": database_url,
        "HOOKWISE_CACHE_DIR": str(REPO / ".cache" / "rules"),
        **extra,
    }
    for name in ("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_PATH"):
        os.environ.pop(name, None)
    return env


def ratio_line(label: str, ours: float, base: float, target: str, *, unit: str = "req/s") -> str:
    """One printed figure: ours, the baseline, the ratio and the target."""
    value = ours / base if base else float("nan")
    return f"{label}: hookwise {ours:,.0f} {unit}, baseline {base:,.0f} {unit}: {value:.2f}x (target {target})"
