"""GitHub's budget spent with care (issue 23): secondary limits waited out (by the worker's
job, not the worker), writes paced per installation, answers kept for conditional requests,
on the API double that enforces GitHub's documented secondary limits and serves ETags."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.edge.web import create_app
from engine.github.api import RateLimited
from engine.github.rate_limits import LocalWriteLanes
from tests.double import GitHubDouble
from tests.double.server import SECONDARY_MESSAGE
from tests.serverkit import server_settings, signed, wait_until, write_rule
from tests.test_github_client import REPO, Sleeps, run

COMMENT_RULE = """name: thanks
on:
  events:
    issues: {types: [opened]}
nodes:
  thank:
    uses: github.issue.comment
    with: {body: "thanks for ${{ github.number }}"}
"""
PATHS_RULE = """name: docs
on:
  events:
    pull_request: {paths: ['docs/**']}
nodes:
  l: {uses: core.log, with: {message: docs}}
"""


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    github.add_installation(1, "octo-org")
    github.world.add_pull(REPO, 7, title="Docs", files=["docs/a.md", "src/b.py"], labels=["bug"])
    return github


def secondary_limit(github: GitHubDouble, path: str, **extra: Any) -> None:
    github.inject("POST", path, status=403, body={"message": SECONDARY_MESSAGE}, **extra)


def comment(client: Any) -> Any:
    return client.installation(1).request("POST", f"/repos/{REPO}/issues/7/comments", body={"body": "hi"})


def test_a_secondary_limit_without_retry_after_is_waited_out_for_at_least_a_minute(world: GitHubDouble) -> None:
    # without a deadline the client waited at most 60 s, less than the least wait: it gave up
    secondary_limit(world, r"/comments$")
    sleeps = Sleeps()
    run(world, comment, sleep=sleeps)
    assert len(sleeps.calls) == 1 and 60.0 <= sleeps.calls[0] <= 66.0
    assert [r.status for r in world.calls("issues/create-comment")] == [403, 201]


def test_a_worker_does_not_hold_a_long_wait_it_raises_it_for_its_job(world: GitHubDouble) -> None:
    secondary_limit(world, r"/comments$")

    async def body(client: Any) -> float:
        with pytest.raises(RateLimited) as caught:
            await comment(client)
        return caught.value.wait

    assert run(world, body, sleep=Sleeps(), max_hold=5.0) >= 60.0


def test_writes_of_one_installation_go_a_gap_apart(world: GitHubDouble) -> None:
    clock = [1000.0]
    sleeps = Sleeps()

    async def body(client: Any) -> None:
        await asyncio.gather(*(comment(client) for _ in range(3)))

    run(world, body, sleep=sleeps, write_gap=1.0, lanes=LocalWriteLanes(lambda: clock[0]), clock=lambda: clock[0])
    assert sorted(sleeps.calls) == [1.0, 2.0]  # the first goes at once, the next 1 s and 2 s later


def test_repeated_reads_of_pull_request_files_are_served_from_a_304(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(1, "Codertocat")
    github.world.add_pull("Codertocat/Hello-World", 2, files=["docs/a.md"], head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821")
    rules = write_rule(tmp_path / "rules", "docs", PATHS_RULE)
    payload = {
        "action": "synchronize",
        "number": 2,
        "pull_request": {
            "number": 2, "title": "x", "labels": [], "user": {"login": "mona", "type": "User"},
            "base": {"ref": "main"}, "head": {"ref": "b", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
        },
        "repository": {"full_name": "Codertocat/Hello-World", "id": 1},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }
    with TestClient(create_app(server_settings(tmp_path, rules, github))) as client:
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]
        for delivery in ("files-1", "files-2"):
            body, headers = signed(payload, "pull_request", delivery)
            assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
            wait_until(lambda d=delivery: bool(store.runs(d)))
        metrics = client.get("/metrics").text
    reads = [r for r in github.requests if r.path.endswith("/pulls/2/files")]
    assert [(r.status, r.if_none_match is not None) for r in reads] == [(200, False), (304, True)]
    assert [store.runs(d)[0]["status"] for d in ("files-1", "files-2")] == ["success", "success"]
    assert 'hookwise_github_answers{outcome="304"} 1.0' in metrics


@pytest.mark.slow
def test_200_comments_under_githubs_secondary_limits_each_once_and_none_failed(
    tmp_path: Path, github: GitHubDouble
) -> None:
    """GitHub's clock runs 20 times faster here: a minute is 3 s, the gap between writes
    0.05 s (GitHub: 1 s) and the least wait after a secondary limit 3 s (GitHub: a minute)."""
    minute = 3.0
    github.add_installation(1, "octo-org")
    limits = github.enforce_secondary_limits(per_minute=80, per_hour=500, minute=minute)
    secondary_limit(github, r"/comments$")  # GitHub may refuse at any time: the first write here
    for number in range(1, 201):
        github.world.add_issue(REPO, number)
    rules = write_rule(tmp_path / "rules", "thanks", COMMENT_RULE)
    config = server_settings(
        tmp_path, rules, github, workers=4, github_write_gap=minute / 60,
        github_secondary_wait=minute, github_max_hold=minute / 6,
    )
    with TestClient(create_app(config)) as client:
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]
        for number in range(1, 201):
            payload = {
                "action": "opened",
                "issue": {"number": number, "labels": [], "user": {"login": "mona", "type": "User"}},
                "repository": {"full_name": REPO, "id": 1},
                "installation": {"id": 1},
                "sender": {"login": "mona", "type": "User"},
            }
            body, headers = signed(payload, "issues", f"c-{number}")
            assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
        wait_until(lambda: sum(len(store.runs(f"c-{n}")) for n in range(1, 201)) == 200, timeout=120)
        runs = [r for n in range(1, 201) for r in store.runs(f"c-{n}")]
    hello = github.world.repo("octo-org", "hello")
    bodies = sorted(c["body"].split("\n")[0] for issue in hello.issues.values() for c in issue.comments)
    assert bodies == sorted(f"thanks for {n}" for n in range(1, 201))  # each exactly once
    assert {r["status"] for r in runs} == {"success"}
    first_limit = min(r.at for r in github.requests if r.status == 403)
    assert limits.most_in_a_minute(since=first_limit) <= 80
    assert time.time() > first_limit
