"""Every shared webhook payload parses into a complete Event, checked against the payload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.match.events import parse_event
from tests.conftest import SHARED_FIXTURES, shared
from tests.rulekit import all_payload_files

INDEX_FILE = SHARED_FIXTURES / "github" / "webhooks" / "INDEX.json"
INDEX = {e["file"]: e for e in json.loads(INDEX_FILE.read_text())} if INDEX_FILE.exists() else {}
FILES = all_payload_files()


def test_every_payload_is_indexed() -> None:
    shared("github", "webhooks")
    assert len(FILES) == 77
    assert sorted(f"{p.parent.name}/{p.name}" for p in FILES) == sorted(INDEX)


def _subject(data: dict[str, Any]) -> dict[str, Any] | None:
    return data.get("pull_request") or data.get("issue")


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_payload_parses_into_a_complete_event(path: Path) -> None:
    entry = INDEX[f"{path.parent.name}/{path.name}"]
    data = json.loads(path.read_text())
    event = parse_event(entry["event"], data, delivery="d-1")

    assert (event.name, event.action, event.delivery) == (entry["event"], entry["action"], "d-1")
    assert event.repository == entry["repository_full_name"]
    assert (event.installation_id is not None) is entry["has_installation_id"]
    assert event.sender == data["sender"]["login"]
    assert event.sender_is_bot is (entry["sender_type"] == "Bot")
    if event.repository:
        assert f"{event.owner}/{event.repo}" == data["repository"]["full_name"]

    subject = _subject(data)
    if subject is not None:
        assert event.number == subject["number"]
        assert event.labels == tuple(label["name"] for label in subject.get("labels") or [])
    if "pull_request" in data:
        pr = data["pull_request"]
        assert (event.base_ref, event.head_ref) == (pr["base"]["ref"], pr["head"]["ref"])
        assert (event.ref_kind, event.ref_name) == ("branch", pr["base"]["ref"])
        assert event.sha == pr["head"]["sha"]
    if event.action in ("labeled", "unlabeled"):
        assert event.label == data["label"]["name"]
    else:
        assert event.label is None

    expected_author = {
        "issue_comment": lambda: data["comment"]["user"]["login"],
        "pull_request_review_comment": lambda: data["comment"]["user"]["login"],
        "pull_request_review": lambda: data["review"]["user"]["login"],
        "push": lambda: data["pusher"]["name"],
    }.get(entry["event"], lambda: (subject or data)["user" if subject else "sender"]["login"])
    assert event.author == expected_author()

    if entry["event"] == "push":
        kind, _, short = data["ref"].removeprefix("refs/").partition("/")
        assert (event.ref_kind, event.ref_name, event.ref) == (
            {"heads": "branch", "tags": "tag"}[kind],
            short,
            data["ref"],
        )
        assert event.deleted is data["deleted"]
        files = {f for c in data["commits"] for k in ("added", "removed", "modified") for f in c[k]}
        expected = () if data["deleted"] or kind == "tags" else tuple(sorted(files))
        assert tuple(sorted(event.changed_files or ())) == expected
    elif entry["event"] in ("create", "delete"):
        assert (event.ref_kind, event.ref_name) == (data["ref_type"], data["ref"])
    elif entry["event"] == "release":
        assert (event.ref_kind, event.ref_name) == ("tag", data["release"]["tag_name"])
    elif entry["event"] == "pull_request":
        assert (event.changed_files, event.files_source) == (None, "pull_request")


@pytest.mark.parametrize(
    ("commits", "size", "before", "files", "source"),
    [
        (
            [{"added": ["a"], "removed": ["b"], "modified": ["a"]}],
            None,
            "1" * 40,
            ("a", "b"),
            "payload",
        ),
        (
            [{"added": [f"f{i}"], "removed": [], "modified": []} for i in range(20)],
            None,
            "1" * 40,
            None,
            "compare",
        ),
        ([{"added": ["a"], "removed": [], "modified": []}], 25, "1" * 40, None, "compare"),
        ([{"added": ["a"], "removed": [], "modified": []}], 1, "1" * 40, ("a",), "payload"),
    ],
    ids=["listed", "twenty-commits-may-be-cut", "size-larger-than-list", "size-equal"],
)
def test_push_changed_files(
    commits: list[Any], size: int | None, before: str, files: Any, source: str
) -> None:
    data: dict[str, Any] = {
        "ref": "refs/heads/main",
        "before": before,
        "after": "2" * 40,
        "commits": commits,
    }
    if size is not None:
        data["size"] = size
    event = parse_event("push", data)
    assert (event.changed_files, event.files_source) == (files, source)


def test_deleted_branch_push_has_no_changed_files() -> None:
    data = {
        "ref": "refs/heads/old",
        "deleted": True,
        "after": "0" * 40,
        "commits": [],
        "head_commit": None,
    }
    event = parse_event("push", data)
    assert (event.deleted, event.changed_files, event.sha) == (True, (), None)
