"""Mutated webhook deliveries for fuzzing: real payloads from vendor/shared/fixtures with values
replaced by hostile ones (wrong types, huge numbers, deep nesting, odd text), signed as
GitHub would sign them, so they pass the signature check and reach the parser and the store.

The mutation is a pure function of a random source: hypothesis drives it in the test suite
(derandomized, so CI runs the same examples), and tools/fuzz.py drives it with a seed for
`make fuzz` against a live server.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

from tests.conftest import SHARED_FIXTURES

HOSTILE: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    2**70,
    -(2**70),
    1.5,
    1e308,
    "",
    "x" * 20_000,
    "a/b/c",
    "/",
    "\u0000",
    "\ud800",
    "<script>alert(1)</script>",
    "${{ github.token }}",
    [],
    [1, "two", None],
    {},
    {"login": 5},
    {"name": []},
    [[[[[[[[]]]]]]]],
]
# fields hookwise reads, so a mutation there reaches the typed parser
TARGETS = [
    ("action",),
    ("installation",),
    ("installation", "id"),
    ("repository",),
    ("repository", "full_name"),
    ("sender",),
    ("sender", "login"),
    ("sender", "type"),
    ("pull_request",),
    ("pull_request", "number"),
    ("pull_request", "labels"),
    ("pull_request", "base", "ref"),
    ("pull_request", "head", "sha"),
    ("pull_request", "user"),
    ("issue", "labels"),
    ("issue", "number"),
    ("issue", "user", "login"),
    ("commits",),
    ("ref",),
    ("size",),
    ("deleted",),
    ("before",),
    ("label", "name"),
    ("repositories",),
    ("repositories_added",),
    ("release", "tag_name"),
]


def payload_files() -> list[Path]:
    """The real webhook payloads (vendor/shared/fixtures/github/webhooks/<event>/*.json)."""
    return sorted((SHARED_FIXTURES / "github" / "webhooks").glob("*/*.json"))


def mutate(data: Any, rng: random.Random, *, rounds: int = 3) -> Any:
    """A copy of a payload with a few values replaced, removed or nested deeply."""
    result = copy.deepcopy(data)
    for _ in range(rng.randint(1, rounds)):
        kind = rng.random()
        path = rng.choice(TARGETS) if kind < 0.6 else _random_path(result, rng)
        if not path:
            continue
        parent = result
        for part in path[:-1]:
            if not isinstance(parent, dict):
                break
            parent = parent.setdefault(part, {})
        if not isinstance(parent, dict):
            continue
        if kind < 0.85:
            parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
        elif kind < 0.95:
            parent.pop(path[-1], None)
        else:
            nested: Any = "deep"
            for _ in range(rng.choice([50, 500, 5000])):
                nested = [nested]
            parent[path[-1]] = nested
    return result


def _random_path(data: Any, rng: random.Random) -> tuple[str, ...]:
    path: list[str] = []
    current = data
    while isinstance(current, dict) and current and rng.random() < 0.8:
        key = rng.choice(sorted(current))
        path.append(key)
        current = current[key]
    return tuple(path)


def encode(data: Any, rng: random.Random) -> bytes:
    """JSON text of a payload; sometimes with a huge integer literal or NaN spliced in."""
    try:
        text = json.dumps(data, ensure_ascii=rng.random() < 0.5)
    except (ValueError, RecursionError):
        text = json.dumps({"action": "opened"})
    roll = rng.random()
    if roll < 0.03:
        text = text[:-1] + ', "huge": ' + "9" * 5000 + "}"
    elif roll < 0.05:
        text = text[:-1] + ', "nan": NaN}'
    try:
        return text.encode("utf-8", errors="surrogatepass")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace")


def delivery(rng: random.Random, files: list[Path], cache: dict[Path, Any]) -> tuple[str, bytes]:
    """(event name, body) of one mutated real delivery."""
    path = rng.choice(files)
    if path not in cache:
        cache[path] = json.loads(path.read_text())
    event = path.parent.name
    return event, encode(mutate(cache[path], rng), rng)
