"""Evaluating parsed `${{ }}` expressions with GitHub Actions' semantics. Pure.

https://docs.github.com/en/actions/reference/workflows-and-actions/expressions
Values are JSON-like: None, bool, float/int, str, list, dict. Property access only ever
looks keys up in dicts and indexes into lists, so no Python attribute is reachable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.expr.parse import split_template
from engine.expr.regex import RegexError, regex_search
from engine.expr.tree import (
    DECISION_TIME,
    Binary,
    Call,
    Context,
    Expr,
    Index,
    Literal,
    Not,
    Property,
    Segment,
    Star,
)
from engine.expr.windows import WindowError, ago, within

MAX_STRING = 1_000_000  # a value longer than this (format, join, toJSON) is an error


class EvaluationError(ValueError):
    """An expression failed at run time (bad fromJSON input, a huge value, ...)."""


@dataclass(frozen=True)
class RunState:
    """What the status functions read: upstream failures and cancellation."""

    upstream_failed: bool = False
    upstream_ok: bool = True
    cancelled: bool = False


class _Filtered(list[Any]):
    """The result of `*`: later property access maps over the items."""


def evaluate(expr: Expr, contexts: Mapping[str, Any], state: RunState | None = None) -> Any:
    """The value of an expression, given the contexts (event, github, vars, rule, nodes)."""
    value = _eval(expr, contexts, state or RunState())
    return list(value) if isinstance(value, _Filtered) else value


def render(text: str, contexts: Mapping[str, Any], state: RunState | None = None) -> Any:
    """Render template text: one whole expression keeps its type; otherwise text."""
    return render_segments(split_template(text), contexts, state)


def render_segments(
    segments: Sequence[Segment], contexts: Mapping[str, Any], state: RunState | None = None
) -> Any:
    """Render an already parsed template (rules parse theirs once, when they load)."""
    if len(segments) == 1 and segments[0].expr is not None:
        return evaluate(segments[0].expr, contexts, state)
    parts, size = [], 0
    for segment in segments:
        part = segment.text if segment.expr is None else to_string(evaluate(segment.expr, contexts, state))
        size += len(part)
        _check_size("", size)
        parts.append(part)
    return "".join(parts)


def _eval(expr: Expr, contexts: Mapping[str, Any], state: RunState) -> Any:
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Context):
        return lookup(contexts, expr.name)
    if isinstance(expr, Property):
        return _access(_eval(expr.target, contexts, state), expr.name)
    if isinstance(expr, Index):
        target = _eval(expr.target, contexts, state)
        return _access(target, _eval(expr.index, contexts, state))
    if isinstance(expr, Star):
        target = _eval(expr.target, contexts, state)
        if isinstance(target, _Filtered):
            items: list[Any] = []
            for item in target:
                items.extend(_star_items(item))
            return _Filtered(items)
        return _Filtered(_star_items(target))
    if isinstance(expr, Not):
        return not truthy(_eval(expr.operand, contexts, state))
    if isinstance(expr, Binary):
        if expr.op == "&&":
            left = _eval(expr.left, contexts, state)
            return _eval(expr.right, contexts, state) if truthy(left) else _plain(left)
        if expr.op == "||":
            left = _eval(expr.left, contexts, state)
            return _plain(left) if truthy(left) else _eval(expr.right, contexts, state)
        left = _plain(_eval(expr.left, contexts, state))
        right = _plain(_eval(expr.right, contexts, state))
        return compare(expr.op, left, right)
    if isinstance(expr, Call):
        return _call(expr, contexts, state)
    raise EvaluationError(f"cannot evaluate {type(expr).__name__}")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, _Filtered) else value


def _star_items(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def lookup(mapping: Any, key: str) -> Any:
    """A key of a mapping, matched case-insensitively as GitHub does; None when absent."""
    if not isinstance(mapping, Mapping):
        return None
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    for name, value in mapping.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return None


def _access(target: Any, key: Any) -> Any:
    if isinstance(target, _Filtered):
        mapped = [_access(item, key) for item in target]
        return _Filtered(v for v in mapped if v is not None)
    if isinstance(target, Mapping):
        return lookup(target, to_string(key)) if not isinstance(key, Mapping | list) else None
    if isinstance(target, list):
        if isinstance(key, bool) or key is None:
            return None
        if isinstance(key, int | float) and not math.isnan(key) and not math.isinf(key):
            index = math.floor(key)  # GitHub's runner reads a fractional index rounded down
            if 0 <= index < len(target):
                return target[index]
        return None
    return None


# --- coercion ---------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    """GitHub's truthiness: false, 0, -0, '', null and NaN are false; everything else true."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Any) -> float:
    """GitHub's conversion to a number for loose comparison."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            if text.lower().startswith(("0x", "-0x", "+0x")):
                return float(int(text, 16))
            if text.lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
                return math.nan if "nan" in text.lower() else float(text.replace("inity", ""))
            return float(text)
        except ValueError:
            return math.nan
    return math.nan


def compare(op: str, left: Any, right: Any) -> bool:
    """`== != < <= > >=` with GitHub's coercion and case-insensitive strings."""
    if op == "!=":
        return not compare("==", left, right)
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.casefold(), right.casefold()
        return {"==": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    same_kind = type(left) is type(right) or (_is_number(left) and _is_number(right))
    if op == "==" and same_kind and isinstance(left, Mapping | list):
        return left is right
    if isinstance(left, Mapping | list) or isinstance(right, Mapping | list):
        if op == "==" and same_kind:
            return left is right
        return False
    x, y = to_number(left), to_number(right)
    if math.isnan(x) or math.isnan(y):
        return False
    return {"==": x == y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_string(value: Any) -> str:
    """How a value reads inside text: null is '', objects and arrays are JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return value
    return to_json(value)


def format_number(value: float) -> str:
    """Numbers as GitHub prints them: integers without a fraction, NaN, Infinity."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # GitHub's runner prints 15 significant digits (G15): 1.23456789012346E+19
        return f"{value:.15G}"
    if abs(value) >= 10**15:
        return f"{float(value):.15G}"
    return str(value)


def to_json(value: Any) -> str:
    """toJSON: pretty-printed with two-space indentation, as GitHub does; encoded piece by
    piece, so that a value past the limit stops the encoding rather than building it whole."""
    encoder = json.JSONEncoder(indent=2, ensure_ascii=False, default=_json_default)
    pieces, size = [], 0
    for piece in encoder.iterencode(_plain(value)):
        size += len(piece)
        if size > MAX_STRING:
            _check_size("", size)
        pieces.append(piece)
    return "".join(pieces)


def _json_default(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else str(value)


def _check_size(text: str, size: int | None = None) -> None:
    """The limit on one value's length (format, join, toJSON, a template's text)."""
    if (len(text) if size is None else size) > MAX_STRING:
        raise EvaluationError(
            f"value is longer than the limit of {MAX_STRING:,} characters for one value"
        )


# --- functions --------------------------------------------------------------------------


def _call(call: Call, contexts: Mapping[str, Any], state: RunState) -> Any:
    name = call.name
    if name == "success":
        return state.upstream_ok and not state.cancelled
    if name == "failure":
        return state.upstream_failed
    if name == "always":
        return True
    if name == "cancelled":
        return state.cancelled
    args = [_eval(arg, contexts, state) for arg in call.args]
    if name == "contains":
        haystack, needle = _plain(args[0]), _plain(args[1])
        if isinstance(haystack, list):
            return any(compare("==", item, needle) for item in haystack)
        return to_string(needle).casefold() in to_string(haystack).casefold()
    if name == "startswith":
        return to_string(args[0]).casefold().startswith(to_string(args[1]).casefold())
    if name == "endswith":
        return to_string(args[0]).casefold().endswith(to_string(args[1]).casefold())
    if name == "format":
        return _format(to_string(args[0]), [_format_argument(a) for a in args[1:]])
    if name == "join":
        separator = to_string(args[1]) if len(args) > 1 else ","
        items = _plain(args[0])
        if not isinstance(items, list):
            return to_string(items)
        parts = [to_string(i) for i in items]
        _check_size("", sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0))
        return separator.join(parts)
    if name == "tojson":
        return to_json(args[0])
    if name == "fromjson":
        text = to_string(args[0])
        try:
            return json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise EvaluationError(f"fromJSON: not valid JSON: {text[:80]!r}") from None
    if name == "matches":
        return _matches(to_string(args[0]), args[1])
    if name == "length":
        return _length(args[0])
    if name == "within":
        zone = to_string(args[1]) if len(args) > 1 else "UTC"
        return _at_decision_time(name, contexts, lambda t: within(to_string(args[0]), zone, t))
    if name == "ago":
        return _at_decision_time(name, contexts, lambda t: ago(to_string(args[0]), t))
    raise EvaluationError(f"unknown function {name}()")


def _matches(text: str, pattern: Any) -> bool:
    if not isinstance(pattern, str):
        raise EvaluationError(f"matches: the pattern must be a string, found {_kind(pattern)}")
    try:
        return regex_search(text, pattern)
    except RegexError as exc:
        shown = pattern if len(pattern) <= 60 else pattern[:59] + "…"
        raise EvaluationError(f"matches: invalid regular expression '{shown}': {exc}") from None


def _at_decision_time(name: str, contexts: Mapping[str, Any], decide: Any) -> Any:
    """within() and ago() (engine.expr.windows) decided at the decision time the caller gave."""
    moment = contexts.get(DECISION_TIME)
    if not isinstance(moment, int | float):
        raise EvaluationError(f"{name}: no decision time is known here")
    try:
        return decide(float(moment))
    except WindowError as exc:
        raise EvaluationError(f"{name}: {exc}") from None


def _length(value: Any) -> int:
    """length(): characters of a string, items of an array, keys of an object; null is 0."""
    value = _plain(value)
    if value is None:
        return 0
    if isinstance(value, str | list | Mapping):
        return len(value)
    raise EvaluationError(f"length: expects a string, array or object, found {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _format_argument(value: Any) -> str:
    """format() shows arrays and objects as `Array` and `Object`, as GitHub's runner does."""
    value = _plain(value)
    if isinstance(value, list):
        return "Array"
    if isinstance(value, Mapping):
        return "Object"
    return to_string(value)


def _format(template: str, args: list[str]) -> str:
    out: list[str] = []
    size = len(template)
    i = 0
    while i < len(template):
        char = template[i]
        if char == "{":
            if template.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            end = template.find("}", i)
            index_text = template[i + 1 : end] if end > 0 else ""
            if not index_text.isdigit():
                raise EvaluationError(
                    f"format: invalid placeholder at position {i} of {template!r}"
                )
            index = int(index_text)
            if index >= len(args):
                raise EvaluationError(f"format: {{{index}}} has no argument ({len(args)} given)")
            out.append(args[index])
            size += len(args[index])
            if size > MAX_STRING:  # stop growing before the whole string is built
                _check_size("", size)
            i = end + 1
        elif char == "}":
            if not template.startswith("}}", i):
                raise EvaluationError(f"format: unmatched '}}' at position {i} of {template!r}")
            out.append("}")
            i += 2
        else:
            out.append(char)
            i += 1
    text = "".join(out)
    _check_size(text)
    return text
