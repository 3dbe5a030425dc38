"""Shared test fixtures: paths to the repository, its test data and ../shared/fixtures."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

pytest_plugins = ["tests.storekit"]

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED_FIXTURES = Path(
    os.environ.get("HOOKWISE_SHARED_FIXTURES") or REPO.parent / "shared" / "fixtures"
)
MISSING = (
    f"shared fixtures not found at {SHARED_FIXTURES} (clone with ../shared beside the repo)"
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI a missing ../shared fails the run: a suite that skipped its real data must
    not pass (outside CI, tests that need it skip with a message)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and not SHARED_FIXTURES.exists():
        raise pytest.UsageError(f"CI: {MISSING}")


def shared(*parts: str) -> Path:
    """A path under ../shared/fixtures, skipping the test when shared/ is absent."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture not found at {path} (clone with ../shared beside the repo)")
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
