"""`hookwise deliver`, `hookwise deliveries`, secret-free logs and payload retention."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.edge.web import create_app
from engine.observe import logs
from engine.store.sqlite import SQLiteStore
from tests.conftest import DATA, REPO, shared
from tests.double import GitHubDouble
from tests.rulekit import payload
from tests.serverkit import SECRET, free_port, server_settings, signed, start_server, wait_until
from tests.storekit import queue_depth


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(DATA / "server-rules" / "greet-issues.yaml", folder)
    shutil.copy(REPO / "rules" / "issue-template-check.yaml", folder)
    return folder


def test_deliver_signs_and_posts_like_github(cli, tmp_path: Path, rules_dir: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HOOKWISE_RULES": str(rules_dir),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "GITHUB_WEBHOOK_SECRET": SECRET,
    }
    env.pop("GITHUB_APP_ID", None)
    server = start_server(port, env, tmp_path / "server.log")
    try:
        issue = shared("github", "webhooks", "issues", "opened.1.json")
        url = f"http://127.0.0.1:{port}/webhooks/github"
        code, out, err = cli(
            "deliver",
            str(issue),
            "--event",
            "issues",
            "--url",
            url,
            "--secret",
            SECRET,
            "--delivery",
            "cli-1",
        )
        assert (code, err) == (0, "")
        assert out.startswith("202 ") and json.loads(out[4:])["matched"] == [
            "greet-issues",
            "issue-template-check",
        ]
        code, out, _ = cli(
            "deliver", str(issue), "--event", "issues", "--url", url, "--secret", "wrong"
        )
        assert (code, out.split(" ")[0]) == (1, "401")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def _ingest(
    tmp_path: Path, rules_dir: Path, items: list[tuple[str, str, str]], **kwargs: Any
) -> Any:
    settings = server_settings(tmp_path, rules_dir, **kwargs)
    with TestClient(create_app(settings)) as client:
        for event, name, delivery in items:
            body, headers = signed(payload(event, name), event, delivery)
            assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
            time.sleep(0.01)
        store = SQLiteStore.from_url(settings.database_url)
        wait_until(lambda: queue_depth(store) == 0)
    return settings


def test_deliveries_list_show_and_replay(
    cli, tmp_path: Path, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _ingest(
        tmp_path, rules_dir, [("issues", "opened.1", "d-1"), ("push", "push.2", "d-2")]
    )
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOOKWISE_RULES", str(rules_dir))
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)

    code, out, _ = cli("deliveries", "list", "--format", "json")
    listed = json.loads(out)
    assert code == 0
    assert [d["delivery"] for d in listed] == ["d-2", "d-1"]
    assert all(
        list(d) == ["delivery", "event", "action", "repository", "received_at", "status"]
        for d in listed
    )
    assert [(d["event"], d["action"], d["status"]) for d in listed] == [
        ("push", None, "no_match"),
        ("issues", "opened", "done"),
    ]
    assert listed[0]["received_at"].endswith("Z")

    code, out, _ = cli("deliveries", "show", "d-1", "--format", "json")
    shown = json.loads(out)
    assert code == 0
    assert shown["match_trace"]["matched"] == ["greet-issues", "issue-template-check"]
    assert sorted((r["rule"], r["generation"], r["status"]) for r in shown["runs"]) == [
        ("greet-issues", 0, "success"),
        ("issue-template-check", 0, "success"),
    ]

    code, out, _ = cli("deliveries", "replay", "d-1", "--format", "json")
    replayed = json.loads(out)
    assert (code, replayed["generation"]) == (0, 1)
    assert sorted(r["rule"] for r in replayed["runs"]) == [
        "greet-issues",
        "issue-template-check",
    ]
    code, out, _ = cli("deliveries", "show", "d-1", "--format", "json")
    assert sorted((r["rule"], r["generation"]) for r in json.loads(out)["runs"]) == [
        ("greet-issues", 0),
        ("greet-issues", 1),
        ("issue-template-check", 0),
        ("issue-template-check", 1),
    ]

    code, out, _ = cli("deliveries", "show", "d-1")
    assert code == 0 and "run issue-template-check #1: success" in out
    code, _, err = cli("deliveries", "show", "nope")
    assert code == 1 and "no delivery 'nope'" in err
    code, out, _ = cli("deliveries", "show", "d-2", "--format", "json")  # a whole id
    assert code == 0
    code, _, err = cli("deliveries", "show", "d-")
    assert code == 1 and "no delivery 'd-' (a prefix needs at least 4 characters)" in err


def test_replay_uses_the_rules_as_they_are_now(
    cli, tmp_path: Path, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _ingest(tmp_path, rules_dir, [("issues", "opened.1", "d-1")])
    (rules_dir / "greet-issues.yaml").unlink()
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOOKWISE_RULES", str(rules_dir))
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    code, out, _ = cli("deliveries", "replay", "d-1", "--format", "json")
    assert (code, [r["rule"] for r in json.loads(out)["runs"]]) == (0, ["issue-template-check"])


def test_retention_prunes_payloads_but_keeps_metadata_and_runs(
    cli, tmp_path: Path, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _ingest(tmp_path, rules_dir, [("issues", "opened.1", "old-1")])
    store = SQLiteStore.from_url(settings.database_url)
    assert store.prune_payloads(older_than=time.time() - 3600) == 0
    assert store.prune_payloads(older_than=time.time() + 1) == 1
    delivery = store.delivery("old-1")
    assert delivery is not None and delivery.payload is None and delivery.event == "issues"
    assert len(store.runs("old-1")) == 2
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOOKWISE_RULES", str(rules_dir))
    code, _, err = cli("deliveries", "replay", "old-1")
    assert code == 1 and "was pruned" in err


def test_logs_never_hold_tokens_secrets_or_signatures(
    tmp_path: Path, rules_dir: Path, github: GitHubDouble
) -> None:
    github.add_installation(1, "Codertocat")
    github.world.add_issue("Codertocat/Hello-World", 1, labels=["bug"])
    captured = io.StringIO()
    logs.configure("DEBUG", captured)
    try:
        data = payload("issues", "opened.1")
        data["installation"] = {"id": 1}
        settings = server_settings(tmp_path, rules_dir, github)
        with TestClient(create_app(settings)) as client:
            body, headers = signed(data, "issues", "log-1")
            client.post("/webhooks/github", content=body, headers=headers)
            bad = dict(headers, **{"X-Hub-Signature-256": "sha256=" + "ab" * 32})
            client.post("/webhooks/github", content=body, headers=bad)
            store = SQLiteStore.from_url(settings.database_url)
            wait_until(lambda: queue_depth(store) == 0)
        logging.getLogger("hookwise.test").info(
            "probe", extra={"token": "ghs_" + "x" * 36, "note": "Bearer ghs_" + "y" * 36}
        )
    finally:
        logs.configure("INFO")
    text = captured.getvalue()
    tokens = list(github.world.tokens)
    assert tokens and text
    for secret in [
        SECRET,
        headers["X-Hub-Signature-256"],
        "ab" * 32,
        "ghs_" + "x" * 36,
        "ghs_" + "y" * 36,
        *tokens,
        "BEGIN PRIVATE KEY",
    ]:
        assert secret not in text, secret
    lines = [json.loads(line) for line in text.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(line["message"] == "run finished" for line in lines)
    assert any(line.get("token") == "[redacted]" for line in lines)


def test_deliveries_show_takes_an_id_prefix_as_git_takes_a_hash(
    cli, tmp_path: Path, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = ["72d3162e-cc78-11e3", "72d3162e-dd01-11e3", "9a0b1c2d-0000-11e3"]
    settings = _ingest(tmp_path, rules_dir, [("issues", "opened.1", d) for d in ids])
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    code, out, _ = cli("deliveries", "show", "9a0b", "--format", "json")
    assert code == 0 and json.loads(out)["delivery"] == ids[2]
    code, _, err = cli("deliveries", "show", "72d3162e")
    assert code == 1
    assert "delivery id prefix '72d3162e' is ambiguous: 72d3162e-cc78-11e3, 72d3162e-dd01-11e3" in err
