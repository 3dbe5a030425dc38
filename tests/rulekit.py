"""Helpers for tests: compile rules from YAML text, build events, run the matcher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.declarations.registry import Registry
from engine.lang.model import Rule
from engine.lang.validate import check_source
from engine.match.events import Event, parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import MatchResult, complete, match
from tests.conftest import shared


def compile_rule(text: str, path: str = "rule.yaml", registry: Registry | None = None) -> Rule:
    """Compile one rule from YAML text, failing the test with its problems if any."""
    rule, _, problems = check_source(text.encode(), path, registry)
    assert problems == [], [f"{p.line}:{p.column} {p.message}" for p in problems]
    assert rule is not None
    return rule


def rule_from_on(on: dict[str, Any], name: str = "r") -> Rule:
    """A rule whose `on.events` is the given map, with one core.log node."""
    body = {
        "name": name,
        "on": {"events": on},
        "nodes": {"log": {"uses": "core.log", "with": {"message": "x"}}},
    }
    return compile_rule(json.dumps(body))


def payload(event: str, name: str) -> dict[str, Any]:
    """A real webhook payload from vendor/shared/fixtures/github/webhooks/<event>/<name>.json."""
    data: dict[str, Any] = json.loads(
        shared("github", "webhooks", event, f"{name}.json").read_text()
    )
    return data


def all_payload_files() -> list[Path]:
    """Every real webhook payload file (vendor/shared/fixtures/github/webhooks)."""
    from tests.fuzzkit import payload_files

    return payload_files()


def run_match(rules: list[Rule], event: Event, files: list[str] | None = None) -> MatchResult:
    """Match, supplying the changed files when the matcher asks for them."""
    result = match(event, RuleIndex(rules))
    if result.needs_files and files is not None:
        result = complete(result, files)
    return result


def matched_names(rules: list[Rule], event: Event, files: list[str] | None = None) -> list[str]:
    """The names of the rules that fire."""
    return [m.rule.name for m in run_match(rules, event, files).matched]


__all__ = ["Event", "parse_event"]
