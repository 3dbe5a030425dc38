"""The App installation flow and the integrations API: secure by default."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from engine.edge.crypto import CryptoError, Vault
from engine.edge.web import create_app
from tests.conftest import REPO
from tests.double import GitHubDouble
from tests.serverkit import server_settings, sql

JWT_SECRET = "a-test-secret-that-is-long-enough-for-hs256"
KEY = Fernet.generate_key().decode()


def token(
    user: str, *, audience: str = "authenticated", expires_in: float = 300, secret: str = JWT_SECRET
) -> str:
    claims = {
        "sub": user,
        "aud": audience,
        "exp": int(time.time() + expires_in),
        "iat": int(time.time()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def auth(user: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, **kwargs)}"}


def integration_settings(tmp_path: Path, github: GitHubDouble, **extra: Any) -> Any:
    """Server settings with JWT, encryption and the App's slug, pointed at the double."""
    return server_settings(
        tmp_path,
        REPO / "rules",
        github,
        jwt_secret=JWT_SECRET,
        encryption_keys=(KEY,),
        app_slug="hookwise-test",
        **extra,
    )


@pytest.fixture
def app_env(tmp_path: Path, github: GitHubDouble) -> Iterator[tuple[TestClient, GitHubDouble, Any]]:
    github.add_installation(77, "octo-org")
    github.add_installation(88, "mona")
    settings = integration_settings(tmp_path, github, state_secret="state-secret", api_docs=True)
    app = create_app(settings, start_workers=False)
    with TestClient(app) as client:
        yield client, github, settings


def install(
    client: TestClient,
    user: str,
    installation_id: int,
    action: str = "install",
    *,
    github: GitHubDouble | None = None,
    reaches: list[int] | None = None,
) -> Any:
    """Come back from GitHub as `user`; with `github`, GitHub adds an OAuth code for a user
    who can reach `reaches` (default: the installation itself)."""
    state = _state_for(client, user)
    params: dict[str, Any] = {
        "installation_id": installation_id,
        "setup_action": action,
        "state": state,
    }
    if github is not None:
        code = f"code-{user}-{installation_id}-{time.monotonic_ns()}"
        github.authorize_user(code, user, installation_id_list(installation_id, reaches))
        params["code"] = code
    return client.get(
        "/api/v1/public/webhooks/github/auth", params=params, headers={"Accept": "application/json"}
    )


def installation_id_list(installation_id: int, reaches: list[int] | None) -> list[int]:
    return [installation_id] if reaches is None else reaches


def test_install_callback_list_delete_for_one_user(app_env: Any) -> None:
    client, github, _ = app_env
    response = client.get("/api/v1/app/integrations/github/install", headers=auth("alice"))
    assert response.status_code == 200
    url = response.json()["url"]
    assert url.startswith(f"{github.url}/apps/hookwise-test/installations/new?state=")
    state = parse_qs(urlsplit(url).query)["state"][0]
    assert "alice" not in state

    github.authorize_user("the-code", "alice", [77])
    done = client.get(
        "/api/v1/public/webhooks/github/auth",
        params={"installation_id": 77, "setup_action": "install", "state": state, "code": "the-code"},
        headers={"Accept": "application/json"},
    )
    assert done.status_code == 200
    body = done.json()
    assert (body["status"], body["installation_id"], body["reason"]) == ("installed", 77, None)
    integration = body["integration"]
    assert integration == {
        "id": integration["id"],
        "integration_id": "77",
        "provider": "github",
        "integration_type": "github_app",
        "name": "octo-org",
        "is_active": True,
        "created_at": integration["created_at"],
        "credential_data": {"installation_id": 77, "setup_action": "install"},
    }
    assert github.calls("apps/get-installation")[0].auth == "Bearer"
    [proof] = github.calls("apps/list-installations-for-authenticated-user")
    assert proof.auth == "Bearer"

    listed = client.get("/api/v1/app/integrations", headers=auth("alice")).json()
    assert listed == {
        "success": True,
        "user_id": "alice",
        "integrations": [integration],
        "total_count": 1,
    }
    assert client.get("/api/v1/app/integrations/github", headers=auth("alice")).json() == listed

    assert (
        client.delete(
            f"/api/v1/app/integrations/{integration['id']}", headers=auth("alice")
        ).status_code
        == 204
    )
    empty = client.get("/api/v1/app/integrations", headers=auth("alice")).json()
    assert (empty["integrations"], empty["total_count"]) == ([], 0)
    assert (
        client.delete(
            f"/api/v1/app/integrations/{integration['id']}", headers=auth("alice")
        ).status_code
        == 404
    )


