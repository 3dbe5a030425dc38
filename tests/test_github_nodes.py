"""Every GitHub node type against the API double, through the executor, not in dry-run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from engine.github.client import GitHubClient
from engine.github.credentials import AppCredentials
from engine.match.events import Event, parse_event
from engine.nodes import default_registry
from engine.run.executor import ExecutionOptions, execute
from engine.run.record import RunRecord
from tests.double import APP_ID, GitHubDouble
from tests.rulekit import compile_rule

REPO = "octo-org/hello"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
REGISTRY = default_registry()


def pr_event(number: int = 7, labels: tuple[str, ...] = ("bug",)) -> Event:
    return parse_event(
        "pull_request",
        {
            "action": "opened",
            "number": number,
            "pull_request": {
                "number": number,
                "title": "Docs",
                "labels": [{"name": n} for n in labels],
                "user": {"login": "mona", "type": "User"},
                "base": {"ref": "main"},
                "head": {"ref": "changes", "sha": HEAD},
            },
            "repository": {"full_name": REPO},
            "installation": {"id": 1},
            "sender": {"login": "mona", "type": "User"},
        },
        delivery="delivery-1",
    )


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    return seed_world(github)


def seed_world(github: GitHubDouble) -> GitHubDouble:
    """Installation 1 on octo-org, and pull request 7 of octo-org/hello with two files."""
    github.add_installation(1, "octo-org")
    github.world.add_pull(
        REPO, 7, title="Docs", files=["docs/a.md", "src/b.py"], labels=["bug"], head_sha=HEAD
    )
    github.world.repo("octo-org", "hello").files["CODEOWNERS"] = "* @octo-org/owners\n"
    github.world.add_issue(REPO, 3, labels=["bug"], assignees=["mona", "hubot"])  # search, unassign
    github.world.add_issue(REPO, 4, labels=["docs"])
    github.world.add_issue("octo-org/other", 5, labels=["bug"])
    return github


def run_nodes(
    github: GitHubDouble, nodes: dict[str, Any], event: Event | None = None, **options: Any
) -> RunRecord:
    """Run a rule of these nodes against the double, sending for real (not dry-run)."""
    body = {"name": "t", "on": {"events": ["pull_request"]}, "nodes": nodes}
    rule = compile_rule(json.dumps(body), registry=REGISTRY)

    async def go() -> RunRecord:
        client = GitHubClient(
            AppCredentials.from_pem(APP_ID, github.private_key_pem), base_url=github.url
        )
        try:
            settings = ExecutionOptions(github=client.installation(1), dry_run=False, **options)
            return await execute(rule, event or pr_event(), REGISTRY, settings)
        finally:
            await client.aclose()

    return asyncio.run(go())


def node(uses: str, **with_: Any) -> dict[str, Any]:
    return {"n": {"uses": uses, "with": with_}} if with_ else {"n": {"uses": uses}}


def repo(github: GitHubDouble) -> Any:
    return github.world.repo("octo-org", "hello")


CASES: list[tuple[str, dict[str, Any], Callable[[GitHubDouble, RunRecord], None]]] = [
    (
        "github.issue.unassign",
        node("github.issue.unassign", number=3, assignees=["mona"]),
        lambda g, r: _eq(repo(g).issues[3].assignees, ["hubot"]),
    ),
    (
        "github.search.issues",  # the event's repository only; issue 5 of another repo is not found
        node("github.search.issues", q="is:issue is:open label:bug", sort="updated", order="asc"),
        lambda g, r: (
            _eq([i["number"] for i in r.node("n").outputs["items"]], [3]),
            _eq(r.node("n").outputs["total_count"], 1),
            _eq(g.calls("search/issues-and-pull-requests")[0].query["q"],
                [f"repo:{REPO} is:issue is:open label:bug"]),
        ),
    ),
    (
        "github.pull_request.get",
        node("github.pull_request.get"),
        lambda g, r: (
            _eq(r.node("n").outputs["pull_request"]["number"], 7),
            _eq("diff --git a/docs/a.md" in r.node("n").outputs["diff"], True),
            _eq([f["filename"] for f in r.node("n").outputs["files"]], ["docs/a.md", "src/b.py"]),
            _eq(r.node("n").outputs["comments"], []),
        ),
    ),
    (
        "github.pull_request.files",
        node("github.pull_request.files"),
        lambda g, r: _eq(r.node("n").outputs["count"], 2),
    ),
    (
        "github.pull_request.review",
        node("github.pull_request.review", event="APPROVE", body="ok"),
        lambda g, r: (
            _eq(repo(g).pulls[7].reviews[0]["state"], "APPROVED"),
            _eq(r.node("n").outputs["state"], "APPROVED"),
        ),
    ),
    (
        "github.pull_request.request_reviewers",
        node(
            "github.pull_request.request_reviewers", reviewers=["octocat"], team_reviewers=["core"]
        ),
        lambda g, r: _eq(repo(g).pulls[7].requested, ["octocat", "core"]),
    ),
    (
        "github.pull_request.status",
        node("github.pull_request.status"),
        lambda g, r: _eq(
            {k: r.node("n").outputs[k] for k in ("approvals", "checks", "green", "labels", "sha")},
            {
                "approvals": 0,
                "checks": {"success": 0, "failure": 0, "pending": 0, "neutral": 0, "skipped": 0, "total": 0},
                "green": False,  # no check at all is not green
                "labels": ["bug"],
                "sha": HEAD,
            },
        ),
    ),
    (
        "github.pull_request.merge",
        node("github.pull_request.merge", merge_method="squash"),
        lambda g, r: (
            _eq(repo(g).pulls[7].merged, True),
            _eq(g.calls("pulls/merge")[0].body, {"merge_method": "squash", "sha": HEAD}),
        ),
    ),
    (
        "github.issue.comment",
        node("github.issue.comment", body="Thanks @${{ github.sender }}"),
        lambda g, r: (
            _eq(
                [c["body"] for c in repo(g).issues[7].comments],
                ["Thanks @mona\n<!-- hookwise:write=delivery-1:t:n -->"],
            ),
            _eq(r.node("n").outputs["id"], repo(g).issues[7].comments[0]["id"]),
        ),
    ),
    (
        "github.issue.upsert_comment",
        {
            "first": {
                "uses": "github.issue.upsert_comment",
                "with": {"marker": "size", "body": "one"},
            },
            "second": {
                "needs": "first",
                "uses": "github.issue.upsert_comment",
                "with": {"marker": "size", "body": "two"},
            },
        },
        lambda g, r: (
            _eq([c["body"] for c in repo(g).issues[7].comments], ["<!-- hookwise:size -->\ntwo"]),
            _eq(
                (r.node("first").outputs["created"], r.node("second").outputs["created"]),
                (True, False),
            ),
            _eq(r.node("first").outputs["id"], r.node("second").outputs["id"]),
        ),
    ),
    (
        "github.issue.upsert_comment",  # the same text again: found, and no edit is sent
        {
            "first": {
                "uses": "github.issue.upsert_comment",
                "with": {"marker": "size", "body": "same"},
            },
            "second": {
                "needs": "first",
                "uses": "github.issue.upsert_comment",
                "with": {"marker": "size", "body": "same"},
            },
        },
        lambda g, r: (
            _eq([c["body"] for c in repo(g).issues[7].comments], ["<!-- hookwise:size -->\nsame"]),
            _eq(len(g.calls("issues/update-comment")), 0),
            _eq(
                (r.node("second").outputs["created"], r.node("second").outputs["updated"]),
                (False, False),
            ),
            _eq(r.node("first").outputs["id"], r.node("second").outputs["id"]),
        ),
    ),
    (
        "github.issue.add_labels",
        node("github.issue.add_labels", labels=["bug", "docs"]),
        lambda g, r: (
            _eq(repo(g).issues[7].labels, ["bug", "docs"]),
            _eq(g.calls("issues/add-labels")[0].body, {"labels": ["docs"]}),
            _eq(r.node("n").outputs["added"], ["docs"]),
        ),
    ),
    (
        "github.issue.remove_labels",
        node("github.issue.remove_labels", labels=["bug", "absent"]),
        lambda g, r: (
            _eq(repo(g).issues[7].labels, []),
            _eq(len(g.calls("issues/remove-label")), 1),
        ),
    ),
    (
        "github.issue.assign",
        node("github.issue.assign", assignees=["mona"]),
        lambda g, r: _eq(repo(g).issues[7].assignees, ["mona"]),
    ),
    (
        "github.issue.update",
        node("github.issue.update", state="closed", state_reason="not_planned"),
        lambda g, r: (
            _eq(
                (repo(g).issues[7].state, repo(g).issues[7].state_reason), ("closed", "not_planned")
            ),
        ),
    ),
    (
        "github.issue.create",
        node("github.issue.create", title="Follow-up", labels=["chore"]),
        lambda g, r: (
            _eq(repo(g).issues[8].title, "Follow-up"),
            _eq(r.node("n").outputs["number"], 8),
        ),
    ),
    (
        "github.commit.get",
        node("github.commit.get"),
        lambda g, r: _eq(r.node("n").outputs["sha"], HEAD),
    ),
    (
        "github.repository.file",
        node("github.repository.file", path="CODEOWNERS"),
        lambda g, r: _eq(r.node("n").outputs["content"], "* @octo-org/owners\n"),
    ),
    (
        "github.repository.compare",
        node("github.repository.compare", base="main", head="changes"),
        lambda g, r: (
            _eq(r.node("n").outputs["status"], "behind"),
            _eq(
                g.calls("repos/compare-commits-with-basehead")[0].path,
                f"/repos/{REPO}/compare/main...changes",
            ),
        ),
    ),
    (
        "github.check_run.create",
        node(
            "github.check_run.create",
            name="lint",
            status="completed",
            conclusion="failure",
            output={"title": "Bad", "summary": "no"},
        ),
        lambda g, r: (
            _eq(
                [(c["name"], c["conclusion"], c["head_sha"]) for c in repo(g).check_runs.values()],
                [("lint", "failure", HEAD)],
            ),
        ),
    ),
    (
        "github.check_run.update",
        {
            "create": {
                "uses": "github.check_run.create",
                "with": {"name": "lint", "status": "in_progress"},
            },
            "finish": {
                "needs": "create",
                "uses": "github.check_run.update",
                "with": {
                    "check_run_id": "${{ nodes.create.outputs.id }}",
                    "status": "completed",
                    "conclusion": "success",
                },
            },
        },
        lambda g, r: _eq([c["conclusion"] for c in repo(g).check_runs.values()], ["success"]),
    ),
    (
        "github.status.set",
        node("github.status.set", state="pending", context="hookwise/wip"),
        lambda g, r: (
            _eq(
                [(s["state"], s["context"], s["sha"]) for s in repo(g).statuses],
                [("pending", "hookwise/wip", HEAD)],
            ),
        ),
    ),
    (
        "github.workflow.dispatch",
        node("github.workflow.dispatch", workflow_id="ci.yml", inputs={"level": 3}),
        lambda g, r: (
            _eq(
                repo(g).dispatches,
                [
                    {
                        "kind": "workflow_dispatch",
                        "workflow": "ci.yml",
                        "ref": "main",
                        "inputs": {"level": 3},
                    }
                ],
            ),
        ),
    ),
    (
        "github.repository.dispatch",
        node(
            "github.repository.dispatch",
            event_type="deploy",
            client_payload={"sha": "${{ github.sha }}"},
        ),
        lambda g, r: (
            _eq(
                repo(g).dispatches,
                [
                    {
                        "kind": "repository_dispatch",
                        "event_type": "deploy",
                        "client_payload": {"sha": HEAD},
                    }
                ],
            ),
        ),
    ),
]


def _eq(actual: Any, expected: Any) -> None:
    assert actual == expected


@pytest.mark.parametrize(("uses", "nodes", "check"), CASES, ids=[c[0] for c in CASES])
def test_node_type_against_the_double(
    world: GitHubDouble, uses: str, nodes: dict[str, Any], check: Any
) -> None:
    record = run_nodes(world, nodes)
    assert record.status == "success", [(n.id, n.status, n.error) for n in record.nodes]
    check(world, record)
    # a node calls only what its type declares (the App manifest asks for those permissions)
    called = {r.operation for r in world.requests} - {"apps/create-installation-access-token"}
    declared = {op for n in nodes.values() for op in REGISTRY.get(n["uses"]).operations}  # type: ignore[union-attr]
    assert called <= declared, called - declared
    writes = [c for c in record.calls if c.method != "GET"]
    assert all(c.sent and c.idempotency_key == f"delivery-1:t:{c.node}" for c in writes)


def test_every_github_node_type_has_a_case() -> None:
    github_types = {name for name in REGISTRY.names() if name.startswith("github.")}
    assert github_types == {c[0] for c in CASES}


def test_404_fails_the_node_with_githubs_message(world: GitHubDouble) -> None:
    record = run_nodes(world, node("github.repository.file", path="missing.txt"))
    assert (record.status, record.node("n").status) == ("failure", "failure")
    assert record.node("n").error == "GitHub 404: Not Found"


def test_merge_is_guarded_by_the_head_sha(world: GitHubDouble) -> None:
    record = run_nodes(world, node("github.pull_request.merge", sha="0" * 40))
    assert (
        record.node("n").error
        == "GitHub 409: Head branch was modified. Review and try the merge again."
    )
    assert repo(world).pulls[7].merged is False


def test_add_labels_sends_nothing_when_all_are_present(world: GitHubDouble) -> None:
    record = run_nodes(world, node("github.issue.add_labels", labels=["BUG"]))
    assert record.status == "success"
    assert world.calls("issues/add-labels") == []


def test_pr_context_is_fetched_once_per_run(world: GitHubDouble) -> None:
    record = run_nodes(
        world,
        {
            "a": {"uses": "github.pull_request.get"},
            "b": {"needs": "a", "uses": "github.pull_request.get"},
            "c": {"needs": "b", "uses": "github.pull_request.files"},
        },
    )
    assert record.status == "success"
    assert len(world.calls("pulls/list-files")) == 1
    assert len(world.calls("pulls/get")) == 2  # the PR and its diff, once


def test_retryable_github_error_uses_the_node_retry_policy(world: GitHubDouble) -> None:
    world.inject("POST", r"/issues/7/comments$", status=502, times=1)
    record = run_nodes(
        world,
        {
            "n": {
                "uses": "github.issue.comment",
                "with": {"body": "x"},
                "retry": {"attempts": 2, "delay": "10ms"},
            }
        },
    )
    assert (record.status, record.node("n").attempts) == ("success", 2)
    assert len(repo(world).issues[7].comments) == 1


def test_a_retried_run_does_not_comment_twice(world: GitHubDouble) -> None:
    nodes = {
        "comment": {"uses": "github.issue.comment", "with": {"body": "once"}},
        "label": {
            "needs": "comment",
            "uses": "github.issue.add_labels",
            "with": {"labels": ["docs"]},
        },
    }
    world.inject("POST", r"/issues/7/labels$", status=500)  # the first attempt dies half-way
    first = run_nodes(world, nodes)
    assert [(n.id, n.status) for n in first.nodes] == [("comment", "success"), ("label", "failure")]
    completed = {f"delivery-1:t:{n.id}": n.outputs for n in first.nodes if n.status == "success"}
    second = run_nodes(world, nodes, completed=completed)
    assert second.status == "success"
    assert [c["body"] for c in repo(world).issues[7].comments] == [
        "once\n<!-- hookwise:write=delivery-1:t:comment -->"
    ]
    assert repo(world).issues[7].labels == ["bug", "docs"]
    assert second.node("comment").outputs == first.node("comment").outputs


def test_a_comment_posted_before_a_crash_is_found_not_repeated(world: GitHubDouble) -> None:
    nodes = {"comment": {"uses": "github.issue.comment", "with": {"body": "once"}}}
    run_nodes(world, nodes)  # the comment is posted; pretend the record of it was lost
    record = run_nodes(world, nodes, recovering=True)
    assert record.status == "success"
    assert len(repo(world).issues[7].comments) == 1
    assert record.node("comment").outputs["id"] == repo(world).issues[7].comments[0]["id"]
