"""Production rehearsals: every process kind started exactly as docs/operations.md tells a user,
with default settings (no log level, no test-only variables), the GitHub API double as GitHub.

- PostgreSQL: `hookwise db upgrade`, two `hookwise serve --workers 0`, two `hookwise worker`;
- SQLite: one `hookwise serve`.

Each checks that every line every process prints is JSON, that `/health` answers 200 on every
server, and that deliveries posted to every replica are processed and commented exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.double import GitHubDouble
from tests.serverkit import (
    ACK_RULE,
    SECRET,
    free_port,
    signed,
    start_process,
    wait_until,
    write_rule,
)
from tests.storekit import new_postgres_url, require_postgres

HOOKWISE = str(Path(sys.executable).parent / "hookwise")  # the console script users run
DELIVERIES = 40


def user_environment(tmp_path: Path, github: GitHubDouble, **settings: str) -> dict[str, str]:
    """What a user's shell has: PATH, HOME, a locale, and the documented settings only."""
    key = tmp_path / "app.pem"
    key.write_text(github.private_key_pem)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GITHUB_APP_ID": github.app_id,
        "GITHUB_APP_PRIVATE_KEY_PATH": str(key),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_BASE_URL": github.url,
        "HOOKWISE_RULES": str(write_rule(tmp_path / "rules", "ack", ACK_RULE)),
        **settings,
    }


class Processes:
    """hookwise processes of one rehearsal, each writing to its own log file."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(
        self, name: str, *argv: str, health: str | None = None, ready: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one; wait for `health` to answer 200, or for a log line whose message is
        `ready` (a worker has no port: "worker started")."""
        log = self.folder / f"{name}.log"
        process = start_process(
            list(argv), self.env, log, health=health, program=[HOOKWISE], cwd=self.folder
        )
        self.started.append((name, process, log))
        if ready is not None:

            def logged() -> bool:
                assert process.poll() is None, f"{name} exited: {log.read_text()}"
                return f'"message": "{ready}"' in log.read_text()

            wait_until(logged, timeout=60)
        return process

    def alive(self) -> None:
        for name, process, log in self.started:
            assert process.poll() is None, f"{name} died: {log.read_text()[-2000:]}"

    def stop(self) -> dict[str, list[dict[str, object]]]:
        """SIGTERM each, as a service manager would; every line each printed, parsed as JSON."""
        for _, process, _ in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        printed: dict[str, list[dict[str, object]]] = {}
        for name, process, log in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(f"{name} did not stop on SIGTERM") from None
            lines = log.read_text().splitlines()
            for line in lines:
                try:
                    json.loads(line)
                except ValueError:
                    raise AssertionError(f"{name} printed a line that is not JSON: {line!r}") from None
            printed[name] = [json.loads(line) for line in lines]
        return printed


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Processes]]:
    made: list[Processes] = []
    yield made
    for group in made:  # a failed rehearsal still stops what it started
        for _, process, _ in group.started:
            if process.poll() is None:
                process.kill()
                process.wait()


def issue_payload(number: int) -> dict[str, object]:
    return {
        "action": "opened",
        "issue": {"number": number, "labels": [], "user": {"login": "mona", "type": "User"}},
        "repository": {"full_name": "octo-org/hello", "name": "hello", "owner": {"login": "octo-org"}},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }


