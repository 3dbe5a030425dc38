"""github.pull_request.status against the double: every check counted once, in pages."""

from __future__ import annotations

import pytest

from tests.double import GitHubDouble
from tests.test_github_nodes import HEAD, REPO, node, run_nodes


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    github.add_installation(1, "octo-org")
    github.world.add_pull(REPO, 7, head_sha=HEAD, labels=["bug"])
    return github


def status(world: GitHubDouble, **inputs: object) -> dict[str, object]:
    record = run_nodes(world, node("github.pull_request.status", **inputs))
    assert record.status == "success", record.node("n").error
    return record.node("n").outputs


def test_every_page_of_check_runs_is_counted(world: GitHubDouble) -> None:
    for index in range(120):
        world.world.add_check_run(REPO, HEAD, f"job-{index:03}")
    world.world.add_check_run(REPO, HEAD, "slow", status="queued", conclusion=None)
    out = status(world)
    assert out["checks"] == {"success": 120, "failure": 0, "pending": 1, "neutral": 0, "skipped": 0, "total": 121}
    assert (out["pending"], out["green"]) == (["slow"], False)
    assert len(world.calls("checks/list-for-ref")) == 2


@pytest.mark.parametrize(
    ("conclusion", "bucket"),
    [
        ("success", "success"),
        ("neutral", "neutral"),
        ("skipped", "skipped"),
        ("failure", "failure"),
        ("cancelled", "failure"),
        ("timed_out", "failure"),
        ("action_required", "failure"),
    ],
)
def test_conclusions_land_in_their_bucket(world: GitHubDouble, conclusion: str, bucket: str) -> None:
    world.world.add_check_run(REPO, HEAD, "ci", conclusion=conclusion)
    out = status(world)
    assert out["checks"][bucket] == 1  # type: ignore[index]
    assert out["green"] is (bucket != "failure")


def test_the_newest_status_of_a_context_counts_and_ignored_names_do_not(world: GitHubDouble) -> None:
    world.world.add_status(REPO, HEAD, "ci/lint", "failure")
    world.world.add_status(REPO, HEAD, "ci/lint", "success")
    world.world.add_status(REPO, HEAD, "deploy/preview", "error")
    world.world.add_check_run(REPO, HEAD, "hookwise / rules", conclusion="failure")
    out = status(world, ignore=["deploy/*", "hookwise / *"])
    assert (out["passing"], out["failing"], out["green"]) == (["ci/lint"], [], True)
    out = status(world)
    assert out["failing"] == ["deploy/preview", "hookwise / rules"]


def test_only_reviewers_with_write_access_count(world: GitHubDouble) -> None:
    from engine.nodes.readiness import stances

    def review(login: str, state: str, association: str) -> dict[str, object]:
        return {"user": {"login": login}, "state": state, "author_association": association}

    reviews = [
        review("sockpuppet1", "APPROVED", "NONE"),
        review("sockpuppet2", "APPROVED", "FIRST_TIME_CONTRIBUTOR"),
        review("maintainer", "APPROVED", "MEMBER"),
        review("owner", "APPROVED", "OWNER"),
        review("outsider", "CHANGES_REQUESTED", "CONTRIBUTOR"),
    ]
    assert stances(reviews) == (["maintainer", "owner"], [])
