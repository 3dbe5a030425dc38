"""Group commit, off the event loop: items that arrive while one commit is in flight share the
next one, as databases do with their log.

Each caller still waits until its own item is committed, but the commit runs in a writer
thread of its own, so the event loop goes on meanwhile, and one transaction's cost is shared by
every item of the batch. Webhook ingest commits deliveries this way, and the workers finish
jobs this way. An item the store refuses is refused alone; with a `timeout`, an item whose
commit has not finished by then is answered with a StoreError (the caller decides what that
means: ingest answers 503, a job's lease runs out and it runs again).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from engine.store.records import StoreError

I = TypeVar("I")  # noqa: E741 - the item committed
R = TypeVar("R")  # what its caller is answered
WATCH = 0.25  # seconds between looks for commits that take too long


class GroupCommit(Generic[I, R]):
    """`await submit(item)` -> the flush's answer for the item, or its StoreError raised."""

    def __init__(
        self,
        flush: Callable[[list[I]], Sequence[R | StoreError]],
        *,
        max_batch: int = 256,
        timeout: float | None = None,
        name: str = "hookwise-commit",
    ) -> None:
        self.flush = flush
        self.max_batch = max_batch
        self.timeout = timeout
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._waiting: deque[tuple[float, asyncio.Future[R]]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._flushing = False
        self._idle: asyncio.Event | None = None
        self.batches = 0

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The writer thread (started again after close, as a new lifespan would)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        return self._executor

    async def submit(self, item: I) -> R:
        """Queue one item for the next commit and wait for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if self.timeout is not None:
            self._waiting.append((loop.time(), future))
            if self._watchdog is None:
                self._watchdog = loop.call_later(WATCH, self._expire)
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._start)  # after the items already queued in this turn
        return await future

    def _expire(self) -> None:
        """Answer with a StoreError the items whose commit took longer than the timeout (one
        timer for all waiters, not one per item)."""
        assert self.timeout is not None
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
        items = [item for item, _ in batch]
        work = loop.run_in_executor(self.executor, self.flush, items)
        work.add_done_callback(lambda done: self._finish(batch, done))

    def _finish(
        self,
        batch: list[tuple[I, asyncio.Future[R]]],
        done: asyncio.Future[Sequence[R | StoreError]],
    ) -> None:
        error = done.exception()
        results: Sequence[R | StoreError] = (
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

    async def close(self) -> None:
        """Wait for the commits in flight, then stop the writer thread."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._flushing:
            self._idle = asyncio.Event()
            await self._idle.wait()
            self._idle = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
