"""A cache of compiled rules, so that a server with thousands of rule files starts fast.

Compiling a rule (YAML with a source map, the JSON Schema, every check) costs about a
millisecond; 10,000 rules cost seconds on every start. Each file's outcome (its compiled rule
and its problems) is kept under the SHA-256 of its path and bytes, the bytes of hookwise's own
source files, the Python version and the node registry's declarations, so any change to any of
them misses the cache (an edited message in a check is seen on the next start, with no version
bump and nothing to clear). One bundle per
rules path, in a folder only its owner can read (0700), signed with a key kept there (0600):
a bundle that was not written by this cache, or was damaged, is ignored, never loaded.

This module and `files` are the rule language's only I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import pickle
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import engine
from engine import __version__
from engine.declarations.registry import Registry
from engine.lang.diagnostics import Diagnostic
from engine.lang.model import Rule


@dataclass(frozen=True)
class Entry:
    """What checking one file produced: the rule (None with errors), every problem, and its
    `name` with the position the duplicate-name check reports at."""

    rule: Rule | None
    diagnostics: tuple[Diagnostic, ...]
    name: str | None
    name_at: tuple[int, int]
    name_ignores: frozenset[str]


@cache
def source_digest(root: str = os.path.dirname(engine.__file__)) -> str:
    """SHA-256 over the path and bytes of every file of the `engine` package (about 15 ms)."""
    digest = hashlib.sha256()
    base = Path(root)
    for path in sorted(base.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json", ".sql"):
            digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(registry: Registry) -> str:
    """What makes compiled rules valid: hookwise's source, Python, the node types' declarations."""
    declared = [(t.name, t.inputs, t.outputs, t.outputs_from_input) for t in registry]
    text = json.dumps(
        [__version__, source_digest(), sys.version, declared], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def entry_key(path: str, raw: bytes) -> str:
    """The key of one file's entry: its path and bytes."""
    return hashlib.sha256(path.encode() + b"\0" + raw).hexdigest()


class RuleCache:
    """Bundles of entries, one per rules path, in a private folder."""

    def __init__(self, folder: str, registry: Registry) -> None:
        self.folder = folder
        self.print = fingerprint(registry)
        self.hits = 0
        self.misses = 0

    def _bundle(self, paths: list[str]) -> str:
        name = hashlib.sha256("\0".join(sorted(os.path.abspath(p) for p in paths)).encode())
        return os.path.join(self.folder, f"rules-{name.hexdigest()[:24]}.pickle")

    def _key(self) -> bytes | None:
        path = os.path.join(self.folder, "key")
        try:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            if not os.path.exists(path):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(os.urandom(32))
            with open(path, "rb") as handle:
                return handle.read()
        except OSError:
            return None  # an unwritable cache folder: compile everything, as without a cache

    def load(self, paths: list[str]) -> dict[str, Entry]:
        """The entries of a rules path's bundle (empty when absent, stale or not ours)."""
        key = self._key()
        if key is None:
            return {}
        try:
            with open(self._bundle(paths), "rb") as handle:
                signature, data = handle.read(32), handle.read()
        except OSError:
            return {}
        if not hmac.compare_digest(signature, hmac.new(key, data, hashlib.sha256).digest()):
            return {}
        try:
            stamp, entries = pickle.loads(data)
        except Exception:  # a bundle from another hookwise that pickled differently
            return {}
        return entries if stamp == self.print and isinstance(entries, dict) else {}

    def save(self, paths: list[str], entries: dict[str, Entry]) -> None:
        """Write a rules path's bundle (atomically); a failure only costs the next start."""
        key = self._key()
        if key is None:
            return
        data = pickle.dumps((self.print, entries), protocol=pickle.HIGHEST_PROTOCOL)
        signature = hmac.new(key, data, hashlib.sha256).digest()
        target = self._bundle(paths)
        with contextlib.suppress(OSError):
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".bundle-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(signature + data)
            os.replace(temporary, target)

    def cached(self, paths: list[str], sources: list[tuple[str, bytes]], check: Any) -> list[Entry]:
        """An entry per source: from the bundle when its key is there, else `check(path, raw)`;
        the bundle is rewritten when anything changed."""
        known = self.load(paths)
        result, fresh = [], {}
        for path, raw in sources:
            key = entry_key(path, raw)
            entry = known.get(key)
            if entry is None:
                entry = check(path, raw)
                self.misses += 1
            else:
                self.hits += 1
            fresh[key] = entry
            result.append(entry)
        if set(fresh) != set(known):
            self.save(paths, fresh)
        return result
