"""Shared test fixtures: paths to the repository, its test data and the vendored real fixtures
(vendor/shared/fixtures, a copy of the project's ../shared/fixtures; see vendor/README.md)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

pytest_plugins = ["tests.storekit"]

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
VENDORED = REPO / "vendor" / "shared"
SHARED_FIXTURES = VENDORED / "fixtures"
UPSTREAM = REPO.parent / "shared"  # the project's shared folder, beside a developer's clone only


def pytest_configure(config: pytest.Config) -> None:
    """Compiled-rule bundles of this run go to a folder of its own (servers started by tests
    inherit it), never to the user's ~/.cache/hookwise; removed when the run ends."""
    if "HOOKWISE_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="hookwise-test-cache-")
        os.environ["HOOKWISE_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def _descendants(root: int) -> dict[int, tuple[int, str]]:
    """Live (not zombie) processes below `root`: pid -> (parent pid, command line), from /proc."""
    parents: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # it ended meanwhile
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            parents.setdefault(int(ppid), []).append(int(entry.name))
            commands[int(entry.name)] = command
    found: dict[int, tuple[int, str]] = {}
    pending = [root]
    while pending:
        parent = pending.pop()
        for child in parents.get(parent, []):
            found[child] = (parent, commands[child])
            pending.append(child)
    return found


def _started_by_the_test(before: set[int]) -> dict[int, str]:
    """Processes alive now that the test itself started: new, and not below a process that was
    already running (a module fixture's browser starts renderers of its own as pages open)."""
    now = _descendants(os.getpid())
    mine = os.getpid()
    found = {}
    for pid, (parent, command) in now.items():
        if pid in before:
            continue
        while parent != mine and parent not in before and parent in now:
            parent = now[parent][0]
        if parent == mine:
            found[pid] = command
    return found


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """A process a test started and left running fails that test (and is killed), so no run
    leaves a server behind; processes of module or session fixtures were there before."""
    before = set(_descendants(os.getpid()))
    yield
    left = _started_by_the_test(before)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes outlived the test: {left}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the last fixture's teardown, nothing the run started may still be running."""
    left = {pid: command for pid, (_, command) in _descendants(os.getpid()).items()}
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if left:
        sys.stderr.write(f"\nprocesses outlived the test run: {left}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def shipped_rules() -> list[Path]:
    """The shipped rule files (rules/*.yaml), their tests (*.test.yaml) aside."""
    return sorted(p for p in (REPO / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))


def shipped_rule_tests() -> list[Path]:
    """The shipped rules' test files (rules/*.test.yaml), which validate checks too."""
    return sorted((REPO / "rules").glob("*.test.yaml"))


def shared(*parts: str) -> Path:
    """A path under vendor/shared/fixtures (a missing file is an error, never a skip)."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"vendored fixture missing: {path}")
    return path


CliResult = tuple[int, str, str]


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """Run the hookwise CLI in-process: cli('validate', 'x.yaml') -> (code, stdout, stderr)."""

    def run(*argv: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), out, err)
        return code, out.getvalue(), err.getvalue()

    return run


@pytest.fixture
def github() -> Iterator[Any]:
    """A running GitHub API double; the test fails if any request broke the OpenAPI contract."""
    shared("github", "rest-api-subset.openapi.json")
    from tests.double import GitHubDouble

    double = GitHubDouble().start()
    try:
        yield double
    finally:
        double.stop()
    assert double.violations == [], "requests or answers outside the OpenAPI description"
