"""The two steps hookwise adds around a slash command's own nodes: `command.accept` (the
commenter's permission read from GitHub, failing closed; a refusal or malformed words get a
short reply and stop the run; an accepted command gets an eyes reaction) and `command.done`
(+1 when every node succeeded, confused when one failed)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from engine.github.api import GitHubError
from engine.lang.model import PERMISSIONS
from engine.nodes.context import NodeContext, NodeError, NodeSkipped
from engine.nodes.issues import comment
from engine.nodes.rest import repo_path, segment

PERMISSION_TTL = 60.0  # seconds a commenter's permission is kept per repository and user


async def accept(ctx: NodeContext) -> dict[str, Any]:
    """Refuse (with a reply) or accept (with an eyes reaction) the command."""
    name, needed, actor = (str(ctx.inputs[k]) for k in ("command", "permission", "actor"))
    held = await permission_of(ctx, actor)
    if held is None or PERMISSIONS.index(held) < PERMISSIONS.index(needed):
        has = f"you have {held}" if held else "hookwise could not read your permission"
        why = f"/{name} refused: {actor} has {held or 'no readable'} permission, {needed} is needed"
        if _refused_lately(ctx, actor):  # one reply a minute: a comment of many commands, or
            raise NodeSkipped(f"{why} (already told within the minute)")  # a flood, is one
        await _reply(ctx, f"@{actor} `/{name}` needs the **{needed}** permission on this "
                          f"repository ({has}). Nothing was done.")
        raise NodeSkipped(why)
    error = ctx.inputs.get("error")
    if error:
        # the commenter's own words are quoted in a code span: no mention, link or markup
        shown = " ".join(str(error).split()).replace("`", "'")[:300]
        await _reply(ctx, f"@{actor} `/{name}` was not run: `{shown}`")
        raise NodeSkipped(f"/{name} refused: {error}")
    await _react(ctx, "eyes")
    return {"permission": held}


async def done(ctx: NodeContext) -> dict[str, Any]:
    """+1 when every node of the command succeeded (or was skipped by its `if:`), confused
    when one failed; nothing when the command was refused."""
    if ctx.inputs["accepted"] != "success":
        return {"reaction": None}
    statuses = ctx.inputs.get("statuses") or {}
    reaction = "confused" if "failure" in statuses.values() else "+1"
    await _react(ctx, reaction)
    return {"reaction": reaction}


async def permission_of(ctx: NodeContext, login: str) -> str | None:
    """The user's role on the repository (GitHub's role_name: read, triage, write, maintain,
    admin), kept for a minute; None when GitHub does not say (failing closed)."""
    given = ctx.shared.get("permissions")
    if isinstance(given, dict) and login.lower() in given:  # `--permission`, a rule test
        return str(given[login.lower()])
    owner, repo = ctx.target()
    key = ("permission", f"{owner}/{repo}".lower(), login.lower())
    memo = getattr(ctx.github, "memo", None)  # the process's, behind a live client only
    kept = memo.get(key) if isinstance(memo, dict) else None
    if kept is not None and time.monotonic() - kept[0] < PERMISSION_TTL:
        return str(kept[1]) if kept[1] is not None else None
    github = ctx.require_github()
    try:
        answer = await github.request(
            "GET", f"{repo_path(ctx)}/collaborators/{segment(login, 'login')}/permission"
        )
    except GitHubError as exc:
        ctx.log(f"permission of {login} not read: {exc}")
        return None
    except NodeError as exc:
        if exc.status in (403, 404):
            ctx.log(f"permission of {login} not read: {exc.message}")
            return None
        raise
    role = answer.get("role_name") if isinstance(answer, dict) else None
    held = role if role in PERMISSIONS else _from_permission(answer)
    if isinstance(memo, dict):
        memo[key] = (time.monotonic(), held)
    return held


def _from_permission(answer: Any) -> str | None:
    """GitHub's older `permission` field (admin, write, read, none) when role_name is absent."""
    value = answer.get("permission") if isinstance(answer, dict) else None
    return value if value in ("admin", "write", "read") else None


def _refused_lately(ctx: NodeContext, actor: str) -> bool:
    """Whether this user was refused a command in this repository within PERMISSION_TTL (the
    process's memo; offline there is none). Marks the refusal."""
    memo = getattr(ctx.github, "memo", None)
    if not isinstance(memo, dict):
        return False
    owner, repo = ctx.target()
    key = ("refused", f"{owner}/{repo}".lower(), actor.lower())
    kept = memo.get(key)
    now = time.monotonic()
    if kept is not None and now - kept[0] < PERMISSION_TTL:
        return True
    memo[key] = (now, True)
    return False


async def _react(ctx: NodeContext, content: str) -> None:
    comment_id, kind = ctx.inputs.get("comment_id"), ctx.inputs.get("comment_kind")
    if comment_id is None or kind == "review":  # a review's body has no reactions API
        ctx.log(f"no reaction {content}: the command is in a review's body")
        return
    area = "issues" if kind == "issue_comment" else "pulls"
    path = f"{repo_path(ctx)}/{area}/comments/{int(comment_id)}/reactions"
    await ctx.require_github().request("POST", path, body={"content": content})


async def _reply(ctx: NodeContext, text: str) -> None:
    """A reply on the issue or pull request (once, however often the node runs)."""
    await comment(replace(ctx, inputs={**ctx.inputs, "body": text}))
