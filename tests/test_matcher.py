"""The matcher: reasons in words, lazy changed files, the index, and the shipped rules."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from engine.lang.files import load_rules
from engine.lang.model import Rule
from engine.match.events import Event, parse_event
from engine.match.filters import membership_key
from engine.match.index import RuleIndex
from engine.match.matcher import complete, decide_delivery, match
from tests.conftest import REPO, shared
from tests.rulekit import compile_rule, matched_names, payload, run_match

LOG = "nodes:\n  log:\n    uses: core.log\n    with: {message: x}\n"


def rule(on: str, name: str = "r") -> Rule:
    return compile_rule(f"name: {name}\non:\n{on}\n{LOG}")


def pr_event(action: str = "opened", **changes: Any) -> Event:
    data = payload("pull_request", "opened.1")
    data["action"] = action
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return parse_event("pull_request", data)


# --- reasons ---------------------------------------------------------------------------

REASONS = [
    ("  events: [issues]", lambda: pr_event(), "event 'pull_request' is not in [issues]"),
    (
        "  repository: ['octo-org/*']\n  events: [pull_request]",
        lambda: pr_event(),
        "repository 'Codertocat/Hello-World' is not matched by [octo-org/*]",
    ),
    (
        "  events: [pull_request]",
        lambda: pr_event("closed"),
        "action 'closed' is not in the default types [opened, synchronize, reopened]",
    ),
    (
        "  events:\n    pull_request: {types: [labeled]}",
        lambda: pr_event("opened"),
        "action 'opened' is not in types [labeled]",
    ),
    (
        "  events:\n    pull_request: {branches: [main, 'release/**']}",
        lambda: pr_event(pull_request__base__ref="dev"),
        "base branch 'dev' is not matched by [main, release/**]",
    ),
    (
        "  events:\n    pull_request: {branches-ignore: ['dev*']}",
        lambda: pr_event(pull_request__base__ref="dev-1"),
        "base branch 'dev-1' is ignored by branches-ignore [dev*]",
    ),
    (
        "  events:\n    push: {branches: [main]}",
        lambda: parse_event("push", payload("push", "push.1")),
        "tag 'simple-tag' was pushed, but the rule has only branch filters",
    ),
    (
        "  events:\n    push: {tags: ['v*']}",
        lambda: parse_event("push", payload("push", "push.2")),
        "branch 'master' was pushed, but the rule has only tag filters",
    ),
    (
        "  events:\n    push: {tags: ['v*']}",
        lambda: parse_event("push", payload("push", "push.1")),
        "tag 'simple-tag' is not matched by [v*]",
    ),
    (
        "  events: [pull_request]\n  labels: {any: [docs]}",
        lambda: pr_event(),
        "no label of the pull request [] is matched by labels.any [docs]",
    ),
    (
        "  events:\n    issues: {types: [opened]}\n  labels: {all: [bug, 'prio:*']}",
        lambda: parse_event("issues", payload("issues", "opened.1")),
        "labels.all pattern 'prio:*' matches none of the labels [bug]",
    ),
    (
        "  events: [issues]\n  labels: {none: [BUG]}",
        lambda: parse_event("issues", payload("issues", "opened.1")),
        "label 'bug' is excluded by labels.none [BUG]",
    ),
    (
        "  events: [issues]\n  labels: {added: [docs]}",
        lambda: parse_event("issues", payload("issues", "labeled.1")),
        "label 'bug' is not matched by labels.added [docs]",
    ),
    (
        "  events: [issues]\n  labels: {added: [bug]}",
        lambda: parse_event("issues", payload("issues", "opened.1")),
        "action 'opened' is not about one label, so labels.added cannot match",
    ),
    (
        "  events: [pull_request]\n  authors: {exclude: ['codertocat']}",
        lambda: pr_event(),
        "author 'Codertocat' is excluded by authors.exclude [codertocat]",
    ),
    (
        "  events: [pull_request]\n  authors: {include: ['dependabot[bot]']}",
        lambda: pr_event(),
        "author 'Codertocat' is not matched by authors.include [dependabot[bot]]",
    ),
    (
        "  events: [pull_request]\n  actors: {include: ['octocat']}",
        lambda: pr_event(),
        "sender 'Codertocat' is not matched by actors.include [octocat]",
    ),
    (
        "  events: [check_suite]",
        lambda: parse_event("check_suite", payload("check_suite", "rerequested.1")),
        "sender 'octocoders-linter[bot]' is a bot and ignore-bots is true",
    ),
    (
        "  events:\n    push: {paths: ['docs/**']}",
        lambda: parse_event("push", payload("push", "push.2")),
        "no changed file is matched by paths [docs/**] (1 file changed)",
    ),
    (
        "  events:\n    push: {paths-ignore: ['*.md']}",
        lambda: parse_event("push", payload("push", "push.2")),
        "every changed file is ignored by paths-ignore [*.md] (1 file changed)",
    ),
    (
        "  events:\n    push: {branches: [gone], paths: ['**']}",
        lambda: parse_event(
            "push", {"ref": "refs/heads/gone", "deleted": True, "after": "0" * 40, "commits": []}
        ),
        "the push deletes the branch, so no files changed",
    ),
]


@pytest.mark.parametrize(("on", "make_event", "reason"), REASONS, ids=[r[2][:50] for r in REASONS])
def test_first_rejecting_filter_is_explained(
    on: str, make_event: Callable[[], Event], reason: str
) -> None:
    result = run_match([rule(on)], make_event(), files=None)
    assert result.matched == []
    assert [r.reason for r in result.not_matched()] == [reason]


def test_check_suite_bot_passes_when_ignore_bots_is_false() -> None:
    event = parse_event("check_suite", payload("check_suite", "rerequested.1"))
    assert matched_names([rule("  events: [check_suite]\n  ignore-bots: false")], event) == ["r"]


def test_own_app_never_triggers_even_with_ignore_bots_false() -> None:
    event = parse_event("check_suite", payload("check_suite", "rerequested.1"))
    rules = [rule("  events: [check_suite]\n  ignore-bots: false")]
    result = match(event, RuleIndex(rules), app_login="octocoders-linter[bot]")
    assert result.matched == []
    assert result.not_matched()[0].reason == (
        "sender 'octocoders-linter[bot]' is this App; its own events never trigger rules"
    )


def test_top_level_filters_apply_only_where_the_event_carries_them() -> None:
    both = rule("  events: [push, issues]\n  branches: [main]")
    assert matched_names([both], parse_event("issues", payload("issues", "opened.1"))) == ["r"]
    assert matched_names([both], parse_event("push", payload("push", "push.2"))) == []


def test_per_event_filters_replace_top_level_ones() -> None:
    r = rule("  branches: [main]\n  events:\n    push: {branches: [master]}\n    pull_request: {}")
    assert matched_names([r], parse_event("push", payload("push", "push.2"))) == ["r"]
    assert matched_names([r], pr_event()) == []  # base branch master, top-level [main]


def test_tag_push_ignores_path_filters() -> None:
    r = rule("  events:\n    push: {paths: ['src/**']}")
    assert matched_names([r], parse_event("push", payload("push", "push.1"))) == ["r"]


# --- changed files are fetched lazily, once -------------------------------------------


class CountingFiles:
    """A changed-files source that counts its calls."""

    def __init__(self, files: list[str]) -> None:
        self.files = files
        self.calls = 0

    async def memberships(self, event: Event, asks: Any) -> dict[Any, bool | str]:
        raise AssertionError("no rule here asks for teams")

    async def changed_files(self, event: Event) -> list[str]:
        self.calls += 1
        await asyncio.sleep(0)
        return self.files


def test_pr_files_are_fetched_once_for_several_path_filtered_rules() -> None:
    rules = [
        rule("  events:\n    pull_request: {paths: ['docs/**']}", "docs"),
        rule("  events:\n    pull_request: {paths: ['src/**']}", "src"),
        rule("  events:\n    pull_request: {paths-ignore: ['**.md']}", "code"),
        rule("  events: [pull_request]", "always"),
    ]
    source = CountingFiles(["docs/index.md", "README.md"])
    result = asyncio.run(decide_delivery(pr_event(), RuleIndex(rules), source))
    assert source.calls == 1
    assert [m.rule.name for m in result.matched] == ["docs", "always"]
    assert {r.rule.name: r.reason for r in result.not_matched()} == {
        "src": "no changed file is matched by paths [src/**] (2 files changed)",
        "code": "every changed file is ignored by paths-ignore [**.md] (2 files changed)",
    }


def test_pr_files_are_not_fetched_when_cheaper_filters_reject_every_path_rule() -> None:
    rules = [
        rule("  events:\n    pull_request: {branches: [main], paths: ['docs/**']}", "docs"),
        rule("  events:\n    pull_request: {types: [closed], paths: ['src/**']}", "src"),
        rule("  events: [pull_request]\n  labels: {any: [docs]}\n  paths: ['**']", "labelled"),
        rule("  events: [pull_request]", "always"),
    ]
    source = CountingFiles(["docs/index.md"])
    result = asyncio.run(decide_delivery(pr_event(), RuleIndex(rules), source))
    assert source.calls == 0
    assert [m.rule.name for m in result.matched] == ["always"]


def test_truncated_push_asks_for_compare_files() -> None:
    data = payload("push", "push.2")
    data["before"] = "1" * 40
    data["commits"] = data["commits"] * 20
    event = parse_event("push", data)
    assert (event.changed_files, event.files_source) == (None, "compare")
    source = CountingFiles(["src/app.py"])
    result = asyncio.run(
        decide_delivery(event, RuleIndex([rule("  events:\n    push: {paths: ['src/**']}")]), source)
    )
    assert (source.calls, [m.rule.name for m in result.matched]) == (1, ["r"])


# --- the index ---------------------------------------------------------------------------


def _many_rules(count: int, repos: int) -> list[Rule]:
    return [
        rule(f"  repository: [org/repo-{i % repos}]\n  events: [pull_request]", f"rule-{i}")
        for i in range(count)
    ]


def test_index_offers_only_the_repositorys_rules() -> None:
    rules = _many_rules(500, 100)
    rules.append(rule("  repository: ['org/*']\n  events: [pull_request]", "org-wide"))
    rules.append(rule("  events: [issues]", "issues-only"))
    index = RuleIndex(rules)
    event = pr_event(repository__full_name="ORG/repo-7")
    names = [r.name for _, r, _ in index.candidates(event)]
    assert names == [f"rule-{i}" for i in range(7, 500, 100)] + ["org-wide"]
    result = match(event, index)
    assert [m.rule.name for m in result.matched] == names
    reasons = {r.rule.name: r.reason for r in result.not_matched()}
    assert len(reasons) == len(rules) - len(names)
    assert reasons["rule-8"] == "repository 'ORG/repo-7' is not matched by [org/repo-8]"
    assert reasons["issues-only"] == "event 'pull_request' is not in [issues]"


# --- the shipped example rules on real payloads -----------------------------------------

SHIPPED = {r.name: r for r in load_rules([str(REPO / "rules")]).rules}


def _tweak(event: str, name: str, **changes: Any) -> Callable[[], Event]:
    def make() -> Event:
        data = copy.deepcopy(payload(event, name))
        for dotted, value in changes.items():
            target = data
            *parents, last = dotted.split("__")
            for part in parents:
                target = target[part]
            target[last] = value
        return parse_event(event, data)

    return make


DEPENDABOT = {"login": "dependabot[bot]", "type": "Bot"}
# a tick of a schedule, as engine.workers.scheduler delivers it
TICK = {
    "schedule": {"cron": "30 1 * * *", "tick": "2026-12-05T01:30:00Z", "rule": "stale"},
    "repository": {"full_name": "octo-org/hello", "name": "hello", "owner": {"login": "octo-org"}},
    "installation": {"id": 1},
}
EXAMPLES = [
    ("docs-label", _tweak("pull_request", "opened.1"), ["docs/guide.md"], None),
    (
        "docs-label",
        _tweak("pull_request", "opened.1"),
        ["src/app.py"],
        "no changed file is matched by paths [docs/**, *.md, !docs/internal/**] (1 file changed)",
    ),
    ("welcome-first-time", _tweak("pull_request", "opened.1"), None, None),
    (
        "welcome-first-time",
        _tweak("issues", "opened.1"),
        None,
        "event 'issues' is not in [pull_request]",
    ),
    ("pr-size-summary", _tweak("pull_request", "synchronize.1"), None, None),
    (
        "pr-size-summary",
        _tweak("pull_request", "closed.1"),
        None,
        "action 'closed' is not in types [opened, reopened, synchronize]",
    ),
    ("conventional-title", _tweak("pull_request", "opened.1"), None, None),
    (
        "conventional-title",
        _tweak("pull_request", "labeled.1"),
        None,
        "action 'labeled' is not in types [edited, opened, reopened, synchronize]",
    ),
    (
        "automerge-dependency-patches",
        _tweak("pull_request", "opened.1", sender=DEPENDABOT, pull_request__user=DEPENDABOT),
        None,
        None,
    ),
    (
        "automerge-dependency-patches",
        _tweak("pull_request", "opened.1"),
        None,
        "author 'Codertocat' is not matched by authors.include [dependabot[bot]]",
    ),
    ("automerge-dependency-patches", _tweak("check_suite", "completed.1", check_suite__head_branch="dependabot/pip/x-1.0.1"), None, None),
    (
        "automerge-dependency-patches",
        _tweak("check_suite", "completed.1"),
        None,
        "branch 'changes' is not matched by [dependabot/**]",
    ),
    ("docs-only", _tweak("pull_request", "opened.1"), ["docs/guide.md", "README.md"], None),
    (
        "docs-only",
        _tweak("pull_request", "opened.1"),
        ["docs/guide.md", "src/app.py"],
        "files.all: src/app.py is not matched by [docs/**, **.md, !docs/internal/**]",
    ),
    ("merge-when-ready", _tweak("pull_request_review", "submitted.1"), None, None),
    (
        "merge-when-ready",
        _tweak("pull_request", "opened.1"),
        None,
        "action 'opened' is not in types [ready_for_review, synchronize, unlabeled]",
    ),
    ("thank-contributors", _tweak("pull_request", "opened.1", sender={"login": "renovate[bot]", "type": "Bot"}), None, None),
    (
        "thank-contributors",
        _tweak("pull_request", "opened.1", pull_request__title="[WIP] parser"),
        None,
        "if: !matches(event.pull_request.title, '(?i)^\\[?wip\\b') was false "
        "(event.pull_request.title is '[WIP] parser')",
    ),
    (
        "team-review-on-label",
        _tweak("pull_request", "labeled.1"),
        None,
        "label 'bug' is not matched by labels.added [security]",
    ),
    ("team-review-on-label", _tweak("pull_request", "labeled.1", label__name="security"), None, None),
    (
        "team-review-on-label",
        _tweak("pull_request", "labeled.1", label__name="security", sender={"login": "hubot", "type": "User"}),
        None,
        "sender hubot is not in team octo-org/triagers",
    ),
    ("request-reviewers-by-path", _tweak("pull_request", "opened.1"), ["engine/matcher.py"], None),
    (
        "request-reviewers-by-path",
        _tweak("pull_request", "opened.1", sender=DEPENDABOT),
        ["engine/matcher.py"],
        "sender 'dependabot[bot]' is a bot and ignore-bots is true",
    ),
    ("issue-template-check", _tweak("issues", "opened.1"), None, None),
    (
        "issue-template-check",
        _tweak("issues", "opened.1", issue__labels=[{"name": "question"}]),
        None,
        "no label of the issue [question] is matched by labels.any [bug]",
    ),
    ("release-reminder", _tweak("push", "push.1", ref="refs/tags/v1.2.3"), None, None),
    (
        "release-reminder",
        _tweak("push", "push.1"),
        None,
        "tag 'simple-tag' is not matched by [v[0-9]+.[0-9]+.[0-9]+, v*-rc*]",
    ),
    ("wip-status", _tweak("pull_request", "reopened.1"), None, None),
    ("wip-status", _tweak("issues", "opened.1"), None, "event 'issues' is not in [pull_request]"),
    ("stale", lambda: parse_event("schedule", TICK), None, None),
    (
        "stale",
        _tweak("issues", "opened.1"),
        None,
        "the rule runs on its schedule (30 1 * * *), not on webhook events",
    ),
    (
        "stale-unmark",
        _tweak("issue_comment", "created.1", issue__labels=[{"name": "stale"}]),
        None,
        None,
    ),
    *[
        example
        for name, body, pull in (
            ("command-label", "/label bug", False),
            ("command-unlabel", "/unlabel bug", False),
            ("command-assign", "/assign @mona", False),
            ("command-unassign", "/unassign", False),
            ("command-hold", "/hold", True),
            ("command-merge", "/merge", True),
        )
        for example in (
            (name, _tweak("issue_comment", "created.1", comment__body=body,
                          **({"issue__pull_request": {"url": "x"}} if pull else {})), None, None),
            (name, _tweak("issue_comment", "created.1", comment__body=f"> {body}",
                          **({"issue__pull_request": {"url": "x"}} if pull else {})), None,
             f"no new {body.split()[0]} line in the comment (read on "
             + ("pull requests)" if pull else "issues or pull requests)")),
        )
    ],
    (
        "stale-unmark",
        _tweak("issue_comment", "created.1"),
        None,
        "no label of the issue [bug] is matched by labels.any [stale]",
    ),
]


@pytest.mark.parametrize(
    ("name", "make_event", "files", "reason"),
    EXAMPLES,
    ids=[f"{e[0]}-{'match' if e[3] is None else 'no-match'}" for e in EXAMPLES],
)
def test_shipped_rule_on_real_payload(
    name: str, make_event: Callable[[], Event], files: list[str] | None, reason: str | None
) -> None:
    result = run_match([SHIPPED[name]], make_event(), files)
    needs = result.needs
    if needs is not None and needs.memberships:  # answered as GitHub would for TEAMS
        asked = [membership_key(team, login) for team, login in needs.memberships]
        result = complete(result, memberships={key: key in TEAMS for key in asked})
    if reason is None:
        assert [m.rule.name for m in result.matched] == [name]
    else:
        assert [r.reason for r in result.not_matched()] == [reason]


TEAMS = {("octo-org/triagers", "codertocat")}  # (team, login) memberships the examples assume


def test_every_shipped_rule_has_match_and_no_match_cases() -> None:
    covered = {(e[0], e[3] is None) for e in EXAMPLES}
    assert {(n, ok) for n in SHIPPED for ok in (True, False)} <= covered


# --- simulate ----------------------------------------------------------------------------


def test_simulate_json_has_the_design_shape(cli, tmp_path) -> None:
    files = tmp_path / "files.txt"
    files.write_text("docs/guide.md\n\nsrc/app.py\n")
    pr = shared("github", "webhooks", "pull_request", "opened.1.json")
    code, out, err = cli(
        "simulate",
        "--event",
        "pull_request",
        "--payload",
        str(pr),
        "--rules",
        str(REPO / "rules"),
        "--changed-files",
        str(files),
        "--format",
        "json",
    )
    report = json.loads(out)
    assert (code, err) == (0, "")
    assert list(report) == ["event", "action", "matched", "not_matched", "undecided"]
    assert (report["event"], report["action"]) == ("pull_request", "opened")
    assert all(list(m) == ["rule", "file"] for m in report["matched"])
    assert all(list(m) == ["rule", "file", "reason"] for m in report["not_matched"])
    assert "docs-label" in [m["rule"] for m in report["matched"]]
    assert len(report["matched"]) + len(report["not_matched"]) == len(SHIPPED)


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [(b"{not json", 1, "is not valid JSON"), (b"[1, 2]", 1, "must be a JSON object")],
)
def test_simulate_rejects_bad_payloads(
    cli, tmp_path, content: bytes, code: int, message: str
) -> None:
    bad = tmp_path / "payload.json"
    bad.write_bytes(content)
    result = cli(
        "simulate", "--event", "push", "--payload", str(bad), "--rules", str(REPO / "rules")
    )
    assert result[0] == code and message in result[2]


# --- the corrected catalogue -----------------------------------------------------------


def test_free_form_dispatch_types_and_review_request_actions_match() -> None:
    dispatch = rule("  events:\n    repository_dispatch: {types: [deploy]}", "dispatch")
    review = rule("  events:\n    pull_request: {types: [review_requested]}", "review")
    deploy = parse_event("repository_dispatch", {"action": "deploy", "branch": "main"})
    other = parse_event("repository_dispatch", {"action": "rollback"})
    assert matched_names([dispatch], deploy) == ["dispatch"]
    assert run_match([dispatch], other).not_matched()[0].reason == (
        "action 'rollback' is not in types [deploy]"
    )
    assert matched_names([review], pr_event("review_requested")) == ["review"]


def test_a_hyphenated_event_name_warns_and_matches_the_underscore_event() -> None:
    from engine.lang.validate import check_source

    text = f"name: sub\non:\n  events:\n    sub-issues: {{types: [sub_issue_added]}}\n{LOG}"
    compiled, _, problems = check_source(text.encode(), "sub.yaml")
    assert [(p.severity, p.check) for p in problems] == [("warning", "event-spelling")]
    assert compiled is not None
    event = parse_event("sub_issues", {"action": "sub_issue_added"})
    assert matched_names([compiled], event) == ["sub"]
