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

from engine import catalogue
from engine.diagnostics import Diagnostic
from engine.expressions import ExpressionError, has_expression, parse_condition, single_expression
from engine.exprcheck import ALL_CONTEXTS, Scope, check_condition, check_template
from engine.model import (
    Concurrency,
    EventTrigger,
    LabelFilter,
    Node,
    PeopleFilter,
    Retry,
    Rule,
    Template,
    parse_duration,
)
from engine.patterns import (
    PatternError,
    PatternList,
    compile_filter_pattern,
    compile_name_pattern,
)
from engine.registry import NodeType, Registry
from engine.schema import schema_diagnostics, suggest
from engine.source import Document, Path, Position

_FILTER_PATTERN_KEYS = {"branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"}
_INCLUDE_KEYS = {"branches", "tags", "paths", "repository"}
_SUB_LISTS = {"labels": ("any", "all", "none", "added"), "authors": ("include", "exclude"), "actors": ("include", "exclude")}
_SUB_INCLUDE = {("labels", "any"), ("labels", "all"), ("labels", "added"), ("authors", "include"), ("actors", "include")}
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
        schema_diagnostics(validator.iter_errors(doc.data), file=doc.path, source_map=doc.source_map)
    )
    rule = checker.run()
    if checker.diagnostics:
        return None, checker.diagnostics
    return rule, []


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return None


