"""What each built-in node type asks of GitHub: the App permissions it needs and the REST
operations it may call. `hookwise app manifest` asks for the union over a rule set's nodes.

The levels are GitHub's ("Permissions required for GitHub Apps"): comments, labels,
assignees and edits on an issue *or pull request* are the Issues permission's (GitHub also
accepts Pull requests there; Issues covers both kinds, so one rule set needs one
permission); merging a pull request is a Contents write. tests/test_app_setup.py checks each
operation against GitHub's OpenAPI description (which names the permission for some), and
tests/test_github_nodes.py that a node calls only the operations declared here.
"""

from __future__ import annotations

from dataclasses import replace

from engine.declarations.registry import NodeType

Needs = tuple[tuple[tuple[str, str], ...], tuple[str, ...]]

_ISSUE_WRITE = (("issues", "write"),)
NODE_NEEDS: dict[str, Needs] = {
    "github.pull_request.get": (
        (("pull_requests", "read"),),
        ("pulls/get", "pulls/list-files", "issues/list-comments", "pulls/list-review-comments"),
    ),
    "github.pull_request.files": ((("pull_requests", "read"),), ("pulls/list-files",)),
    "github.pull_request.review": (
        (("pull_requests", "write"),),
        ("pulls/create-review", "pulls/list-reviews", "pulls/get"),
    ),
    "github.pull_request.request_reviewers": (
        (("pull_requests", "write"),),
        ("pulls/request-reviewers",),
    ),
    "github.pull_request.merge": (
        (("contents", "write"), ("pull_requests", "read")),
        ("pulls/merge", "pulls/get"),
    ),
    "github.issue.comment": (_ISSUE_WRITE, ("issues/create-comment", "issues/list-comments")),
    "github.issue.upsert_comment": (
        _ISSUE_WRITE,
        ("issues/list-comments", "issues/create-comment", "issues/update-comment"),
    ),
    "github.issue.add_labels": (_ISSUE_WRITE, ("issues/add-labels",)),
    "github.issue.remove_labels": (_ISSUE_WRITE, ("issues/remove-label",)),
    "github.issue.assign": (_ISSUE_WRITE, ("issues/add-assignees",)),
    "github.issue.unassign": (_ISSUE_WRITE, ("issues/remove-assignees",)),
    "github.issue.update": (_ISSUE_WRITE, ("issues/update",)),
    "github.issue.create": (_ISSUE_WRITE, ("issues/create", "issues/list-for-repo")),
    "command.accept": (
        (*_ISSUE_WRITE, ("pull_requests", "write"), ("metadata", "read")),
        (
            "repos/get-collaborator-permission-level",
            "reactions/create-for-issue-comment",
            "reactions/create-for-pull-request-review-comment",
            "issues/create-comment",
            "issues/list-comments",
        ),
    ),
    "command.done": (
        (*_ISSUE_WRITE, ("pull_requests", "write")),
        ("reactions/create-for-issue-comment", "reactions/create-for-pull-request-review-comment"),
    ),
    "github.search.issues": (
        (("issues", "read"), ("pull_requests", "read")),
        ("search/issues-and-pull-requests",),
    ),
    "github.commit.get": ((("contents", "read"),), ("repos/get-commit",)),
    "github.repository.file": ((("contents", "read"),), ("repos/get-content",)),
    "github.repository.compare": (
        (("contents", "read"),),
        ("repos/compare-commits-with-basehead",),
    ),
    "github.check_run.create": ((("checks", "write"),), ("checks/create", "checks/list-for-ref")),
    "github.check_run.update": ((("checks", "write"),), ("checks/update",)),
    "github.status.set": (
        (("statuses", "write"),),
        ("repos/create-commit-status", "repos/list-commit-statuses-for-ref"),
    ),
    "github.workflow.dispatch": ((("actions", "write"),), ("actions/create-workflow-dispatch",)),
    "github.repository.dispatch": ((("contents", "write"),), ("repos/create-dispatch-event",)),
    "github.pull_request.status": (
        (("pull_requests", "read"), ("checks", "read"), ("statuses", "read")),
        (
            "pulls/get",
            "pulls/list-reviews",
            "checks/list-for-ref",
            "repos/get-combined-status-for-ref",
        ),
    ),
    "dependabot.metadata": ((("pull_requests", "read"),), ("pulls/list-commits", "pulls/get")),
}


def with_needs(types: tuple[NodeType, ...]) -> tuple[NodeType, ...]:
    """The node types with their declared permissions and operations."""
    declared = []
    for node_type in types:
        needs = NODE_NEEDS.get(node_type.name)
        if needs is not None:
            node_type = replace(node_type, permissions=needs[0], operations=needs[1])
        declared.append(node_type)
    return tuple(declared)
