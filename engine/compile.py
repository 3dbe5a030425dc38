"""Validated data -> a compiled Rule, plus every semantic problem as a diagnostic.

Checks that the JSON Schema cannot express live here: event names and activity types from
GitHub's catalogue, which filters an event can carry, pattern syntax, the node graph,
node inputs against their node type, and expressions. Each check reads the data
defensively, so a file with several mistakes yields one diagnostic per mistake.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from engine.checking import as_list
from engine.diagnostics import Diagnostic
from engine.exprcheck import ALL_CONTEXTS, Scope, check_condition, check_template
from engine.expressions import ExpressionError, has_expression, parse_condition, single_expression
from engine.model import (
    Concurrency,
    Node,
    Retry,
    Rule,
    Template,
    parse_duration,
)
from engine.registry import NodeType, Registry
from engine.schema import schema_diagnostics, suggest
from engine.source import Document, Path
from engine.triggers import TriggerChecker

_input_validators: dict[str, Draft202012Validator] = {}


def compile_document(
    doc: Document, registry: Registry, validator: Draft202012Validator
) -> tuple[Rule | None, list[Diagnostic]]:
    """Check a parsed rule file; return the compiled Rule when it has no problems."""
    if doc.data is None:
        return None, list(doc.diagnostics)
    checker = _Checker(doc, registry)
    checker.diagnostics.extend(doc.diagnostics)
    checker.diagnostics.extend(
        schema_diagnostics(
            validator.iter_errors(doc.data), file=doc.path, source_map=doc.source_map
        )
    )
    rule = checker.run()
    if checker.diagnostics:
        return None, checker.diagnostics
    return rule, []


class _Checker(TriggerChecker):
    def __init__(self, doc: Document, registry: Registry) -> None:
        super().__init__(doc)
        self.registry = registry

    def run(self) -> Rule | None:
        data = self.data
        on, variables, nodes_data = (_mapping(data.get(k)) for k in ("on", "vars", "nodes"))
        triggers = self.trigger(on) if isinstance(data.get("on"), dict) else []
        var_names = frozenset(variables)
        self.rule_level_expressions(var_names)
        needs, order = self.graph(nodes_data, var_names)
        if self.diagnostics:
            return None
        nodes = {nid: _build_node(nid, nodes_data[nid], needs[nid]) for nid in order}
        concurrency = None
        raw = data.get("concurrency")
        if isinstance(raw, str):
            concurrency = Concurrency(_template_or_text(raw))
        elif isinstance(raw, dict):
            cancel = raw.get("cancel-in-progress", False)
            concurrency = Concurrency(
                _template_or_text(raw["group"]),
                _template_or_text(cancel) if isinstance(cancel, str) else bool(cancel),
            )
        return Rule(
            name=data["name"],
            file=self.doc.path,
            description=data.get("description", ""),
            triggers=tuple(triggers),
            nodes=nodes,
            order=tuple(order),
            vars={k: _templated(v) for k, v in variables.items()},
            concurrency=concurrency,
            timeout=parse_duration(data["timeout"]) if "timeout" in data else None,
        )

    def rule_level_expressions(self, var_names: frozenset[str]) -> None:
        base = Scope(
            "", frozenset({"event", "github", "rule"}), var_names, frozenset(), frozenset(), {}
        )
        variables = self.data.get("vars")
        if isinstance(variables, dict):
            scope = _replace_where(base, "vars")
            for key, value in variables.items():
                self.templates(("vars", key), value, scope)
        scope = _replace_where(base, "concurrency", contexts=base.contexts | {"vars"})
        self.templates(("concurrency",), self.data.get("concurrency"), scope)

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

    # --- triggers --------------------------------------------------------------------
    def graph(
        self, data: dict[str, Any], var_names: frozenset[str]
    ) -> tuple[dict[str, list[str]], list[str]]:
        ids = [k for k, v in data.items() if isinstance(v, dict)]
        needs: dict[str, list[str]] = {}
        for node_id in ids:
            raw = data[node_id].get("needs")
            listed = as_list(raw) or []
            needs[node_id] = []
            for i, need in enumerate(listed):
                if not isinstance(need, str):
                    continue
                path = (
                    ("nodes", node_id, "needs")
                    if isinstance(raw, str)
                    else ("nodes", node_id, "needs", i)
                )
                if need not in data:
                    self.at_value(
                        path,
                        "unknown-needs",
                        f'node "{node_id}" needs unknown node "{need}"{suggest(need, ids)}',
                    )
                elif need == node_id:
                    self.at_value(path, "graph-cycle", f'node "{node_id}" needs itself')
                else:
                    needs[node_id].append(need)
        order = self.cycles(ids, needs)
        ancestors = _ancestors(ids, needs)
        types = {nid: self.node_type(nid, data[nid]) for nid in ids}
        outputs = {
            nid: (t.output_names(data[nid].get("with")) if t else None) for nid, t in types.items()
        }
        for node_id in ids:
            spec = data[node_id]
            scope = Scope(
                where=f'node "{node_id}"',
                contexts=ALL_CONTEXTS,
                variables=var_names,
                nodes=frozenset(ids),
                upstream=ancestors[node_id],
                outputs=outputs,
            )
            node_type = types[node_id]
            if node_type is not None and isinstance(spec.get("with", {}), dict):
                self.inputs(node_id, node_type, spec.get("with") or {})
            self.templates(("nodes", node_id, "with"), spec.get("with"), scope)
            condition = spec.get("if")
            if isinstance(condition, str):
                if_scope = _replace_where(scope, scope.where, allow_status=True)
                if_path = ("nodes", node_id, "if")

                def report(check: str, message: str, offset: int, path: Path = if_path) -> None:
                    self.in_string(path, offset, check, message)

                check_condition(condition, if_scope, report)
            coe = spec.get("continue-on-error")
            if isinstance(coe, str):
                self.templates(("nodes", node_id, "continue-on-error"), coe, scope)
        return needs, order

    def node_type(self, node_id: str, spec: dict[str, Any]) -> NodeType | None:
        uses = spec.get("uses")
        if not isinstance(uses, str):
            return None
        found = self.registry.get(uses)
        if found is None:
            self.at_value(
                ("nodes", node_id, "uses"),
                "unknown-node-type",
                f'unknown node type "{uses}"{suggest(uses, self.registry.names())}',
            )
        return found

    def inputs(self, node_id: str, node_type: NodeType, with_: dict[str, Any]) -> None:
        validator = _input_validators.get(node_type.name)
        if validator is None:
            validator = Draft202012Validator(json.loads(json.dumps(node_type.inputs)))
            _input_validators[node_type.name] = validator
        errors = [
            e
            for e in validator.iter_errors(with_)
            if not _under_expression(with_, list(e.absolute_path))
        ]
        if errors:
            self.diagnostics.extend(
                schema_diagnostics(
                    errors,
                    file=self.doc.path,
                    source_map=self.doc.source_map,
                    base=("nodes", node_id, "with"),
                    subject=f'node "{node_id}" ({node_type.name})',
                )
            )

    def cycles(self, ids: list[str], needs: dict[str, list[str]]) -> list[str]:
        """Report each cycle once; return a topological order of the acyclic part."""
        state: dict[str, int] = {}
        order: list[str] = []
        reported: set[frozenset[str]] = set()

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            stack.append(node)
            for need in needs[node]:
                if state.get(need) == 1:
                    cycle = stack[stack.index(need) :]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        start = min(cycle)
                        i = cycle.index(start)
                        ring = cycle[i:] + cycle[:i]
                        # needs point backwards, so the run order is the reverse
                        ring = [ring[0], *reversed(ring[1:])]
                        self.at_key(
                            ("nodes", start),
                            "graph-cycle",
                            "nodes form a cycle: " + " -> ".join([*ring, ring[0]]),
                        )
                elif state.get(need) is None:
                    visit(need, stack)
            stack.pop()
            state[node] = 2
            order.append(node)

        for node_id in ids:
            if node_id not in state:
                visit(node_id, [])
        return order


def _ancestors(ids: list[str], needs: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    result: dict[str, frozenset[str]] = {}
    for node_id in ids:
        seen: set[str] = set()
        stack = list(needs[node_id])
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(needs.get(current, []))
        seen.discard(node_id)
        result[node_id] = frozenset(seen)
    return result


def _build_node(node_id: str, spec: dict[str, Any], needs: list[str]) -> Node:
    retry = spec.get("retry") or {}
    condition = spec.get("if")
    condition_expr = None
    condition_source = "success()"
    if isinstance(condition, bool):
        condition_source = "true" if condition else "false"
        condition_expr = parse_condition(condition_source)
    elif isinstance(condition, str):
        condition_source = condition
        try:
            condition_expr = parse_condition(condition)
        except ExpressionError:
            condition_expr = None
    coe = spec.get("continue-on-error", False)
    return Node(
        id=node_id,
        uses=spec.get("uses", ""),
        with_=_templated(spec.get("with") or {}),
        needs=tuple(needs),
        condition=condition_expr,
        condition_source=condition_source,
        retry=Retry(
            attempts=int(retry.get("attempts", 1)),
            delay=parse_duration(retry["delay"]) if "delay" in retry else 1.0,
            backoff=float(retry.get("backoff", 2.0)),
        ),
        timeout=parse_duration(spec["timeout"]) if isinstance(spec.get("timeout"), str) else None,
        continue_on_error=_template_or_text(coe) if isinstance(coe, str) else bool(coe),
    )


def _templated(value: Any) -> Any:
    """Replace each string that holds `${{ }}` by its parsed Template."""
    if isinstance(value, str):
        return _template_or_text(value)
    if isinstance(value, dict):
        return {k: _templated(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_templated(v) for v in value]
    return value


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _template_or_text(text: str) -> Template | str:
    if not has_expression(text):
        return text
    try:
        return Template.from_text(text)
    except ExpressionError:
        return text


def _under_expression(value: Any, path: list[Any]) -> bool:
    """Whether `path` in `value` is, or lies under, a value written as one expression."""
    current = value
    for part in [None, *path]:
        if part is not None:
            try:
                current = current[part]
            except (KeyError, IndexError, TypeError):
                return False
        if isinstance(current, str) and has_expression(current):
            try:
                if single_expression(current) is not None:
                    return True
            except ExpressionError:
                return False
    return False


def _replace_where(
    scope: Scope, where: str, *, contexts: frozenset[str] | None = None, allow_status: bool = False
) -> Scope:
    return Scope(
        where=where,
        contexts=contexts if contexts is not None else scope.contexts,
        variables=scope.variables,
        nodes=scope.nodes,
        upstream=scope.upstream,
        outputs=scope.outputs,
        allow_status_functions=allow_status,
    )
