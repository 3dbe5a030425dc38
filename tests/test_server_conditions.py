"""Conditions in the server: the worker reads team membership (once, then from its cache),
decides `files:` with the changed files, and fails closed when membership cannot be read."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from engine.edge.web import create_app
from tests.double import GitHubDouble
from tests.rulekit import payload
from tests.serverkit import server_settings, signed, sql, wait_until, write_rule

REPO = "Codertocat/Hello-World"
LOG = "nodes:\n  log:\n    uses: core.log\n    with: {message: x}\n"


def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    write_rule(
        folder,
        "team",
        f"name: team\non:\n  events: [pull_request]\n  authors: {{teams: [octo-org/core]}}\n{LOG}",
    )
    write_rule(
        folder,
        "docs-only",
        f"name: docs-only\non:\n  events: [pull_request]\n  files: {{all: ['docs/**']}}\n{LOG}",
    )
    return folder


def jobs(settings, delivery: str) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    rows = sql(settings, f"SELECT rule, state, error FROM jobs WHERE delivery_id = '{delivery}'")
    return {rule: (state, error) for rule, state, error in rows}


def settled(settings, delivery: str) -> bool:  # type: ignore[no-untyped-def]
    return all(state not in ("queued", "running") for state, _ in jobs(settings, delivery).values())


def test_team_membership_is_read_once_and_cached(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(1, "Codertocat")
    github.world.add_pull(REPO, 2, files=["docs/a.md", "src/b.py"])
    github.world.add_team_member("octo-org/core", "Codertocat")
    settings = server_settings(tmp_path, rules(tmp_path), github)
    with TestClient(create_app(settings)) as client:
        for delivery in ("d-1", "d-2"):
            body, headers = signed(payload("pull_request", "opened.2"), "pull_request", delivery)
            answer = client.post("/webhooks/github", content=body, headers=headers)
            assert answer.json()["pending"] == ["docs-only", "team"]
            wait_until(lambda d=delivery: settled(settings, d))
    assert jobs(settings, "d-1") == {
        "team": ("done", None),
        "docs-only": ("not_matched", "not matched: files.all: src/b.py is not matched by [docs/**]"),
    }
    assert jobs(settings, "d-2")["team"] == ("done", None)
    assert len(github.calls("teams/get-membership-for-user-in-org")) == 1


def test_membership_that_cannot_be_read_fails_closed(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(1, "Codertocat")
    github.world.add_pull(REPO, 2, files=["docs/a.md"])
    github.inject(
        "GET",
        "/orgs/octo-org/teams/core/memberships/",
        status=403,
        times=5,
        body={"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com"},
    )
    settings = server_settings(tmp_path, rules(tmp_path), github)
    with TestClient(create_app(settings)) as client:
        body, headers = signed(payload("pull_request", "opened.2"), "pull_request", "d-1")
        client.post("/webhooks/github", content=body, headers=headers)
        wait_until(lambda: settled(settings, "d-1"))
    assert jobs(settings, "d-1") == {
        "team": (
            "not_matched",
            "not matched: author Codertocat: membership of octo-org/core (GitHub 403: Resource not "
            "accessible by integration) could not be read, so the rule does not match",
        ),
        "docs-only": ("done", None),
    }
