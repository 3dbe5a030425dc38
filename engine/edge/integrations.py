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
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from engine.edge.auth import (
    STATE_TTL,
    AuthError,
    TokenVerifier,
    new_nonce,
    sign_state,
)
from engine.edge.crypto import CryptoError, Vault
from engine.edge.throttle import RateLimiter
from engine.github.api import GitHubError
from engine.github.client import GitHubClient
from engine.settings import Settings
from engine.store.interface import Store

T = TypeVar("T")


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="What went wrong, in words")


class CredentialData(BaseModel):
    """What an integration holds (sealed at rest)."""

    installation_id: int | None = Field(description="The GitHub App installation")
    setup_action: str = Field(description="install, update or request")


class Integration(BaseModel):
    """One integration row, in the seed design's shape."""

    id: str = Field(description="The row's id (use it to delete the integration)")
    integration_id: str = Field(description="The provider's id: the installation id")
    provider: str = Field(description="Always github")
    integration_type: str = Field(description="Always github_app")
    name: str | None = Field(description="The account the App is installed on")
    is_active: bool = Field(description="False once the installation is suspended or removed")
    created_at: str
    credential_data: CredentialData


class IntegrationList(BaseModel):
    """The seed design's envelope around a user's integrations."""

    success: bool = True
    user_id: str
    integrations: list[Integration]
    total_count: int


class InstallURL(BaseModel):
    """Where to send the user to install the App."""

    url: str
    expires_at: str


class CallbackResult(BaseModel):
    """The callback's answer to API clients (browsers are redirected instead)."""

    status: str = Field(description="installed, updated, requested, or unclaimed")
    installation_id: int | None = None
    reason: str | None = Field(None, description="Why an installation stayed unclaimed")
    integration: Integration | None = None


def error_response(status: int, description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_response(401, "Missing, invalid or expired bearer token"),
    429: error_response(429, "Too many requests"),
    503: error_response(503, "JWT verification or encryption is not configured"),
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

    async def db(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call, off the event loop."""
        return await asyncio.to_thread(call, *args, **kwargs)

    def row(self, row: dict[str, Any], installations: dict[int, bool]) -> Integration:
        """A stored row in the seed's shape (credential data opened)."""
        data = self.require_vault().open(row["credential_data"])
        installation = data.get("installation_id")
        external = row["integration_id"]
        if external == "github_app":  # rows of release 0.1 held the kind there
            external = str(installation) if installation is not None else ""
        return Integration(
            id=row["id"],
            integration_id=external,
            provider=row["provider"],
            integration_type=row.get("integration_type") or "github_app",
            name=row.get("name") or (data.get("account") or {}).get("login"),
            is_active=installations.get(installation, data.get("setup_action") == "request"),
            created_at=_iso(row["created_at"]),
            credential_data=CredentialData(
                installation_id=installation, setup_action=data.get("setup_action", "install")
            ),
        )

    async def listing(self, user: str, provider: str | None) -> IntegrationList:
        """A user's integrations in the seed's envelope."""
        rows = await self.db(self.store.integrations, user, provider)
        active = await self.db(self.store.installation_activity)
        items = [self.row(r, active) for r in rows]
        return IntegrationList(user_id=user, integrations=items, total_count=len(items))

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
        response_model=IntegrationList,
        responses=AUTH_ERRORS,
        tags=["integrations"],
    )
    async def list_integrations(credentials: Bearer) -> IntegrationList:
        """Your integrations (every provider)."""
        return await service.listing(await current_user(credentials), None)

    @router.get(
        "/api/v1/app/integrations/github",
        response_model=IntegrationList,
        responses=AUTH_ERRORS,
        tags=["integrations"],
    )
    async def github_integrations(credentials: Bearer) -> IntegrationList:
        """Your GitHub App integrations."""
        return await service.listing(await current_user(credentials), "github")

    @router.get(
        "/api/v1/app/integrations/github/install",
        response_model=InstallURL,
        responses={**AUTH_ERRORS, 502: error_response(502, "GitHub could not be asked for the App's slug")},
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
        await service.db(service.store.create_install_state, nonce, user)
        state = sign_state(service.state_secret, nonce, user)
        query = urlencode({"state": state})
        web = service.settings.github_web_url.rstrip("/")
        return InstallURL(
            url=f"{web}/apps/{slug}/installations/new?{query}",
            expires_at=_iso(time.time() + STATE_TTL),
        )

    @router.delete(
        "/api/v1/app/integrations/{integration_id}",
        status_code=204,
        responses={**AUTH_ERRORS, 404: error_response(404, "No such integration of yours")},
        tags=["integrations"],
    )
    async def delete_integration(
        integration_id: str,
        credentials: Bearer,
    ) -> Response:
        """Remove one of your integrations (a soft delete)."""
        user = await current_user(credentials)
        if not await service.db(service.store.delete_integration, user, integration_id):
            raise HTTPException(404, "no such integration")
        return Response(status_code=204)

    return router
