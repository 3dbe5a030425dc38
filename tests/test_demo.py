"""`make demo` and a busy port: the demo posts only to a server it started, and both the demo
and `hookwise serve` name a busy port in one plain line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.serverkit import free_port


@pytest.fixture
def busy_port() -> Iterator[tuple[int, socket.socket]]:
    """A port on which something else listens (and counts who connects)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0)
        yield int(listener.getsockname()[1]), listener


def _connections(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PORT": str(free_port()),
        "DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "PYTHONUNBUFFERED": "1",
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "tests.double"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # synchronise on what it prints, not on time
            lines.append(line)
            if line.startswith("demo deliveries sent"):
                break
        answers = [line.split()[2] for line in lines if line.startswith("  ")]
        assert answers == ["200", "202", "202", "202", "202", "202"], "".join(lines)
        demo.send_signal(signal.SIGTERM)
        rest, _ = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, rest
    assert "on the double: labels" in rest


def test_demo_never_posts_to_a_server_it_did_not_start(busy_port: tuple[int, socket.socket], tmp_path: Path) -> None:
    port, listener = busy_port
    env = {**os.environ, "PORT": str(port), "DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.double"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"demo: port {port} on 127.0.0.1 is in use; choose another: PORT=N make demo"
    ]
    assert _connections(listener) == 0
    assert not (tmp_path / "demo.db").exists()


def test_serve_on_a_busy_port_says_so_in_one_line(busy_port: tuple[int, socket.socket], tmp_path: Path) -> None:
    port, _ = busy_port
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--port", str(port)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"hookwise: port {port} on 127.0.0.1 is in use; choose another with --port N (make run: PORT=N make run)"
    ]


def test_serve_takes_its_port_from_port_when_not_given(busy_port: tuple[int, socket.socket], tmp_path: Path) -> None:
    port, _ = busy_port
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "PORT": str(port)}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "serve"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///hookwise.db", "sqlite:///hookwise.db"),
        ("postgresql://hookwise:s3cret@db:5432/hookwise", "postgresql://hookwise:***@db:5432/hookwise"),
        ("postgresql://postgres@127.0.0.1:5432/x", "postgresql://postgres@127.0.0.1:5432/x"),
    ],
)
def test_the_listening_line_never_shows_the_database_password(url: str, shown: str) -> None:
    from engine.cli.service import _without_password

    assert _without_password(url) == shown