def test_a_valid_state_alone_never_claims_another_accounts_installation(app_env: Any) -> None:
    client, github, settings = app_env
    # mallory's own state, octo-org's installation id, no OAuth code: recorded unclaimed
    unproven = install(client, "mallory", 77)
    assert unproven.status_code == 200
    assert unproven.json()["status"] == "unclaimed"
    assert unproven.json()["integration"] is None
    assert "Request user authorization (OAuth) during installation" in unproven.json()["reason"]
    # a code for mallory, whose GitHub account reaches only 88: refused
    refused = install(client, "mallory", 77, github=github, reaches=[88])
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "installation 77 is not one your GitHub account can access; "
        "it was not added to your account"
    }
    # a code GitHub does not know: refused
    state = _state_for(client, "mallory")
    bad_code = client.get(
        "/api/v1/public/webhooks/github/auth",
        params={"installation_id": 77, "setup_action": "install", "state": state, "code": "nope"},
    )
    assert bad_code.status_code == 400 and "OAuth code" in bad_code.json()["error"]
    assert client.get("/api/v1/app/integrations", headers=auth("mallory")).json()["total_count"] == 0
    assert sql(settings, "SELECT COUNT(*) FROM integrations")[0][0] == 0
    # the installation itself is known (unclaimed)
    assert sql(settings, "SELECT account FROM installations WHERE id = 77") == [("octo-org",)]
    # with proof, its owner claims it
    assert install(client, "owner", 77, github=github).json()["status"] == "installed"


