"""The OAuth user flow of the installation callback: the `code` GitHub adds to it becomes a
user access token, and the token says which installations of this App its user can reach.
It lives beside the callback (engine.edge.install), apart from the installation client."""

from __future__ import annotations

import httpx

from engine.github.api import GitHubError
from engine.github.client import USER_AGENT, GitHubClient


async def exchange_oauth_code(
    github: GitHubClient, web_url: str, client_id: str, client_secret: str, code: str
) -> str:
    """A user access token for the OAuth `code` GitHub adds to the install callback.

    https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app
    """
    try:
        response = await github.http.post(
            f"{web_url.rstrip('/')}/login/oauth/access_token",
            data={"client_id": client_id, "client_secret": client_secret, "code": code},
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
    except httpx.TransportError as exc:
        raise GitHubError(0, f"network error: {exc}", method="POST", path="/login") from None
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    token = body.get("access_token") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(token, str):
        why = body.get("error_description") or body.get("error") if isinstance(body, dict) else ""
        raise GitHubError(
            response.status_code or 400,
            str(why or "the code was not accepted"),
            method="POST",
            path="/login/oauth/access_token",
        )
    return token

async def user_installation_ids(github: GitHubClient, user_token: str) -> set[int]:
    """The installations of this App that the token's user can access
    (GET /user/installations, every page)."""

    async def auth() -> str:
        return f"Bearer {user_token}"

    found = await github.paginate_with(
        "/user/installations",
        auth=auth,
        key="user",
        params={"per_page": 100},
        field="installations",
    )
    return {int(i["id"]) for i in found if isinstance(i, dict) and isinstance(i.get("id"), int)}
