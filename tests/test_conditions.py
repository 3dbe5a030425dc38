"""Conditions (docs/design.md §2.1): files any/all/none, ignore-bots except, teams, the rule's `if:`.

Each is decided by the pure matcher; facts the payload lacks (changed files, team
membership) come back as `pending` with what they need, and `complete` decides them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.lang.model import Rule
from engine.match.events import Event, parse_event
from engine.match.filters import Needed, membership_key
from engine.match.index import RuleIndex
from engine.match.matcher import complete, decide_delivery, match
from tests.rulekit import compile_rule, payload

LOG = "nodes:\n  log:\n    uses: core.log\n    with: {message: x}\n"


def rule(body: str, name: str = "r") -> Rule:
    return compile_rule(f"name: {name}\n{body}\n{LOG}")


def pr(title: str = "Update the README", **changes: Any) -> Event:
    data = payload("pull_request", "opened.1")
    data["pull_request"]["title"] = title
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return parse_event("pull_request", data)


def decide(r: Rule, event: Event, files: list[str] | None = None) -> str | None:
    """None when the rule matches; else the reason; 'pending' when facts are missing."""
    result = match(event, RuleIndex([r]))
    if files is not None and result.needs_files:
        result = complete(result, files)
    if result.matched:
        return None
    if result.pending:
        return "pending"
    return result.not_matched()[0].reason


# --- files: any / all / none -------------------------------------------------------------

FILES = [
    ("{all: ['docs/**']}", ["docs/a.md", "docs/b/c.md"], None),
    ("{all: ['docs/**']}", ["docs/a.md", "src/app.py"], "files.all: src/app.py is not matched by [docs/**]"),
    ("{all: ['docs/**', '**.md']}", ["README.md", "docs/x.png"], None),
    ("{all: ['docs/**', '!docs/internal/**']}", ["docs/internal/x.md"], "files.all: docs/internal/x.md is not matched by [docs/**, !docs/internal/**]"),
    ("{any: ['src/**']}", ["docs/a.md", "src/app.py"], None),
    ("{any: ['src/**']}", ["docs/a.md"], "files.any: no changed file is matched by [src/**] (1 file changed)"),
    ("{none: ['secrets/**']}", ["docs/a.md"], None),
    ("{none: ['secrets/**']}", ["docs/a.md", "secrets/key"], "files.none: secrets/key is matched by [secrets/**]"),
    ("{any: ['src/**'], none: ['src/vendor/**']}", ["src/a.py", "src/vendor/b.py"], "files.none: src/vendor/b.py is matched by [src/vendor/**]"),
    # an empty change set satisfies only `none`
    ("{none: ['secrets/**']}", [], None),
    ("{all: ['docs/**']}", [], "files.all: no files changed (an empty change set satisfies only files.none)"),
    ("{any: ['**']}", [], "files.any: no files changed (an empty change set satisfies only files.none)"),
]


@pytest.mark.parametrize(("files_filter", "changed", "reason"), FILES)
def test_files_filter_on_pull_requests(files_filter: str, changed: list[str], reason: str | None) -> None:
    r = rule(f"on:\n  events: [pull_request]\n  files: {files_filter}")
    assert decide(r, pr()) == "pending"  # a pull request's files come from the API
    assert decide(r, pr(), changed) == reason


def test_files_filter_on_pushes_reads_the_payload() -> None:
    r = rule("on:\n  events: [push]\n  files: {all: ['docs/**']}")
    push = payload("push", "push.1")
    push["ref"] = "refs/heads/main"
    push["commits"] = [{"id": "1", "added": ["docs/a.md"], "removed": [], "modified": ["src/x.py"]}]
    assert decide(r, parse_event("push", push)) == "files.all: src/x.py is not matched by [docs/**]"
    push["commits"][0]["modified"] = ["docs/b.md"]
    assert decide(r, parse_event("push", push)) is None


def test_files_filter_on_a_deleted_branch() -> None:
    r = rule("on:\n  events: [push]\n  files: {any: ['**']}")
    push = payload("push", "push.1")
    push.update(ref="refs/heads/old", deleted=True, commits=[])
    reason = decide(r, parse_event("push", push))
    assert reason == (
        "files.any: the push deletes the branch, so no files changed "
        "(an empty change set satisfies only files.none)"
    )


def test_paths_and_files_both_apply() -> None:
    r = rule("on:\n  events: [pull_request]\n  paths: ['docs/**']\n  files: {none: ['docs/secret.md']}")
    assert decide(r, pr(), ["docs/a.md"]) is None
    assert decide(r, pr(), ["docs/secret.md"]) == "files.none: docs/secret.md is matched by [docs/secret.md]"


def test_a_cheaper_rejection_spares_the_files() -> None:
    r = rule("on:\n  events:\n    pull_request: {types: [closed]}\n  files: {all: ['docs/**']}")
    assert decide(r, pr()) == "action 'opened' is not in types [closed]"


# --- ignore-bots: {except: [...]} -------------------------------------------------------

BOT = {"login": "renovate[bot]", "type": "Bot"}
OTHER_BOT = {"login": "dependabot[bot]", "type": "Bot"}


@pytest.mark.parametrize(
    ("setting", "sender", "reason"),
    [
        ("{except: ['renovate[bot]']}", BOT, None),
        ("{except: ['RENOVATE[bot]']}", BOT, None),  # logins compare case-insensitively
        ("{except: ['renovate[bot]']}", OTHER_BOT, "sender 'dependabot[bot]' is a bot not matched by ignore-bots.except [renovate[bot]]"),
        ("{except: ['*[bot]', '!dependabot[bot]']}", OTHER_BOT, "sender 'dependabot[bot]' is a bot not matched by ignore-bots.except [*[bot], !dependabot[bot]]"),
        ("{except: ['renovate[bot]']}", {"login": "octocat", "type": "User"}, None),
        ("true", BOT, "sender 'renovate[bot]' is a bot and ignore-bots is true"),
        ("false", OTHER_BOT, None),
    ],
)
def test_ignore_bots_except(setting: str, sender: dict[str, str], reason: str | None) -> None:
    r = rule(f"on:\n  events: [pull_request]\n  ignore-bots: {setting}")
    assert decide(r, pr(sender=sender)) == reason


def test_per_event_ignore_bots_replaces_the_top_level_one() -> None:
    r = rule(
        "on:\n  events:\n    pull_request: {ignore-bots: {except: ['renovate[bot]']}}\n"
        "    issues: {}\n  ignore-bots: true"
    )
    assert decide(r, pr(sender=BOT)) is None


# --- teams --------------------------------------------------------------------------------


def with_members(r: Rule, event: Event, facts: dict[tuple[str, str], bool | str]) -> str | None:
    result = match(event, RuleIndex([r]))
    assert result.pending and result.needs is not None
    keyed = {membership_key(t, login): v for (t, login), v in facts.items()}
    done = complete(result, memberships=keyed)
    if done.matched:
        return None
    if done.pending:
        return "pending"
    return done.not_matched()[0].reason


def test_teams_ask_for_the_membership_of_the_author() -> None:
    r = rule("on:\n  events: [pull_request]\n  authors: {teams: [octo-org/reviewers]}")
    result = match(pr(), RuleIndex([r]))
    assert result.matched == [] and result.needs == Needed(memberships=(("octo-org/reviewers", "Codertocat"),))
    assert result.undecided()[0].reason == (
        "teams needs the team membership of Codertocat in octo-org/reviewers, which are not known here"
    )


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({("octo-org/reviewers", "codertocat"): True}, None),
        ({("octo-org/reviewers", "codertocat"): False}, "author Codertocat is not in team octo-org/reviewers"),
        (
            {("octo-org/reviewers", "codertocat"): "GitHub 403: Resource not accessible by integration"},
            "author Codertocat: membership of octo-org/reviewers (GitHub 403: Resource not accessible "
            "by integration) could not be read, so the rule does not match",
        ),
    ],
)
def test_team_membership_decides_and_fails_closed(facts: dict[Any, Any], reason: str | None) -> None:
    r = rule("on:\n  events: [pull_request]\n  authors: {teams: [octo-org/reviewers]}")
    assert with_members(r, pr(), facts) == reason


def test_include_or_teams_and_exclude_first() -> None:
    r = rule(
        "on:\n  events: [pull_request]\n"
        "  authors: {include: [mona], teams: [octo-org/a, octo-org/b], exclude: [ghost]}"
    )
    assert decide(r, pr(pull_request__user={"login": "mona", "type": "User"})) is None  # no call
    ghost = pr(pull_request__user={"login": "ghost", "type": "User"})
    assert decide(r, ghost) == "author 'ghost' is excluded by authors.exclude [ghost]"
    facts = {("octo-org/a", "codertocat"): False, ("octo-org/b", "codertocat"): False}
    assert with_members(r, pr(), facts) == (
        "author Codertocat is not in any of the teams octo-org/a, octo-org/b and is not matched "
        "by authors.include [mona]"
    )
    assert with_members(r, pr(), {**facts, ("octo-org/b", "codertocat"): True}) is None


def test_actors_teams_read_the_sender_and_bots_are_never_members() -> None:
    r = rule("on:\n  events: [pull_request]\n  actors: {teams: [octo-org/triagers]}\n  ignore-bots: false")
    assert decide(r, pr(sender=BOT)) == "sender renovate[bot] is not in team octo-org/triagers"
    assert with_members(r, pr(), {("octo-org/triagers", "codertocat"): True}) is None


def test_decide_delivery_reads_each_fact_once() -> None:
    rules = [
        rule("on:\n  events: [pull_request]\n  authors: {teams: [octo-org/reviewers]}", "a"),
        rule("on:\n  events: [pull_request]\n  actors: {teams: [octo-org/reviewers]}", "b"),
        rule("on:\n  events: [pull_request]\n  files: {all: ['docs/**']}", "c"),
    ]
    asked: list[Any] = []

    class Facts:
        async def changed_files(self, event: Event) -> list[str]:
            asked.append("files")
            return ["docs/a.md"]

        async def memberships(self, event: Event, asks: Any) -> dict[tuple[str, str], bool | str]:
            asked.append(asks)
            return {membership_key(t, login): True for t, login in asks}

    result = asyncio.run(decide_delivery(pr(), RuleIndex(rules), Facts()))
    assert [m.rule.name for m in result.matched] == ["a", "b", "c"]
    assert asked == ["files", (("octo-org/reviewers", "Codertocat"),)]


# --- the rule's if ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "title", "reason"),
    [
        ("${{ !matches(event.pull_request.title, '(?i)^\\[?wip\\b') }}", "Add docs", None),
        (
            "${{ !matches(event.pull_request.title, '(?i)^\\[?wip\\b') }}",
            "[WIP] Add docs",
            "if: !matches(event.pull_request.title, '(?i)^\\[?wip\\b') was false "
            "(event.pull_request.title is '[WIP] Add docs')",
        ),
        ("github.actor == 'Codertocat' && vars.on", "x", None),
        (
            "length(event.pull_request.labels) > 5",
            "x",
            "if: length(event.pull_request.labels) > 5 was false (event.pull_request.labels is [])",
        ),
        ("false", "x", "if: false was false"),
        (
            "fromJSON(event.pull_request.title)",
            "not json",
            "if: fromJSON(event.pull_request.title) could not be evaluated: fromJSON: not valid JSON: 'not json'",
        ),
    ],
)
def test_rule_if_is_decided_at_match_time(condition: str, title: str, reason: str | None) -> None:
    r = rule(f"on:\n  events: [pull_request]\nvars:\n  on: true\nif: |-\n  {condition}")
    assert decide(r, pr(title)) == reason


def test_a_false_if_spares_the_facts() -> None:
    r = rule("on:\n  events: [pull_request]\n  files: {all: ['docs/**']}\nif: ${{ github.action == 'closed' }}")
    assert decide(r, pr()) == "if: github.action == 'closed' was false (github.action is 'opened')"


def test_check_suites_know_their_pull_request() -> None:
    event = parse_event("check_suite", payload("check_suite", "completed.1"))
    assert (event.number, event.ref_name) == (2, "changes")


# --- simulate explains each new non-match in words ------------------------------------------


def test_simulate_explains_files_if_and_teams(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "docs.yaml").write_text(
        f"name: docs\non:\n  events: [pull_request]\n  files: {{all: ['docs/**']}}\n{LOG}"
    )
    (rules / "wip.yaml").write_text(
        "name: wip\non:\n  events: [pull_request]\n"
        f"if: ${{{{ matches(event.pull_request.title, '^WIP') }}}}\n{LOG}"
    )
    (rules / "team.yaml").write_text(
        f"name: team\non:\n  events: [pull_request]\n  authors: {{teams: [org/reviewers]}}\n{LOG}"
    )
    event = payload("pull_request", "opened.1")
    event["pull_request"]["user"]["login"] = "octocat"
    (tmp_path / "pr.json").write_text(json.dumps(event))
    (tmp_path / "files.txt").write_text("docs/guide.md\nsrc/app.py\n")
    base = ["simulate", "--event", "pull_request", "--payload", str(tmp_path / "pr.json"), "--rules", str(rules)]

    code, out, _ = cli(*base, "--format", "json")
    report = json.loads(out)
    assert code == 0
    assert {u["rule"]: u["reason"] for u in report["undecided"]} == {
        "docs": "files needs the changed files of the pull request, which are not known here "
        "(pass --changed-files and --team, or App credentials for run)",
        "team": "teams needs the team membership of octocat in org/reviewers, which are not known "
        "here (pass --changed-files and --team, or App credentials for run)",
    }
    code, out, _ = cli(
        *base, "--changed-files", str(tmp_path / "files.txt"), "--team", "org/reviewers=alice,bob"
    )
    assert code == 0
    assert "      files.all: src/app.py is not matched by [docs/**]\n" in out
    assert (
        "      if: matches(event.pull_request.title, '^WIP') was false "
        "(event.pull_request.title is 'Update the README with new information.')\n" in out
    )
    assert "      author octocat is not in team org/reviewers\n" in out
    code, out, _ = cli(*base, "--team", "org/reviewers=OctoCat", "--format", "json")
    assert [m["rule"] for m in json.loads(out)["matched"]] == ["team"]
    code, _, err = cli(*base, "--team", "reviewers")
    assert code == 2 and "--team 'reviewers': write org/team=login,login" in err


def test_a_check_suite_takes_the_pull_request_of_its_own_repository() -> None:
    data = payload("check_suite", "completed.1")
    own = data["repository"]["id"]
    ours = data["check_suite"]["pull_requests"][0]
    foreign = {**ours, "number": 99, "base": {**ours["base"], "repo": {**ours["base"]["repo"], "id": own + 1}}}
    data["check_suite"]["pull_requests"] = [foreign, ours]
    assert parse_event("check_suite", data).number == ours["number"]
    data["check_suite"]["pull_requests"] = [foreign]
    assert parse_event("check_suite", data).number is None


def test_a_var_that_cannot_be_rendered_fails_only_the_if_that_reads_it() -> None:
    body = (
        "on:\n  events: [pull_request]\n"
        "vars:\n  config: ${{ fromJSON(event.pull_request.body) }}\n"
    )
    assert decide(rule(body + "if: ${{ github.event_name == 'pull_request' }}"), pr()) is None
    reason = decide(rule(body + "if: ${{ vars.config.merge }}"), pr())
    assert reason is not None and reason.startswith("if: vars.config.merge could not be evaluated: fromJSON")


def test_deleting_a_tag_says_tag() -> None:
    r = rule("on:\n  events: [push]\n  files: {any: ['**']}")
    push = payload("push", "push.1")
    push.update(ref="refs/tags/v1", deleted=True, commits=[])
    assert decide(r, parse_event("push", push)) == (
        "files.any: the push deletes the tag, so no files changed "
        "(an empty change set satisfies only files.none)"
    )


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (
            "${{ event.pull_request.author_association == 'FIRST_TIME_CONTRIBUTOR' }}",
            "if: event.pull_request.author_association == 'FIRST_TIME_CONTRIBUTOR' was false "
            "(event.pull_request.author_association is 'OWNER')",
        ),
        (
            "${{ event.pull_request.draft && contains(event.pull_request.labels.*.name, 'ready') }}",
            "was false (event.pull_request.draft is false; event.pull_request.labels.*.name is [])",
        ),
        (
            "${{ event.pull_request.additions > 500 || event.pull_request.merged_by.login == 'octocat' }}",
            "(event.pull_request.additions is 1; event.pull_request.merged_by.login is null)",
        ),
    ],
    ids=["equality", "function", "number-and-null"],
)
def test_a_false_if_names_the_value_of_each_property_it_read(condition: str, reason: str) -> None:
    rule = compile_rule(
        "name: r\non:\n  events:\n    pull_request: {types: [opened]}\n"
        f"if: \"{condition}\"\nnodes:\n  a: {{uses: core.log, with: {{message: hi}}}}\n"
    )
    event = parse_event("pull_request", payload("pull_request", "opened.1"))
    [rejected] = match(event, RuleIndex([rule])).rejected
    assert reason in rejected.reason