def test_without_client_credentials_the_code_cannot_be_checked(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(77, "octo-org")
    settings = integration_settings(tmp_path, github, client_id=None, client_secret=None)
    with TestClient(create_app(settings, start_workers=False)) as client:
        answer = install(client, "alice", 77, github=github)
    assert answer.status_code == 200
    assert answer.json()["status"] == "unclaimed"
    assert "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET are not set" in answer.json()["reason"]


def test_a_second_user_cannot_see_or_delete_the_first_users_integration(app_env: Any) -> None:
    client, github, _ = app_env
    alice = install(client, "alice", 77, github=github).json()["integration"]
    assert install(client, "bob", 88, github=github).status_code == 200
    bobs = client.get("/api/v1/app/integrations", headers=auth("bob")).json()["integrations"]
    assert [i["credential_data"]["installation_id"] for i in bobs] == [88]
    response = client.delete(f"/api/v1/app/integrations/{alice['id']}", headers=auth("bob"))
    assert (response.status_code, response.json()) == (404, {"error": "no such integration"})
    alices = client.get("/api/v1/app/integrations", headers=auth("alice")).json()["integrations"]
    assert [i["id"] for i in alices] == [alice["id"]]


def test_update_keeps_one_row_and_request_is_recorded(app_env: Any) -> None:
    client, github, _ = app_env
    first = install(client, "alice", 77, github=github).json()["integration"]
    updated = install(client, "alice", 77, "update", github=github).json()
    assert updated["status"] == "updated" and updated["integration"]["id"] == first["id"]
    url = client.get("/api/v1/app/integrations/github/install", headers=auth("alice")).json()["url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    requested = client.get(
        "/api/v1/public/webhooks/github/auth",
        params={"setup_action": "request", "state": state},
        headers={"Accept": "application/json"},
    )
    assert requested.status_code == 200 and requested.json()["status"] == "requested"
    assert requested.json()["integration"]["credential_data"] == {
        "installation_id": None,
        "setup_action": "request",
    }
    listed = client.get("/api/v1/app/integrations", headers=auth("alice")).json()
    assert listed["total_count"] == 2


def _state_for(client: TestClient, user: str) -> str:
    url = client.get("/api/v1/app/integrations/github/install", headers=auth(user)).json()["url"]
    return parse_qs(urlsplit(url).query)["state"][0]


@pytest.mark.parametrize(
    ("make_state", "message"),
    [
        (lambda c, s: "", "state is missing"),
        (lambda c, s: "no-dot-here", "state is malformed"),
        (lambda c, s: "made-up-nonce.bWFj", "state is not one this server issued"),
        (
            lambda c, s: _state_for(c, "alice").split(".")[0] + ".Zm9yZ2Vk",
            "state is not one this server issued",
        ),
        (lambda c, s: _expired(c, s), "state has expired; start the installation again"),
        (lambda c, s: _used(c), "state was already used"),
    ],
    ids=["missing", "malformed", "unknown", "forged-mac", "expired", "replayed"],
)
def test_bad_expired_or_replayed_state_is_refused_and_nothing_stored(
    app_env: Any, make_state: Any, message: str
) -> None:
    client, _, settings = app_env
    state = make_state(client, settings)
    before = sql(settings, "SELECT COUNT(*) FROM integrations")[0][0]
    response = client.get(
        "/api/v1/public/webhooks/github/auth",
        params={"installation_id": 77, "setup_action": "install", "state": state},
    )
    assert (response.status_code, response.json()) == (400, {"error": message})
    after = sql(settings, "SELECT COUNT(*) FROM integrations")[0][0]
    assert after == before


def _expired(client: TestClient, settings: Any) -> str:
    state = _state_for(client, "alice")
    sql(settings, "UPDATE install_states SET created_at = created_at - 601")
    return state


def _used(client: TestClient) -> str:
    state = _state_for(client, "alice")
    first = client.get(
        "/api/v1/public/webhooks/github/auth",
        params={"installation_id": 77, "setup_action": "install", "state": state},
    )
    assert first.status_code == 200
    return state


def test_unknown_installation_is_refused(app_env: Any) -> None:
    client, _, _ = app_env
    response = install(client, "alice", 999)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "installation 999 does not exist for this App"},
    )
    assert client.get("/api/v1/app/integrations", headers=auth("alice")).json()["total_count"] == 0


