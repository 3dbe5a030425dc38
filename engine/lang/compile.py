"""Validated data -> a compiled Rule, plus every semantic problem as a diagnostic.

The JSON Schema checks the shape; the checks/ modules check what a schema cannot express
(events and activity types from GitHub's catalogue, which filters an event can carry,
patterns, the node graph, node inputs against their type, expressions). Each check reads the
data defensively, so a file with several mistakes yields one diagnostic per mistake. Only a
file without errors compiles into a Rule; warnings do not stop it.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from jsonschema import Draft202012Validator

from engine.declarations.registry import Registry
from engine.expr.parse import ExpressionError, has_expression, parse_condition
from engine.expr.tree import Expr
from engine.lang.checks.commands import CommandChecker
from engine.lang.checks.expressions import ExpressionChecker
from engine.lang.checks.graph import GraphChecker, ancestors
from engine.lang.checks.nodes import NodeChecker
from engine.lang.checks.schedules import ScheduleChecker
from engine.lang.checks.triggers import TriggerChecker
from engine.lang.diagnostics import Diagnostic
from engine.lang.model import Concurrency, Node, Retry, Rule, Template, parse_duration
from engine.lang.schema_errors import schema_diagnostics
from engine.lang.source import Document


def compile_document(
    doc: Document, registry: Registry, validator: Draft202012Validator
) -> tuple[Rule | None, list[Diagnostic]]:
    """Check a parsed rule file: the compiled Rule (None when it has errors) and every problem."""
    if doc.data is None:
        return None, list(doc.diagnostics)
    doc = _short_forms(doc)
    reserved = _reserved_steps(doc)
    doc = _command_steps(doc) if not reserved else doc
    checker = _Checker(doc, registry)
    checker.diagnostics.extend(reserved)
    checker.diagnostics.extend(doc.diagnostics)
    checker.diagnostics.extend(
        schema_diagnostics(
            validator.iter_errors(doc.data), file=doc.path, source_map=doc.source_map
        )
    )
    rule = checker.run()
    return rule, _without_cascades(doc, checker.diagnostics)


# the keys of a node's own mapping: found as node ids, they lost their indentation
NODE_BODY_KEYS = frozenset(
    {"uses", "with", "needs", "if", "name", "description", "retry", "timeout", "continue-on-error",
     "for-each", "max-items"}
)


def _without_cascades(doc: Document, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One problem per mistake, not its cascade: a key under `events:` that is no event (a
    dedented `types:`) is reported as that, not also as an event of the wrong shape; a node
    whose body lost its indentation is one problem, not one per key of the body; a value whose
    YAML tag is refused is reported as that, not also as a value of the wrong type."""
    refused = {(d.line, d.column) for d in diagnostics if d.check == "yaml-tag"}
    diagnostics = [
        d for d in diagnostics if d.check == "yaml-tag" or (d.line, d.column) not in refused
    ]
    unknown = {
        found.group(1)
        for d in diagnostics
        if d.check == "unknown-event" and (found := re.match(r'unknown event "([^"]+)"', d.message))
    }
    kept = [
        d
        for d in diagnostics
        if not (d.check == "bad-type" and any(d.message.startswith(f'"on.events.{n}"') for n in unknown))
    ]
    kept = _without_reads_of_unknown_needs(doc, kept)
    for node, body in _dedented_nodes(doc.data.get("nodes") if isinstance(doc.data, dict) else None):
        quoted = tuple(f'"nodes.{k}' for k in (node, *body))
        kept = [d for d in kept if not any(q in d.message for q in quoted)]
        where = doc.source_map.key(("nodes", node))
        keys = ", ".join(f'"{k}"' for k in body)
        kept.append(
            Diagnostic(
                doc.path, where.line, where.column, "bad-type",
                f'node "{node}" is empty, and {keys} after it stand at its indentation: '
                f'indent {"them" if len(body) > 1 else "it"} under "{node}:"',
            )
        )
    return kept


