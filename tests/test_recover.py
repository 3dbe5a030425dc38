"""`hookwise recover` and HOOKWISE_RECOVER_INTERVAL on the double: failed deliveries that the
store does not hold are asked for again, once per window, across every page of the window."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.store.records import NewDelivery, StoredDelivery
from engine.store.sqlite import SQLiteStore
from tests.conftest import REPO
from tests.double import GitHubDouble
from tests.rulekit import payload
from tests.serverkit import SECRET, free_port, start_process, stop_process, wait_until


def stored(guid: str) -> NewDelivery:
    return NewDelivery(
        StoredDelivery(
            delivery_id=guid,
            event="issues",
            action="opened",
            installation_id=1,
            repository="o/r",
            payload={"action": "opened"},
            headers={},
            received_at=time.time(),
            status="no_match",
            match_trace={"matched": []},
        )
    )


@pytest.fixture
def env(github: GitHubDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The App's settings pointing at the double, and a database holding nothing yet."""
    for key in list(os.environ):
        if key.startswith(("GITHUB_", "HOOKWISE_")):
            monkeypatch.delenv(key)
    key = tmp_path / "app.pem"
    key.write_text(github.private_key_pem)
    database = tmp_path / "h.db"
    monkeypatch.setenv("GITHUB_APP_ID", github.app_id)
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY_PATH", str(key))
    monkeypatch.setenv("GITHUB_API_BASE_URL", github.url)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    SQLiteStore(str(database)).close()
    return database


def ten_failed_four_stored(github: GitHubDouble, database: Path) -> list[str]:
    """The issue's scene, with the noise a real window has; the six missed guids."""
    now = time.time()
    guids = [f"guid-{n}" for n in range(10)]
    for n, guid in enumerate(guids):
        github.world.add_hook_delivery(guid, "issues", action="opened", status_code=503, delivered_at=now - 3000 + n)
    github.world.add_hook_delivery("ok-1", "push", status_code=202, delivered_at=now - 100)
    # failed, then delivered by a later attempt: nothing to do
    github.world.add_hook_delivery("late", "issues", status_code=502, delivered_at=now - 900)
    github.world.add_hook_delivery("late", "issues", status_code=202, delivered_at=now - 800, redelivery=True)
    # failed before the window: out of reach of --since 1h
    github.world.add_hook_delivery("old", "issues", status_code=500, delivered_at=now - 7300)
    store = SQLiteStore(str(database))
    store.record_deliveries([stored(g) for g in guids[:4]])
    store.close()
    return guids[4:]


