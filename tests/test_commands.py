"""Slash commands on the GitHub double, with GitHub's real `issue_comment` payloads: decided
by the one decision path, run with the writes sent. The commenter's permission comes from
GitHub's collaborator API; every accepted command gets eyes then +1 (or confused); a refused
or malformed one gets a reply and nothing else; quoted and fenced commands, unchanged edits,
bots and the App itself run nothing."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from engine.github.client import GitHubClient
from engine.github.credentials import AppCredentials
from engine.lang.files import load_rules
from engine.match.commands import bind, command_lines
from engine.match.events import parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import decide_delivery
from engine.nodes import default_registry
from engine.run.executor import ExecutionOptions, execute
from engine.run.record import RunRecord
from tests.conftest import REPO
from tests.double import APP_ID, GitHubDouble
from tests.rulekit import payload

REGISTRY = default_registry()
RULES = load_rules([str(REPO / "rules")], REGISTRY).rules
REPOSITORY = "Codertocat/Hello-World"
COMMENT = 492700400  # the comment id of GitHub's issue_comment example


# --- which lines are commands (pure) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("/label bug ui", [("label", ("bug", "ui"), 1)]),
        ("Thanks!\n/LABEL bug\n/assign @mona", [("label", ("bug",), 2), ("assign", ("@mona",), 3)]),
        ('/label "good first issue" ui', [("label", ("good first issue", "ui"), 1)]),
        ("   /label bug", [("label", ("bug",), 1)]),
        ("> /label bug", []),
        (">> quoted\n> /merge", []),
        ("```\n/label bug\n```\n/label ui", [("label", ("ui",), 4)]),
        ("~~~sh\n/merge\n~~~", []),
        ("    /label indented code", []),
        ("run `/label bug` to label", []),
        ("please /label bug", []),
        ("/ label bug", []),
        ("path /usr/bin is fine", []),
    ],
)
def test_command_lines_are_read_as_people_write_them(
    body: str, found: list[tuple[str, tuple[str, ...], int]]
) -> None:
    assert [(c.name, c.words, c.line) for c in command_lines(body)] == found


def test_an_edit_runs_only_the_command_lines_that_changed() -> None:
    before = "Thanks!\n/label bug"
    assert command_lines("Thanks a lot!\n/label bug", before) == ()
    assert [c.words for c in command_lines("Thanks!\n/label bug ui", before)] == [("bug", "ui")]


def test_words_are_bound_to_the_arguments_in_order() -> None:
    (rule,) = [r for r in RULES if r.name == "command-label"]
    assert rule.command is not None
    [line] = command_lines("/label")
    assert bind(rule.command, line).error == (
        "<labels>: [] should be non-empty. Usage: /label <labels>..."
    )
    [line] = command_lines('/label bug "help wanted"')
    assert bind(rule.command, line).args == {"labels": ["bug", "help wanted"]}


# --- on the double ----------------------------------------------------------------------------


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    github.add_installation(1, "Codertocat")
    github.world.add_issue(REPOSITORY, 1, labels=[])
    return github


def comment(body: str, *, login: str = "Codertocat", kind: str = "User", example: str = "created.1",
            on_pull: int | None = None, before: str | None = None) -> dict[str, Any]:
    data = copy.deepcopy(payload("issue_comment", example))
    data["installation"] = {"id": 1}
    data["comment"]["body"] = body
    person = {**data["sender"], "login": login, "type": kind}
    data["comment"]["user"] = data["sender"] = person
    data["issue"]["labels"] = []
    if on_pull is not None:
        data["issue"]["number"] = on_pull
        data["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{REPOSITORY}/pulls/{on_pull}"}
    if before is not None:
        data["changes"] = {"body": {"from": before}}
    return data


def deliver(
    github: GitHubDouble, data: dict[str, Any], *, app_login: str | None = None,
    rules: Any = RULES,
) -> list[RunRecord]:
    """Decide the delivery and run every matched rule, writes sent to the double. The payload's
    issue carries the labels the double's issue has now, as GitHub's does."""
    issue = github.world.repo("Codertocat", "Hello-World").issues.get(data["issue"]["number"])
    if issue is not None:
        data["issue"]["labels"] = [{"name": name} for name in issue.labels]
    action = data.get("action")
    event = parse_event("issue_comment", data, delivery=f"comment-{action}-{len(github.requests)}")

    async def go() -> list[RunRecord]:
        client = GitHubClient(AppCredentials.from_pem(APP_ID, github.private_key_pem), base_url=github.url)
        try:
            api = client.installation(1)
            result = await decide_delivery(event, RuleIndex(list(rules)), app_login=app_login)
            options = ExecutionOptions(github=api, dry_run=False)
            return [await execute(m.rule, result.event, REGISTRY, options) for m in result.matched]
        finally:
            await client.aclose()

    return asyncio.run(go())


def writes(github: GitHubDouble) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in github.writes()]


def test_a_collaborator_with_write_labels_and_gets_eyes_then_thumbs_up(world: GitHubDouble) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "write"
    [run] = deliver(world, comment("/label bug ui"))
    assert run.rule == "command-label" and run.status == "success"
    assert world.world.repo("Codertocat", "Hello-World").issues[1].labels == ["bug", "ui"]
    assert world.world.reactions == [("issue_comment", COMMENT, "eyes"), ("issue_comment", COMMENT, "+1")]
    assert world.calls("repos/get-collaborator-permission-level")  # read from GitHub


def test_a_reader_is_refused_with_a_reply_naming_triage(world: GitHubDouble) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "read"
    [run] = deliver(world, comment("/label bug ui"))
    issue = world.world.repo("Codertocat", "Hello-World").issues[1]
    assert issue.labels == []
    [reply] = issue.comments
    assert "`/label` needs the **triage** permission" in reply["body"] and "you have read" in reply["body"]
    assert world.world.reactions == []
    assert writes(world) == [("POST", f"/repos/{REPOSITORY}/issues/1/comments")]
    assert run.node("add").status == "skipped"


def test_someone_who_is_no_collaborator_is_refused(world: GitHubDouble) -> None:
    deliver(world, comment("/label bug", login="stranger"))
    issue = world.world.repo("Codertocat", "Hello-World").issues[1]
    assert issue.labels == [] and "could not read your permission" in issue.comments[0]["body"]


def test_malformed_words_get_the_usage_and_nothing_else(world: GitHubDouble) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "admin"
    deliver(world, comment("/label"))
    issue = world.world.repo("Codertocat", "Hello-World").issues[1]
    assert issue.labels == [] and world.world.reactions == []
    assert "Usage: /label <labels>..." in issue.comments[0]["body"]


@pytest.mark.parametrize(
    "body", ["> /label bug", "```\n/label bug\n```", "I would `/label bug` this", "    /label bug"]
)
def test_quoted_and_code_commands_do_nothing(world: GitHubDouble, body: str) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "write"
    assert deliver(world, comment(body)) == []
    assert world.requests == []


def test_an_edit_runs_only_a_changed_command_line(world: GitHubDouble) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "write"
    unchanged = comment("Thanks a lot!\n/label bug", example="edited.1", before="Thanks!\n/label bug")
    assert deliver(world, unchanged) == []
    assert world.requests == []
    changed = comment("Thanks!\n/label ui", example="edited.1", before="Thanks!\n/label bug")
    [run] = deliver(world, changed)
    assert run.status == "success"
    assert world.world.repo("Codertocat", "Hello-World").issues[1].labels == ["ui"]


@pytest.mark.parametrize(("login", "kind"), [("renovate[bot]", "Bot"), ("hookwise-test[bot]", "Bot")])
def test_bots_and_the_app_itself_are_never_parsed(world: GitHubDouble, login: str, kind: str) -> None:
    world.world.collaborators[(REPOSITORY.lower(), login.lower())] = "admin"
    assert deliver(world, comment("/label bug", login=login, kind=kind), app_login="hookwise-test") == []
    assert world.requests == []


HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


@pytest.mark.parametrize(
    ("approved", "checks", "merged"),
    [(True, ["success"], True), (False, ["success"], False), (True, ["failure"], False)],
)
def test_merge_merges_only_a_green_approved_pull_request(
    world: GitHubDouble, approved: bool, checks: list[str], merged: bool
) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "write"
    pull = world.world.add_pull(REPOSITORY, 2, head_sha=HEAD)
    if approved:
        pull.reviews.append({
            "id": 80, "user": {"login": "alice", "type": "User"}, "state": "APPROVED",
            "commit_id": HEAD, "submitted_at": "2026-12-01T10:00:00Z", "body": "",
        })
    for index, conclusion in enumerate(checks):
        world.world.add_check_run(REPOSITORY, HEAD, f"ci-{index}", conclusion=conclusion)
    [run] = deliver(world, comment("/merge", on_pull=2))
    assert pull.merged is merged
    issue = world.world.repo("Codertocat", "Hello-World").issues[2]
    if merged:
        assert issue.comments == []
        assert world.world.reactions[-1] == ("issue_comment", COMMENT, "+1")
    else:
        [reply] = issue.comments
        assert "not merged" in reply["body"]
        assert ("approvals: 0" in reply["body"]) is (not approved)
        assert ("failing: ci-0" in reply["body"]) is ("failure" in checks)
    assert run.status == "success"


def test_hold_keeps_merge_from_merging(world: GitHubDouble) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "write"
    pull = world.world.add_pull(REPOSITORY, 2, head_sha=HEAD)
    pull.reviews.append({
        "id": 80, "user": {"login": "alice", "type": "User"}, "state": "APPROVED",
        "commit_id": HEAD, "submitted_at": "2026-12-01T10:00:00Z", "body": "",
    })
    world.world.add_check_run(REPOSITORY, HEAD, "ci", conclusion="success")
    deliver(world, comment("/hold", on_pull=2))
    assert world.world.repo("Codertocat", "Hello-World").issues[2].labels == ["do-not-merge"]
    deliver(world, comment("/merge", on_pull=2))
    assert pull.merged is False
    deliver(world, comment("/hold cancel", on_pull=2))
    deliver(world, comment("/merge", on_pull=2))
    assert pull.merged is True


def test_through_the_server_a_signed_comment_is_labelled_and_acknowledged(
    tmp_path: Any, world: GitHubDouble
) -> None:
    """The whole way, as GitHub delivers it: a signed `issue_comment` webhook to the server,
    matched at ingest, run by its workers against the double."""
    from fastapi.testclient import TestClient

    from engine.edge.web import create_app
    from tests.serverkit import server_settings, signed, wait_until

    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "write"
    settings = server_settings(tmp_path, REPO / "rules", world)
    with TestClient(create_app(settings)) as client:
        body, headers = signed(comment("/label bug ui"), "issue_comment", "c0ffee00-0000-4000-8000-000000000001")
        answer = client.post("/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 202 and answer.json()["matched"] == ["command-label"]
        wait_until(lambda: len(world.world.reactions) == 2)
    assert world.world.repo("Codertocat", "Hello-World").issues[1].labels == ["bug", "ui"]
    assert [r[2] for r in world.world.reactions] == ["eyes", "+1"]


def test_help_lists_the_commands_of_the_rules(world: GitHubDouble) -> None:
    """With HOOKWISE_COMMAND_HELP, /help answers with every command's usage, description,
    permission and where it is read; anyone who can read the repository may ask."""
    from engine.lang.command_help import help_rule

    answer = help_rule(RULES, REGISTRY)
    assert answer is not None and answer.command is not None and answer.command.permission == "read"
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "read"
    [run] = deliver(world, comment("/help"), rules=(*RULES, answer))
    assert run.rule == "hookwise-help" and run.status == "success"
    [reply] = world.world.repo("Codertocat", "Hello-World").issues[1].comments
    for usage in ("/label <labels>...", "/assign [<people>...]", "/hold [<cancel>]", "/merge"):
        assert f"`{usage}`" in reply["body"], usage
    assert "| `/merge` | merge a green, approved pull request | write | pull requests |" in reply["body"]


# --- what an attack on commands found, kept fixed ----------------------------------------------


def test_an_argument_schema_fetches_nothing_and_binding_never_raises(tmp_path: Any) -> None:
    from engine.lang.model import CommandSpec

    secret = tmp_path / "secret.json"
    secret.write_text('{"enum": ["db-password-hunter2"]}')
    spec = CommandSpec("x", (("word", {"type": "string", "$ref": secret.as_uri()}),
                             ("count", {"type": "integer"})))
    [line] = command_lines("/x hello " + "9" * 5000)
    bound = bind(spec, line)
    assert bound.error is not None and "hunter2" not in bound.error
    assert "the argument's schema cannot be used" in bound.error
    assert "is not of type 'integer'" in bound.error  # 5,000 digits are a word, not a number


def test_a_node_with_always_does_not_run_for_a_refused_command(
    world: GitHubDouble, tmp_path: Any
) -> None:
    from engine.lang.files import load_rules as load

    (tmp_path / "rule.yaml").write_text(
        "name: always-label\non:\n  command: {name: tag, permission: admin}\n"
        "nodes:\n  add:\n    if: ${{ always() }}\n    uses: github.issue.add_labels\n"
        "    with: {labels: [pwned]}\n"
    )
    rules = load([str(tmp_path / "rule.yaml")], REGISTRY).rules
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "read"
    [run] = deliver(world, comment("/tag"), rules=rules)
    assert world.world.repo("Codertocat", "Hello-World").issues[1].labels == []
    assert run.node("add").status == "skipped"
    assert "not accepted" in (run.node("add").reason or "")


def test_a_reply_quotes_the_commenters_words_in_code(world: GitHubDouble) -> None:
    world.world.collaborators[(REPOSITORY.lower(), "codertocat")] = "write"
    deliver(world, comment("/assign @everyone [click](https://evil.invalid)"))
    [reply] = world.world.repo("Codertocat", "Hello-World").issues[1].comments
    body = reply["body"].split("\n")[0]
    assert body.startswith("@Codertocat `/assign` was not run: `") and body.endswith("`")
    assert body.count("`") == 4


def test_a_stranger_gets_one_refusal_a_minute(world: GitHubDouble) -> None:
    deliver(world, comment("/label a\n/unlabel b\n/assign\n/unassign", login="stranger"))
    assert len(world.world.repo("Codertocat", "Hello-World").issues[1].comments) == 1


def test_a_command_in_the_wrong_place_says_where_it_is_read(world: GitHubDouble) -> None:
    from engine.match.matcher import match

    event = parse_event("issue_comment", comment("/merge"))
    [rejected] = [r for r in match(event, RuleIndex(RULES)).not_matched() if r.rule.name == "command-merge"]
    assert rejected.reason == "/merge is read on pull requests; this comment is on an issue"
