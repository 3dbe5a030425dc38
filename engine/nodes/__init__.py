"""Node implementations: async functions given a `context.NodeContext` (`core`, and the
GitHub types by REST area: `pulls`, `issues`, `repos`, `readiness`, `dependabot`).

Their declarations (inputs schema, outputs, description) live in engine.declarations, which
validation reads without loading this code. `implementations()` is the only door from a
declared type to its code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.declarations.builtin import declared_registry
from engine.declarations.registry import Registry


def implementations() -> dict[str, Callable[..., Any]]:
    """Built-in node type name -> its async run function."""
    from engine.nodes import commands, core, dependabot, issues, pulls, readiness, repos, search

    github = {
        "github.pull_request.get": pulls.pull_request_get,
        "github.pull_request.files": pulls.pull_request_files,
        "github.pull_request.review": pulls.pull_request_review,
        "github.pull_request.request_reviewers": pulls.request_reviewers,
        "github.pull_request.merge": pulls.merge,
        "github.pull_request.status": readiness.pull_request_status,
        "dependabot.metadata": dependabot.metadata,
        "github.issue.comment": issues.comment,
        "github.issue.upsert_comment": issues.upsert_comment,
        "github.issue.add_labels": issues.add_labels,
        "github.issue.remove_labels": issues.remove_labels,
        "github.issue.assign": issues.assign,
        "github.issue.unassign": issues.unassign,
        "github.issue.update": issues.update_issue,
        "github.issue.create": issues.create_issue,
        "github.search.issues": search.search_issues,
        "command.accept": commands.accept,
        "command.done": commands.done,
        "github.commit.get": repos.commit_get,
        "github.repository.file": repos.repository_file,
        "github.repository.compare": repos.compare,
        "github.check_run.create": repos.check_run_create,
        "github.check_run.update": repos.check_run_update,
        "github.status.set": repos.status_set,
        "github.workflow.dispatch": repos.workflow_dispatch,
        "github.repository.dispatch": repos.repository_dispatch,
    }
    return {**core.IMPLEMENTATIONS, **github}


def builtin_registry() -> Registry:
    """The built-in node types with their code (no entry points)."""
    registry = declared_registry()
    for name, run in implementations().items():
        registry.implement(name, run)
    return registry


def default_registry(*, implementations: bool = True) -> Registry:
    """Built-in node types plus those installed through the `hookwise.nodes` entry points.

    Without `implementations` the built-in types are declarations only (validation never
    loads node code; a third-party entry point still loads its own module).
    """
    registry = builtin_registry() if implementations else declared_registry()
    registry.load_entry_points()
    return registry
