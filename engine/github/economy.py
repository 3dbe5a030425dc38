"""Spending GitHub's budget with care (the client's side of it):

- Conditional requests: a GET whose answer carried an ETag or Last-Modified is kept (in the
  store, for every process); the next read of the same URL, Accept and installation sends
  `If-None-Match` / `If-Modified-Since`, and GitHub's 304, which does not count against the
  rate limit, is served from what was kept.
- Coalescing: concurrent reads of one resource in a process share one request.
- Write lanes: an installation's content-creating requests (POST, PATCH, PUT, DELETE) are
  sent one at a time, `write_gap` seconds apart, across processes when the lanes are the
  store's (GitHub: "wait at least one second between each request" that creates content).

https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from engine.github.rate_limits import AnswerCache, LocalWriteLanes, WriteLanes

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
Result = tuple[Any, Any, int]  # (data, links, status)


class Economy:
    """The conditional-request cache, in-flight reads and write lanes of one client."""

    def __init__(
        self,
        clock: Callable[[], float],
        answers: AnswerCache | None = None,
        lanes: WriteLanes | None = None,
        write_gap: float = 0.0,
    ) -> None:
        self.answers = answers
        self.lanes = lanes or LocalWriteLanes(clock)
        self.write_gap = write_gap
        self.clock = clock
        self._inflight: dict[str, asyncio.Future[Result]] = {}
        self.outcomes: dict[str, int] = {}  # "200", "304", "4xx", "5xx" -> answers

    def cache_key(
        self, bucket: str, url: str, params: Mapping[str, Any] | None, accept: str
    ) -> str | None:
        """Where a GET's answer is kept: per installation (bucket), Accept and URL."""
        if self.answers is None or bucket == "app":
            return None
        query = urlencode(sorted((str(k), str(v)) for k, v in (params or {}).items()))
        return f"{bucket} {accept} {url}?{query}"

    async def validators(self, key: str) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The conditional headers for a read, and the answer kept for it."""
        assert self.answers is not None
        kept = await self.answers.cached_answer(key)
        if kept is None:
            return {}, None
        headers = {}
        if kept.get("etag"):
            headers["If-None-Match"] = str(kept["etag"])
        if kept.get("last_modified"):
            headers["If-Modified-Since"] = str(kept["last_modified"])
        return headers, kept

    async def keep(self, key: str, headers: Mapping[str, str], body: bytes) -> None:
        """Keep a 200 answer that GitHub can validate later."""
        if self.answers is not None and (headers.get("etag") or headers.get("last-modified")):
            await self.answers.keep_answer(key, headers, body)

    async def shared(self, key: str, read: Callable[[], Awaitable[Result]]) -> Result:
        """One request for concurrent reads of `key`; the others get a copy of its answer."""
        running = self._inflight.get(key)
        if running is not None:
            return copy.deepcopy(await asyncio.shield(running))
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await read()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # a follower-less failure is not "never retrieved"
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._inflight.pop(key, None)

    async def write_wait(self, bucket: str, method: str) -> float:
        """Seconds until this write's turn in its installation's lane (0: send now)."""
        if method not in WRITES or self.write_gap <= 0 or bucket == "app":
            return 0.0
        slot = await self.lanes.reserve_write(bucket, self.write_gap)
        return max(0.0, slot - self.clock())

    def count(self, status: int) -> None:
        """An answer, by outcome, for the metrics."""
        outcome = str(status) if status in (200, 304) else f"{status // 100}xx"
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
