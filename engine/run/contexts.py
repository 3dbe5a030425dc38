"""What a run's expressions see (the contexts before any node ran) and the concurrency group
a run takes, rendered from them. Pure."""

from __future__ import annotations

from typing import Any

from engine.expr.evaluate import to_string, truthy
from engine.lang.model import Rule, Template
from engine.match.condition import render_value, rule_contexts
from engine.match.events import Event


def base_contexts(rule: Rule, event: Event) -> dict[str, Any]:
    """event, github, rule and the rendered vars (no nodes yet); a run renders every var
    when it starts (node outputs may hold them, so they must be plain values)."""
    contexts = rule_contexts(rule, event)
    contexts["vars"] = dict(contexts["vars"])
    return contexts


def concurrency_key(rule: Rule, event: Event) -> tuple[str, bool] | None:
    """The rendered concurrency group and cancel-in-progress, or None without concurrency.

    Server rules share one namespace of groups; a repository rule's groups live in its
    repository's (`owner/name: group`) and an organisation default's in its owner's
    (`owner: group`), so no repository can name a group of another's or of the server's and
    cancel its runs.
    """
    if rule.concurrency is None:
        return None
    contexts = base_contexts(rule, event)
    group = rule.concurrency.group
    key = to_string(render_value(group, contexts))
    if rule.scope is not None:
        key = f"{(rule.scope.repository or rule.scope.owner).lower()}: {key}"
    cancel = rule.concurrency.cancel_in_progress
    if isinstance(cancel, Template | str):
        cancel = (
            truthy(render_value(cancel, contexts))
            if isinstance(cancel, Template)
            else cancel == "true"
        )
    return key, bool(cancel)
