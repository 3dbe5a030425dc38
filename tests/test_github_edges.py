"""Edges where hookwise must read GitHub exactly (issue 23): commits and branches of merge
queues and workflow jobs, a push commit's 3,000-file cap, the permissions GitHub's webhook
descriptions ask for, the values GitHub accepts, and GitHub's answers a node should take in
its stride (a label already gone, a diff too large to render)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.declarations.builtin import declared_registry
from engine.lang.manifest import ALWAYS_DELIVERED, EVENT_PERMISSIONS
from engine.match.events import parse_event
from tests.conftest import DATA
from tests.double import GitHubDouble
from tests.test_github_nodes import node, pr_event, run_nodes, seed_world


def webhook(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / "webhooks" / f"{name}.json").read_text()))


@pytest.mark.parametrize(
    ("event", "fixture", "sha", "ref"),
    [
        ("merge_group", "merge_group.checks_requested", "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d", "refs/heads/main"),
        ("workflow_job", "workflow_job.queued", "3484a3fb816e0859fd6e1cea078d76385ff50625", "refs/heads/main"),
    ],
)
def test_merge_queues_and_workflow_jobs_carry_their_commit_and_branch(
    event: str, fixture: str, sha: str, ref: str
) -> None:
    parsed = parse_event(event, webhook(fixture))
    assert (parsed.sha, parsed.ref) == (sha, ref)


def test_a_push_commit_listing_3000_files_may_list_only_part_of_them() -> None:
    files = [f"src/f{i}.py" for i in range(3000)]
    payload = {
        "ref": "refs/heads/main",
        "before": "1" * 40,
        "after": "2" * 40,
        "commits": [{"id": "2" * 40, "added": files, "removed": [], "modified": []}],
        "repository": {"full_name": "octo-org/hello"},
        "sender": {"login": "mona", "type": "User"},
    }
    parsed = parse_event("push", payload)
    assert (parsed.changed_files, parsed.files_source) == (None, "compare")
    payload["commits"][0]["added"] = files[:2999]
    assert parse_event("push", payload).files_source == "payload"


# GitHub's "Webhook events and payloads": "To subscribe to this event, a GitHub App must have
# at least read-level access for the ... permission."
@pytest.mark.parametrize(
    ("event", "permission"),
    [
        ("deploy_key", ("deployments", "read")),  # "Deployments" repository permission
        ("deployment_review", ("deployments", "read")),  # "Deployments" repository permission
        ("org_block", ("organization_administration", "read")),  # "Administration" organization
        ("custom_property", ("organization_custom_properties", "read")),  # "Custom properties"
        ("custom_property_values", ("organization_custom_properties", "read")),
        ("meta", None),  # the "Meta" app permission: subscribed to, with no manifest key known
    ],
)
def test_event_permissions_are_githubs(event: str, permission: tuple[str, str] | None) -> None:
    assert EVENT_PERMISSIONS[event] == permission
    assert event not in ALWAYS_DELIVERED


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    return seed_world(github)


def _inputs_valid(node_type: str, inputs: dict[str, Any]) -> bool:
    found = declared_registry().get(node_type)
    assert found is not None
    return Draft202012Validator(found.inputs).is_valid(inputs)


def test_only_github_may_conclude_a_check_run_stale() -> None:
    assert _inputs_valid("github.check_run.create", {"name": "x", "status": "completed", "conclusion": "success"})
    assert not _inputs_valid("github.check_run.create", {"name": "x", "status": "completed", "conclusion": "stale"})


def test_an_issue_can_be_closed_as_a_duplicate() -> None:
    assert _inputs_valid("github.issue.update", {"state": "closed", "state_reason": "duplicate"})


def test_removing_a_label_that_is_already_gone_succeeds(world: GitHubDouble) -> None:
    # the payload still lists the label; GitHub answers 404 "Label does not exist"
    record = run_nodes(world, node("github.issue.remove_labels", labels=["stale"]), pr_event(labels=("bug", "stale")))
    assert record.status == "success", record.nodes[0].error
    assert record.nodes[0].outputs == {"removed": []}


def test_a_diff_too_large_leaves_the_rest_of_the_pull_request(world: GitHubDouble) -> None:
    world.inject(
        "GET",
        r"/pulls/7$",
        accept="diff",
        status=406,
        body={"message": "Sorry, the diff exceeded the maximum number of files (300).", "documentation_url": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request"},
    )
    record = run_nodes(world, node("github.pull_request.get"))
    assert record.status == "success", record.nodes[0].error
    outputs = record.nodes[0].outputs or {}
    assert outputs["diff"] is None
    assert "406" in outputs["diff_error"] and outputs["pull_request"]["number"] == 7
