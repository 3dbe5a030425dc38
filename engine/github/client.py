"""The GitHub App client: App JWT, installation tokens, and a REST client on httpx.

https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app
- The App JWT is RS256, `iat` 60 s in the past (clock drift), `exp` within 10 minutes.
- Installation tokens are cached per installation until shortly before `expires_at`; one
  request at a time per installation however many runs ask at once.
- Requests retry with backoff and jitter on 5xx and network errors when idempotent; primary
  and secondary rate limits are honoured by waiting, within the caller's deadline.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any, TypeVar

import httpx

from engine import __version__
from engine.github.api import (
    ConfigError,
    GitHubError,
    RateLimited,
    ServerError,
)
from engine.github.credentials import AppCredentials
from engine.github.economy import Economy
from engine.github.rate_limits import (
    SECONDARY_FIRST,
    SECONDARY_MOST,
    AnswerCache,
    RateBudget,
    RateLimits,
    WriteLanes,
)
from engine.github.responses import error_of, read_answer
from engine.github.tokens import Tokens

API_VERSION = "2022-11-28"
USER_AGENT = f"hookwise/{__version__} (+https://github.com/hookwise/hookwise)"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


T = TypeVar("T")


class GitHubClient:
    """One pooled httpx client for the App and all its installations."""

    def __init__(
        self,
        credentials: AppCredentials | None,
        *,
        base_url: str = "https://api.github.com",
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = SECONDARY_MOST * 1.1,
        max_hold: float | None = None,
        budget: RateBudget | None = None,
        answers: AnswerCache | None = None,
        lanes: WriteLanes | None = None,
        write_gap: float = 0.0,
        secondary_wait: float = SECONDARY_FIRST,
    ) -> None:
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self.clock = clock
        self.sleep = sleep
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait  # the longest rate-limit wait without a caller deadline
        # the longest wait held in place; a longer one raises RateLimited, so that a worker
        # defers its job rather than sleeping (None: wait as long as the deadline allows)
        self.max_hold = max_hold
        # a repository rule's token reaches only its own repository (repository_ids)
        self.tokens = Tokens(self._new_token, lambda: self.clock())
        self.limits = RateLimits(lambda: self.clock(), budget, secondary_first=secondary_wait)
        self.economy = Economy(lambda: self.clock(), answers, lanes, write_gap)
        self.rate_remaining = self.limits.remaining  # installation id (or "app") -> remaining
        # small answers nodes keep for the process, by key (a commenter's permission, briefly)
        self.memo: dict[Any, tuple[float, Any]] = {}

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self.http.aclose()

    # --- auth ------------------------------------------------------------------------

    def _app_auth(self) -> str:
        if self.credentials is None:
            raise ConfigError("no GitHub App credentials")
        # GitHub checks iat/exp against real time, so the JWT never uses the test clock
        return f"Bearer {self.credentials.jwt(time.time())}"

    def forget_token(self, installation_id: int, repository_id: int | None = None) -> None:
        """Drop a cached token GitHub no longer accepts."""
        self.tokens.forget(installation_id, repository_id)

    async def installation_token(
        self, installation_id: int, repository_id: int | None = None
    ) -> str:
        """A valid token for the installation (only for one repository when given)."""
        return await self.tokens.get(installation_id, repository_id)

    async def _new_token(self, installation_id: int, repository_id: int | None) -> Any:
        return await self._send(
            "POST",
            f"/app/installations/{installation_id}/access_tokens",
            auth=self._app_auth(),
            key="app",
            body={"repository_ids": [repository_id]} if repository_id is not None else None,
        )

    @property
    def token_refreshes(self) -> int:
        """Installation tokens fetched so far."""
        return self.tokens.refreshes

    async def app_request(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call as the App itself (JWT), such as GET /app/installations/{id}."""
        return await self._send(method, path, auth=self._app_auth(), key="app", **kwargs)

    async def app_pages(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> AsyncGenerator[list[Any], None]:
        """The pages of a list the App reads as itself, one at a time (cursor or page links);
        the caller stops when it has read enough."""

        async def auth() -> str:
            return self._app_auth()

        found = self.pages(path, auth=auth, key="app", params=params)
        async with aclosing(found):
            async for page in found:
                yield page if isinstance(page, list) else []

    def installation(
        self,
        installation_id: int,
        *,
        deadline: float | None = None,
        repository_id: int | None = None,
    ) -> InstallationAPI:
        """The GitHubAPI of one installation (whose token reaches only one repository when
        `repository_id` is given)."""
        return InstallationAPI(self, installation_id, deadline, repository_id)

    # --- requests ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        auth: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: str | None = None,
        deadline: float | None = None,
        pages: bool = False,
        on_status: Callable[[int], None] | None = None,
    ) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        accept = accept or "application/vnd.github+json"
        cached = (
            self.economy.cache_key(key, url, params, accept) if method == "GET" else None
        )

        async def exchange() -> tuple[Any, Any, int]:
            return await self._exchange(
                method, url, path, auth=auth, key=key, params=params, body=body, accept=accept,
                deadline=deadline, cached=cached,
            )

        data, links, status = (
            await self.economy.shared(f"{auth} {cached}", exchange) if cached else await exchange()
        )
        if on_status is not None:
            on_status(status)
        return (data, links) if pages else data

    async def _exchange(
        self,
        method: str,
        url: str,
        path: str,
        *,
        auth: str,
        key: str,
        params: Mapping[str, Any] | None,
        body: Any,
        accept: str,
        deadline: float | None,
        cached: str | None,
    ) -> tuple[Any, Any, int]:
        """One request, with its retries and waits: (data, links, status)."""
        headers = {
            "Accept": accept,
            "Authorization": auth,
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        kept = None
        if cached is not None:
            conditional, kept = await self.economy.validators(cached)
            headers.update(conditional)
        await self._wait_turn(key, method, path, deadline)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.http.request(
                    method, url, params=params, json=body, headers=headers
                )
            except httpx.TransportError as exc:
                if method in IDEMPOTENT and attempt <= self.max_retries:
                    await self._backoff(attempt, deadline)
                    continue
                raise GitHubError(0, f"network error: {exc}", method=method, path=path) from None
            self.economy.count(response.status_code)
            self.limits.note(key, response)
            if response.status_code == 304 and kept is not None and cached is not None:
                await self.limits.succeeded(key)  # GitHub: a 304 does not count
                stored = {"content-type": kept.get("content_type") or "", "link": kept.get("link") or ""}
                answer = read_answer(200, stored, kept["body"])
                return answer.data, httpx.Response(200, headers=stored).links, 304
            answer = read_answer(
                response.status_code, response.headers, response.content, response.reason_phrase
            )
            wait = await self.limits.wait_for(key, response, answer.message)
            if wait is not None:
                if self._may_wait(deadline, wait) and attempt <= self.max_retries + 2:
                    await self.sleep(wait)
                    continue
                raise RateLimited(
                    response.status_code, answer.message, method=method, path=path, wait=wait
                )
            error = error_of(answer, method=method, path=path)
            retry = isinstance(error, ServerError) and method in IDEMPOTENT
            if retry and attempt <= self.max_retries:
                await self._backoff(attempt, deadline)
                continue
            if error is not None:
                raise error
            await self.limits.succeeded(key)
            if cached is not None and response.status_code == 200:
                await self.economy.keep(cached, response.headers, response.content)
            return answer.data, response.links, response.status_code

    async def _wait_turn(self, key: str, method: str, path: str, deadline: float | None) -> None:
        """Wait while another process waits out a limit of this bucket (RateLimited when that
        is longer than may be held), then for this write's turn in the installation's lane
        (a turn, once reserved, is always taken: the lane moves on for everyone)."""
        blocked = await self.limits.blocked(key)
        if blocked > 0:
            if not self._may_wait(deadline, blocked):
                why = "rate limited (shared budget)"
                raise RateLimited(429, why, method=method, path=path, wait=blocked)
            await self.sleep(blocked)
        turn = await self.economy.write_wait(key, method)
        if turn > 0:
            await self.sleep(turn)

    def _may_wait(self, deadline: float | None, wait: float) -> bool:
        if self.max_hold is not None and wait > self.max_hold:
            return False
        if deadline is None:
            return wait <= self.max_wait
        return self.clock() + wait < deadline

    async def _backoff(self, attempt: int, deadline: float | None) -> None:
        delay = self.backoff * (2 ** (attempt - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter
        if deadline is not None and self.clock() + delay >= deadline:
            raise ServerError(0, "retries would pass the run's deadline")
        await self.sleep(delay)

    async def pages(
        self,
        path: str,
        *,
        auth: Callable[[], Awaitable[str]],
        key: str,
        params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Each page's JSON, following Link rel="next" until there is none."""
        url: str | None = path
        query: Mapping[str, Any] | None = params
        while url is not None:
            data, links = await self._send(
                "GET",
                url,
                auth=await auth(),
                key=key,
                params=query,
                deadline=deadline,
                pages=True,
                on_status=on_status,
            )
            yield data
            url = links.get("next", {}).get("url")
            query = None  # the next link carries the query

    async def paginate_with(
        self,
        path: str,
        *,
        auth: Callable[[], Awaitable[str]],
        key: str,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        deadline: float | None = None,
        field: str = "items",
        on_status: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """Every item until the end or `limit` items (`field`: where an object page holds its
        list, as `installations` in GET /user/installations)."""
        items: list[Any] = []
        found = self.pages(
            path, auth=auth, key=key, params=params, deadline=deadline, on_status=on_status
        )
        async with aclosing(found):  # stopping early closes the generator now, not at GC
            async for page in found:
                items.extend(page if isinstance(page, list) else page.get(field, []))
                if limit is not None and len(items) >= limit:
                    return items[:limit]
        return items


class InstallationAPI:
    """GitHubAPI for one installation; GitHub's errors are raised as GitHubError."""

    def __init__(
        self,
        client: GitHubClient,
        installation_id: int,
        deadline: float | None,
        repository_id: int | None = None,
    ) -> None:
        self.client = client
        self.installation_id = installation_id
        self.deadline = deadline
        self.repository_id = repository_id

    async def _auth(self) -> str:
        token = await self.client.installation_token(self.installation_id, self.repository_id)
        return f"token {token}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: str | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> Any:
        """One REST call as the installation; a 401 (a revoked token, clock drift) drops the
        cached token and tries once more with a new one."""

        async def send() -> Any:
            return await self.client._send(
                method,
                path,
                auth=await self._auth(),  # a new token on the second try
                key=str(self.installation_id),
                params=params,
                body=body,
                accept=accept,
                deadline=self.deadline,
                on_status=on_status,
            )

        return await self._renewing(send)

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        on_status: Callable[[int], None] | None = None,
        field: str = "items",
    ) -> list[Any]:
        """Every item of a list endpoint (a 401 renews the token once, as `request`; `field`:
        where an object page holds its list, as `repositories` in /installation/repositories)."""
        return await self._renewing(
            lambda: self.client.paginate_with(
                path,
                auth=self._auth,
                key=str(self.installation_id),
                params=params,
                limit=limit,
                deadline=self.deadline,
                field=field,
                on_status=on_status,
            )
        )

    async def _renewing(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a call; on a 401 (a revoked token, clock drift) drop the cached token and run
        it once more, which fetches a new one."""
        try:
            return await call()
        except GitHubError as exc:
            if exc.status != 401:
                raise
            self.client.forget_token(self.installation_id, self.repository_id)
        return await call()
