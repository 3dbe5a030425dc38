"""Checks of every `${{ }}` in a rule, each with the scope of what it may read at its place.

Rule-level values (vars, concurrency, the rule's `if`) see event, github and rule (and vars,
but vars themselves not); a node sees vars too and the
outputs of the nodes that run before it; a node's `if` may call the status functions.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from typing import Any

from engine.expr.check import (
    ALL_CONTEXTS,
    COMMAND_CONTEXT,
    LOOP_CONTEXT,
    Scope,
    check_condition,
    check_template,
)
from engine.expr.parse import has_expression
from engine.lang.checks.base import DocumentChecker
from engine.lang.payloads import check_read
from engine.lang.source import Path
from engine.text import suggest

_ARG_READ = re.compile(r"\bcommand\.args\.([A-Za-z_][A-Za-z0-9_-]*)")

RULE_CONTEXTS = frozenset({"event", "github", "rule"})


class ExpressionChecker(DocumentChecker):
    """Expressions in vars, concurrency, `with`, `if` and `continue-on-error`."""

    rule_events: tuple[str, ...] | None = None  # None: some trigger takes every event

    def _payload_reads(self) -> Any:
        if not self.rule_events:
            return None
        return functools.partial(check_read, self.rule_events)

    def rule_level_expressions(self, var_names: frozenset[str]) -> None:
        """vars and concurrency: no nodes exist yet."""
        base = Scope(
            "", RULE_CONTEXTS, var_names, frozenset(), frozenset(), {},
            event_reads=self._payload_reads(),
        )
        variables = self.data.get("vars")
        if isinstance(variables, dict):
            for key, value in variables.items():
                self.templates(("vars", key), value, base.at("vars"))
        concurrency = base.at("concurrency", contexts=RULE_CONTEXTS | {"vars"})
        self.templates(("concurrency",), self.data.get("concurrency"), concurrency)
        condition = self.data.get("if")
        if isinstance(condition, str):

            def report(check: str, message: str, offset: int) -> None:
                self.in_string(("if",), offset, check, message)

            scope = base.at(
                "the rule's if", contexts=RULE_CONTEXTS | {"vars"} | self._command_context()
            )
            check_condition(condition, scope, report)

    def _command_args(self, path: Path, value: Any) -> None:
        """`command.args.NAME` must name an argument the rule's command declares."""
        on = self.data.get("on")
        command = on.get("command") if isinstance(on, dict) else None
        if not isinstance(command, dict):
            return
        declared = set(command.get("args") or {}) if isinstance(command.get("args"), dict) else set()
        if isinstance(value, str):
            for found in _ARG_READ.finditer(value):
                if found.group(1) not in declared:
                    hint = suggest(found.group(1), declared) if declared else "; the command has no args"
                    self.in_string(path, found.start(1), "unknown-context",
                                   f'unknown argument "command.args.{found.group(1)}"{hint}')
        elif isinstance(value, dict):
            for key, item in value.items():
                self._command_args((*path, key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._command_args((*path, index), item)

    def _command_context(self) -> frozenset[str]:
        on = self.data.get("on")
        return frozenset({COMMAND_CONTEXT}) if isinstance(on, dict) and "command" in on else frozenset()

    def node_expressions(
        self,
        node_id: str,
        spec: dict[str, Any],
        *,
        var_names: frozenset[str],
        ids: frozenset[str],
        upstream: frozenset[str],
        outputs: dict[str, tuple[str, ...] | None],
    ) -> None:
        """A node's `with`, `if` and `continue-on-error`."""
        scope = Scope(
            where=f'node "{node_id}"',
            contexts=ALL_CONTEXTS | self._command_context(),
            variables=var_names,
            nodes=ids,
            upstream=upstream,
            outputs=outputs,
            event_reads=self._payload_reads(),
        )
        looping = "for-each" in spec
        if "max-items" in spec and not looping:
            self.at_key(("nodes", node_id, "max-items"), "bad-value",
                        "`max-items` bounds a `for-each`; this node has none")
        self._command_args(("nodes", node_id, "with"), spec.get("with"))
        with_scope = replace(scope, contexts=scope.contexts | {LOOP_CONTEXT}) if looping else scope
        self.templates(("nodes", node_id, "with"), spec.get("with"), with_scope)
        if isinstance(spec.get("for-each"), str):
            self.templates(("nodes", node_id, "for-each"), spec["for-each"], scope)
        condition = spec.get("if")
        if isinstance(condition, str):
            if_path: Path = ("nodes", node_id, "if")

            def report(check: str, message: str, offset: int) -> None:
                self.in_string(if_path, offset, check, message)

            check_condition(condition, scope.at(scope.where, allow_status=True), report)
        coe = spec.get("continue-on-error")
        if isinstance(coe, str):
            self.templates(("nodes", node_id, "continue-on-error"), coe, scope)

    def templates(self, path: Path, value: Any, scope: Scope) -> None:
        """Check every string under `value` that holds an expression."""
        if isinstance(value, str):
            if has_expression(value):
                check_template(value, scope, lambda c, m, o: self.in_string(path, o, c, m))
        elif isinstance(value, dict):
            for key, item in value.items():
                self.templates((*path, key), item, scope)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.templates((*path, index), item, scope)
