"""Declarations of the built-in node types: inputs (JSON Schema), outputs, descriptions.

Inputs use GitHub's REST parameter names. `owner`, `repo` and `number` (or `sha`) may be
given on every GitHub node and default to the event's.
"""

from __future__ import annotations

from typing import Any

from engine.declarations.registry import NodeType


def _s(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _i(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "description": description, **extra}


def strings(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": description,
        **extra,
    }


def object_schema(
    properties: dict[str, Any], *, required: tuple[str, ...] = (), description: str = ""
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


_REPO_TARGET = {
    "owner": _s("Repository owner; defaults to the event's repository owner"),
    "repo": _s("Repository name; defaults to the event's repository"),
}
ISSUE_TARGET = {
    **_REPO_TARGET,
    "number": _i("Issue or pull request number; defaults to the event's", minimum=1),
}
_COMMIT_TARGET = {
    **_REPO_TARGET,
    "sha": _s("Commit SHA; defaults to the event's head SHA"),
}

_ANNOTATION = object_schema(
    {
        "path": _s("File path relative to the repository root"),
        "start_line": _i("First line of the annotation", minimum=1),
        "end_line": _i("Last line of the annotation", minimum=1),
        "start_column": _i("First column (same line only)", minimum=1),
        "end_column": _i("Last column (same line only)", minimum=1),
        "annotation_level": _s("Severity", enum=["notice", "warning", "failure"]),
        "message": _s("What the annotation says"),
        "title": _s("A short title"),
        "raw_details": _s("Details shown when expanded"),
    },
    required=("path", "start_line", "end_line", "annotation_level", "message"),
    description="A check run annotation",
)
_CHECK_OUTPUT = object_schema(
    {
        "title": _s("Title of the check run output"),
        "summary": _s("Summary, Markdown"),
        "text": _s("Details, Markdown"),
        "annotations": {
            "type": "array",
            "items": _ANNOTATION,
            "maxItems": 50,
            "description": "Up to 50 annotations per request, as GitHub allows",
        },
    },
    required=("title", "summary"),
    description="The check run's output: title, summary, text and annotations",
)
_CONCLUSIONS = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
]  # GitHub's list less "stale", which only GitHub may set
_CHECK_FIELDS = {
    "status": _s("Check run status", enum=["queued", "in_progress", "completed"]),
    "conclusion": _s("Required when status is completed", enum=_CONCLUSIONS),
    "output": _CHECK_OUTPUT,
    "details_url": _s("URL with the full details", format="uri"),
    "external_id": _s("Your own reference for this check run"),
}
_REVIEW_COMMENT = object_schema(
    {
        "path": _s("File path the comment is on"),
        "body": _s("Comment text, Markdown"),
        "line": _i("Line in the diff's new file", minimum=1),
        "side": _s("Side of the diff", enum=["LEFT", "RIGHT"]),
        "start_line": _i("First line of a multi-line comment", minimum=1),
        "start_side": _s("Side of start_line", enum=["LEFT", "RIGHT"]),
        "position": _i("Position in the diff (legacy)", minimum=1),
    },
    required=("path", "body"),
    description="An inline review comment",
)


def _github(
    name: str,
    description: str,
    properties: dict[str, Any],
    *,
    outputs: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
    target: dict[str, Any] = ISSUE_TARGET,
    writes: bool = True,
) -> NodeType:
    inputs = object_schema({**target, **properties}, required=required)
    return NodeType(name, description, inputs, outputs, writes=writes)


BUILTIN_TYPES: tuple[NodeType, ...] = (
    _github(
        "github.pull_request.get",
        "Fetch the pull request with its diff, changed files and comments (`diff` is null, and "
        "`diff_error` says why, when GitHub cannot render the diff)",
        {},
        outputs=("pull_request", "diff", "diff_error", "files", "comments"),
        writes=False,
    ),
    _github(
        "github.pull_request.files",
        "List the pull request's changed files (all pages, up to GitHub's 3,000)",
        {},
        outputs=("files", "count"),
        writes=False,
    ),
    _github(
        "github.pull_request.review",
        "Submit a pull request review: approve, request changes or comment",
        {
            "event": _s("The review action", enum=["APPROVE", "REQUEST_CHANGES", "COMMENT"]),
            "body": _s("Review text, Markdown; required for REQUEST_CHANGES and COMMENT"),
            "comments": {
                "type": "array",
                "items": _REVIEW_COMMENT,
                "description": "Inline comments on the diff",
            },
            "commit_id": _s("The commit to review; defaults to the head SHA"),
        },
        outputs=("id", "state", "url"),
        required=("event",),
    ),
    _github(
        "github.pull_request.request_reviewers",
        "Request reviews from users or teams",
        {
            "reviewers": strings("User logins to request a review from"),
            "team_reviewers": strings("Team slugs to request a review from"),
        },
        outputs=("reviewers", "team_reviewers"),
    ),
    _github(
        "github.pull_request.merge",
        "Merge the pull request, only if its head is still the SHA the rule saw",
        {
            "merge_method": _s("How to merge", enum=["merge", "squash", "rebase"]),
            "commit_title": _s("Title of the merge commit"),
            "commit_message": _s("Extra detail for the merge commit"),
            "sha": _s("The head SHA the merge is guarded by; defaults to the event's head SHA"),
        },
        outputs=("merged", "sha", "message"),
    ),
    _github(
        "github.issue.comment",
        "Comment on an issue or pull request",
        {"body": _s("Comment text, Markdown", minLength=1)},
        outputs=("id", "url"),
        required=("body",),
    ),
    _github(
        "github.issue.upsert_comment",
        "Create, or update in place, the one comment that carries a hidden marker",
        {
            "marker": _s("A unique key kept in a hidden HTML comment", minLength=1),
            "body": _s("Comment text, Markdown", minLength=1),
        },
        outputs=("id", "url", "created", "updated"),
        required=("marker", "body"),
    ),
    _github(
        "github.issue.add_labels",
        "Add labels (only those not already present are sent)",
        {"labels": strings("Label names to add", minItems=1)},
        outputs=("labels", "added"),
        required=("labels",),
    ),
    _github(
        "github.issue.remove_labels",
        "Remove labels that are present",
        {"labels": strings("Label names to remove", minItems=1)},
        outputs=("removed",),
        required=("labels",),
    ),
    _github(
        "github.issue.assign",
        "Add assignees",
        {"assignees": strings("User logins to assign", minItems=1)},
        outputs=("assignees",),
        required=("assignees",),
    ),
    _github(
        "github.issue.unassign",
        "Remove assignees",
        {"assignees": strings("User logins to unassign", minItems=1)},
        outputs=("assignees",),
        required=("assignees",),
    ),
    _github(
        "github.issue.update",
        "Edit an issue or pull request: title, body, state",
        {
            "title": _s("New title"),
            "body": _s("New body, Markdown"),
            "state": _s("open or closed", enum=["open", "closed"]),
            "state_reason": _s(
                "Why the state changed", enum=["completed", "not_planned", "duplicate", "reopened"]
            ),
        },
        outputs=("number", "state", "url"),
    ),
    _github(
        "github.issue.create",
        "Open a new issue",
        {
            "title": _s("Issue title", minLength=1),
            "body": _s("Issue body, Markdown"),
            "labels": strings("Labels to set"),
            "assignees": strings("Logins to assign"),
        },
        outputs=("number", "url"),
        required=("title",),
        target=_REPO_TARGET,
    ),
    _github(
        "github.search.issues",
        "Search issues and pull requests (GitHub's search syntax; limited to the event's "
        "repository unless the query names repo:, org: or user:), all pages up to `max`",
        {
            "q": _s("The search query, e.g. is:open is:issue updated:<2026-01-01", minLength=1),
            "sort": {
                "type": "string",
                "enum": ["created", "updated", "comments", "interactions", "reactions"],
                "description": "Sort by this field (default: best match)",
            },
            "order": {"type": "string", "enum": ["asc", "desc"], "description": "Sort order"},
            "max": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000,
                "description": "At most this many results (default 100; the API stops at 1,000)",
            },
        },
        outputs=("items", "count", "total_count", "incomplete"),
        required=("q",),
        target=_REPO_TARGET,
        writes=False,
    ),
    _github(
        "github.commit.get",
        "Fetch a commit with its files and patches",
        {},
        outputs=("commit", "files", "sha"),
        target=_COMMIT_TARGET,
        writes=False,
    ),
    _github(
        "github.repository.file",
        "Read a file's decoded content",
        {
            "path": _s("File path in the repository", minLength=1),
            "ref": _s("Branch, tag or SHA; defaults to the repository's default branch"),
        },
        outputs=("content", "sha"),
        required=("path",),
        target=_REPO_TARGET,
        writes=False,
    ),
    _github(
        "github.repository.compare",
        "Compare two refs",
        {
            "base": _s("Base ref", minLength=1),
            "head": _s("Head ref", minLength=1),
        },
        outputs=("status", "ahead_by", "behind_by", "commits", "files"),
        required=("base", "head"),
        target=_REPO_TARGET,
        writes=False,
    ),
    _github(
        "github.check_run.create",
        "Create a check run on a commit",
        {
            "name": _s("The check's name", minLength=1),
            "head_sha": _s("The commit; defaults to the event's head SHA"),
            **_CHECK_FIELDS,
        },
        outputs=("id", "url"),
        required=("name",),
        target=_REPO_TARGET,
    ),
    _github(
        "github.check_run.update",
        "Update a check run",
        {
            "check_run_id": _i("The check run to update", minimum=1),
            "name": _s("The check's name", minLength=1),
            **_CHECK_FIELDS,
        },
        outputs=("id", "url"),
        required=("check_run_id",),
        target=_REPO_TARGET,
    ),
    _github(
        "github.status.set",
        "Set a commit status",
        {
            "state": _s("The status", enum=["error", "failure", "pending", "success"]),
            "context": _s("A label that tells this status apart from others"),
            "description": _s("A short description"),
            "target_url": _s("A URL with details", format="uri"),
        },
        outputs=("id", "url"),
        required=("state",),
        target=_COMMIT_TARGET,
    ),
    _github(
        "github.workflow.dispatch",
        "Start a GitHub Actions workflow (workflow_dispatch)",
        {
            "workflow_id": {
                "type": ["string", "integer"],
                "description": "The workflow's file name (ci.yml) or numeric id",
            },
            "ref": _s("The branch or tag to run on; defaults to the event's branch"),
            "inputs": {
                "type": "object",
                "maxProperties": 25,
                "additionalProperties": {"type": ["string", "number", "boolean"]},
                "description": "The workflow's inputs (at most 25)",
            },
        },
        required=("workflow_id",),
        target=_REPO_TARGET,
    ),
    _github(
        "github.repository.dispatch",
        "Send a repository_dispatch event",
        {
            "event_type": _s("The custom event type", minLength=1, maxLength=100),
            "client_payload": {
                "type": "object",
                "maxProperties": 10,
                "description": "Extra data for the receiving workflows (at most 10 keys)",
            },
        },
        required=("event_type",),
        target=_REPO_TARGET,
    ),
    NodeType(
        "core.log",
        "Write a message into the run record",
        object_schema({"message": _s("The message")}, required=("message",)),
        ("message",),
    ),
    NodeType(
        "core.set",
        "Compute values; the node's outputs are the given map",
        object_schema(
            {
                "outputs": {
                    "type": "object",
                    "description": "Output name -> value; expressions allowed",
                    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                }
            },
            required=("outputs",),
        ),
        outputs_from_input="outputs",
    ),
    NodeType(
        "core.fail",
        "Fail the node with a message",
        object_schema({"message": _s("Why the node fails")}, required=("message",)),
    ),
)
