"""Checking `on: command`: each argument's JSON Schema (a valid schema of a type a word can
fill, an array only last), and the events a command is read from."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine.lang.checks.base import DocumentChecker
from engine.lang.model import COMMAND_EVENTS, PERMISSIONS, WHERE, CommandSpec, schema_problem

ARG_TYPES = ("string", "integer", "number", "boolean", "array")


class CommandChecker(DocumentChecker):
    """Checks `on: command` and compiles it into a CommandSpec."""

    def command(self, on: dict[str, Any]) -> CommandSpec | None:
        raw = on.get("command")
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            return None
        found = raw.get("args")
        args: dict[str, Any] = found if isinstance(found, dict) else {}
        good = True
        names = list(args)
        for index, (name, schema) in enumerate(args.items()):
            path = ("on", "command", "args", name)
            if not isinstance(schema, dict):
                continue
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                self.at_value(path, "bad-command", f'argument "{name}": not a JSON Schema: {exc.message}')
                good = False
                continue
            refs = sorted(_references(schema))
            if refs:
                self.at_value(
                    path, "bad-command",
                    f'argument "{name}": {refs[0]} is not allowed in an argument schema (a '
                    "command's schema is self-contained: nothing is fetched)",
                )
                good = False
                continue
            if "default" in schema and schema_problem(schema, schema["default"]) is not None:
                self.at_value(
                    path, "bad-command",
                    f'argument "{name}": its default {schema["default"]!r} does not fit its own '
                    f"schema ({schema_problem(schema, schema['default'])})",
                )
                good = False
            kind = schema.get("type")
            if kind not in ARG_TYPES:
                self.at_value(
                    path,
                    "bad-command",
                    f'argument "{name}" has type {kind!r}; a word can fill '
                    + ", ".join(ARG_TYPES),
                )
                good = False
            elif kind == "array" and index != len(names) - 1:
                self.at_value(
                    path,
                    "bad-command",
                    f'argument "{name}" is an array, which takes every word left, so it must be '
                    f"the last (after it: {', '.join(names[index + 1:])})",
                )
                good = False
        if not good:
            return None
        where = raw.get("where")
        return CommandSpec(
            name=raw["name"].lower(),
            args=tuple((str(n), dict(s)) for n, s in args.items() if isinstance(s, dict)),
            permission=str(raw["permission"]) if raw.get("permission") in PERMISSIONS else "write",
            where=tuple(w for w in where if w in WHERE) if isinstance(where, list) else WHERE,
            description=str(raw.get("description", "")),
        )

    def command_events(self, on: dict[str, Any]) -> dict[str, Any]:
        """`on:` with the events a command is read from, for the webhook triggers."""
        events = {name: {"types": list(actions)} for name, actions in COMMAND_EVENTS.items()}
        return {**{k: v for k, v in on.items() if k != "command"}, "events": events}


def _references(schema: Any) -> set[str]:
    """The `$` keywords of a schema that name something elsewhere ($ref, $id, ...)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        found |= {k for k in schema if isinstance(k, str) and k.startswith("$") and k != "$comment"}
        for value in schema.values():
            found |= _references(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _references(value)
    return found
