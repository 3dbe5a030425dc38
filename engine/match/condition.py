"""A rule's top-level `if:`, decided at match time after the filters. Pure.

It sees what the delivery itself carries: the contexts `event` (the payload), `github`, `rule`
and `vars` (docs/design.md §2.1), so it costs no API call and is decided before any fact is read.
False, or an expression that cannot be evaluated, means the rule does not match; the reason
quotes the expression as written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.expr.evaluate import EvaluationError, evaluate, render_segments, truthy
from engine.expr.explain import read_values
from engine.expr.tree import DECISION_TIME
from engine.lang.model import Rule, Template
from engine.match.commands import command_context
from engine.match.events import Event, github_context


def rule_contexts(rule: Rule, event: Event) -> dict[str, Any]:
    """event, github, rule and the vars (no nodes yet); each var is rendered when first
    read, so one that cannot be rendered fails only the expressions that read it."""
    contexts: dict[str, Any] = {
        "event": event.payload,
        "github": github_context(event),
        "rule": {"name": rule.name, "description": rule.description, "file": rule.file},
        "vars": {},
        "nodes": {},
        DECISION_TIME: event.at,
    }
    if rule.command is not None:
        contexts["command"] = command_context(rule.command, event.name, event.payload, event.sender)
    contexts["vars"] = LazyVars(rule.vars, contexts)
    return contexts


class LazyVars(Mapping[str, Any]):
    """The `vars` context: values rendered on first read (vars see event, github, rule)."""

    def __init__(self, raw: Mapping[str, Any], contexts: Mapping[str, Any]) -> None:
        self._raw = raw
        self._contexts = contexts
        self._done: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._done:
            self._done[key] = render_value(self._raw[key], self._contexts)
        return self._done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def render_value(value: Any, contexts: Mapping[str, Any]) -> Any:
    """Render every Template inside a value (dicts and lists are walked)."""
    if isinstance(value, Template):
        return render_segments(value.segments, contexts)
    if isinstance(value, dict):
        return {k: render_value(v, contexts) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, contexts) for v in value]
    return value


def condition_reason(rule: Rule, event: Event) -> str | None:
    """None when the rule has no `if:` or it is true; else why the rule does not match."""
    if rule.condition is None:
        return None
    shown = shown_condition(rule.condition_source or "")
    try:
        value = evaluate(rule.condition, rule_contexts(rule, event))
    except EvaluationError as exc:
        return f"if: {shown} could not be evaluated: {exc}"
    if truthy(value):
        return None
    reads = read_values(rule.condition, rule_contexts(rule, event))
    return f"if: {shown} was false" + (f" ({'; '.join(reads)})" if reads else "")


def shown_condition(source: str) -> str:
    """The expression as written, without `${{ }}`, on one line and whole."""
    text = source.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return " ".join(text.split())
