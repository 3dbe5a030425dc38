"""Finding and reading rule files (the I/O edge of loading), and the loaded RuleSet."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.errors import UsageError
from engine.lang.diagnostics import RuleLoadError
from engine.lang.model import Rule
from engine.lang.validate import ValidationResult, validate_sources
from engine.nodes.registry import Registry

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
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    os.path.join(folder, f) for f in sorted(files) if f.endswith(RULE_SUFFIXES)
                )
        elif os.path.isfile(path):
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


def load_rules(paths: Iterable[str], registry: Registry | None = None) -> RuleSet:
    """Load and compile rules; raise RuleLoadError listing every problem if any."""
    result = validate_paths(paths, registry)
    if result.errors:
        raise RuleLoadError(result.errors)
    return RuleSet(tuple(result.rules), result.files)