def test_six_of_ten_failed_are_asked_for_and_a_second_run_asks_for_none(
    github: GitHubDouble, env: Path, cli: Any
) -> None:
    missed = ten_failed_four_stored(github, env)
    code, out, err = cli("recover", "--since", "1h", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert [r["delivery"] for r in report["redeliver"]] == missed
    assert sorted(report["stored"]) == [f"guid-{n}" for n in range(4)]
    assert len(github.world.redelivered) == 6 == len(github.calls("apps/redeliver-webhook-delivery"))
    code, out, _ = cli("recover", "--since", "1h", "--format", "json")
    assert code == 0
    again = json.loads(out)
    assert again["redeliver"] == [] and sorted(again["already_asked"]) == missed
    assert len(github.world.redelivered) == 6


def test_dry_run_lists_and_asks_nothing(github: GitHubDouble, env: Path, cli: Any) -> None:
    missed = ten_failed_four_stored(github, env)
    code, out, _ = cli("recover", "--since", "1h", "--dry-run")
    assert code == 0
    assert "would ask GitHub to redeliver 6:" in out
    assert all(guid in out for guid in missed)
    assert github.world.redelivered == []
    assert sql_count(env) == 0


def sql_count(database: Path) -> int:
    import sqlite3

    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT COUNT(*) FROM redeliveries").fetchone()[0])


def test_every_page_of_the_window_is_read_and_no_more(github: GitHubDouble, env: Path, cli: Any) -> None:
    now = time.time()
    for n in range(300):  # old attempts: three pages that the walk must not read
        github.world.add_hook_delivery(f"old-{n}", "push", status_code=500, delivered_at=now - 90_000 + n)
    for n in range(230):  # the window: three pages of 100
        github.world.add_hook_delivery(f"new-{n}", "push", status_code=504, delivered_at=now - 3000 + n)
    code, out, _ = cli("recover", "--since", "2h", "--dry-run", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert len(report["redeliver"]) == 230 and report["attempts"] == 230
    listed = github.calls("apps/list-webhook-deliveries")
    assert len(listed) == 3  # 100 + 100 + 30 new, with the first old ones on the third page
    assert [r.query.get("cursor") is not None for r in listed] == [False, True, True]


def test_a_delivery_hookwise_refused_on_purpose_is_not_asked_for(github: GitHubDouble, env: Path, cli: Any) -> None:
    now = time.time()
    github.world.add_hook_delivery("bad-signature", "issues", status_code=401, delivered_at=now - 60)
    github.world.add_hook_delivery("malformed", "issues", status_code=400, delivered_at=now - 50)
    github.world.add_hook_delivery("timeout", "issues", status_code=0, delivered_at=now - 40)
    github.world.add_hook_delivery("rate", "issues", status_code=429, delivered_at=now - 30)
    code, out, _ = cli("recover", "--since", "1h", "--format", "json")
    report = json.loads(out)
    assert code == 0
    assert sorted(report["refused"]) == ["bad-signature", "malformed"]
    assert [r["delivery"] for r in report["redeliver"]] == ["timeout", "rate"]


def test_a_refused_redelivery_is_asked_for_again_next_time(github: GitHubDouble, env: Path, cli: Any) -> None:
    github.world.add_hook_delivery("g", "issues", status_code=503, delivered_at=time.time() - 60)
    github.inject("POST", "/app/hook/deliveries/", status=422, times=1, body={"message": "Validation Failed"})
    code, out, _ = cli("recover", "--since", "1h")
    assert code == 1 and "refused: g: Validation Failed" in out
    code, out, _ = cli("recover", "--since", "1h")
    assert code == 0 and "asked GitHub to redeliver 1:" in out


@pytest.mark.parametrize(("since", "message"), [("soon", "not a duration"), ("0", "longer than 0")])
def test_a_bad_window_is_a_usage_error(env: Path, cli: Any, since: str, message: str) -> None:
    code, _, err = cli("recover", "--since", since)
    assert code == 2 and message in err


def test_without_app_credentials_recover_says_what_it_needs(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    code, _, err = cli("recover")
    assert code == 1 and "needs the App's credentials" in err


def test_the_server_recovers_on_its_interval_and_counts_it(github: GitHubDouble, tmp_path: Path) -> None:
    """End to end: GitHub failed three deliveries while hookwise was down; the server asks for
    them, the double posts them again, and they are stored and matched."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    github.add_installation(1, "Codertocat")
    github.world.hook_target = (f"{url}/webhooks/github", SECRET)
    body = json.dumps(payload("issues", "opened.1")).encode()
    for n in range(3):
        github.world.add_hook_delivery(
            f"down-{n}", "issues", action="opened", status_code=0, delivered_at=time.time() - 120, body=body
        )
    key = tmp_path / "app.pem"
    key.write_text(github.private_key_pem)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HOOKWISE_"))}
    environment.update(
        GITHUB_APP_ID=github.app_id,
        GITHUB_APP_PRIVATE_KEY_PATH=str(key),
        GITHUB_API_BASE_URL=github.url,
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_APP_SLUG="hookwise-test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'h.db'}",
        HOOKWISE_RECOVER_INTERVAL="1s",
        HOOKWISE_REPO_RULES="false",
        HOOKWISE_CACHE_DIR="off",
    )
    settings_db = tmp_path / "h.db"
    server = start_process(
        ["serve", "--port", str(port), "--rules", str(REPO / "rules"), "--workers", "0"],
        environment,
        tmp_path / "server.log",
        health=f"{url}/health",
    )
    try:
        wait_until(lambda: len(_stored(settings_db)) == 3, timeout=30)
        assert sorted(_stored(settings_db)) == ["down-0", "down-1", "down-2"]
        metrics = httpx.get(f"{url}/metrics").text
        assert "hookwise_redeliveries_requested_total 3.0" in metrics
        assert 'hookwise_recover_passes_total{outcome="ok"}' in metrics
    finally:
        stop_process(server)
    assert len(github.world.redelivered) == 3  # later passes saw them stored and asked nothing


def _stored(database: Path) -> list[str]:
    import sqlite3

    if not database.exists():
        return []
    with sqlite3.connect(database) as db:
        return [r[0] for r in db.execute("SELECT delivery_id FROM deliveries WHERE delivery_id LIKE 'down-%'")]
