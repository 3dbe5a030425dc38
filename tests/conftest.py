"""Shared test fixtures: paths to the repository, its test data and the vendored real fixtures
(vendor/shared/fixtures, a copy of the project's ../shared/fixtures; see vendor/README.md)."""

from __future__ import annotations

import io
import os
import shutil
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
