"""`/help` (with HOOKWISE_COMMAND_HELP): a command rule generated from the slash commands a
rule set defines, answering with each one's usage, what it does and who may use it. It is an
ordinary rule, compiled from generated YAML, so it is checked, matched and run like the rest
(including its permission: anyone who can read the repository)."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from engine.declarations.registry import Registry
from engine.lang.model import Rule
from engine.lang.validate import check_source

HELP_RULE = "hookwise-help"


def help_rule(rules: Sequence[Rule], registry: Registry) -> Rule | None:
    """The `/help` rule for these rules' commands (None when none has any, or one answers
    /help itself)."""
    commands = sorted((r.command for r in rules if r.command is not None), key=lambda c: c.name)
    if not commands or any(c.name == "help" for c in commands):
        return None
    rows = "\n".join(
        f"| `{c.usage()}` | {_cell(c.description)} | {c.permission} | "
        f"{', '.join(w.replace('_', ' ') for w in c.where)} |"
        for c in commands
    )
    body = (
        "Commands here (one per line, at the start of a comment's line):\n\n"
        "| command | what it does | permission | where |\n| --- | --- | --- | --- |\n" + rows
    )
    document = {
        "name": HELP_RULE,
        "description": "/help: the slash commands of these rules (HOOKWISE_COMMAND_HELP)",
        "on": {"command": {"name": "help", "permission": "read", "description": "this list"}},
        "nodes": {"answer": {"uses": "github.issue.comment", "with": {"body": body}}},
    }
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    rule, _, problems = check_source(text.encode(), f"<{HELP_RULE}>", registry)
    assert rule is not None, problems  # generated from checked rules: it cannot be wrong
    return rule


def _cell(text: str) -> str:
    """A description in a table cell: one line, no pipe, no expression."""
    return " ".join(text.split()).replace("|", "\\|").replace("${{", "$ {{") or "-"
