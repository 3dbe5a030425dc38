"""What the server exposes and to whom: proxies believed only when configured, /metrics behind
a token, /docs and /openapi.json off unless enabled."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from engine.edge.web import create_app
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


# --- slow clients --------------------------------------------------------------------------


@pytest.mark.slow
def test_header_only_connections_cannot_starve_a_real_delivery(tmp_path: Path) -> None:
    """300 connections that send a webhook's headers and never its body: a real delivery is
    still accepted at once, the oldest idle ones are answered 408 and closed."""
    import socket
    import time

    from engine.edge.gateway import MAX_INCOMPLETE
    from tests.rulekit import payload
    from tests.serverkit import signed

    url, process = serve(tmp_path)
    port = int(url.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    try:
        request = (
            b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-GitHub-Event: issues\r\nX-GitHub-Delivery: idle\r\nContent-Length: 5000\r\n\r\n"
        )
        for _ in range(300):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(request)
            idle.append(conn)
        body, headers = signed(payload("issues", "opened.1"), "issues", "real-1")
        with httpx.Client(base_url=url, timeout=10) as client:
            started = time.perf_counter()
            answer = client.post("/webhooks/github", content=body, headers=headers)
            took = time.perf_counter() - started
        assert answer.status_code == 202, answer.text
        assert took < 1.0, took
        reasons: dict[str, int] = {}
        for conn in idle:  # each is answered 408 and closed: dropped, or its deadline passed
            conn.settimeout(30)
            answer_bytes = b""
            while chunk := conn.recv(4096):  # until the server closes the connection
                answer_bytes += chunk
            head, _, text = answer_bytes.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower(), head
            reason = json.loads(text)["error"]
            reasons[reason] = reasons.get(reason, 0) + 1
        dropped = reasons.pop("the server is waiting for too many request bodies; this one waited longest")
        # the real delivery may have waited for its body a moment too, and dropped one more
        assert 300 - MAX_INCOMPLETE <= dropped <= 301 - MAX_INCOMPLETE
        assert reasons == {"the request body did not start within 5s": 300 - dropped}
    finally:
        for conn in idle:
            conn.close()
        stop_process(process)  # type: ignore[arg-type]


def test_a_body_that_never_starts_gets_408_after_the_first_byte_deadline() -> None:
    import asyncio

    from engine.edge import gateway

    async def go() -> str:
        async def receive() -> dict[str, object]:
            await asyncio.Event().wait()  # the body never comes
            return {}

        original = gateway.FIRST_BYTE_TIMEOUT
        gateway.FIRST_BYTE_TIMEOUT = 0.01
        try:
            await gateway._read_capped(receive, {}, 100, gateway.OrderedDict())
        except gateway.BodyTimeout as exc:
            return str(exc)
        finally:
            gateway.FIRST_BYTE_TIMEOUT = original
        return "no timeout"

    assert asyncio.run(go()) == "the request body did not start within 0.01s"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    from engine.store.open import open_store
    from tests.storekit import drop_database, new_postgres_url, require_postgres

    require_postgres()
    url = new_postgres_url("hookwise_nul")
    open_store(url, create=True).close()  # `hookwise db upgrade`
    yield url
    drop_database(url)


def test_a_nul_in_a_field_gets_no_5xx_on_postgres(tmp_path: Path, postgres_database: str) -> None:
    from tests.rulekit import payload
    from tests.serverkit import signed

    settings = server_settings(tmp_path, REPO / "rules", database_url=postgres_database)
    answers = {}
    with TestClient(create_app(settings, start_workers=False)) as client:
        for field, change in (
            ("action", lambda p: p.update(action="open\x00ed")),
            ("repository.full_name", lambda p: p["repository"].update(full_name="Codertocat/Hello\x00World")),
            ("title", lambda p: p["issue"].update(title="a title with a \x00 in it")),
        ):
            data = payload("issues", "opened.1")
            change(data)
            body, headers = signed(data, "issues", f"nul-{field}")
            answer = client.post("/webhooks/github", content=body, headers=headers)
            answers[field] = (answer.status_code, answer.json().get("error"))
    assert answers["action"] == (400, "payload field action contains a NUL character")
    assert answers["repository.full_name"] == (400, "payload field repository.full_name contains a NUL character")
    assert answers["title"] == (202, None)  # stored as it came (the payload's JSON escapes it)
