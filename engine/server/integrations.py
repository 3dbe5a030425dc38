"""The GitHub App installation flow and the integrations API (a user's own rows only).

The install URL's `state` is random, bound to the user by an HMAC, single-use and valid for
10 minutes, so nobody can attach their installation to someone else's account (the seed
design passed the raw user id). The callback confirms the installation with GitHub (as the
App, with its JWT) before storing anything. A user never sees or deletes another user's rows:
those answer 404, like rows that do not exist, so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Security
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from engine.github.api import GitHubError, NotFound
from engine.github.client import GitHubClient
from engine.server.auth import (
    STATE_TTL,
    AuthError,
    TokenVerifier,
    new_nonce,
    sign_state,
    split_state,
    state_matches,
)
from engine.server.crypto import CryptoError, Vault
from engine.server.limits import RateLimiter
from engine.settings import Settings
from engine.store.interface import Store

SETUP_ACTIONS = ("install", "update", "request")


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="What went wrong, in words")


class Integration(BaseModel):
    """One integration row (the seed design's shape)."""

    id: str
    integration_id: str = Field(description="Always github_app for the GitHub App")
    provider: str = Field(description="Always github")
    credential_data: dict[str, Any] = Field(description="installation_id, setup_action, account")
    created_at: str
    updated_at: str


class InstallURL(BaseModel):
    """Where to send the user to install the App."""

    url: str
    expires_at: str


class CallbackResult(BaseModel):
    """The callback's answer to API clients (browsers are redirected instead)."""

    status: str = Field(description="installed, updated or requested")
    integration: Integration


def _error(status: int, description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error(401, "Missing, invalid or expired bearer token"),
    429: _error(429, "Too many requests"),
    503: _error(503, "JWT verification or encryption is not configured"),
}


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


class IntegrationService:
    """State shared by the routes: verifier, vault, secrets, store, GitHub."""

    def __init__(self, settings: Settings, store: Store, github: GitHubClient | None) -> None:
        self.settings = settings
        self.store = store
        self.github = github
        self.verifier = TokenVerifier(
            settings.jwt_secret, settings.jwt_jwks_url, settings.jwt_audience
        )
        try:
            self.vault: Vault | None = Vault(settings.encryption_keys)
        except CryptoError:
            self.vault = None
        # without HOOKWISE_STATE_SECRET, a per-process secret: states then die with a restart
        self.state_secret = (settings.state_secret or "").encode() or os.urandom(32)
        self.limit = RateLimiter(settings.rate_api)
        self._slug = settings.app_slug

    def require_vault(self) -> Vault:
        if self.vault is None:
            raise HTTPException(503, "ENCRYPTION_KEY is not set; credential data cannot be stored")
        return self.vault

    def row(self, row: dict[str, Any]) -> Integration:
        vault = self.require_vault()
        return Integration(
            id=row["id"],
            integration_id=row["integration_id"],
            provider=row["provider"],
            credential_data=vault.open(row["credential_data"]),
            created_at=_iso(row["created_at"]),
            updated_at=_iso(row["updated_at"]),
        )

    def integration_id(self, user: str, installation_id: int) -> str:
        """A stable id per (user, installation) that reveals neither without the secret."""
        digest = hmac.new(
            self.state_secret, f"{user}:github:{installation_id}".encode(), hashlib.sha256
        )
        return str(uuid.UUID(bytes=digest.digest()[:16], version=4))

    async def slug(self) -> str:
        if self._slug:
            return self._slug
        if self.github is None:
            raise HTTPException(503, "GITHUB_APP_SLUG is not set and there are no App credentials")
        try:
            app = await self.github.app_request("GET", "/app")
        except GitHubError as exc:
            raise HTTPException(502, f"GitHub: {exc.message}") from None
        self._slug = str(app["slug"])
        return self._slug


bearer = HTTPBearer(auto_error=False, description="A JWT from your identity provider (sub = user)")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def integrations_router(service: IntegrationService) -> APIRouter:
    """The routes of the installation flow and the integrations API."""
    router = APIRouter()

    async def current_user(credentials: HTTPAuthorizationCredentials | None) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not service.verifier.configured:
            raise HTTPException(503, "JWT_SECRET or JWT_JWKS_URL is not set")
        try:
            user = await asyncio.to_thread(service.verifier.user, credentials.credentials)
        except AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
        allowed, wait = service.limit.allow(user)
        if not allowed:
            raise HTTPException(
                429, "too many requests", headers={"retry-after": str(max(1, round(wait)))}
            )
        return user

    @router.get(
        "/api/v1/app/integrations",
        response_model=list[Integration],
        responses=AUTH_ERRORS,
        tags=["integrations"],
    )
    async def list_integrations(
        credentials: Bearer,
    ) -> list[Integration]:
        """Your integrations (every provider)."""
        user = await current_user(credentials)
        return [service.row(r) for r in service.store.integrations(user)]

    @router.get(
        "/api/v1/app/integrations/github",
        response_model=list[Integration],
        responses=AUTH_ERRORS,
        tags=["integrations"],
    )
    async def github_integrations(
        credentials: Bearer,
    ) -> list[Integration]:
        """Your GitHub App integrations."""
        user = await current_user(credentials)
        return [service.row(r) for r in service.store.integrations(user, "github")]

    @router.get(
        "/api/v1/app/integrations/github/install",
        response_model=InstallURL,
        responses={**AUTH_ERRORS, 502: _error(502, "GitHub could not be asked for the App's slug")},
        tags=["integrations"],
    )
    async def install_url(
        credentials: Bearer,
    ) -> InstallURL:
        """A URL that installs the App; its state is bound to you, single-use, for 10 minutes."""
        user = await current_user(credentials)
        service.require_vault()
        slug = await service.slug()
        nonce = new_nonce()
        service.store.create_install_state(nonce, user)
        state = sign_state(service.state_secret, nonce, user)
        query = urlencode({"state": state})
        return InstallURL(
            url=f"https://github.com/apps/{slug}/installations/new?{query}",
            expires_at=_iso(time.time() + STATE_TTL),
        )

    @router.delete(
        "/api/v1/app/integrations/{integration_id}",
        status_code=204,
        responses={**AUTH_ERRORS, 404: _error(404, "No such integration of yours")},
        tags=["integrations"],
    )
    async def delete_integration(
        integration_id: str,
        credentials: Bearer,
    ) -> Response:
        """Remove one of your integrations (a soft delete)."""
        user = await current_user(credentials)
        if not service.store.delete_integration(user, integration_id):
            raise HTTPException(404, "no such integration")
        return Response(status_code=204)

    @router.get(
        "/api/v1/public/webhooks/github/auth",
        response_model=CallbackResult,
        responses={
            302: {"description": "Redirect to the front end (HOOKWISE_FRONTEND_URL)"},
            400: _error(400, "Bad, expired or reused state, or a bad installation"),
            429: _error(429, "Too many requests"),
            502: _error(502, "GitHub could not confirm the installation"),
            503: _error(503, "App credentials or ENCRYPTION_KEY are not configured"),
        },
        tags=["integrations"],
    )
    async def callback(
        request: Request,
        state: str | None = Query(None, description="The state of the install URL"),
        setup_action: str | None = Query(None, description="install, update or request"),
        installation_id: int | None = Query(None, description="The installation GitHub created"),
        code: str | None = Query(None, description="An OAuth code, when the App asks for one"),
    ) -> Response:
        """GitHub's redirect after an installation: confirm it and remember it for the user."""
        user, nonce = _check_state(service, state)
        if setup_action not in SETUP_ACTIONS:
            raise HTTPException(400, f"setup_action must be one of {', '.join(SETUP_ACTIONS)}")
        if setup_action != "request" and installation_id is None:
            raise HTTPException(400, "installation_id is missing")
        vault = service.require_vault()
        data: dict[str, Any] = {"installation_id": installation_id, "setup_action": setup_action}
        if installation_id is not None:
            data["account"] = await _confirm(service, installation_id)
        if not service.store.use_install_state(nonce):
            raise HTTPException(400, "state was already used")
        if installation_id is not None:
            row_id = service.integration_id(user, installation_id)
            service.store.upsert_installation(
                installation_id,
                account=data["account"].get("login"),
                account_type=data["account"].get("type"),
            )
        else:
            row_id = str(uuid.uuid4())
        service.store.save_integration(row_id, user, vault.seal(data))
        stored = next(r for r in service.store.integrations(user) if r["id"] == row_id)
        status = {"install": "installed", "update": "updated", "request": "requested"}[setup_action]
        result = CallbackResult(status=status, integration=service.row(stored))
        wants_json = "application/json" in request.headers.get("accept", "")
        if service.settings.frontend_url and not wants_json:
            target = f"{service.settings.frontend_url}?{urlencode({'status': status, 'integration': row_id})}"
            return RedirectResponse(target, status_code=302)
        return JSONResponse(result.model_dump())

    return router


def _check_state(service: IntegrationService, state: str | None) -> tuple[str, str]:
    """(user, nonce) of a valid state; 400 with the reason otherwise. Nothing is stored."""
    if not state:
        raise HTTPException(400, "state is missing")
    parts = split_state(state)
    if parts is None:
        raise HTTPException(400, "state is malformed")
    nonce = parts[0]
    row = service.store.install_state(nonce)
    if row is None or not state_matches(service.state_secret, state, row["user_id"]):
        raise HTTPException(400, "state is not one this server issued")
    if time.time() - row["created_at"] > STATE_TTL:
        raise HTTPException(400, "state has expired; start the installation again")
    if row["used_at"] is not None:
        raise HTTPException(400, "state was already used")
    return str(row["user_id"]), nonce


async def _confirm(service: IntegrationService, installation_id: int) -> dict[str, Any]:
    """Ask GitHub (as the App) that the installation exists; return its account."""
    if service.github is None:
        raise HTTPException(503, "GitHub App credentials are not configured")
    try:
        found = await service.github.app_request("GET", f"/app/installations/{installation_id}")
    except NotFound:
        raise HTTPException(
            400, f"installation {installation_id} does not exist for this App"
        ) from None
    except GitHubError as exc:
        raise HTTPException(502, f"GitHub: {exc.message}") from None
    account = found.get("account") or {}
    return {"login": account.get("login"), "type": account.get("type"), "id": account.get("id")}
