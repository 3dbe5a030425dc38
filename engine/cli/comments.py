"""Slash commands on the command line: `simulate`/`run --comment TEXT --commenter LOGIN
--permission LEVEL` put a comment into GitHub's example payload, give the commenter's
permission offline, and say whether a command rule would accept the command."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from engine.errors import UsageError


def comment_payload(
    args: argparse.Namespace, read_payload: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """With `--comment`: the payload file, or GitHub's example comment, carrying that text (and
    `--commenter` as its author and sender)."""
    from engine.run.ruletest import github_examples

    comment = args.comment

    args.event = args.event or "issue_comment"
    if args.event not in ("issue_comment", "pull_request_review_comment", "pull_request_review"):
        raise UsageError(
            f"--comment goes with a comment event (issue_comment, pull_request_review_comment, "
            f"pull_request_review), not {args.event}"
        )
    payload = (
        read_payload(args.payload) if args.payload
        else json.loads(json.dumps(github_examples()["issue_comment/created.1"]))
    )
    holder = payload.get("review" if args.event == "pull_request_review" else "comment")
    if not isinstance(holder, dict):
        raise UsageError(f"--comment: the {args.event} payload has no comment to put it in")
    holder["body"] = comment
    if args.commenter:
        person = {"login": args.commenter, "type": "User"}
        holder["user"] = {**(holder.get("user") or {}), **person}
        payload["sender"] = {**(payload.get("sender") or {}), **person}
    return payload


def command_decision(rule: Any, event: Any, args: argparse.Namespace) -> dict[str, Any]:
    """For a command rule: its words bound, and whether the commenter may use it (with
    `--permission`; otherwise GitHub is asked when it runs)."""
    from engine.match.commands import allows, command_of

    spec = rule.command
    if spec is None:
        return {}
    bound = command_of(spec, event.name, event.payload)
    assert bound is not None  # it matched
    level = getattr(args, "permission", None)
    if bound.error is not None:
        decision, accepted = f"/{spec.name} would be refused: {bound.error}", False
    elif level is None:
        decision, accepted = (
            f"/{spec.name} {bound.args}: needs {spec.permission}; the commenter's permission is "
            "read from GitHub when it runs (give --permission to decide it here)", None,
        )
    elif allows(level, spec.permission):
        decision, accepted = f"/{spec.name} accepted ({level} >= {spec.permission}): {bound.args}", True
    else:
        decision, accepted = f"/{spec.name} refused: needs {spec.permission}, {event.sender} has {level}", False
    return {"command": {"name": spec.name, "args": bound.args, "error": bound.error,
                        "accepted": accepted, "decision": decision}}


def given_permissions(args: argparse.Namespace, event: Any) -> dict[str, Any]:
    """The run's shared facts the command line gives: `--permission` of the commenter."""
    level = getattr(args, "permission", None)
    if level is None or not event.sender:
        return {}
    return {"permissions": {event.sender.lower(): level}}
