"""Changed files in full: a pull request past GitHub's 3,000-file list, a push past the compare
API's 300 files, and one fetch per delivery however many rules wait for the files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from engine.edge.web import create_app
from engine.github.changed_files import fetch_changed_files
from engine.github.client import GitHubClient
from engine.match.events import parse_event
from engine.settings import Settings
from tests.double import GitHubDouble
from tests.serverkit import server_settings, signed, wait_until, write_rule

REPO = "octo-org/hello"
BASE, HEAD = "a" * 40, "b" * 40


def fetch(github: GitHubDouble, event: Any) -> tuple[str, ...]:
    settings = Settings(app_id=github.app_id, app_private_key=github.private_key_pem)
    credentials = settings.app_credentials()

    async def body() -> tuple[str, ...]:
        client = GitHubClient(credentials, base_url=github.url)
        try:
            return await fetch_changed_files(client.installation(1), event)
        finally:
            await client.aclose()

    return asyncio.run(body())


def trees(github: GitHubDouble, count: int) -> list[str]:
    """A base tree and a head tree that differ in `count` files."""
    repo = github.world.repo("octo-org", "hello")
    common = {f"same/{i}.txt": f"{i:040d}" for i in range(50)}
    changed = [f"src/file-{i:05d}.py" for i in range(count)]
    repo.trees[BASE] = {**common, **{p: "1" * 40 for p in changed[: count // 2]}}
    repo.trees[HEAD] = {**common, **{p: "2" * 40 for p in changed}}
    return changed


def test_a_pull_request_of_3100_files_is_decided_on_all_of_them(github: GitHubDouble) -> None:
    github.add_installation(1, "octo-org")
    changed = trees(github, 3100)
    github.world.add_pull(REPO, 5, files=changed, head_sha=HEAD)
    payload = {
        "action": "opened",
        "number": 5,
        "pull_request": {
            "number": 5,
            "changed_files": 3100,
            "head": {"sha": HEAD, "ref": "x"},
            "base": {"sha": BASE, "ref": "main"},
            "labels": [],
        },
        "repository": {"full_name": REPO},
        "installation": {"id": 1},
    }
    files = fetch(github, parse_event("pull_request", payload))
    assert len(files) == 3100 and set(files) == set(changed)
    assert len(github.calls("pulls/list-files")) == 30  # 3,000 listed, then the trees
    assert len(github.calls("git/get-tree")) == 2


def test_a_push_of_400_files_is_decided_on_all_of_them(github: GitHubDouble) -> None:
    github.add_installation(1, "octo-org")
    changed = trees(github, 400)
    payload = {
        "ref": "refs/heads/main",
        "before": BASE,
        "after": HEAD,
        "commits": [{"id": str(i), "added": [], "removed": [], "modified": []} for i in range(20)],
        "repository": {"full_name": REPO},
        "installation": {"id": 1},
    }
    event = parse_event("push", payload)
    assert event.files_source == "compare"
    files = fetch(github, event)
    assert len(files) == 400 and set(files) == set(changed)
    assert len(github.calls("repos/compare-commits-with-basehead")) == 1


PATHS_RULE = """name: {name}
on:
  events:
    pull_request:
      paths: ['{pattern}']
nodes:
  note:
    uses: core.log
    with:
      message: matched
"""


def test_changed_files_are_fetched_once_per_delivery(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(1, "octo-org")
    github.world.add_pull(REPO, 9, files=[f"docs/{i}.md" for i in range(250)], head_sha=HEAD)
    rules = tmp_path / "rules"
    for number, pattern in enumerate(["docs/**", "**.md", "src/**"]):
        write_rule(
            rules, f"paths-{number}", PATHS_RULE.format(name=f"paths-{number}", pattern=pattern)
        )
    settings = server_settings(tmp_path, rules, github, app_slug="hookwise-test")
    payload = {
        "action": "opened",
        "number": 9,
        "pull_request": {
            "number": 9,
            "head": {"sha": HEAD, "ref": "x"},
            "base": {"ref": "main"},
            "labels": [],
            "user": {"login": "mona"},
        },
        "repository": {"full_name": REPO},
        "installation": {"id": 1},
        "sender": {"login": "mona", "type": "User"},
    }
    app = create_app(settings)
    with TestClient(app) as client:
        body, headers = signed(payload, "pull_request", "once-1")
        assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
        store = app.state.hookwise.store
        wait_until(
            lambda: all(
                j["state"] != "queued" and j["state"] != "running" for j in store.jobs("once-1")
            )
        )
        states = {j["rule"]: j["state"] for j in store.jobs("once-1")}
    assert states == {"paths-0": "done", "paths-1": "done", "paths-2": "not_matched"}
    assert len(github.calls("pulls/list-files")) == 3  # one listing: 3 pages of 100
