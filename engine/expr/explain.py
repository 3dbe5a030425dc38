"""Why a condition came out as it did: the value of each property it read, so a false `if:`
says `event.pull_request.author_association is 'OWNER'`, not only that it was false."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from engine.expr.evaluate import EvaluationError, evaluate
from engine.expr.tree import Binary, Call, Context, Expr, Index, Literal, Not, Property, Star

STRUCTURE_LIMIT = 300  # characters of a list or mapping shown
STRING_LIMIT = 2000  # a title, a login or a branch is shown whole; a 60 KB body is not


def read_values(expr: Expr, contexts: Mapping[str, Any]) -> list[str]:
    """`<property> is <value>` for each property the expression reads, once each, in order."""
    shown: dict[str, str] = {}
    for node in _reads(expr):
        text = _text(node)
        if text in shown:
            continue
        try:
            shown[text] = show_value(evaluate(node, contexts))
        except EvaluationError:
            continue
    return [f"{text} is {value}" for text, value in shown.items()]


def show_value(value: Any) -> str:
    """A value as an expression would write it: 'text', null, true, 3, or JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, str):
        text = value if len(value) <= STRING_LIMIT else value[: STRING_LIMIT - 1] + "…"
        return "'" + text.replace("'", "''") + "'"
    text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= STRUCTURE_LIMIT else text[: STRUCTURE_LIMIT - 1] + "…"


def _reads(expr: Expr) -> Iterator[Expr]:
    """Each maximal property chain rooted at a context (`event.a.b`, `nodes.x.outputs['y']`)."""
    if isinstance(expr, Property | Index | Star):
        root: Expr = expr
        while isinstance(root, Property | Index | Star):
            if isinstance(root, Index):
                yield from _reads(root.index)
            root = root.target
        if isinstance(root, Context):
            yield expr
        else:
            yield from _reads(root)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from _reads(arg)
    elif isinstance(expr, Not):
        yield from _reads(expr.operand)
    elif isinstance(expr, Binary):
        yield from _reads(expr.left)
        yield from _reads(expr.right)


def _text(expr: Expr) -> str:
    if isinstance(expr, Context):
        return expr.name
    if isinstance(expr, Property):
        return f"{_text(expr.target)}.{expr.name}"
    if isinstance(expr, Star):
        return f"{_text(expr.target)}.*"
    if isinstance(expr, Index):
        index = expr.index
        shown = (
            show_value(index.value) if isinstance(index, Literal) else f"{_text(index)}"
            if isinstance(index, Context | Property | Index | Star) else "…"
        )
        return f"{_text(expr.target)}[{shown}]"
    return "…"
