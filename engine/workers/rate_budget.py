"""The GitHub client's shared budget, kept in the database for every server and worker on it:
a rate limit one process hits is waited out by all; answers kept for conditional requests;
and each installation's write lane (engine.github.economy)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from typing import Any

from engine.store.interface import Store
from engine.store.records import StoreError


class StoreRateBudget:
    """RateBudget, AnswerCache and WriteLanes (engine.github.rate_limits) over the store
    (calls run off the event loop)."""

    def __init__(self, store: Store, *, cache_entries: int = 10_000) -> None:
        self.store = store
        self.cache_entries = cache_entries

    async def blocked_until(self, bucket: str) -> float:
        """Until when the bucket waits; 0 when the database cannot say (never block on it)."""
        try:
            return await asyncio.to_thread(self.store.rate_blocked_until, bucket)
        except StoreError:
            return 0.0

    async def block(self, bucket: str, until: float) -> int:
        """Record a hit for every process; the hits in a row (1 when unknown)."""
        try:
            return await asyncio.to_thread(self.store.block_rate, bucket, until)
        except StoreError:
            return 1

    async def clear(self, bucket: str) -> None:
        """A call went through."""
        try:
            await asyncio.to_thread(self.store.clear_rate, bucket)
        except StoreError:
            return

    async def cached_answer(self, key: str) -> dict[str, Any] | None:
        """A kept answer (None when there is none, or the database cannot say)."""
        try:
            return await asyncio.to_thread(self.store.cached_answer, key)
        except StoreError:
            return None

    async def keep_answer(self, key: str, headers: Mapping[str, str], body: bytes) -> None:
        """Keep an answer with its validators (never fail a call for it)."""
        try:
            await asyncio.to_thread(
                functools.partial(
                    self.store.keep_answer,
                    key,
                    etag=headers.get("etag"),
                    last_modified=headers.get("last-modified"),
                    content_type=headers.get("content-type"),
                    link=headers.get("link"),
                    body=body,
                    limit=self.cache_entries,
                )
            )
        except StoreError:
            return

    async def reserve_write(self, bucket: str, gap: float) -> float:
        """This write's turn in the installation's lane (now, when the database cannot say)."""
        try:
            return await asyncio.to_thread(self.store.reserve_write, bucket, gap)
        except StoreError:
            return time.time()
