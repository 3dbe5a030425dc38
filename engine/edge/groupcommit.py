"""Group commit for webhook ingest, off the event loop: deliveries that arrive while one
commit is in flight share the next one.

Each request still waits until its own delivery is committed before it is answered (an
accepted delivery is on disk), but the commit runs in the writer thread, so the event loop
keeps reading requests meanwhile, and its cost is shared by every delivery of the batch, as
databases do with group commit. A delivery the store refuses is refused alone; a commit that
has not finished within `timeout` seconds is answered as not stored (GitHub gives 10 s).
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from engine.store.interface import Store
from engine.store.records import NewDelivery, StoreError

Pending = tuple[NewDelivery, "asyncio.Future[bool]"]
WATCH = 0.25  # seconds between looks for commits that take too long


class GroupCommitter:
    """`await record(item)` -> True if stored, False if its id was seen before; StoreError
    when it could not be stored (the caller answers 503)."""

    def __init__(self, store: Store, *, max_batch: int = 256, timeout: float = 8.0) -> None:
        self.store = store
        self.max_batch = max_batch
        self.timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Pending] = []
        self._waiting: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._flushing = False
        self._idle: asyncio.Event | None = None
        self._probed: tuple[float, bool] | None = None
        self._probing: asyncio.Future[bool] | None = None
        self.batches = 0

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The writer thread (started again after close, as a new lifespan would)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookwise-commit")
        return self._executor

    async def record(self, item: NewDelivery) -> bool:
        """Queue one delivery for the next commit and wait for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((item, future))
        self._waiting.append((loop.time(), future))
        if self._watchdog is None:
            self._watchdog = loop.call_later(WATCH, self._expire)
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._start)  # after the requests already read in this turn
        return await future

    def _expire(self) -> None:
        """Answer, as not stored, the deliveries whose commit has taken longer than timeout
        (one timer for all waiters, not one per request)."""
        loop = asyncio.get_running_loop()
        limit = loop.time() - self.timeout
        while self._waiting and (self._waiting[0][1].done() or self._waiting[0][0] < limit):
            _, future = self._waiting.popleft()
            if not future.done():
                future.set_exception(
                    StoreError(f"the database did not commit within {self.timeout:g}s")
                )
        self._watchdog = loop.call_later(WATCH, self._expire) if self._waiting else None

    def _start(self) -> None:
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if not batch:
            self._flushing = False
            if self._idle is not None:
                self._idle.set()
            return
        self.batches += 1
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(
            self.executor, self.store.record_deliveries, [item for item, _ in batch]
        )
        work.add_done_callback(lambda done: self._finish(batch, done))

    def _finish(self, batch: list[Pending], done: asyncio.Future[list[bool | StoreError]]) -> None:
        error = done.exception()
        results: list[bool | StoreError] = (
            [StoreError(str(error))] * len(batch) if error is not None else done.result()
        )
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, StoreError):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._start()  # whatever arrived meanwhile is the next batch

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
        try:
            result = await asyncio.wait_for(asyncio.shield(probing), self.timeout / 2)
        except TimeoutError:
            result = False
        finally:
            if probing.done() and self._probing is probing:
                self._probing = None
        self._probed = (loop.time(), result)
        return result

    async def close(self) -> None:
        """Wait for the commits in flight, then stop the writer thread."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._flushing:
            self._idle = asyncio.Event()
            await self._idle.wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
