"""Static checks of `${{ }}` expressions: syntax, functions, contexts and node references.

An expression may only read nodes that finish before its own node starts (its transitive
`needs`), outputs that the node type declares, variables the rule declares, and the
properties of the `github` context that hookwise fills in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from engine.expr.parse import ExpressionError, parse_condition, split_template
from engine.expr.regex import RegexError, compile_regex
from engine.expr.tree import (
    FUNCTION_NAMES,
    FUNCTIONS,
    STATUS_FUNCTIONS,
    Binary,
    Call,
    Context,
    Expr,
    Index,
    Literal,
    Not,
    Property,
    Star,
    walk,
)
from engine.expr.windows import WindowError, parse_window, span_seconds, zone_of
from engine.text import suggest

# The `github` context (docs/design.md §2.3), plus GitHub Actions' names users reach for.
GITHUB_PROPERTIES = frozenset(
    {
        "event",
        "event_name",
        "action",
        "delivery",
        "installation",
        "repository",
        "owner",
        "repo",
        "ref",
        "sha",
        "sender",
        "actor",
        "number",
        "base_ref",
        "head_ref",
        "ref_name",
        "ref_type",
        "repository_owner",
    }
)
RULE_PROPERTIES = frozenset({"name", "description", "file"})
NODE_PROPERTIES = frozenset({"outputs", "status"})
ALL_CONTEXTS = frozenset({"event", "github", "vars", "rule", "nodes"})
# a `for-each` node's inputs also read the current item
LOOP_CONTEXT = "item"
# a command rule's expressions also read the command (engine.match.commands)
COMMAND_CONTEXT = "command"
COMMAND_PROPERTIES = frozenset({"name", "args", "actor", "line", "text", "comment", "error"})

# problem sink: (check, message, offset into the string)
Report = Callable[[str, str, int], None]


@dataclass(frozen=True)
class Scope:
    """What an expression at one place in a rule may read."""

    where: str  # e.g. 'node "label"' or "concurrency.group", for messages
    contexts: frozenset[str]
    variables: frozenset[str]
    nodes: frozenset[str]  # every node id of the rule
    upstream: frozenset[str]  # the nodes that finish before this place
    outputs: dict[str, tuple[str, ...] | None]  # node id -> declared outputs (None: unknown)
    allow_status_functions: bool = False
    # checks a read of the payload, `event.<names>` (and whether the expression looks at
    # github.event_name): a warning, or None. The rule language supplies GitHub's payloads.
    event_reads: Callable[[list[str | None], bool], str | None] | None = None

    def at(
        self, where: str, *, contexts: frozenset[str] | None = None, allow_status: bool = False
    ) -> Scope:
        """The same scope at another place (other contexts, or with status functions)."""
        return replace(
            self,
            where=where,
            contexts=self.contexts if contexts is None else contexts,
            allow_status_functions=allow_status,
        )


def check_template(text: str, scope: Scope, report: Report) -> None:
    """Check every `${{ }}` in a string."""
    try:
        segments = split_template(text)
    except ExpressionError as exc:
        report("bad-expression", f"invalid expression: {exc.message}", exc.offset)
        return
    for segment in segments:
        if segment.expr is not None:
            check_expression(segment.expr, scope, report, segment.offset + 3)


def check_condition(text: str, scope: Scope, report: Report) -> None:
    """Check an `if:` value (with or without `${{ }}`)."""
    try:
        expr = parse_condition(text)
    except ExpressionError as exc:
        base = text.find("${{") + 3 if "${{" in text and exc.offset == 0 else 0
        report("bad-expression", f"invalid expression: {exc.message}", base + exc.offset)
        return
    base = text.find("${{") + 3 if "${{" in text else 0
    check_expression(expr, scope, report, base)


def check_expression(expr: Expr, scope: Scope, report: Report, base: int) -> None:
    """Check one parsed expression; `base` is its offset in the string, for positions."""
    for node in walk(expr):
        if isinstance(node, Call):
            _check_call(node, scope, report, base)
    chains = list(_chains(expr))
    guarded = any(
        c.name.lower() == "github" and n and (n[0] or "").lower() == "event_name"
        for c, n, _ in chains
    )
    for context, names, pos in chains:

        def at_chain(check: str, message: str, _offset: int, start: int = base + pos) -> None:
            report(check, message, start)

        _check_access(context, names, scope, at_chain, guarded=guarded)


def _check_call(call: Call, scope: Scope, report: Report, base: int) -> None:
    if call.name not in FUNCTIONS:
        report(
            "unknown-function",
            f'unknown function "{call.name}"{suggest(call.name, FUNCTION_NAMES.values())}',
            base + call.pos,
        )
        return
    shown = FUNCTION_NAMES[call.name]
    low, high = FUNCTIONS[call.name]
    count = len(call.args)
    if count < low or (high is not None and count > high):
        wanted = (
            str(low) if low == high else f"{low} or more" if high is None else f"{low} to {high}"
        )
        report(
            "bad-expression",
            f"{shown}() takes {wanted} argument{'s' if wanted != '1' else ''}, got {count}",
            base + call.pos,
        )
    if call.name in STATUS_FUNCTIONS and not scope.allow_status_functions:
        report("bad-expression", f"{shown}() can only be used in a node's if", base + call.pos)
    if call.name == "matches" and count == 2:
        _check_regex(call.args[1], report, base)
    if call.name == "within" and count >= 1:
        _check_window(call.args, report, base)
    if call.name == "ago" and count == 1:
        span = call.args[0]
        if isinstance(span, Literal) and isinstance(span.value, str) and span_seconds(span.value) is None:
            report("bad-window", f"ago: {span.value!r} is not a span such as 30d, 12h, 2w or 90m",
                   base + span.pos)


def _check_regex(pattern: Expr, report: Report, base: int) -> None:
    """A literal pattern is compiled now, so a typo is reported at its column, not at run time."""
    if not isinstance(pattern, Literal):
        return
    if not isinstance(pattern.value, str):
        report("bad-regex", "matches() takes its pattern as a string", base + pattern.pos)
        return
    try:
        compile_regex(pattern.value)
    except RegexError as exc:
        shown = pattern.value if len(pattern.value) <= 60 else pattern.value[:59] + "…"
        report(
            "bad-regex",
            f"invalid regular expression '{shown}' (RE2 syntax): {exc}",
            base + pattern.pos,
        )


def _check_window(args: Sequence[Expr], report: Report, base: int) -> None:
    """A literal window and zone are read now, so a typo is reported at its column."""
    for index, arg in enumerate(args[:2]):
        if not isinstance(arg, Literal) or not isinstance(arg.value, str):
            continue
        try:
            if index == 0:
                parse_window(arg.value)
            else:
                zone_of(arg.value)
        except WindowError as exc:
            report("bad-window", str(exc), base + arg.pos)


def _check_access(
    context: Context, names: list[str | None], scope: Scope, report: Report, *, guarded: bool
) -> None:
    root = context.name.lower()
    if root not in scope.contexts:
        if root == COMMAND_CONTEXT:
            report("unknown-context", '"command" is read only in a rule with `on: command`', 0)
        elif root == LOOP_CONTEXT:
            report(
                "unknown-context",
                f'"item" is read only in the `with:` of a node that has `for-each:` ({scope.where})',
                0,
            )
        elif root in ALL_CONTEXTS:
            report("unknown-context", f'context "{root}" is not available in {scope.where}', 0)
        else:
            choices = sorted(scope.contexts)
            report(
                "unknown-context", f'unknown context "{context.name}"{suggest(root, choices)}', 0
            )
        return
    first = names[0] if names else None
    if root == "github" and first is not None:
        _check_github(first, names, report)
    elif root == "vars" and first is not None and first not in scope.variables:
        declared = sorted(scope.variables)
        hint = suggest(first, declared) if declared else "; the rule declares no vars"
        report("unknown-context", f'unknown variable "vars.{first}"{hint}', 0)
    elif root == "rule" and first is not None and first.lower() not in RULE_PROPERTIES:
        report(
            "unknown-context",
            f'unknown property "rule.{first}"{suggest(first, RULE_PROPERTIES)}',
            0,
        )
    elif root == COMMAND_CONTEXT and first is not None and first.lower() not in COMMAND_PROPERTIES:
        message = f'unknown property "command.{first}"{suggest(first, COMMAND_PROPERTIES)}'
        report("unknown-context", message, 0)
    elif root == "nodes" and first is not None:
        _check_node_reference(first, names[1:], scope, report)
    elif root == "event" and names and scope.event_reads is not None:
        warning = scope.event_reads(names, guarded)
        if warning is not None:
            report("payload-property", warning, 0)


def _check_github(first: str, names: list[str | None], report: Report) -> None:
    lowered = first.lower()
    if lowered not in GITHUB_PROPERTIES:
        message = f'unknown property "github.{first}"{suggest(lowered, GITHUB_PROPERTIES)}'
        report("unknown-context", message, 0)
    elif lowered == "event" and len(names) > 1:
        report(
            "unknown-context",
            "github.event is the event name; read the payload from the event context "
            f"(event.{names[1] or '...'})",
            0,
        )


def _check_node_reference(
    node_id: str, rest: list[str | None], scope: Scope, report: Report
) -> None:
    if node_id not in scope.nodes:
        report("unknown-node", f'unknown node "{node_id}"{suggest(node_id, scope.nodes)}', 0)
        return
    if node_id not in scope.upstream:
        report(
            "not-upstream",
            f"{scope.where} reads nodes.{node_id}, which does not run before it; "
            f'add "{node_id}" to its needs',
            0,
        )
        return
    if not rest or rest[0] is None:
        return
    prop = rest[0]
    if prop not in NODE_PROPERTIES:
        report(
            "unknown-output",
            f'unknown property "nodes.{node_id}.{prop}"{suggest(prop, NODE_PROPERTIES)}',
            0,
        )
        return
    declared = scope.outputs.get(node_id)
    if prop == "outputs" and len(rest) > 1 and rest[1] is not None and declared is not None:
        name = rest[1]
        if name not in declared:
            hint = suggest(name, declared) if declared else "; it has no outputs"
            report("unknown-output", f'node "{node_id}" has no output "{name}"{hint}', 0)


def _chains(expr: Expr) -> Iterator[tuple[Context, list[str | None], int]]:
    """Each maximal property chain `ctx.a['b'].c` with its root context and names."""
    if isinstance(expr, Context):
        yield expr, [], expr.pos
    elif isinstance(expr, Property | Index | Star):
        names: list[str | None] = []
        node: Expr = expr
        while isinstance(node, Property | Index | Star):
            if isinstance(node, Property):
                names.append(node.name)
            elif isinstance(node, Index):
                index = node.index
                names.append(
                    index.value
                    if isinstance(index, Literal) and isinstance(index.value, str)
                    else None
                )
                yield from _chains(index)
            else:
                names.append(None)
            node = node.target
        if isinstance(node, Context):
            yield node, names[::-1], node.pos
        else:
            yield from _chains(node)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from _chains(arg)
    elif isinstance(expr, Not):
        yield from _chains(expr.operand)
    elif isinstance(expr, Binary):
        yield from _chains(expr.left)
        yield from _chains(expr.right)
