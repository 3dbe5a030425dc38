"""Group commit for webhook ingest: deliveries that arrive together share one transaction.

Each request still waits until its delivery is committed before it is answered (an accepted
delivery is on disk), but the commit work is shared by every delivery that reached the
committer in the same turn of the event loop, as databases do with group commit.
"""

from __future__ import annotations

import asyncio
import sqlite3

from engine.store.base import StoredDelivery
from engine.store.sqlite import SQLiteStore

Pending = tuple[StoredDelivery, list[tuple[str, str]], "asyncio.Future[bool]"]


class GroupCommitter:
    """`await record(delivery, jobs)` -> True if stored, False if the id was seen before."""

    def __init__(self, store: SQLiteStore, *, max_batch: int = 64) -> None:
        self.store = store
        self.max_batch = max_batch
        self._pending: list[Pending] = []
        self._scheduled = False

    async def record(self, delivery: StoredDelivery, jobs: list[tuple[str, str]]) -> bool:
        """Queue one delivery for the next commit and wait for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((delivery, jobs, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)  # after the requests already in this turn
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            results = self.store.record_deliveries([(d, j) for d, j, _ in batch])
        except sqlite3.Error as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), stored in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(stored)
