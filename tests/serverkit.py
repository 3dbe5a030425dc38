"""Helpers for server tests: settings, signed requests, waiting for jobs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from engine.edge.verify import sign
from engine.settings import Settings
from tests.conftest import REPO

SECRET = "It's a Secret to Everybody"
# the rule of the process tests: one comment per opened issue, naming the delivery
ACK_RULE = """name: ack
on:
  events:
    issues: {types: [opened]}
nodes:
  ack:
    uses: github.issue.comment
    with:
      body: ack ${{ github.delivery }}
"""


def server_settings(tmp_path: Path, rules: Path, github: Any = None, **overrides: Any) -> Settings:
    """Settings for a test server: a file database under tmp_path, the given rules."""
    values: dict[str, Any] = {
        "rules_path": str(rules),
        "database_url": f"sqlite:///{tmp_path / 'hookwise.db'}",
        "webhook_secrets": (SECRET,),
        "workers": 2,
        "lease_seconds": 5.0,
        # repository rules add jobs to every delivery; their own tests switch them on
        "repo_rules": False,
        # GitHub's one second between an installation's writes would make a test of 50
        # comments take a minute; the pacing has tests of its own (test_github_budget.py)
        "github_write_gap": 0.0,
    }
    if github is not None:
        values.update(
            app_id=github.app_id,
            app_private_key=github.private_key_pem,
            github_api_base_url=github.url,
            github_web_url=github.url,
            client_id=github.client_id,
            client_secret=github.client_secret,
        )
    values.update(overrides)
    return Settings(**values)


def sql(settings: Settings, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on a test server's SQLite file directly (inspecting what is stored)."""
    import sqlite3

    db = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        return db.execute(statement).fetchall()
    finally:
        db.close()


def signed(
    payload: Any, event: str, delivery: str, *, secret: str = SECRET
) -> tuple[bytes, dict[str, str]]:
    """A body and the headers GitHub would send with it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, secret),
        "User-Agent": "GitHub-Hookshot/044aadd",
    }
    return body, headers


def wait_until(check: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll until check() is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def write_rule(folder: Path, name: str, text: str) -> Path:
    """Write one rule file and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_process(
    argv: list[str],
    env: dict[str, str],
    log: Path,
    *,
    health: str | None = None,
    program: list[str] | None = None,
    cwd: Path = REPO,
) -> subprocess.Popen[bytes]:
    """Start `python -m engine ARGV...` (or `program ARGV...`) logging to `log`; wait for
    `health` to answer 200."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*(program or [sys.executable, "-m", "engine"]), *argv],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    if health is not None:

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{argv[0]} exited with {process.returncode}; see {log}")
            try:
                return httpx.get(health, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=30)
    return process


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it does not stop within 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=30)
    return process
