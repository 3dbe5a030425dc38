"""JSON Schema errors as diagnostics: each placed at the offending key or value, in words.

jsonschema reports what failed and where in the instance; this module turns that into
actionlint-style messages (the key that is unknown and the closest known one, the type that
was found and the one expected) with the line and column the source map gives.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError

from engine.lang import catalogue
from engine.lang.diagnostics import Diagnostic
from engine.lang.source import Path, SourceMap, type_name
from engine.text import suggest

DURATION_PATTERN = "^(?:[0-9]+(?:ms|s|m|h))+$"


def schema_diagnostics(
    errors: Iterable[ValidationError],
    *,
    file: str,
    source_map: SourceMap,
    base: Path = (),
    subject: str | None = None,
) -> list[Diagnostic]:
    """Turn schema errors into diagnostics placed at the offending key or value."""
    result: list[Diagnostic] = []
    for error in errors:
        result.extend(_convert(error, file, source_map, base, subject))
    return result


def _convert(
    error: ValidationError, file: str, smap: SourceMap, base: Path, subject: str | None
) -> list[Diagnostic]:
    relative: Path = tuple(error.absolute_path)
    path: Path = (*base, *relative)
    keyword = error.validator
    # the stubs type these as possibly unset; for a reported error they are always set
    rule_value: Any = error.validator_value
    instance: Any = error.instance
    schema: Any = error.schema
    where = _where(relative, subject)

    def at_value(check: str, message: str) -> Diagnostic:
        pos = smap.value(path)
        return Diagnostic(file, pos.line, pos.column, check, message)

    if keyword == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        extras = [k for k in instance if k not in known]
        out = []
        for key in extras:
            pos = smap.key((*path, key))
            noun = "input" if subject else "key"
            hint = suggest(key, known)
            if path == ("on",) and key in catalogue.webhook_events():
                hint = f'; "{key}" is an event: list it under "events" (on: {{events: {{{key}: ...}}}})'
            out.append(
                Diagnostic(
                    file,
                    pos.line,
                    pos.column,
                    "node-input" if subject else "unknown-key",
                    f'unknown {noun} "{key}" in {where}{hint}',
                )
            )
        return out
    if keyword == "required":
        # a misspelt required key is one mistake: the unknown key's "did you mean" says it all
        misspelt = _misspelt(instance, schema)
        missing = [k for k in rule_value if k not in instance and k not in misspelt]
        pos = smap.key(path) if path else smap.value(path)
        check = "node-input" if subject else "missing-key"
        noun = "input" if subject else "key"
        return [
            Diagnostic(
                file, pos.line, pos.column, check, f'{where} is missing required {noun} "{k}"'
            )
            for k in missing
        ]
    if "propertyNames" in error.schema_path and isinstance(instance, str):
        # jsonschema reports a bad key as the key itself failing `pattern`
        name = instance
        pos = smap.key((*path, name))
        pattern = str(schema.get("pattern", "")).strip("^$")
        what = "node id" if path[-1:] == ("nodes",) else "name"
        return [
            Diagnostic(
                file,
                pos.line,
                pos.column,
                "bad-value",
                f'{what} "{name}" in {where} must match {pattern}',
            )
        ]
    check = "node-input" if subject else "bad-value"
    if keyword == "type":
        expected = rule_value
        expected = [expected] if isinstance(expected, str) else expected
        wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        found = type_name(instance)
        return [
            at_value(check if subject else "bad-type", f"{where} must be {wanted}, found {found}")
        ]
    if keyword == "enum":
        choices = ", ".join(str(c) for c in sorted(rule_value, key=str))
        return [at_value(check, f"{where} must be one of {choices}; found {_show(instance)}")]
    if keyword == "pattern":
        if rule_value == DURATION_PATTERN:
            return [
                at_value(
                    "bad-duration",
                    f"{where}: {_show(instance)} is not a duration; "
                    "write a number with ms, s, m or h, such as 30s, 5m or 1m30s",
                )
            ]
        if rule_value == r"^\s*\$\{\{[\s\S]*\}\}\s*$":  # EXPRESSION_PATTERN
            return [at_value(check, f"{where} must be one ${{{{ }}}} expression; found {_show(instance)}")]
        pattern = str(rule_value).strip("^$")
        return [at_value(check, f"{where} must match {pattern}; found {_show(instance)}")]
    if keyword in ("minLength", "minItems", "minProperties"):
        return [at_value(check, f"{where} must not be empty")]
    if keyword in ("maxItems", "maxProperties", "maxLength"):
        return [at_value(check, f"{where} has more than {rule_value} entries")]
    if keyword in ("minimum", "maximum"):
        word = "at least" if keyword == "minimum" else "at most"
        return [at_value(check, f"{where} must be {word} {rule_value}")]
    if keyword in ("anyOf", "oneOf") and error.context:
        return _alternatives(error, file, smap, base, subject)
    return [at_value(check, f"{where}: {error.message}")]


def _misspelt(instance: Any, schema: Any) -> set[str]:
    """The known keys that an unknown key of the mapping is a near miss of."""
    if not isinstance(instance, dict) or schema.get("additionalProperties") is not False:
        return set()
    known = sorted(schema.get("properties", {}))
    return {
        close
        for key in instance
        if key not in known
        for close in difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    }


def _alternatives(
    error: ValidationError, file: str, smap: SourceMap, base: Path, subject: str | None
) -> list[Diagnostic]:
    """Of `anyOf` branches, report the one whose type fits the value (every error in it),
    or, when no branch fits, the value's type against all of theirs."""
    branches: dict[int, list[ValidationError]] = {}
    for inner in error.context or []:
        branches.setdefault(int(inner.relative_schema_path[0]), []).append(inner)
    for index in sorted(branches):
        errors = branches[index]
        if not any(e.validator == "type" and not e.relative_path for e in errors):
            return [d for e in errors for d in _convert(e, file, smap, base, subject)]
    wanted: list[str] = []
    alternatives: Any = error.validator_value  # set for a reported anyOf error
    for branch in alternatives:
        kinds = branch.get("type", []) if isinstance(branch, dict) else []
        if isinstance(branch, dict) and "$ref" in branch:  # our $defs: expressions or objects
            kinds = "string" if str(branch["$ref"]).endswith("expression") else "object"
        for kind in [kinds] if isinstance(kinds, str) else kinds:
            word = _TYPE_WORDS.get(kind, kind)
            if word not in wanted:
                wanted.append(word)
    path: Path = (*base, *error.absolute_path)
    pos = smap.value(path)
    where = _where(tuple(error.absolute_path), subject)
    found = type_name(error.instance)
    check = "node-input" if subject else "bad-type"
    choices = ", ".join(wanted[:-1]) + f" or {wanted[-1]}" if len(wanted) > 1 else "".join(wanted)
    message = f"{where} must be {choices}, found {found}"
    return [Diagnostic(file, pos.line, pos.column, check, message)]


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _where(path: Path, subject: str | None) -> str:
    if subject is not None:
        inner = ".".join(str(p) for p in path)
        return f'input "{inner}" of {subject}' if inner else subject
    if not path:
        return "the rule"
    return '"' + ".".join(str(p) for p in path) + '"'


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
