"""The GitHub node types, by REST name: the registry's door to their implementations."""

from __future__ import annotations

from engine.nodes import dependabot, issues, pulls, readiness, repos

IMPLEMENTATIONS = {
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
    "github.issue.update": issues.update_issue,
    "github.issue.create": issues.create_issue,
    "github.commit.get": repos.commit_get,
    "github.repository.file": repos.repository_file,
    "github.repository.compare": repos.compare,
    "github.check_run.create": repos.check_run_create,
    "github.check_run.update": repos.check_run_update,
    "github.status.set": repos.status_set,
    "github.workflow.dispatch": repos.workflow_dispatch,
    "github.repository.dispatch": repos.repository_dispatch,
}
