"""What the server exposes and to whom: proxies believed only when configured, /metrics behind
a token, /docs and /openapi.json off unless enabled."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from engine.server.app import create_app
from tests.conftest import REPO
from tests.serverkit import SECRET, free_port, server_settings, start_process, stop_process

TOKEN = "a-ui-token-of-sufficient-length"


def serve(tmp_path: Path, **extra: str) -> tuple[str, object]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HOOKWISE_"))},
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hookwise.db'}",
        "HOOKWISE_RULES": str(REPO / "rules"),
        "HOOKWISE_UI_TOKEN": TOKEN,
        **extra,
    }
    url = f"http://127.0.0.1:{port}"
    process = start_process(["serve", "--port", str(port)], env, tmp_path / "serve.log", health=f"{url}/health")
    return url, process


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    url, process = serve(tmp_path)
    yield url
    stop_process(process)  # type: ignore[arg-type]


def guess(client: httpx.Client, forwarded: str, token: str = "guess") -> int:
    form = client.get("/ui/login", headers={"X-Forwarded-For": forwarded})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = client.post(
        "/ui/login",
        data={"csrf": csrf.group(1), "token": token},
        headers={"X-Forwarded-For": forwarded},
    )
    return answer.status_code


def test_rotating_x_forwarded_for_does_not_dodge_the_sign_in_lockout(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        statuses = [guess(client, f"203.0.113.{n}") for n in range(1, 11)]
        assert statuses == [403] * 10
        assert guess(client, "203.0.113.99", TOKEN) == 429  # locked out: the peer is the client


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    url, process = serve(tmp_path, HOOKWISE_TRUSTED_PROXIES="127.0.0.1")
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            statuses = [guess(client, f"203.0.113.{n}") for n in range(1, 11)]
            assert statuses == [403] * 10
            # behind a trusted proxy, each forwarded client has its own count
            assert guess(client, "203.0.113.99", "guess") == 403
    finally:
        stop_process(process)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "header", "status"),
    [
        ({}, None, 200),
        ({"metrics_token": "m-token"}, None, 401),
        ({"metrics_token": "m-token"}, "Bearer wrong", 401),
        ({"metrics_token": "m-token"}, "Bearer m-token", 200),
    ],
)
def test_metrics_are_behind_a_token_when_one_is_set(
    tmp_path: Path, settings: dict[str, str], header: str | None, status: int
) -> None:
    app = create_app(server_settings(tmp_path, REPO / "rules", **settings), start_workers=False)
    with TestClient(app) as client:
        answer = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert answer.status_code == status
    if status == 200:
        assert "hookwise_" in answer.text
    else:
        assert "installation" not in answer.text


def test_the_ui_token_guards_the_metrics_too() -> None:
    from engine.settings import Settings

    assert Settings.from_mapping({"HOOKWISE_UI_TOKEN": TOKEN}).metrics_token == TOKEN
    assert Settings.from_mapping({"HOOKWISE_METRICS_TOKEN": "x" * 20, "HOOKWISE_UI_TOKEN": TOKEN}).metrics_token == "x" * 20
    assert Settings.from_mapping({}).metrics_token is None


@pytest.mark.parametrize("enabled", [False, True])
def test_api_docs_are_off_unless_enabled(tmp_path: Path, enabled: bool) -> None:
    app = create_app(server_settings(tmp_path, REPO / "rules", api_docs=enabled), start_workers=False)
    with TestClient(app) as client:
        statuses = {path: client.get(path).status_code for path in ("/docs", "/openapi.json", "/redoc")}
    assert set(statuses.values()) == ({200} if enabled else {404})
