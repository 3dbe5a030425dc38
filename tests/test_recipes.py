"""The everyday recipes under rules/ (docs/recipes.md), each run on GitHub's real webhook
payloads: matched with the facts read from the API double (changed files, team membership),
then executed in dry-run against it (reads answered, writes planned, not sent)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from engine.github.client import GitHubClient
from engine.github.credentials import AppCredentials
from engine.github.facts import GitHubFacts
from engine.lang.files import load_rules
from engine.lang.model import Rule
from engine.match.events import Event, parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import MatchResult, decide_delivery
from engine.nodes import default_registry
from engine.run.executor import ExecutionOptions, execute
from engine.run.record import RunRecord
from tests.conftest import DATA, REPO, shipped_rules
from tests.double import APP_ID, GitHubDouble
from tests.rulekit import payload

REGISTRY = default_registry()
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the head commit in GitHub's PR examples
PR = "Codertocat/Hello-World"
DEPENDABOT = {"login": "dependabot[bot]", "type": "Bot"}


def recipe(name: str) -> Rule:
    (rule,) = load_rules([str(REPO / "rules" / f"{name}.yaml")], REGISTRY).rules
    return rule


def event(name: str, fixture: str, **changes: Any) -> Event:
    data = copy.deepcopy(payload(name, fixture))
    data["installation"] = {"id": 1}
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value
    return parse_event(name, data, delivery="recipe-1")


def planned(github: GitHubDouble, rule: Rule, hook: Event) -> tuple[MatchResult, list[RunRecord]]:
    """Match (reading facts from the double), then dry-run every matched rule."""

    async def go() -> tuple[MatchResult, list[RunRecord]]:
        client = GitHubClient(
            AppCredentials.from_pem(APP_ID, github.private_key_pem), base_url=github.url
        )
        api = client.installation(1)

        try:
            result = await decide_delivery(hook, RuleIndex([rule]), GitHubFacts(api, 1))
            options = ExecutionOptions(github=api, dry_run=True)
            runs = [await execute(m.rule, result.event, REGISTRY, options) for m in result.matched]
            return result, runs
        finally:
            await client.aclose()

    return asyncio.run(go())


def writes(runs: list[RunRecord]) -> list[tuple[str, str, Any]]:
    return [(c.method, c.path, c.body) for r in runs for c in r.calls if c.method != "GET"]


def reason(result: MatchResult) -> str:
    assert not result.matched and not result.pending
    return result.not_matched()[0].reason


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    github.add_installation(1, "Codertocat")
    return github


# --- docs-only: files.all -----------------------------------------------------------------


def test_docs_only_labels_a_docs_only_change(world: GitHubDouble) -> None:
    world.world.add_pull(PR, 2, files=["docs/guide.md", "README.md"], head_sha=HEAD)
    _result, runs = planned(world, recipe("docs-only"), event("pull_request", "opened.1"))
    assert writes(runs) == [("POST", f"/repos/{PR}/issues/2/labels", {"labels": ["docs"]})]


def test_docs_only_leaves_a_docs_plus_code_change_alone(world: GitHubDouble) -> None:
    world.world.add_pull(PR, 2, files=["docs/guide.md", "src/app.py"], head_sha=HEAD)
    result, runs = planned(world, recipe("docs-only"), event("pull_request", "opened.1"))
    assert runs == []
    assert reason(result) == "files.all: src/app.py is not matched by [docs/**, **.md, !docs/internal/**]"


# --- automerge-dependency-patches: dependabot.metadata + github.pull_request.status --------


def dependabot_event(title: str, branch: str) -> Event:
    return event(
        "pull_request",
        "opened.1",
        sender=DEPENDABOT,
        pull_request__user=DEPENDABOT,
        pull_request__title=title,
        pull_request__head__ref=branch,
    )


def dependabot_pull(world: GitHubDouble, name: str, title: str, branch: str) -> None:
    text = (DATA / "dependabot" / f"{name}.txt").read_text()
    if name == "django-major":  # the versions of the report that asked for this recipe
        text = text.replace("3.2.4", "3.2.0").replace("4.0.3", "4.0.1")
    world.world.dependabot_pull(PR, 2, text, title=title, branch=branch, head_sha=HEAD)


MAJOR = ("Bump django from 3.2.0 to 4.0.1", "dependabot/pip/django-4.0.1")
PATCH = ("chore(deps): bump django from 4.2.11 to 4.2.13", "dependabot/pip/django-4.2.13")
APPROVE = (
    "POST",
    f"/repos/{PR}/pulls/2/reviews",
    {
        "event": "APPROVE",
        "body": "django 4.2.11 → 4.2.13 is a patch update; approved by hookwise.\n"
        "<!-- hookwise:write=recipe-1:automerge-dependency-patches:approve -->",
    },
)
MERGE = ("PUT", f"/repos/{PR}/pulls/2/merge", {"merge_method": "squash", "sha": HEAD})


def test_a_major_django_bump_is_neither_approved_nor_merged(world: GitHubDouble) -> None:
    dependabot_pull(world, "django-major", *MAJOR)
    world.world.add_check_run(PR, HEAD, "ci")  # green, and still not merged
    result, runs = planned(world, recipe("automerge-dependency-patches"), dependabot_event(*MAJOR))
    assert [m.rule.name for m in result.matched] == ["automerge-dependency-patches"]
    (run,) = runs
    assert run.nodes[0].outputs["update-type"] == "version-update:semver-major"
    assert {n.id: n.status for n in run.nodes} == {
        "dependabot": "success", "status": "skipped", "approve": "skipped", "merge": "skipped",
    }
    assert writes(runs) == []


def test_a_patch_is_approved_but_not_merged_while_checks_run(world: GitHubDouble) -> None:
    dependabot_pull(world, "django-patch", *PATCH)
    world.world.add_check_run(PR, HEAD, "ci", status="in_progress", conclusion=None)
    world.world.add_status(PR, HEAD, "lint", "success")
    _, runs = planned(world, recipe("automerge-dependency-patches"), dependabot_event(*PATCH))
    assert writes(runs) == [APPROVE]
    status = next(n for n in runs[0].nodes if n.id == "status").outputs
    assert (status["green"], status["pending"], status["passing"]) == (False, ["ci"], ["lint"])


def test_a_patch_is_approved_and_merged_once_checks_are_green(world: GitHubDouble) -> None:
    dependabot_pull(world, "django-patch", *PATCH)
    world.world.add_check_run(PR, HEAD, "ci")
    world.world.add_status(PR, HEAD, "lint", "success")
    _, runs = planned(world, recipe("automerge-dependency-patches"), dependabot_event(*PATCH))
    assert writes(runs) == [APPROVE, MERGE]


def test_a_failing_check_blocks_the_merge(world: GitHubDouble) -> None:
    dependabot_pull(world, "django-patch", *PATCH)
    world.world.add_check_run(PR, HEAD, "ci", conclusion="failure")
    _, runs = planned(world, recipe("automerge-dependency-patches"), dependabot_event(*PATCH))
    assert writes(runs) == [APPROVE]


def review(world: GitHubDouble, login: str, state: str) -> dict[str, Any]:
    body: dict[str, Any] = world.spec.example("pull-request-review-items")[0]
    body.update(id=world.world.next_id(), state=state, commit_id=HEAD)
    body["user"] = dict(body["user"], login=login)
    return body


def test_a_finished_check_suite_merges_the_approved_patch(world: GitHubDouble) -> None:
    dependabot_pull(world, "django-patch", *PATCH)
    world.world.repo("Codertocat", "Hello-World").pulls[2].reviews.append(
        review(world, "hookwise[bot]", "APPROVED")
    )
    world.world.add_check_run(PR, HEAD, "ci")
    suite = event(
        "check_suite",
        "completed.1",
        check_suite__head_branch=PATCH[1],
        check_suite__conclusion="success",
    )
    _, runs = planned(world, recipe("automerge-dependency-patches"), suite)
    assert writes(runs) == [MERGE]  # approved already: no second approval


def test_a_failed_check_suite_is_not_even_looked_at(world: GitHubDouble) -> None:
    suite = event(
        "check_suite", "completed.1", check_suite__head_branch=PATCH[1], check_suite__conclusion="failure"
    )
    result, runs = planned(world, recipe("automerge-dependency-patches"), suite)
    assert reason(result).startswith("if: github.event_name != 'check_suite' || ")
    assert runs == [] and world.requests == []


# --- merge-when-ready: two approvals and green CI ----------------------------------------


@pytest.mark.parametrize(
    ("reviews", "checks", "merged"),
    [
        ([("alice", "APPROVED"), ("bob", "APPROVED")], ["success"], True),
        ([("alice", "APPROVED")], ["success"], False),
        ([("alice", "APPROVED"), ("bob", "APPROVED")], ["success", "failure"], False),
        ([("alice", "APPROVED"), ("bob", "APPROVED")], [], False),  # no CI at all is not green
        ([("alice", "APPROVED"), ("bob", "APPROVED"), ("carol", "CHANGES_REQUESTED")], ["success"], False),
        # a later review replaces a reviewer's earlier stance; a comment changes nothing
        ([("alice", "CHANGES_REQUESTED"), ("alice", "APPROVED"), ("bob", "APPROVED"), ("bob", "COMMENTED")], ["success"], True),
        ([("alice", "APPROVED"), ("bob", "APPROVED"), ("bob", "DISMISSED")], ["success"], False),
    ],
)
def test_merge_when_ready(
    world: GitHubDouble, reviews: list[tuple[str, str]], checks: list[str], merged: bool
) -> None:
    pull = world.world.add_pull(PR, 2, head_sha=HEAD)
    pull.reviews.extend(review(world, login, state) for login, state in reviews)
    for index, conclusion in enumerate(checks):
        world.world.add_check_run(PR, HEAD, f"ci-{index}", conclusion=conclusion)
    hook = event("pull_request_review", "submitted.1")
    _, runs = planned(world, recipe("merge-when-ready"), hook)
    expected = [("PUT", f"/repos/{PR}/pulls/2/merge", {"merge_method": "merge", "sha": HEAD})]
    assert writes(runs) == (expected if merged else [])


# --- team-review-on-label: actors.teams ---------------------------------------------------


def labeled(label: str) -> Event:
    return event("pull_request", "labeled.1", label__name=label)


def test_a_triagers_label_requests_the_security_team(world: GitHubDouble) -> None:
    world.world.add_pull(PR, 2, head_sha=HEAD)
    world.world.add_team_member("octo-org/triagers", "Codertocat")
    _, runs = planned(world, recipe("team-review-on-label"), labeled("security"))
    assert writes(runs) == [
        ("POST", f"/repos/{PR}/pulls/2/requested_reviewers", {"team_reviewers": ["security"]})
    ]


def test_a_label_from_outside_the_team_does_nothing(world: GitHubDouble) -> None:
    world.world.add_team_member("octo-org/triagers", "Codertocat", state="pending")  # invited only
    result, runs = planned(world, recipe("team-review-on-label"), labeled("security"))
    assert runs == []
    assert reason(result) == "sender Codertocat is not in team octo-org/triagers"


def test_another_label_asks_nobody(world: GitHubDouble) -> None:
    result, _ = planned(world, recipe("team-review-on-label"), labeled("bug"))
    assert reason(result) == "label 'bug' is not matched by labels.added [security]"
    assert world.calls("teams/get-membership-for-user-in-org") == []


# --- thank-contributors: ignore-bots except one -------------------------------------------


def opened_by(login: str, kind: str) -> Event:
    return event("pull_request", "opened.1", sender={"login": login, "type": kind})


def test_renovate_is_let_through(world: GitHubDouble) -> None:
    world.world.add_pull(PR, 2, head_sha=HEAD)
    _, runs = planned(world, recipe("thank-contributors"), opened_by("renovate[bot]", "Bot"))
    ((method, path, body),) = writes(runs)
    assert (method, path) == ("POST", f"/repos/{PR}/issues/2/comments")
    assert "\nThanks @renovate[bot]! A maintainer" in body["body"]


def test_other_bots_are_still_ignored(world: GitHubDouble) -> None:
    result, _ = planned(world, recipe("thank-contributors"), opened_by("dependabot[bot]", "Bot"))
    assert reason(result) == (
        "sender 'dependabot[bot]' is a bot not matched by ignore-bots.except [renovate[bot]]"
    )


def test_every_recipe_has_a_test() -> None:
    """Every shipped recipe is run against a real payload (tests/test_run_cli.py) and matched
    and rejected with its reason (tests/test_matcher.py); a new recipe without both fails."""
    from tests.test_matcher import EXAMPLES
    from tests.test_run_cli import CASES

    shipped = {p.stem for p in shipped_rules()}
    assert shipped - {case[0] for case in CASES} == set()
    assert shipped - {example[0] for example in EXAMPLES} == set()
