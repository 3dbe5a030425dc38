"""Slash commands in comments (`on: command`): which lines of a comment are commands, and a
command's words bound to its rule's arguments. Pure: text in, commands out.

A command is a line that starts with `/name` (up to three spaces before it, as Markdown
allows), outside quotes (`>`), fenced code blocks and indented code; text in backticks never
starts with `/`, so inline code is left alone too. Names are case-insensitive. In an edited
comment only the command lines that were not in the comment before count.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.lang.model import PERMISSIONS, CommandSpec, schema_problem

_COMMAND = re.compile(r" {0,3}/([A-Za-z][A-Za-z0-9_-]*)(?:[ \t]+(.*))?")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class CommandLine:
    """One command as written: its name (lower-cased), its words, and where it stands."""

    name: str
    words: tuple[str, ...]
    line: int  # 1-based, in the comment's body
    text: str


@dataclass(frozen=True)
class BoundCommand:
    """A command line bound to its rule: the arguments, or why they do not fit."""

    line: CommandLine
    args: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@functools.lru_cache(maxsize=64)  # every command rule of a delivery reads the same comment
def command_lines(body: str | None, before: str | None = None) -> tuple[CommandLine, ...]:
    """The commands of a comment; with `before` (an edited comment's earlier body), only the
    command lines that were not there."""
    found = _lines(body or "")
    if before is None:
        return tuple(found)
    earlier = {c.text for c in _lines(before)}
    return tuple(c for c in found if c.text not in earlier)


def _lines(body: str) -> list[CommandLine]:
    found: list[CommandLine] = []
    fence: str | None = None
    for number, raw in enumerate(body.replace("\r\n", "\n").split("\n"), start=1):
        opened = _FENCE.match(raw)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        if raw.startswith(("    ", "\t")):  # indented code
            continue
        match = _COMMAND.fullmatch(raw.rstrip())
        if match is None:
            continue
        found.append(
            CommandLine(match.group(1).lower(), _words(match.group(2) or ""), number, raw.strip())
        )
    return found


def _words(text: str) -> tuple[str, ...]:
    """Words as a shell splits them: "quoted words" are one; an unclosed quote is literal."""
    try:
        return tuple(shlex.split(text))
    except ValueError:
        return tuple(text.split())


def bind(spec: CommandSpec, line: CommandLine) -> BoundCommand:
    """Fill the arguments in order (an array takes the rest) and check each against its
    schema; a mismatch is an error naming the usage."""
    words = list(line.words)
    args: dict[str, Any] = {}
    problems: list[str] = []
    for name, schema in spec.args:
        if schema.get("type") == "array":
            items = schema.get("items")
            item: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
            args[name] = [_coerce(w, item) for w in words]
            words = []
        elif words:
            args[name] = _coerce(words.pop(0), schema)
        elif "default" in schema:
            args[name] = schema["default"]
        else:
            problems.append(f"<{name}> is missing")
    if words:
        problems.append(f"unexpected {' '.join(words)!r}")
    for name, schema in spec.args:
        if name in args:
            why = schema_problem(schema, args[name])
            if why is not None:
                problems.append(f"<{name}>: {why}")
    if problems:
        return BoundCommand(line, args, f"{'; '.join(problems)}. Usage: {spec.usage()}")
    return BoundCommand(line, args)


def _coerce(word: str, schema: Mapping[str, Any]) -> Any:
    """A word as the schema's type asks (integers, numbers, booleans; ASCII digits, at most
    18 of them); else the word, which its schema then refuses."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?[0-9]{1,18}", word):
        return int(word)
    if kind == "number" and re.fullmatch(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?", word):
        return float(word)
    if kind == "boolean" and word.lower() in ("true", "false", "yes", "no"):
        return word.lower() in ("true", "yes")
    return word


def find_command(spec: CommandSpec, lines: Sequence[CommandLine]) -> BoundCommand | None:
    """The first line that names the rule's command, bound (a command twice in one comment
    runs once, for its first line)."""
    line = next((c for c in lines if c.name == spec.name.lower()), None)
    return bind(spec, line) if line is not None else None


def allows(held: str | None, needed: str) -> bool:
    """Whether a repository role (GitHub's role_name) is at least the one needed."""
    if held not in PERMISSIONS:
        return False
    return PERMISSIONS.index(held) >= PERMISSIONS.index(needed)


@dataclass(frozen=True)
class CommentText:
    """The text a command is read from, and where it stands."""

    body: str | None
    before: str | None  # an edited comment's earlier body
    where: str  # "issues" or "pull_requests"
    kind: str  # "issue_comment", "review_comment" or "review": which reactions API answers
    comment_id: int | None
    url: str | None


def comment_text(event_name: str, payload: Mapping[str, Any]) -> CommentText | None:
    """The comment (or review body) of a comment event, or None for another event."""
    changes = payload.get("changes")
    before = None
    if isinstance(changes, Mapping) and isinstance(changes.get("body"), Mapping):
        earlier = changes["body"].get("from")
        before = earlier if isinstance(earlier, str) else None
    if event_name in ("issue_comment", "pull_request_review_comment"):
        comment = payload.get("comment")
        if not isinstance(comment, Mapping):
            return None
        issue = payload.get("issue")
        on_pull = event_name == "pull_request_review_comment" or (
            isinstance(issue, Mapping) and issue.get("pull_request") is not None
        )
        kind = "issue_comment" if event_name == "issue_comment" else "review_comment"
        return CommentText(
            _text(comment.get("body")), before, "pull_requests" if on_pull else "issues", kind,
            _id(comment.get("id")), _text(comment.get("html_url")),
        )
    if event_name == "pull_request_review":
        review = payload.get("review")
        if not isinstance(review, Mapping):
            return None
        return CommentText(
            _text(review.get("body")), before, "pull_requests", "review",
            _id(review.get("id")), _text(review.get("html_url")),
        )
    return None


def command_of(spec: CommandSpec, event_name: str, payload: Mapping[str, Any]) -> BoundCommand | None:
    """The rule's command in this comment (new or changed lines only), bound; None if absent."""
    text = comment_text(event_name, payload)
    if text is None or text.where not in spec.where:
        return None
    return find_command(spec, command_lines(text.body, text.before))


def command_context(
    spec: CommandSpec, event_name: str, payload: Mapping[str, Any], actor: str | None
) -> dict[str, Any]:
    """`${{ command }}`: name, args, actor, line, text, comment {id, url, kind}, error."""
    bound = command_of(spec, event_name, payload)
    text = comment_text(event_name, payload)
    return {
        "name": spec.name,
        "args": bound.args if bound else {},
        "error": bound.error if bound else None,
        "actor": actor,
        "line": bound.line.line if bound else None,
        "text": bound.line.text if bound else None,
        "comment": {
            "id": text.comment_id if text else None,
            "url": text.url if text else None,
            "kind": text.kind if text else None,
        },
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
