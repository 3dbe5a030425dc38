"""Shared helpers for the rule checkers: reporting problems at keys, values and inside strings."""

from __future__ import annotations

from typing import Any

from engine.lang.diagnostics import WARNING_CHECKS, Diagnostic
from engine.lang.source import Document, Path, Position


def as_list(value: Any) -> list[Any] | None:
    """A scalar as a one-item list, a list as itself, anything else as None."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return None


def get_path(data: Any, path: Path) -> Any:
    """The value at a path of keys and indexes, or None."""
    current = data
    for part in path:
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            return None
    return current


class DocumentChecker:
    """Collects diagnostics for one document, placed with its source map."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.diagnostics: list[Diagnostic] = []

    # --- reporting -------------------------------------------------------------------

    def at(self, pos: Position, check: str, message: str, *, severity: str = "error") -> None:
        """Report a problem at a position."""
        if check in WARNING_CHECKS:
            severity = "warning"
        self.diagnostics.append(
            Diagnostic(self.doc.path, pos.line, pos.column, check, message, severity)
        )

    def at_value(self, path: Path, check: str, message: str) -> None:
        self.at(self.doc.source_map.value(path), check, message)

    def at_key(self, path: Path, check: str, message: str) -> None:
        self.at(self.doc.source_map.key(path), check, message)

    def in_string(self, path: Path, offset: int, check: str, message: str) -> None:
        """Report at `offset` characters into the string value at `path`."""
        smap = self.doc.source_map
        start = smap.value(path)
        style = smap.styles.get(path)
        value = get_path(self.data, path)
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
