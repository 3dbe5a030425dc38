"""What the client knows of GitHub's rate limits, and how long a call must wait.

https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
- A primary limit says when it resets (`x-ratelimit-reset` with `x-ratelimit-remaining: 0`),
  or how long to wait (`retry-after`).
- A secondary limit may say neither: wait at least a minute, and "an exponentially increasing
  amount of time" while it keeps failing. The waits here double per strike in a row (1, 2, 4,
  ... minutes, at most 15) with up to 10% jitter, so many clients do not retry in step.
- When several processes share one App, a shared budget (the database, in the server) tells
  every one of them that a bucket is blocked, so they wait instead of piling on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

SECONDARY_FIRST = 60.0
SECONDARY_MOST = 900.0
BUDGET_FRESH = 1.0  # seconds a shared budget's answer is reused


class RateBudget(Protocol):
    """A rate-limit state shared by processes (engine.server wires the store in)."""

    async def blocked_until(self, bucket: str) -> float:
        """Until when calls of the bucket must wait (0 when free)."""
        ...

    async def block(self, bucket: str, until: float) -> int:
        """Record a limit hit; the hits in a row."""
        ...

    async def clear(self, bucket: str) -> None:
        """A call went through."""
        ...


class AnswerCache(Protocol):
    """Answers kept for conditional requests, shared by processes (the store, in the server)."""

    async def cached_answer(self, key: str) -> dict[str, Any] | None:
        """etag, last_modified, content_type, link and body (bytes) of a kept answer."""
        ...

    async def keep_answer(self, key: str, headers: Mapping[str, str], body: bytes) -> None:
        """Keep an answer (its validators and body) for the next read of `key`."""
        ...


class WriteLanes(Protocol):
    """One lane of content-creating requests per installation, shared by processes."""

    async def reserve_write(self, bucket: str, gap: float) -> float:
        """When this process may send its next write of `bucket` (`gap` after the last)."""
        ...


class LocalWriteLanes:
    """WriteLanes for one process (the command line's client)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._next: dict[str, float] = {}

    async def reserve_write(self, bucket: str, gap: float) -> float:
        """The later of now and the lane's next free time; the lane moves on by `gap`."""
        slot = max(self.clock(), self._next.get(bucket, 0.0))
        self._next[bucket] = slot + gap
        return slot


class RateLimits:
    """Remaining calls per bucket, strikes in a row, and the shared budget."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        budget: RateBudget | None = None,
        jitter: Callable[[], float] = random.random,
        secondary_first: float = SECONDARY_FIRST,
    ) -> None:
        self.clock = clock
        self.budget = budget
        self.jitter = jitter
        self.secondary_first = secondary_first  # GitHub: "at least one minute"
        self.remaining: dict[str, int] = {}  # bucket (installation id or "app") -> remaining
        self.strikes: dict[str, int] = {}
        self._blocked: dict[str, tuple[float, float]] = {}  # bucket -> (asked at, until)

    def note(self, bucket: str, response: httpx.Response) -> None:
        """Remember the remaining calls a response reports."""
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.remaining[bucket] = int(remaining)

    async def wait_for(self, bucket: str, response: httpx.Response, message: str) -> float | None:
        """Seconds to wait before trying again, or None when the response is not a limit."""
        status = response.status_code
        if status not in (403, 429):
            return None
        retry_after = response.headers.get("retry-after")
        wait: float | None = None
        if retry_after is not None:
            try:
                wait = max(0.0, float(retry_after))
            except ValueError:
                wait = SECONDARY_FIRST
        elif response.headers.get("x-ratelimit-remaining") == "0":
            reset = response.headers.get("x-ratelimit-reset", "")
            if reset.isdigit():
                wait = max(0.0, int(reset) - self.clock()) + 1.0
        if wait is None and (status == 429 or "secondary rate limit" in message.lower()):
            strikes = self.strikes.get(bucket, 0) + 1
            wait = min(self.secondary_first * 2 ** (strikes - 1), SECONDARY_MOST)
            wait *= 1 + 0.1 * self.jitter()
        if wait is None:
            return None
        self.strikes[bucket] = self.strikes.get(bucket, 0) + 1
        if self.budget is not None:
            self.strikes[bucket] = max(
                self.strikes[bucket], await self.budget.block(bucket, self.clock() + wait)
            )
        return wait

    async def succeeded(self, bucket: str) -> None:
        """A call went through: the strikes start again."""
        if self.strikes.pop(bucket, 0) and self.budget is not None:
            await self.budget.clear(bucket)

    async def blocked(self, bucket: str) -> float:
        """Seconds this bucket must still wait because another process hit a limit."""
        if self.budget is None:
            return 0.0
        now = self.clock()
        asked = self._blocked.get(bucket)
        if asked is None or now - asked[0] > BUDGET_FRESH:
            asked = (now, await self.budget.blocked_until(bucket))
            self._blocked[bucket] = asked
        return max(0.0, asked[1] - now)
