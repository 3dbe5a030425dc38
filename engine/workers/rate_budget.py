"""The GitHub client's shared rate budget, kept in the database: when one process hits a rate
limit of an installation, every server and worker on the database waits it out."""

from __future__ import annotations

import asyncio

from engine.store.interface import Store
from engine.store.records import StoreError


class StoreRateBudget:
    """engine.github.rate_limits.RateBudget over the store (calls run off the event loop)."""

    def __init__(self, store: Store) -> None:
        self.store = store

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