class _Checker:
    def __init__(self, doc: Document, registry: Registry) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.registry = registry
        self.diagnostics: list[Diagnostic] = []
        self._compiled: dict[Path, PatternList | None] = {}

    # --- reporting -------------------------------------------------------------------

    def at(self, pos: Position, check: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.doc.path, pos.line, pos.column, check, message))

    def at_value(self, path: Path, check: str, message: str) -> None:
        self.at(self.doc.source_map.value(path), check, message)

    def at_key(self, path: Path, check: str, message: str) -> None:
        self.at(self.doc.source_map.key(path), check, message)

    def in_string(self, path: Path, offset: int, check: str, message: str) -> None:
        """Report at `offset` characters into the string value at `path`."""
        smap = self.doc.source_map
        start = smap.value(path)
        style = smap.styles.get(path)
        value = _get(self.data, path)
        text = value if isinstance(value, str) else ""
        before = text[:offset]
        if style in ("|", ">"):
            line = start.line + 1 + before.count("\n")
            lines = self.doc.lines
            raw = lines[line - 1] if 0 < line <= len(lines) else ""
            indent = len(raw) - len(raw.lstrip(" "))
            column = indent + len(before.rsplit("\n", 1)[-1]) + 1
            self.at(Position(line, column), check, message)
        elif "\n" in before:
            self.at(start, check, message)
        else:
            shift = 1 if style in ("'", '"') else 0
            self.at(Position(start.line, start.column + shift + offset), check, message)

    # --- the rule --------------------------------------------------------------------

    def run(self) -> Rule | None:
        data = self.data
        triggers = self.trigger(data.get("on")) if isinstance(data.get("on"), dict) else ()
        variables = data.get("vars") if isinstance(data.get("vars"), dict) else {}
        var_names = frozenset(variables)
        self.rule_level_expressions(var_names)
        nodes_data = data.get("nodes") if isinstance(data.get("nodes"), dict) else {}
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
        base = Scope("", frozenset({"event", "github", "rule"}), var_names, frozenset(), frozenset(), {})
        variables = self.data.get("vars")
        if isinstance(variables, dict):
            scope = _replace_where(base, "vars")
            for key, value in variables.items():
                self.templates(("vars", key), value, scope)
        concurrency = self.data.get("concurrency")
        scope = _replace_where(base, "concurrency", contexts=base.contexts | {"vars"})
        if isinstance(concurrency, str):
            self.templates(("concurrency",), concurrency, scope)
        elif isinstance(concurrency, dict):
            self.templates(("concurrency",), concurrency, scope)

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

    def trigger(self, on: dict[str, Any]) -> list[EventTrigger]:
        top = {k: on[k] for k in catalogue.FILTER_KEYS if k in on}
        self.exclusive(top, ("on",))
        top_compiled = {k: self.filter_value(k, v, ("on", k)) for k, v in top.items()}
        events = on.get("events")
        names: list[tuple[str, Path, dict[str, Any]]] = []
        if isinstance(events, list):
            for i, name in enumerate(events):
                if isinstance(name, str):
                    names.append((name, ("on", "events", i), {}))
        elif isinstance(events, dict):
            for name, filters in events.items():
                names.append((name, ("on", "events", name), filters if isinstance(filters, dict) else {}))
        known = [(n, p, f) for n, p, f in names if self.known_event(n, p)]
        self.top_level_applicability(top, [n for n, _, _ in known] if events is not None else None)
        if events is None:
            return [self.event_trigger(None, top_compiled, {})]
        result = []
        for name, path, filters in known:
            self.exclusive(filters, path)
            own = {k: self.filter_value(k, v, (*path, k)) for k, v in filters.items()}
            for key in filters:
                allowed = catalogue.events_for_filter(key)
                if allowed is not None and name not in allowed:
                    self.at_key(
                        (*path, key),
                        "filter-not-allowed",
                        f'"{key}" does not apply to event "{name}"; it applies to '
                        + ", ".join(sorted(allowed)),
                    )
            for key in top:
                if key not in filters:
                    own.setdefault(key, top_compiled[key])
            self.check_types(name, filters.get("types"), (*path, "types"))
            result.append(self.event_trigger(name, own, filters))
        if "types" in top and events is not None:
            self.check_top_types(top["types"], [n for n, _, _ in known])
        return result

    def known_event(self, name: str, path: Path) -> bool:
        if name in catalogue.webhook_events():
            return True
        pos = self.doc.source_map.key(path) if path[-1] == name else self.doc.source_map.value(path)
        hint = suggest(name, catalogue.event_names())
        if name == "pull_request_target":
            hint = '; hookwise receives webhooks, so use "pull_request"'
        self.at(pos, "unknown-event", f'unknown event "{name}"{hint}')
        return False

    def top_level_applicability(self, top: dict[str, Any], events: list[str] | None) -> None:
        if events is None or not events:
            return
        for key in top:
            allowed = catalogue.events_for_filter(key)
            if allowed is not None and not any(e in allowed for e in events):
                self.at_key(
                    ("on", key),
                    "filter-not-allowed",
                    f'"{key}" does not apply to any of the events ({", ".join(events)}); '
                    f"it applies to {', '.join(sorted(allowed))}",
                )

    def exclusive(self, filters: dict[str, Any], path: Path) -> None:
        for include, ignore in catalogue.EXCLUSIVE_PAIRS:
            if include in filters and ignore in filters:
                self.at_key(
                    (*path, ignore),
                    "conflicting-filters",
                    f'"{include}" and "{ignore}" cannot be used together for the same event; '
                    f'use "!" patterns in "{include}" instead',
                )

    def check_types(self, event: str, value: Any, path: Path) -> None:
        types = _as_list(value)
        if types is None:
            return
        actions = catalogue.actions_of(event)
        if not actions:
            self.at_key(path, "unknown-activity-type", f'event "{event}" has no activity types; remove "types"')
            return
        for i, action in enumerate(types):
            if isinstance(action, str) and action not in actions:
                item = path if isinstance(value, str) else (*path, i)
                self.at_value(
                    item,
                    "unknown-activity-type",
                    f'unknown activity type "{action}" for event "{event}"{suggest(action, actions)}',
                )

    def check_top_types(self, value: Any, events: list[str]) -> None:
        union = sorted({a for e in events for a in catalogue.actions_of(e)})
        for i, action in enumerate(_as_list(value) or []):
            if isinstance(action, str) and action not in union:
                item = ("on", "types") if isinstance(value, str) else ("on", "types", i)
                self.at_value(
                    item,
                    "unknown-activity-type",
                    f'activity type "{action}" belongs to none of the events{suggest(action, union)}',
                )

    def filter_value(self, key: str, value: Any, path: Path) -> Any:
        """Compile one filter's patterns (reporting problems); return the compiled form."""
        if key in _SUB_LISTS:
            if not isinstance(value, dict):
                return None
            parts = {
                sub: self.patterns(key, sub, value[sub], (*path, sub))
                for sub in _SUB_LISTS[key]
                if sub in value
            }
            return LabelFilter(**parts) if key == "labels" else PeopleFilter(**parts)
        if key in ("types", "ignore-bots"):
            return value
        return self.patterns(key, None, value, path)

    def patterns(self, key: str, sub: str | None, value: Any, path: Path) -> PatternList | None:
        items = _as_list(value)
        if items is None or not all(isinstance(i, str) for i in items):
            return None
        compiled = []
        ok = True
        for i, text in enumerate(items):
            item_path = path if isinstance(value, str) else (*path, i)
            try:
                if key in _FILTER_PATTERN_KEYS:
                    compiled.append(compile_filter_pattern(text))
                else:
                    compiled.append(compile_name_pattern(text, crosses_slash=key != "repository"))
            except PatternError as exc:
                ok = False
                self.at_value(item_path, "bad-pattern", f'invalid pattern "{text}": {exc}')
        if not ok:
            return None
        result = PatternList(tuple(compiled))
        include = key in _INCLUDE_KEYS or (key, sub) in _SUB_INCLUDE
        if include and result.only_negations:
            name = f"{key}.{sub}" if sub else key
            self.at_value(
                path,
                "negation-only",
                f'"{name}" holds only "!" patterns, so it selects nothing; '
                "add a positive pattern before them (e.g. '**')",
            )
        return result

    def event_trigger(self, event: str | None, filters: dict[str, Any], raw: dict[str, Any]) -> EventTrigger:
        types = _as_list(filters.get("types"))
        ignore_bots = filters.get("ignore-bots", True)
        return EventTrigger(
            event=event,
            types=frozenset(t for t in types if isinstance(t, str)) if types is not None else None,
            repository=filters.get("repository"),
            branches=filters.get("branches"),
            branches_ignore=filters.get("branches-ignore"),
            tags=filters.get("tags"),
            tags_ignore=filters.get("tags-ignore"),
            paths=filters.get("paths"),
            paths_ignore=filters.get("paths-ignore"),
            labels=filters.get("labels"),
            authors=filters.get("authors"),
            actors=filters.get("actors"),
            ignore_bots=ignore_bots if isinstance(ignore_bots, bool) else True,
        )

    # --- the graph -------------------------------------------------------------------

    def graph(
        self, data: dict[str, Any], var_names: frozenset[str]
    ) -> tuple[dict[str, list[str]], list[str]]:
        ids = [k for k, v in data.items() if isinstance(v, dict)]
        needs: dict[str, list[str]] = {}
        for node_id in ids:
            raw = data[node_id].get("needs")
            listed = _as_list(raw) or []
            needs[node_id] = []
            for i, need in enumerate(listed):
                if not isinstance(need, str):
                    continue
                path = ("nodes", node_id, "needs") if isinstance(raw, str) else ("nodes", node_id, "needs", i)
                if need not in data:
                    self.at_value(path, "unknown-needs", f'node "{node_id}" needs unknown node "{need}"{suggest(need, ids)}')
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
                check_condition(condition, if_scope, lambda c, m, o, n=node_id: self.in_string(("nodes", n, "if"), o, c, m))
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
            e for e in validator.iter_errors(with_) if not _under_expression(with_, list(e.absolute_path))
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
                    cycle = stack[stack.index(need):]
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


def _get(data: Any, path: Path) -> Any:
    current = data
    for part in path:
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            return None
    return current


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
