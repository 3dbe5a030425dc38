"""Group commit for webhook ingest (engine.store.group_commit): deliveries that arrive while
one commit is in flight share the next one; each request is answered only once its own
delivery is committed (an accepted delivery is on disk). A commit that has not finished within
`timeout` seconds is answered as not stored (GitHub gives 10 s).
"""

from __future__ import annotations

import asyncio

from engine.store.group_commit import GroupCommit
from engine.store.interface import Store
from engine.store.records import NewDelivery


class GroupCommitter(GroupCommit[NewDelivery, bool]):
    """`await record(item)` -> True if stored, False if its id was seen before; StoreError
    when it could not be stored (the caller answers 503)."""

    def __init__(self, store: Store, *, max_batch: int = 256, timeout: float = 8.0) -> None:
        super().__init__(store.record_deliveries, max_batch=max_batch, timeout=timeout)
        self.store = store
        self._probed: tuple[float, bool] | None = None
        self._probing: asyncio.Future[bool] | None = None

    async def record(self, item: NewDelivery) -> bool:
        """Queue one delivery for the next commit and wait for it."""
        return await self.submit(item)

    async def probe(self, *, fresh_for: float = 1.0) -> bool:
        """Whether the database takes a real write (for /health): run in the writer thread, so
        it never competes with ingest for the lock, and at most once per `fresh_for` seconds
        however often /health is polled."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._probed is not None and now - self._probed[0] < fresh_for:
            return self._probed[1]
        if self._probing is None:
            self._probing = loop.run_in_executor(self.executor, self.store.probe_write)
        probing = self._probing
        assert self.timeout is not None
        try:
            result = await asyncio.wait_for(asyncio.shield(probing), self.timeout / 2)
        except TimeoutError:
            result = False
        finally:
            if probing.done() and self._probing is probing:
                self._probing = None
        self._probed = (loop.time(), result)
        return result