def test_browsers_are_redirected_to_the_front_end(tmp_path: Path, github: GitHubDouble) -> None:
    github.add_installation(77, "octo-org")
    settings = integration_settings(
        tmp_path, github, frontend_url="https://app.example.invalid/integrations"
    )
    with TestClient(create_app(settings, start_workers=False)) as client:
        state = _state_for(client, "alice")
        github.authorize_user("browser-code", "alice", [77])
        response = client.get(
            "/api/v1/public/webhooks/github/auth",
            params={
                "installation_id": 77,
                "setup_action": "install",
                "state": state,
                "code": "browser-code",
            },
            follow_redirects=False,
        )
    assert response.status_code == 302
    assert response.headers["location"].startswith(
        "https://app.example.invalid/integrations?status=installed&integration="
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Basic YWxpY2U6cHc="}, "missing bearer token"),
        ({"Authorization": "Bearer not-a-jwt"}, "the bearer token is not a JWT"),
        (
            {
                "Authorization": f"Bearer {token('alice', secret='another-secret-that-is-long-enough-too')}"
            },
            "the bearer token is invalid: Signature verification failed",
        ),
        (
            {"Authorization": f"Bearer {token('alice', audience='someone-else')}"},
            "the bearer token is for another audience",
        ),
        (
            {"Authorization": f"Bearer {token('alice', expires_in=-10)}"},
            "the bearer token has expired",
        ),
    ],
    ids=["missing", "basic", "garbage", "wrong-signature", "wrong-audience", "expired"],
)
def test_bad_tokens_get_401(app_env: Any, headers: dict[str, str], message: str) -> None:
    client, _, _ = app_env
    response = client.get("/api/v1/app/integrations", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"].startswith(message)
    assert response.headers["www-authenticate"] == "Bearer"


def test_alg_none_and_unlisted_algorithms_are_refused(app_env: Any) -> None:
    client, _, _ = app_env
    unsigned = jwt.encode(
        {"sub": "alice", "aud": "authenticated", "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    )
    response = client.get(
        "/api/v1/app/integrations", headers={"Authorization": f"Bearer {unsigned}"}
    )
    assert (response.status_code, response.json()["error"]) == (
        401,
        "tokens signed with 'none' are not accepted",
    )


class _JWKS:
    """A JWKS endpoint on 127.0.0.1, as an identity provider publishes its keys."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        body = json.dumps({"keys": keys}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_jwks_signed_token_is_accepted(tmp_path: Path, algorithm: str) -> None:
    private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    jwk = json.loads(
        jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(private.public_key())
    )
    jwk.update(kid="key-1", alg=algorithm, use="sig")
    provider = _JWKS([jwk])
    try:
        settings = server_settings(
            tmp_path, REPO / "rules", jwt_jwks_url=provider.url, encryption_keys=(KEY,)
        )
        claims = {"sub": "carol", "aud": "authenticated", "exp": int(time.time()) + 60}
        good = jwt.encode(claims, private, algorithm=algorithm, headers={"kid": "key-1"})
        other = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if algorithm == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )
        forged = jwt.encode(claims, other, algorithm=algorithm, headers={"kid": "key-1"})
        hs = jwt.encode(claims, "some-shared-secret-long-enough-for-hs256", algorithm="HS256")
        with TestClient(create_app(settings, start_workers=False)) as client:
            assert (
                client.get(
                    "/api/v1/app/integrations", headers={"Authorization": f"Bearer {good}"}
                ).status_code
                == 200
            )
            assert (
                client.get(
                    "/api/v1/app/integrations", headers={"Authorization": f"Bearer {forged}"}
                ).status_code
                == 401
            )
            assert (
                client.get(
                    "/api/v1/app/integrations", headers={"Authorization": f"Bearer {hs}"}
                ).status_code
                == 401
            )
    finally:
        provider.server.shutdown()
        provider.server.server_close()


def test_credential_data_is_not_readable_in_the_sqlite_file(app_env: Any) -> None:
    client, github, settings = app_env
    install(client, "alice", 77, github=github)
    client.get("/health")
    raw = Path(settings.database_url.removeprefix("sqlite:///")).read_bytes()
    wal = Path(settings.database_url.removeprefix("sqlite:///") + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    row = sql(settings, "SELECT credential_data FROM integrations")[0][0]
    assert b"setup_action" not in raw and b'"installation_id"' not in raw
    assert row.startswith("gAAAA")  # a Fernet token
    with pytest.raises(CryptoError):
        Vault([Fernet.generate_key().decode()]).open(row)
    assert Vault([KEY]).open(row)["installation_id"] == 77


def test_key_rotation_reads_old_rows_and_writes_with_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = Vault([old]).seal({"installation_id": 1})
    rotating = Vault([new, old])
    assert rotating.open(sealed) == {"installation_id": 1}
    assert Vault([new]).open(rotating.rotate(sealed)) == {"installation_id": 1}
    assert Vault([new]).open(rotating.seal({"x": 1})) == {"x": 1}
    with pytest.raises(CryptoError, match="urlsafe-base64"):
        Vault(["not-a-key"])


def test_openapi_documents_routes_auth_and_error_bodies(app_env: Any) -> None:
    client, _, _ = app_env
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    listing = spec["paths"]["/api/v1/app/integrations"]["get"]
    assert listing["security"] == [{"HTTPBearer": []}]
    assert listing["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorBody"
    )
    assert {"400", "502", "503"} <= set(
        spec["paths"]["/api/v1/public/webhooks/github/auth"]["get"]["responses"]
    )
    assert (
        "404" in spec["paths"]["/api/v1/app/integrations/{integration_id}"]["delete"]["responses"]
    )
    for path in (
        "/webhooks/github",
        "/health",
        "/metrics",
        "/api/v1/app/integrations/github/install",
    ):
        assert path in spec["paths"]
