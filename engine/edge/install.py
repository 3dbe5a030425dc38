"""The GitHub App installation callback: the proof that binds an installation to a user.

GitHub redirects the user here after installing (or updating, or requesting) the App, with
the `state` of our install URL, the `installation_id` and, when the App asks GitHub to
"Request user authorization (OAuth) during installation", a `code`. A valid state proves
which of *our* users came back, not that the installation is theirs: anyone can paste another
account's installation_id. So the installation is bound to the user only on proof: the code,
exchanged with GITHUB_CLIENT_ID/GITHUB_CLIENT_SECRET for a user token whose
`GET /user/installations` lists that installation. Without a code the installation is recorded
unclaimed, and the answer says why; a code whose user cannot reach it is refused (docs/design.md §4).
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from engine.edge.auth import STATE_TTL, split_state, state_matches
from engine.edge.integrations import CallbackResult, IntegrationService, error_response
from engine.edge.oauth import exchange_oauth_code, user_installation_ids
from engine.github.api import GitHubError, NotFound

SETUP_ACTIONS = ("install", "update", "request")
NO_CODE = (
    "GitHub sent no OAuth code, so the installation cannot be tied to your account: enable "
    '"Request user authorization (OAuth) during installation" in the App\'s settings'
)
NO_CLIENT = (
    "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET are not set, so the OAuth code cannot be "
    "checked and the installation cannot be tied to your account"
)


def install_router(service: IntegrationService) -> APIRouter:
    """The callback route."""
    router = APIRouter()

    @router.get(
        "/api/v1/public/webhooks/github/auth",
        response_model=CallbackResult,
        responses={
            302: {"description": "Redirect to the front end (HOOKWISE_FRONTEND_URL)"},
            400: error_response(400, "Bad, expired or reused state, a bad installation or OAuth code"),
            403: error_response(403, "The OAuth code's user cannot access that installation"),
            429: error_response(429, "Too many requests"),
            502: error_response(502, "GitHub could not confirm the installation"),
            503: error_response(503, "App credentials or ENCRYPTION_KEY are not configured"),
        },
        tags=["integrations"],
    )
    async def callback(
        request: Request,
        state: str | None = Query(None, description="The state of the install URL"),
        setup_action: str | None = Query(None, description="install, update or request"),
        installation_id: int | None = Query(None, description="The installation GitHub created"),
        code: str | None = Query(None, description="The OAuth code: the proof of ownership"),
    ) -> Response:
        """GitHub's redirect after an installation: confirm it, and claim it on proof."""
        user, nonce = await _check_state(service, state)
        if setup_action not in SETUP_ACTIONS:
            raise HTTPException(400, f"setup_action must be one of {', '.join(SETUP_ACTIONS)}")
        if setup_action != "request" and installation_id is None:
            raise HTTPException(400, "installation_id is missing")
        vault = service.require_vault()
        account: dict[str, Any] = {}
        claimed, reason = True, None
        if installation_id is not None:
            account = await _confirm(service, installation_id)
            claimed, reason = await _prove(service, code, installation_id)
        if not await service.db(service.store.use_install_state, nonce):
            raise HTTPException(400, "state was already used")
        if installation_id is not None:
            await service.db(
                service.store.upsert_installation,
                installation_id,
                account=account.get("login"),
                account_type=account.get("type"),
            )
        if not claimed:
            result = CallbackResult(
                status="unclaimed", installation_id=installation_id, reason=reason
            )
            return _answer(service, request, result, None)
        row_id = (
            service.integration_id(user, installation_id)
            if installation_id is not None
            else str(uuid.uuid4())
        )
        data = {"installation_id": installation_id, "setup_action": setup_action}
        await service.db(
            service.store.save_integration,
            row_id,
            user,
            vault.seal(data),
            external_id=str(installation_id) if installation_id is not None else "",
            name=account.get("login"),
        )
        listing = await service.listing(user, "github")
        row = next(i for i in listing.integrations if i.id == row_id)
        status = {"install": "installed", "update": "updated", "request": "requested"}[setup_action]
        result = CallbackResult(
            status=status, installation_id=installation_id, reason=None, integration=row
        )
        return _answer(service, request, result, row_id)

    return router


def _answer(
    service: IntegrationService, request: Request, result: CallbackResult, row_id: str | None
) -> Response:
    wants_json = "application/json" in request.headers.get("accept", "")
    if service.settings.frontend_url and not wants_json:
        query = {"status": result.status}
        if row_id:
            query["integration"] = row_id
        return RedirectResponse(f"{service.settings.frontend_url}?{urlencode(query)}", 302)
    return JSONResponse(result.model_dump())


async def _check_state(service: IntegrationService, state: str | None) -> tuple[str, str]:
    """(user, nonce) of a valid state; 400 with the reason otherwise. Nothing is stored."""
    if not state:
        raise HTTPException(400, "state is missing")
    parts = split_state(state)
    if parts is None:
        raise HTTPException(400, "state is malformed")
    nonce = parts[0]
    row = await service.db(service.store.install_state, nonce)
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


async def _prove(
    service: IntegrationService, code: str | None, installation_id: int
) -> tuple[bool, str | None]:
    """(claimed, why not): the code's user must reach the installation on GitHub."""
    settings = service.settings
    if not code:
        return False, NO_CODE
    if not settings.client_id or not settings.client_secret or service.github is None:
        return False, NO_CLIENT
    try:
        token = await exchange_oauth_code(
            service.github, settings.github_web_url, settings.client_id, settings.client_secret, code
        )
    except GitHubError as exc:
        raise HTTPException(400, f"GitHub did not accept the OAuth code: {exc.message}") from None
    try:
        reachable = await user_installation_ids(service.github, token)
    except GitHubError as exc:
        raise HTTPException(502, f"GitHub: {exc.message}") from None
    if installation_id not in reachable:
        raise HTTPException(
            403,
            f"installation {installation_id} is not one your GitHub account can access; "
            "it was not added to your account",
        )
    return True, None
