"""The stale recipe (rules/stale.yaml) on the GitHub double: its searches answered from the
double's issues (GitHub's qualifiers), its writes applied. It labels and comments on exactly
the issues idle for 30 days, closes exactly those stale for 7 more, keeps within its
operations budget, and a second run the same day writes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.github.client import GitHubClient
from engine.github.credentials import AppCredentials
from engine.lang.cron import parse_cron
from engine.lang.files import load_rules
from engine.lang.model import Rule
from engine.match.events import parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import match
from engine.nodes import default_registry
from engine.run.executor import ExecutionOptions, execute
from engine.run.record import RunRecord
from tests.conftest import REPO
from tests.double import APP_ID, GitHubDouble

REGISTRY = default_registry()
DAY = 86400.0
REPOSITORY = "octo-org/hello"


def stale_rule(budget: int | None = None) -> Rule:
    (rule,) = load_rules([str(REPO / "rules" / "stale.yaml")], REGISTRY).rules
    if budget is not None:
        from dataclasses import replace

        rule = replace(rule, operations_per_run=budget)
    return rule


def tick_run(github: GitHubDouble, rule: Rule, tick: float, delivery: str) -> RunRecord:
    """One tick of the rule for the repository, decided and executed as the workers do."""
    payload = {
        "schedule": {
            "cron": "30 1 * * *",
            "tick": datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rule": "stale",
        },
        "repository": {"full_name": REPOSITORY, "name": "hello", "owner": {"login": "octo-org"}},
        "installation": {"id": 1},
    }
    event = parse_event("schedule", payload, delivery=delivery)
    assert [m.rule.name for m in match(event, RuleIndex([rule])).matched] == ["stale"]

    async def go() -> RunRecord:
        client = GitHubClient(
            AppCredentials.from_pem(APP_ID, github.private_key_pem), base_url=github.url
        )
        try:
            options = ExecutionOptions(github=client.installation(1), dry_run=False)
            return await execute(rule, event, REGISTRY, options)
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.fixture
def world(github: GitHubDouble) -> tuple[GitHubDouble, float]:
    github.add_installation(1, "octo-org")
    # the recipe's last tick (01:30 UTC): the issues' ages are counted back from it
    now = parse_cron("30 1 * * *").at_or_before(datetime.now(UTC)).timestamp()
    issues: dict[int, dict[str, Any]] = {
        1: {"age": 40},  # idle: marked
        2: {"age": 45, "labels": ["pinned"]},  # exempt
        3: {"age": 50, "assignees": ["mona"]},  # exempt
        4: {"age": 10, "labels": ["stale"]},  # stale for 10 days: closed
        5: {"age": 3, "labels": ["stale"]},  # stale for 3 days: waits
        6: {"age": 5},  # active: left alone
        7: {"age": 60, "state": "closed"},  # closed: left alone
        8: {"age": 31, "labels": ["bug"]},  # idle: marked
    }
    for number, spec in issues.items():
        issue = github.world.add_issue(
            REPOSITORY, number, labels=list(spec.get("labels", [])),
            assignees=list(spec.get("assignees", [])), state=spec.get("state", "open"),
        )
        issue.updated_at = issue.created_at = now - spec["age"] * DAY
    return github, now


def writes(record: RunRecord) -> list[tuple[str, str]]:
    return [(c.method, c.path) for c in record.calls if c.method != "GET"]


def test_stale_marks_and_closes_exactly_what_it_should_then_writes_nothing_the_same_day(
    world: tuple[GitHubDouble, float],
) -> None:
    github, now = world
    first = tick_run(github, stale_rule(), now, "tick-1")
    assert first.status == "success", first.error
    repo = github.world.repo("octo-org", "hello")
    assert sorted(n for n, i in repo.issues.items() if "stale" in i.labels and i.state == "open") == [1, 5, 8]
    assert {n: len(i.comments) for n, i in repo.issues.items() if i.comments} == {1: 1, 8: 1}
    assert "no activity for 30 days" in repo.issues[1].comments[0]["body"]
    assert [n for n, i in repo.issues.items() if i.state == "closed"] == [4, 7]
    assert repo.issues[4].state_reason == "not_planned"
    assert sorted(writes(first)) == sorted([
        ("POST", f"/repos/{REPOSITORY}/issues/1/labels"),
        ("POST", f"/repos/{REPOSITORY}/issues/8/labels"),
        ("POST", f"/repos/{REPOSITORY}/issues/1/comments"),
        ("POST", f"/repos/{REPOSITORY}/issues/8/comments"),
        ("PATCH", f"/repos/{REPOSITORY}/issues/4"),
    ])
    assert len(first.calls) <= 200  # within the recipe's operations-per-run
    # the same tick once more the same day (a replay): nothing to write
    second = tick_run(github, stale_rule(), now, "tick-2")
    assert second.status == "success"
    assert writes(second) == []


def test_the_operations_budget_leaves_the_rest_for_the_next_run(
    world: tuple[GitHubDouble, float],
) -> None:
    github, now = world
    # the two searches, then the labels: the budget is spent before the comments
    first = tick_run(github, stale_rule(budget=4), now, "tick-1")
    assert len(first.calls) == 4
    told = [*first.logs, *(n.reason or "" for n in first.nodes)]
    assert any("operations-per-run" in line for line in told)
    # the next nights go on from where it stopped, each within the budget, repeating nothing
    nights = [
        tick_run(github, stale_rule(budget=4), now + n * DAY, f"tick-{n + 1}") for n in range(1, 4)
    ]
    assert all(len(night.calls) <= 4 for night in nights)
    repo = github.world.repo("octo-org", "hello")
    assert sorted(n for n, i in repo.issues.items() if "stale" in i.labels and i.state == "open") == [1, 5, 8]
    assert all(len(i.comments) <= 1 for i in repo.issues.values())
    assert [n for n, i in repo.issues.items() if i.state == "closed"] == [4, 7]
    assert writes(nights[-1]) == []