def deliver_and_count(github: GitHubDouble, ports: list[int], group: Processes) -> None:
    """Post DELIVERIES issues across the servers; each gets exactly one comment."""
    github.add_installation(1, "octo-org")
    for number in range(1, DELIVERIES + 1):
        github.world.add_issue("octo-org/hello", number)
    with httpx.Client(timeout=10) as client:
        for number in range(1, DELIVERIES + 1):
            body, headers = signed(issue_payload(number), "issues", f"rehearsal-{number}")
            answer = client.post(
                f"http://127.0.0.1:{ports[number % len(ports)]}/webhooks/github",
                content=body,
                headers=headers,
            )
            assert answer.status_code == 202, answer.text
            assert answer.json()["matched"] == ["ack"]
    repo = github.world.repo("octo-org", "hello")

    def commented() -> bool:
        group.alive()
        return all(repo.issues[n].comments for n in range(1, DELIVERIES + 1))

    wait_until(commented, timeout=120)
    for port in ports:  # the queue drained: nothing is left to post a second comment
        wait_until(
            lambda port=port: httpx.get(f"http://127.0.0.1:{port}/health").json()["queue_depth"] == 0,
            timeout=60,
        )
    counts = {n: len(repo.issues[n].comments) for n in range(1, DELIVERIES + 1)}
    assert set(counts.values()) == {1}, counts
    for n in range(1, DELIVERIES + 1):
        assert repo.issues[n].comments[0]["body"].startswith(f"ack rehearsal-{n}\n")


def test_postgres_topology_as_the_docs_start_it(
    tmp_path: Path, github: GitHubDouble, processes: list[Processes]
) -> None:
    require_postgres()
    from tests.storekit import drop_database

    database = new_postgres_url("hookwise_rehearsal")
    group = Processes(tmp_path, user_environment(tmp_path, github, DATABASE_URL=database))
    processes.append(group)
    try:
        upgrade = subprocess.run(
            [HOOKWISE, "db", "upgrade"], cwd=tmp_path, env=group.env, capture_output=True, text=True
        )
        assert upgrade.returncode == 0, upgrade.stderr
        assert "applied" in upgrade.stdout
        ports = [free_port(), free_port()]
        for index, port in enumerate(ports):
            group.start(
                f"serve-{index}",
                "serve", "--port", str(port), "--workers", "0",
                health=f"http://127.0.0.1:{port}/health",
            )
        group.start("worker-0", "worker", ready="worker started")
        group.start("worker-1", "worker", ready="worker started")
        deliver_and_count(github, ports, group)
        printed = group.stop()
    finally:
        for _, process, _ in group.started:
            if process.poll() is None:
                process.kill()
                process.wait()
        drop_database(database)
    for name in ("worker-0", "worker-1"):
        messages = [line["message"] for line in printed[name]]
        assert "worker started" in messages  # INFO is the default level, and it logs
    finished = sum(
        line["message"] == "run finished" for name in ("worker-0", "worker-1") for line in printed[name]
    )
    assert finished == DELIVERIES
    for name in ("serve-0", "serve-1"):
        assert not any(line["message"] == "run finished" for line in printed[name])  # --workers 0


def test_one_sqlite_server_as_make_run_starts_it(
    tmp_path: Path, github: GitHubDouble, processes: list[Processes]
) -> None:
    group = Processes(tmp_path, user_environment(tmp_path, github))
    processes.append(group)
    port = free_port()
    group.start("serve", "serve", "--port", str(port), health=f"http://127.0.0.1:{port}/health")
    deliver_and_count(github, [port], group)
    printed = group.stop()
    assert (tmp_path / "hookwise.db").exists()  # the embedded default, in the working folder
    messages = [line["message"] for line in printed["serve"]]
    assert messages.count("run finished") == DELIVERIES
    assert f"listening on http://127.0.0.1:{port}" in messages


def test_every_logger_at_debug_prints_only_json(
    tmp_path: Path, github: GitHubDouble, processes: list[Processes]
) -> None:
    """DEBUG turns on every log call there is: serve and worker still print JSON lines only."""
    group = Processes(tmp_path, user_environment(tmp_path, github, HOOKWISE_LOG_LEVEL="DEBUG"))
    processes.append(group)
    port = free_port()
    group.start(
        "serve", "serve", "--port", str(port), "--workers", "0",
        health=f"http://127.0.0.1:{port}/health",
    )
    group.start("worker", "worker", "--concurrency", "2", ready="worker started")
    deliver_and_count(github, [port], group)
    printed = group.stop()
    levels = {line["level"] for lines in printed.values() for line in lines}
    assert "debug" in levels or "info" in levels
    assert any(line["message"] == "worker started" for line in printed["worker"])
