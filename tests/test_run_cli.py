"""`hookwise run --dry-run`: each shipped rule on a real payload plans the right calls."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, shipped_rules
from tests.rulekit import payload

DEPENDABOT = {"login": "dependabot[bot]", "type": "Bot"}
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
ISSUE_COMMENT = "Thanks for the report, @Codertocat. It is missing the **Steps to reproduce** section\nof the bug template, so we are closing it for now. Edit the issue to add it and we will reopen.\n"


def _set(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return data


EYES = ("POST", "/repos/Codertocat/Hello-World/issues/comments/492700400/reactions", {"content": "eyes"})
THUMBS_UP = ("POST", "/repos/Codertocat/Hello-World/issues/comments/492700400/reactions", {"content": "+1"})


def _comment(body: str, pull: int | None = None) -> dict[str, Any]:
    data = _set(payload("issue_comment", "created.1"), comment__body=body)
    data["issue"]["labels"] = [{"name": "bug"}]
    if pull is not None:
        data["issue"].update(number=pull, pull_request={"url": "https://api.github.com/x"})
    return data


CASES: list[tuple[str, str, Any, list[str] | None, list[tuple[str, str, Any]]]] = [
    (
        "docs-label",
        "pull_request",
        lambda: payload("pull_request", "opened.1"),
        ["docs/guide.md"],
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/issues/2/labels",
                {"labels": ["documentation"]},
            ),
            (
                "POST",
                "/repos/Codertocat/Hello-World/issues/2/comments",
                {"body": "Thanks @Codertocat, labelled as documentation."},
            ),
        ],
    ),
    (
        "welcome-first-time",
        "pull_request",
        lambda: _set(
            payload("pull_request", "opened.1"),
            pull_request__author_association="FIRST_TIME_CONTRIBUTOR",
        ),
        None,
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/issues/2/comments",
                {
                    "body": "Welcome, @Codertocat, and thank you for your first contribution to Codertocat/Hello-World!\nA maintainer will look at it soon. Please read CONTRIBUTING.md while you wait.\n"
                },
            ),
            (
                "POST",
                "/repos/Codertocat/Hello-World/issues/2/labels",
                {"labels": ["first-contribution"]},
            ),
        ],
    ),
    (
        "pr-size-summary",
        "pull_request",
        lambda: payload("pull_request", "opened.1"),
        ["a.py", "b.py"],
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/issues/2/comments",
                {
                    "body": "<!-- hookwise:pr-size-summary -->\n### Pull request size\n| files | additions | deletions |\n| ---: | ---: | ---: |\n| 2 | 1 | 1 |\n"
                },
            ),
        ],
    ),
    (
        "conventional-title",
        "pull_request",
        lambda: payload("pull_request", "opened.1"),
        None,
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/check-runs",
                {
                    "name": "conventional-title",
                    "status": "completed",
                    "conclusion": "failure",
                    "output": {
                        "title": "Title is not a Conventional Commit",
                        "summary": "Title: Update the README with new information.. Start the title with a type: feat, fix, docs, chore, refactor, test, ci, perf or build.",
                    },
                    "head_sha": HEAD,
                },
            ),
        ],
    ),
    (
        # without credentials the reads are skipped with their reason, so nothing is planned
        "automerge-dependency-patches",
        "pull_request",
        lambda: _set(payload("pull_request", "opened.1"), sender=DEPENDABOT, pull_request__user=DEPENDABOT),
        None,
        [],
    ),
    (
        "merge-when-ready",
        "pull_request_review",
        lambda: payload("pull_request_review", "submitted.1"),
        None,
        [],
    ),
    (
        "docs-only",
        "pull_request",
        lambda: payload("pull_request", "opened.1"),
        ["docs/guide.md", "README.md"],
        [("POST", "/repos/Codertocat/Hello-World/issues/2/labels", {"labels": ["docs"]})],
    ),
    (
        "team-review-on-label",
        "pull_request",
        lambda: _set(payload("pull_request", "labeled.1"), label__name="security"),
        None,
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/pulls/2/requested_reviewers",
                {"team_reviewers": ["security"]},
            )
        ],
    ),
    (
        "thank-contributors",
        "pull_request",
        lambda: _set(payload("pull_request", "opened.1"), sender={"login": "renovate[bot]", "type": "Bot"}),
        None,
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/issues/2/comments",
                {"body": "<!-- hookwise:thanks -->\nThanks @renovate[bot]! A maintainer will look at this soon."},
            )
        ],
    ),
    (
        "request-reviewers-by-path",
        "pull_request",
        lambda: payload("pull_request", "opened.1"),
        ["engine/matcher.py"],
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/pulls/2/requested_reviewers",
                {"team_reviewers": ["engine-maintainers"]},
            )
        ],
    ),
    (
        "issue-template-check",
        "issues",
        lambda: payload("issues", "opened.1"),
        None,
        [
            ("POST", "/repos/Codertocat/Hello-World/issues/1/comments", {"body": ISSUE_COMMENT}),
            ("POST", "/repos/Codertocat/Hello-World/issues/1/labels", {"labels": ["needs-info"]}),
            (
                "PATCH",
                "/repos/Codertocat/Hello-World/issues/1",
                {"state": "closed", "state_reason": "not_planned"},
            ),
        ],
    ),
    (
        "release-reminder",
        "push",
        lambda: _set(payload("push", "push.1"), ref="refs/tags/v1.2.3"),
        None,
        [
            (
                "POST",
                "/repos/Codertocat/Hello-World/issues",
                {
                    "title": "Release checklist for v1.2.3",
                    "body": "Tag v1.2.3 was pushed by @Codertocat at 6113728f27ae82c7b1a177c8d03f9e96e0adf246.\n- [ ] Release notes drafted\n- [ ] Packages published\n- [ ] Announcement sent\n",
                    "labels": ["release"],
                },
            ),
        ],
    ),
    (
        "wip-status",
        "pull_request",
        lambda: _set(payload("pull_request", "opened.1"), pull_request__title="WIP: new parser"),
        None,
        [
            (
                "POST",
                f"/repos/Codertocat/Hello-World/statuses/{HEAD}",
                {"state": "pending", "context": "hookwise/wip", "description": "Work in progress"},
            ),
        ],
    ),
    # without credentials the searches are skipped (tests/test_stale.py runs it on the double)
    (
        "stale",
        "schedule",
        lambda: {
            "schedule": {"cron": "30 1 * * *", "tick": "2026-12-05T01:30:00Z"},
            "repository": {"full_name": "octo-org/hello", "name": "hello", "owner": {"login": "octo-org"}},
            "installation": {"id": 1},
        },
        None,
        [],
    ),
    (
        "stale-unmark",
        "issue_comment",
        lambda: _set(payload("issue_comment", "created.1"), issue__labels=[{"name": "stale"}]),
        None,
        [("DELETE", "/repos/Codertocat/Hello-World/issues/1/labels/stale", None)],
    ),
    # slash commands, the commenter's permission given with --permission (COMMAND_ARGS)
    (
        "command-label",
        "issue_comment",
        lambda: _comment("/label bug ui"),
        None,
        [EYES, ("POST", "/repos/Codertocat/Hello-World/issues/1/labels", {"labels": ["ui"]}), THUMBS_UP],
    ),
    ("command-unlabel", "issue_comment", lambda: _comment("/unlabel bug"), None,
     [EYES, ("DELETE", "/repos/Codertocat/Hello-World/issues/1/labels/bug", None), THUMBS_UP]),
    ("command-assign", "issue_comment", lambda: _comment("/assign @mona"), None,
     [EYES, ("POST", "/repos/Codertocat/Hello-World/issues/1/assignees", {"assignees": ["mona"]}), THUMBS_UP]),
    ("command-unassign", "issue_comment", lambda: _comment("/unassign"), None,
     [EYES, ("DELETE", "/repos/Codertocat/Hello-World/issues/1/assignees", {"assignees": ["Codertocat"]}), THUMBS_UP]),
    ("command-hold", "issue_comment", lambda: _comment("/hold", pull=2), None,
     [EYES, ("POST", "/repos/Codertocat/Hello-World/issues/2/labels", {"labels": ["do-not-merge"]}), THUMBS_UP]),
    # the readiness read is skipped without credentials, so neither merge nor the reply runs
    ("command-merge", "issue_comment", lambda: _comment("/merge", pull=2), None, [EYES, THUMBS_UP]),
]


@pytest.mark.parametrize(
    ("rule", "event", "make_payload", "files", "calls"), CASES, ids=[c[0] for c in CASES]
)
def test_dry_run_plans_the_rules_calls(
    cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rule: str,
    event: str,
    make_payload: Any,
    files: list[str] | None,
    calls: list[tuple[str, str, Any]],
) -> None:
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(make_payload()))
    argv = [
        "run",
        "--dry-run",
        "--event",
        event,
        "--payload",
        str(payload_file),
        "--rules",
        str(REPO / "rules" / f"{rule}.yaml"),
        "--format",
        "json",
    ]
    if files is not None:
        (tmp_path / "files.txt").write_text("\n".join(files))
        argv += ["--changed-files", str(tmp_path / "files.txt")]
    argv += TEAMS.get(rule, [])
    code, out, err = cli(*argv)
    report = json.loads(out)
    assert (code, err) == (0, "")
    assert [r["rule"] for r in report["runs"]] == [rule]
    run = report["runs"][0]
    assert run["status"] == "success"
    assert list(run) == ["rule", "status", "nodes", "calls"]
    assert all(list(n) == ["id", "status", "outputs", "error", "reason"] for n in run["nodes"])
    assert all(n["error"] is None for n in run["nodes"] if n["status"] == "skipped")
    assert [(c["method"], c["path"], c["body"]) for c in run["calls"]] == calls
    assert all(c["sent"] is False for c in run["calls"])


# the team memberships a case assumes (`run --team`: no credentials here to read them)
TEAMS = {
    "team-review-on-label": ["--team", "octo-org/triagers=codertocat,hubot"],
    **{name: ["--permission", "write"] for name in (
        "command-label", "command-unlabel", "command-assign", "command-unassign", "command-hold",
        "command-merge",
    )},
}


def test_every_shipped_rule_has_a_dry_run_case() -> None:
    assert sorted(c[0] for c in CASES) == sorted(p.stem for p in shipped_rules())


def test_reads_without_credentials_are_skipped_with_a_reason(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(payload("pull_request", "opened.1")))
    rule = tmp_path / "r.yaml"
    rule.write_text(
        "name: r\non:\n  events: [pull_request]\nnodes:\n  pr:\n    uses: github.pull_request.get\n  after:\n    needs: pr\n    uses: core.log\n    with: {message: x}\n"
    )
    code, out, _ = cli(
        "run",
        "--dry-run",
        "--event",
        "pull_request",
        "--payload",
        str(payload_file),
        "--rules",
        str(rule),
        "--format",
        "json",
    )
    nodes = json.loads(out)["runs"][0]["nodes"]
    assert code == 0
    assert [(n["id"], n["status"]) for n in nodes] == [("pr", "skipped"), ("after", "skipped")]
    assert nodes[0]["error"] is None  # skipped is not failed: the reason says why
    assert (
        nodes[0]["reason"]
        == "no GitHub App credentials: cannot read GET /repos/Codertocat/Hello-World/pulls/2 in a dry run"
    )


def test_run_with_app_credentials_comments_and_labels_on_the_double(
    cli, github, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = payload("pull_request", "opened.2")
    github.add_installation(data["installation"]["id"], "Codertocat")
    github.world.add_pull(
        data["repository"]["full_name"],
        data["number"],
        files=["docs/guide.md", "src/app.py"],
        labels=[label["name"] for label in data["pull_request"]["labels"]],
        head_sha=data["pull_request"]["head"]["sha"],
    )
    monkeypatch.setenv("GITHUB_APP_ID", github.app_id)
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", github.private_key_pem)
    monkeypatch.setenv("GITHUB_API_BASE_URL", github.url)
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(data))
    code, out, err = cli(
        "run",
        "--event",
        "pull_request",
        "--payload",
        str(payload_file),
        "--rules",
        str(REPO / "rules" / "docs-label.yaml"),
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    run = json.loads(out)["runs"][0]
    assert (run["rule"], run["status"]) == ("docs-label", "success")
    assert all(c["sent"] for c in run["calls"])
    issue = github.world.repo("Codertocat", "Hello-World").issues[data["number"]]
    assert issue.labels == ["bug", "documentation"]
    assert [c["body"] for c in issue.comments] == ["Thanks @Codertocat, labelled as documentation."]
    # the PR's files came from the API once: the paths filter and the files node share them
    assert len(github.calls("pulls/list-files")) == 1
