"""Installation access tokens, kept per (installation, repository) until shortly before they
expire, and fetched at most once at a time however many runs ask at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TOKEN_MARGIN = 60.0  # refresh an installation token this long before it expires
Key = tuple[int, int | None]  # (installation, repository id or None)


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float = 0.0


class Tokens:
    """The token cache; `fetch(installation, repository)` asks GitHub for a new token (the
    body of POST /app/installations/{id}/access_tokens)."""

    def __init__(
        self, fetch: Callable[[int, int | None], Awaitable[Any]], clock: Callable[[], float]
    ) -> None:
        self.fetch = fetch
        self.clock = clock
        self._tokens: dict[Key, _Token] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self.refreshes = 0

    def forget(self, installation_id: int, repository_id: int | None = None) -> None:
        """Drop a cached token GitHub no longer accepts."""
        self._tokens.pop((installation_id, repository_id), None)

    async def get(self, installation_id: int, repository_id: int | None = None) -> str:
        """A valid token (only for one repository when given)."""
        key = (installation_id, repository_id)
        async with self._locks.setdefault(key, asyncio.Lock()):
            token = self._tokens.get(key)
            if token is not None and token.expires_at - TOKEN_MARGIN > self.clock():
                return token.value
            body = await self.fetch(installation_id, repository_id)
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            self._tokens[key] = _Token(str(body["token"]), expires.timestamp())
            self.refreshes += 1
            return str(body["token"])
