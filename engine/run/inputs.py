"""A node's inputs as rendered, checked against its type's declared schema before it runs.

`validate` checks the rule as written, where an expression may stand for any value; only
after rendering is the value known. A value that is not what the node type declares (a
check run id that rendered as `../../issues/1`, a number that is a word) fails the node with
the field named, before any node code builds a request from it.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from engine.declarations.registry import NodeType

_DIGITS = re.compile(r"[0-9]{1,18}")


_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def _validator(node_type: NodeType) -> Draft202012Validator:
    """One validator per declared schema, made once (the schema object is the key)."""
    known = _VALIDATORS.get(id(node_type.inputs))
    if known is None or known[0] is not node_type.inputs:
        known = (node_type.inputs, Draft202012Validator(node_type.inputs))
        _VALIDATORS[id(node_type.inputs)] = known
    return known[1]


def _coerce(schema: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """Digit strings where the schema wants an integer, as GitHub Actions converts them."""
    properties = schema.get("properties") or {}
    coerced = dict(inputs)
    for name, value in inputs.items():
        wanted = (properties.get(name) or {}).get("type")
        if wanted == "integer" and isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            coerced[name] = int(value.strip())
    return coerced


def checked_inputs(node_type: NodeType, inputs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The inputs (integers from digit strings) and the first problem, or None."""
    coerced = _coerce(node_type.inputs, inputs)
    validator = _validator(node_type)
    if validator.is_valid(coerced):  # the usual case, at a fraction of best_match's cost
        return coerced, None
    error = best_match(validator.iter_errors(coerced))
    if error is None:
        return coerced, None
    where = "with" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    shown = repr(error.instance)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return coerced, f"{where}: {shown} as rendered is not valid here: {error.message[:200]}"
