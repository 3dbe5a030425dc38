"""Declarations of the two steps hookwise adds around a slash command's nodes (engine.lang.
compile adds them to every `on: command` rule; engine.nodes.commands runs them)."""

from __future__ import annotations

from engine.declarations.registry import NodeType
from engine.declarations.specs import ISSUE_TARGET, _github, _s

COMMAND_TYPES: tuple[NodeType, ...] = (
    _github(
        "command.accept",
        "A slash command's first step (added by hookwise to every command rule): reads the "
        "commenter's permission from GitHub; a refused or malformed command gets a short reply "
        "and stops the run; an accepted one gets an eyes reaction",
        {
            "command": _s("The command's name"),
            "permission": _s("The least permission it needs"),
            "actor": _s("Who wrote the command"),
            "error": {"type": ["string", "null"], "description": "Why its words do not fit"},
            "comment_id": {"type": ["integer", "null"], "description": "The comment's id"},
            "comment_kind": {"type": ["string", "null"], "description": "issue_comment, "
                             "review_comment or review"},
        },
        outputs=("permission",),
        required=("command", "permission", "actor"),
        target=ISSUE_TARGET,
    ),
    _github(
        "command.done",
        "A slash command's last step (added by hookwise): a +1 reaction when every node "
        "succeeded, confused when one failed; nothing for a refused command",
        {
            "accepted": _s("The status of command_accept"),
            "statuses": {"type": "object", "description": "node id -> status"},
            "comment_id": {"type": ["integer", "null"], "description": "The comment's id"},
            "comment_kind": {"type": ["string", "null"], "description": "Its kind"},
        },
        outputs=("reaction",),
        required=("accepted", "statuses"),
        target=ISSUE_TARGET,
    ),
)
