"""Declarations of the condition helper node types: a pull request's readiness and what
Dependabot updated. Their outputs are what rules test before they act."""

from __future__ import annotations

from engine.declarations.registry import NodeType
from engine.declarations.specs import ISSUE_TARGET, object_schema, strings

CONDITION_TYPES: tuple[NodeType, ...] = (
    NodeType(
        "github.pull_request.status",
        "The pull request's readiness: approvals, check runs and statuses, mergeability",
        object_schema(
            {
                **ISSUE_TARGET,
                "ignore": strings(
                    "Check names (name patterns) not to count, e.g. this rule's own check"
                ),
            }
        ),
        (
            "approvals",
            "approved_by",
            "changes_requested_by",
            "checks",
            "failing",
            "pending",
            "passing",
            "green",
            "mergeable",
            "mergeable_state",
            "draft",
            "labels",
            "sha",
        ),
        writes=False,
    ),
    NodeType(
        "dependabot.metadata",
        "What Dependabot updated, read from its metadata block in the pull request's commit",
        object_schema(dict(ISSUE_TARGET)),
        (
            "dependency-names",
            "dependency-type",
            "update-type",
            "previous-version",
            "new-version",
            "package-ecosystem",
            "directory",
            "target-branch",
            "dependency-group",
            "dependencies",
            "sha",
        ),
        writes=False,
    ),
)
