"""GitHub's filter-pattern cheat sheet and `on:` semantics, from shared/fixtures/filters/vectors.json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.lang.patterns import PatternList, compile_filter_pattern, ignores
from engine.match.events import parse_event
from tests.conftest import SHARED_FIXTURES, shared
from tests.rulekit import matched_names, rule_from_on

VECTORS_FILE = SHARED_FIXTURES / "filters" / "vectors.json"
VECTORS: list[dict[str, Any]] = (
    json.loads(VECTORS_FILE.read_text()) if VECTORS_FILE.exists() else []
)


def compile_filter_list(texts: list[str]) -> PatternList:
    """A list of filter patterns (branches, tags, paths), as a trigger compiles them."""
    return PatternList(tuple(compile_filter_pattern(t) for t in texts))


def _id(vector: dict[str, Any]) -> str:
    if vector["kind"] == "event":
        hint = vector["payload_hint"]
        return f"event:{json.dumps(vector['on'])}:{hint.get('ref') or hint.get('action')}:{hint.get('base_ref', '')}"
    lst = vector["patterns"] if vector["patterns"] is not None else ["ignore", *vector["ignore"]]
    return f"{vector['kind']}:{','.join(lst)}:{vector['subject']}"


PATTERN_VECTORS = [v for v in VECTORS if v["kind"] in ("ref", "path")]
EVENT_VECTORS = [v for v in VECTORS if v["kind"] == "event"]


def test_vectors_are_present() -> None:
    shared("filters", "vectors.json")
    assert len(PATTERN_VECTORS) == 80 and len(EVENT_VECTORS) == 30


@pytest.mark.parametrize("vector", PATTERN_VECTORS, ids=_id)
def test_pattern_vector(vector: dict[str, Any]) -> None:
    if vector["patterns"] is not None:
        passes = compile_filter_list(vector["patterns"]).selects(vector["subject"])
    else:
        passes = not ignores(compile_filter_list(vector["ignore"]), vector["subject"])
    assert passes is vector["expect"]


def _event_payload(event: str, hint: dict[str, Any]) -> dict[str, Any]:
    if event == "push":
        files = hint.get("changed_files", [])
        return {
            "ref": hint["ref"],
            "before": "a" * 40,
            "after": "0" * 40 if hint.get("deleted") else "b" * 40,
            "deleted": bool(hint.get("deleted")),
            "commits": [{"added": files, "removed": [], "modified": []}] if files else [],
            "repository": {"full_name": "octo/repo"},
            "sender": {"login": "octocat", "type": "User"},
        }
    return {
        "action": hint.get("action"),
        "number": 1,
        "pull_request": {
            "number": 1,
            "base": {"ref": hint.get("base_ref")},
            "head": {"ref": hint.get("head_ref")},
            "labels": [],
            "user": {"login": "octocat", "type": "User"},
        },
        "repository": {"full_name": "octo/repo"},
        "sender": {"login": "octocat", "type": "User"},
    }


@pytest.mark.parametrize("vector", EVENT_VECTORS, ids=_id)
def test_event_vector(vector: dict[str, Any]) -> None:
    hint = vector["payload_hint"]
    rule = rule_from_on({name: config or {} for name, config in vector["on"].items()})
    event = parse_event(vector["event"], _event_payload(vector["event"], hint))
    fired = matched_names([rule], event, files=hint.get("changed_files", []))
    assert (fired == ["r"]) is vector["expect"]


def test_no_pattern_of_githubs_docs_reads_as_a_regular_expression() -> None:
    from engine.lang.patterns import regex_lookalike

    patterns = {p for v in PATTERN_VECTORS for p in (v["patterns"] or v["ignore"] or [])}
    assert len(patterns) > 30
    assert {p: regex_lookalike(p) for p in patterns if regex_lookalike(p)} == {}


@pytest.mark.parametrize(
    ("pattern", "meant"),
    [
        ("^release/.*$", ["release/**"]),
        ("release/(v1|v2)", ["release/v1", "release/v2"]),
        ("feature/[^x]+", ["feature/*"]),
        ("!^hotfix/.*", ["!hotfix/**"]),
        (r"release/\d+\.\d+", ["release/*.*"]),
        ("(?i)^wip/", ["wip/"]),
        ("v[0-9]+.[0-9]+.[0-9]+", None),
        ("v1.*", None),
        ("docs/**", None),
        ("main", None),
    ],
)
def test_a_regex_looking_pattern_gets_the_glob_probably_meant(
    pattern: str, meant: list[str] | None
) -> None:
    from engine.lang.patterns import regex_lookalike

    assert regex_lookalike(pattern) == meant
