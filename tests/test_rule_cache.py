"""The compiled-rule cache: a second load reuses every unchanged file, misses a changed one,
and ignores a bundle it did not sign."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.declarations.builtin import declared_registry
from engine.lang.cache import RuleCache
from engine.lang.diagnostics import RuleLoadError
from engine.lang.files import load_rules, read_sources
from engine.lang.validate import check_entry
from tests.conftest import REPO, shipped_rules


def copy_rules(target: Path) -> Path:
    target.mkdir()
    for source in shipped_rules():
        (target / source.name).write_bytes(source.read_bytes())
    return target


def load_counting(rules: Path, cache: Path) -> tuple[int, int, list[str]]:
    registry = declared_registry()
    store = RuleCache(str(cache), registry)
    sources = list(read_sources([str(rules)]))
    entries = store.cached([str(rules)], sources, lambda p, r: check_entry(r, p, registry))
    return store.hits, store.misses, sorted(e.rule.name for e in entries if e.rule)


def test_a_second_load_compiles_only_what_changed(tmp_path: Path) -> None:
    rules, cache = copy_rules(tmp_path / "rules"), tmp_path / "cache"
    first = load_counting(rules, cache)
    assert first[:2] == (0, len(first[2]))
    assert load_counting(rules, cache)[:2] == (len(first[2]), 0)
    changed = rules / "docs-label.yaml"
    changed.write_text(changed.read_text().replace("Label pull requests", "Label PRs"))
    hits, misses, names = load_counting(rules, cache)
    assert (hits, misses, names) == (len(names) - 1, 1, first[2])
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    assert oct(os.stat(cache / "key").st_mode & 0o777) == "0o600"


def test_a_bundle_that_is_not_ours_is_ignored(tmp_path: Path) -> None:
    rules, cache = copy_rules(tmp_path / "rules"), tmp_path / "cache"
    load_counting(rules, cache)
    [bundle] = cache.glob("rules-*.pickle")
    data = bytearray(bundle.read_bytes())
    data[40] ^= 0xFF  # damaged, or written by someone else: the signature no longer holds
    bundle.write_bytes(bytes(data))
    hits, misses, _ = load_counting(rules, cache)
    assert hits == 0 and misses > 0


def test_cached_loads_still_refuse_bad_rules(tmp_path: Path) -> None:
    rules, cache = copy_rules(tmp_path / "rules"), tmp_path / "cache"
    load_rules([str(rules)], cache_dir=str(cache))
    (rules / "broken.yaml").write_text("name: docs-label\non: {events: [nope]}\nnodes: {}\n")
    with pytest.raises(RuleLoadError) as caught:
        load_rules([str(rules)], cache_dir=str(cache))
    checks = {d.check for d in caught.value.diagnostics}
    assert {"unknown-event", "duplicate-rule-name"} <= checks
    loaded = load_rules([str(REPO / "rules")], cache_dir=str(cache))
    assert loaded.rules == load_rules([str(REPO / "rules")]).rules


LOAD = """
import sys
from engine.lang.diagnostics import RuleLoadError
from engine.lang.files import load_rules
try:
    load_rules([sys.argv[1]], cache_dir=sys.argv[2])
except RuleLoadError as exc:
    print(*sorted(d.message for d in exc.diagnostics), sep="\\n")
"""


def test_an_edited_message_in_the_engine_is_seen_on_the_next_load(tmp_path: Path) -> None:
    """The cache is keyed by the engine's own source: no stale message, nothing to clear."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(REPO / "engine", tmp_path / "src" / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    rules, cache = tmp_path / "rules", tmp_path / "cache"
    rules.mkdir()
    (rules / "bad.yaml").write_text("name: bad\non: {events: [pull_requests]}\nnodes: {a: {uses: core.log, with: {message: hi}}}\n")

    def load() -> str:
        env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run([sys.executable, "-c", LOAD, str(rules), str(cache)], env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
        return done.stdout

    assert 'unknown event "pull_requests"' in load()
    assert list(cache.glob("rules-*.pickle"))  # the outcome was cached
    checks = tmp_path / "src" / "engine" / "lang" / "checks" / "triggers.py"
    checks.write_text(checks.read_text().replace('f\'unknown event "{name}"', 'f\'no such event "{name}"'))
    again = load()
    assert 'no such event "pull_requests"' in again and "unknown event" not in again
