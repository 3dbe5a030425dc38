"""vendor/shared is an exact copy of the project's ../shared (compared only where it exists)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import UPSTREAM, VENDORED


def digests(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under root."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_vendored_copy_holds_what_the_tests_read() -> None:
    files = digests(VENDORED)
    assert "fixtures/github/rest-api-subset.openapi.json" in files
    assert "fixtures/filters/vectors.json" in files
    assert "peer-bench/peers/python/floor.py" in files
    assert sum(name.startswith("fixtures/github/webhooks/") for name in files) >= 77


if UPSTREAM.is_dir():  # a stranger's clone has no ../shared: nothing to compare, no test

    @pytest.mark.parametrize("folder", ["fixtures", "peer-bench"])
    def test_the_vendored_copy_equals_shared(folder: str) -> None:
        assert digests(VENDORED / folder) == digests(UPSTREAM / folder), "run `make vendor`"


def test_the_design_is_in_the_repository() -> None:
    """docs/ and the code cite the design's sections; it is a copy of ../shared/DESIGN.md."""
    design = VENDORED.parent.parent / "docs" / "design.md"
    assert "## 4. HTTP surface" in design.read_text()
    if (UPSTREAM / "DESIGN.md").exists():
        assert design.read_bytes() == (UPSTREAM / "DESIGN.md").read_bytes(), "copy DESIGN.md again"