def _without_reads_of_unknown_needs(doc: Document, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """A node that needs an unknown node and reads its outputs made one mistake: the `needs:`."""
    nodes = doc.data.get("nodes") if isinstance(doc.data, dict) else None
    if not isinstance(nodes, dict):
        return diagnostics
    starts = sorted((doc.source_map.key(("nodes", n)).line, str(n)) for n in nodes)
    spans = {
        name: (line, starts[i + 1][0] if i + 1 < len(starts) else 1 << 30)
        for i, (line, name) in enumerate(starts)
    }
    cut: list[tuple[str, tuple[int, int]]] = []
    for d in diagnostics:
        found = re.match(r'node "([^"]+)" needs unknown node "([^"]+)"', d.message)
        if d.check == "unknown-needs" and found and found.group(1) in spans:
            cut.append((found.group(2), spans[found.group(1)]))
    return [
        d
        for d in diagnostics
        if not (
            d.check == "unknown-node"
            and any(
                d.message.startswith(f'unknown node "{missing}"') and first <= d.line < end
                for missing, (first, end) in cut
            )
        )
    ]


def _dedented_nodes(nodes: Any) -> list[tuple[str, list[str]]]:
    """(empty node, the node-body keys right after it) for each node whose body is dedented."""
    if not isinstance(nodes, dict):
        return []
    found: list[tuple[str, list[str]]] = []
    keys = list(nodes)
    for index, key in enumerate(keys):
        if nodes[key] is not None or key in NODE_BODY_KEYS:
            continue
        body = []
        for following in keys[index + 1 :]:
            if following not in NODE_BODY_KEYS:
                break
            body.append(following)
        if body:
            found.append((key, body))
    return found


class _Checker(
    TriggerChecker, ScheduleChecker, CommandChecker, GraphChecker, NodeChecker, ExpressionChecker
):
    def __init__(self, doc: Document, registry: Registry) -> None:
        super().__init__(doc)
        self.registry = registry

    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def run(self) -> Rule | None:
        data = self.data
        on, variables, nodes_data = (_mapping(data.get(k)) for k in ("on", "vars", "nodes"))
        scheduled = isinstance(on.get("schedule"), list)
        webhooks = isinstance(data.get("on"), dict) and (not scheduled or "events" in on)
        command = self.command(on) if "command" in on else None
        if "command" in on and "events" in on:
            self.at_key(("on", "events"), "bad-command",
                        "a command rule reads comments (issue, pull request and review comments); "
                        "it takes no `events:`")
        triggers = self.trigger(self.command_events(on) if "command" in on else on) if webhooks else []
        repository = self.filter_value("repository", on["repository"], ("on", "repository")) if (
            scheduled and "repository" in on and not webhooks) else (
            triggers[0].repository if triggers else None)
        schedules = self.schedules(on, repository) if scheduled else ()
        if triggers and all(t.event is not None for t in triggers):
            self.rule_events = tuple(dict.fromkeys(t.event for t in triggers if t.event))
        var_names = frozenset(variables)
        self.rule_level_expressions(var_names)
        ids = [k for k, v in nodes_data.items() if isinstance(v, dict)]
        needs = self.needs(nodes_data)
        order = self.cycles(ids, needs)
        upstream = ancestors(ids, needs)
        types = {nid: self.node_type(nid, nodes_data[nid]) for nid in ids}
        outputs = {
            nid: (t.output_names(nodes_data[nid].get("with")) if t else None)
            for nid, t in types.items()
        }
        for node_id in ids:
            spec = nodes_data[node_id]
            node_type = types[node_id]
            if node_type is not None and isinstance(spec.get("with", {}), dict):
                self.inputs(node_id, node_type, spec.get("with") or {})
            self.node_expressions(
                node_id,
                spec,
                var_names=var_names,
                ids=frozenset(ids),
                upstream=upstream[node_id],
                outputs=outputs,
            )
        if self.has_errors():
            return None
        condition, condition_source = _rule_condition(data.get("if"))
        nodes = {
            nid: _build_node(nid, nodes_data[nid], needs[nid], upstream[nid]) for nid in order
        }
        return Rule(
            name=data["name"],
            file=self.doc.path,
            description=data.get("description", ""),
            triggers=tuple(triggers),
            nodes=nodes,
            order=tuple(order),
            vars={k: _templated(v) for k, v in variables.items()},
            concurrency=_concurrency(data.get("concurrency")),
            timeout=parse_duration(data["timeout"]) if "timeout" in data else None,
            condition=condition,
            condition_source=condition_source,
            disabled=data.get("disabled") is True,
            schedules=schedules,
            operations_per_run=data.get("operations-per-run"),
            command=command,
        )


def _rule_condition(raw: Any) -> tuple[Expr | None, str | None]:
    """The top-level `if:` parsed (it was checked, so it parses), with its source."""
    if isinstance(raw, bool):
        source = "true" if raw else "false"
        return parse_condition(source), source
    if isinstance(raw, str):
        return parse_condition(raw), raw
    return None, None


def _short_forms(doc: Document) -> Document:
    """GitHub Actions' `on: push` and `on: [push, pull_request]`: the same as
    `on: {events: [...]}` (the positions of the events are the ones written)."""
    on = doc.data.get("on") if isinstance(doc.data, dict) else None
    if not isinstance(on, str | list):
        return doc
    names = [on] if isinstance(on, str) else on
    smap = copy.copy(doc.source_map)
    smap.values = dict(smap.values)
    smap.keys = dict(smap.keys)
    smap.values[("on", "events")] = smap.value(("on",))
    smap.keys[("on", "events")] = smap.key(("on",))
    for index in range(len(names)):
        written = ("on",) if isinstance(on, str) else ("on", index)
        smap.values[("on", "events", index)] = smap.value(written)
        if written in smap.styles:
            smap.styles[("on", "events", index)] = smap.styles[written]
    data = {**doc.data, "on": {"events": list(names)}}
    return dataclasses.replace(doc, data=data, source_map=smap)


ACCEPT, DONE = "command_accept", "command_done"  # the steps hookwise adds to a command rule


def _reserved_steps(doc: Document) -> list[Diagnostic]:
    """The steps hookwise adds to command rules are its own: no rule writes a node with their
    ids or types (one that did could stand in for the permission check)."""
    nodes = doc.data.get("nodes") if isinstance(doc.data, dict) else None
    found = []
    for node_id, spec in (nodes or {}).items() if isinstance(nodes, dict) else ():
        uses = spec.get("uses") if isinstance(spec, dict) else None
        if node_id in (ACCEPT, DONE) or uses in ("command.accept", "command.done"):
            at = doc.source_map.key(("nodes", node_id))
            what = f'the id "{node_id}"' if node_id in (ACCEPT, DONE) else f'the type "{uses}"'
            found.append(Diagnostic(
                doc.path, at.line, at.column, "bad-command",
                f"{what} belongs to the steps hookwise adds around a slash command's nodes "
                "(the permission check and the reactions); a rule cannot write them",
            ))
    return found


def _command_steps(doc: Document) -> Document:
    """A command rule's own nodes run between two steps hookwise adds: `command_accept`
    (permission, words, eyes) before all of them, `command_done` (+1 or confused) after."""
    data = doc.data if isinstance(doc.data, dict) else {}
    on, nodes = data.get("on"), data.get("nodes")
    if not isinstance(on, dict) or not isinstance(on.get("command"), dict) or not isinstance(nodes, dict):
        return doc
    command = on["command"]
    permission = command.get("permission") if isinstance(command.get("permission"), str) else "write"
    where = {"comment_id": "${{ command.comment.id }}", "comment_kind": "${{ command.comment.kind }}"}
    steps: dict[str, Any] = {}
    for node_id, spec in nodes.items():
        if not isinstance(spec, dict):
            steps[node_id] = spec
            continue
        needs = spec.get("needs", [])
        needs = [needs] if isinstance(needs, str) else list(needs) if isinstance(needs, list) else needs
        steps[node_id] = {**spec, "needs": [*needs, ACCEPT]} if isinstance(needs, list) else spec
    users = [n for n, spec in nodes.items() if isinstance(spec, dict)]
    accept = {
        "uses": "command.accept",
        "with": {
            "command": "${{ command.name }}", "permission": permission,
            "actor": "${{ command.actor }}", "error": "${{ command.error }}", **where,
        },
    }
    done = {
        "uses": "command.done",
        "needs": [ACCEPT, *users],
        "if": "${{ always() }}",
        "with": {
            "accepted": f"${{{{ nodes.{ACCEPT}.status }}}}",
            "statuses": {n: f"${{{{ nodes.{n}.status }}}}" for n in users},
            **where,
        },
    }
    return dataclasses.replace(doc, data={**data, "nodes": {ACCEPT: accept, **steps, DONE: done}})


def _concurrency(raw: Any) -> Concurrency | None:
    if isinstance(raw, str):
        return Concurrency(_template_or_text(raw))
    if isinstance(raw, dict):
        cancel = raw.get("cancel-in-progress", False)
        return Concurrency(
            _template_or_text(raw["group"]),
            _template_or_text(cancel) if isinstance(cancel, str) else bool(cancel),
        )
    return None


def _build_node(
    node_id: str, spec: dict[str, Any], needs: list[str], upstream: frozenset[str]
) -> Node:
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
        upstream=upstream,
        condition=condition_expr,
        condition_source=condition_source,
        retry=Retry(
            attempts=int(retry.get("attempts", 1)),
            delay=parse_duration(retry["delay"]) if "delay" in retry else 1.0,
            backoff=float(retry.get("backoff", 2.0)),
        ),
        timeout=parse_duration(spec["timeout"]) if isinstance(spec.get("timeout"), str) else None,
        continue_on_error=_template_or_text(coe) if isinstance(coe, str) else bool(coe),
        for_each=_loop(spec.get("for-each")),
        max_items=int(spec.get("max-items", 100)),
    )


def _loop(raw: Any) -> Template | None:
    """A node's `for-each` (checked to be one expression), parsed."""
    found = _template_or_text(raw) if isinstance(raw, str) else None
    return found if isinstance(found, Template) else None


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
