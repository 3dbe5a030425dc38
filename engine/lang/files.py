"""Finding and reading rule files (the I/O edge of loading), and the loaded RuleSet."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.declarations.builtin import declared_registry
from engine.declarations.registry import Registry
from engine.errors import UsageError
from engine.lang.cache import Entry, RuleCache
from engine.lang.diagnostics import RuleLoadError, sort_diagnostics
from engine.lang.model import Rule
from engine.lang.ruletests import is_test_file
from engine.lang.validate import ValidationResult, check_entry, duplicate_names, validate_sources

RULE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class RuleSet:
    """The rules loaded from a rules path."""

    rules: tuple[Rule, ...]
    files: int


def find_rule_files(paths: Iterable[str]) -> list[str]:
    """Every *.yaml / *.yml file named or found (recursively) under the paths, sorted."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                if os.path.basename(folder) == ".github":
                    # a checkout's .github holds workflows too: only its hookwise/ is rules
                    dirs[:] = [d for d in dirs if d == "hookwise"]
                    continue
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") or d == ".github")
                found.extend(
                    os.path.join(folder, f)
                    for f in sorted(files)
                    if f.endswith(RULE_SUFFIXES) and not is_test_file(f)
                )
        elif os.path.isfile(path):
            if not is_test_file(path):
                found.append(path)
        else:
            raise UsageError(f"no such file or folder: {path}")
    return sorted(dict.fromkeys(os.path.normpath(p) for p in found))


def find_test_files(paths: Iterable[str]) -> list[str]:
    """Every rule test file (*.test.yaml / *.test.yml) named or found under the paths."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") or d in (".github", "hookwise"))
                found.extend(os.path.join(folder, f) for f in sorted(files) if is_test_file(f))
        elif os.path.isfile(path):
            if is_test_file(path):
                found.append(path)
        else:
            raise UsageError(f"no such file or folder: {path}")
    return sorted(dict.fromkeys(os.path.normpath(p) for p in found))


def read_sources(paths: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) for each rule file under the paths."""
    for path in find_rule_files(paths):
        with open(path, "rb") as handle:
            yield path, handle.read()


def validate_paths(paths: Iterable[str], registry: Registry | None = None) -> ValidationResult:
    """Read and check the rule files under `paths` (files or folders)."""
    return validate_sources(read_sources(paths), registry)


def load_rules(
    paths: Iterable[str], registry: Registry | None = None, *, cache_dir: str | None = None
) -> RuleSet:
    """Load and compile rules; raise RuleLoadError listing every problem if any.

    With `cache_dir`, each file's compiled outcome is kept there and reused while the file,
    hookwise and the node types are unchanged (engine.lang.cache).
    """
    folders = list(paths)
    registry = registry or declared_registry()
    sources = list(read_sources(folders))

    def check(path: str, raw: bytes) -> Entry:
        return check_entry(raw, path, registry)

    if cache_dir:
        entries = RuleCache(cache_dir, registry).cached(folders, sources, check)
    else:
        entries = [check(path, raw) for path, raw in sources]
    named = list(zip((path for path, _ in sources), entries, strict=True))
    errors = [d for entry in entries for d in entry.diagnostics if d.severity == "error"]
    errors += duplicate_names(named)
    if errors:
        raise RuleLoadError(sort_diagnostics(errors))
    rules = sorted((e.rule for e in entries if e.rule is not None), key=lambda r: (r.name, r.file))
    return RuleSet(tuple(rules), len(sources))
