"""Checking `on: command`: each argument's JSON Schema (a valid schema of a type a word can
fill, an array only last), and the events a command is read from."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine.lang.checks.base import DocumentChecker
from engine.lang.model import COMMAND_EVENTS, PERMISSIONS, WHERE, CommandSpec

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
        nodes = self.data.get("nodes")
        for reserved in ("command_accept", "command_done"):
            if isinstance(nodes, dict) and reserved in nodes and "uses" in nodes[reserved] and nodes[
                reserved
            ].get("uses") not in ("command.accept", "command.done"):
                self.at_key(("nodes", reserved), "bad-command",
                            f'"{reserved}" is the id of a step hookwise adds to a command rule; '
                            "choose another id")
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
