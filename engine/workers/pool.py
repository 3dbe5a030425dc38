"""The worker pool (inside `serve`, or alone in `hookwise worker`): claim jobs under a lease,
run them, store the runs.

A job is one (delivery, rule). A worker that dies (kill -9) leaves its job `running` with a
lease that runs out; another worker (after a restart, or in another process) takes it over.
Nodes that already succeeded are not run again (their idempotency keys are in node_runs), and
`runs` is unique per (delivery, rule, generation), so no job runs twice to completion.

Database work runs in threads, never on the event loop. A database error never kills a
worker: it backs off, reports itself in /health and /metrics, and resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from engine.declarations.registry import Registry
from engine.github.client import GitHubClient
from engine.lang.model import Rule
from engine.observe import logs
from engine.observe.metrics import Metrics
from engine.settings import Settings
from engine.store.group_commit import GroupCommit
from engine.store.interface import Store
from engine.store.records import FAILED, Finish, Job, StoreError
from engine.workers.context import WorkContext
from engine.workers.jobs import JobRunner

log = logs.get("hookwise.worker")
T = TypeVar("T")
FINISH_BATCH = 256
# while webhook requests are in flight, workers claim at most PRESSED_BATCH jobs every
# PRESSED_GAP seconds (about 100 jobs/s): a backlog still drains, answers stay fast
PRESSED_GAP = 0.02
PRESSED_BATCH = 2
HEARTBEAT = 5.0


class WorkerPool:
    """Up to `concurrency` jobs at once, sharing one store, one GitHub client and the rules."""

    def __init__(
        self,
        store: Store,
        rules: dict[str, Rule],
        registry: Registry,
        settings: Settings,
        metrics: Metrics,
        github: GitHubClient | None,
        *,
        concurrency: int,
        kind: str = "server",
        pressure: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.github = github
        self.concurrency = concurrency
        self.kind = kind
        self.pressure = pressure  # webhook requests in flight: the server answers first
        self.name = f"{kind}-{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.executor = ThreadPoolExecutor(
            max_workers=max(2, concurrency + 2), thread_name_prefix="hookwise-worker"
        )
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._slot = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._working: set[int] = set()  # claimed jobs not yet at their end (finish, retry, defer)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # jobs that end while one commit is in flight share the next (one transaction per
        # batch, not per job: with short jobs, the commit was most of a job's cost)
        self.finishing: GroupCommit[Finish, bool] = GroupCommit(
            lambda finishes: store.finish_jobs(self.name, finishes),
            max_batch=FINISH_BATCH,
            name="hookwise-finish",
        )
        self.context = WorkContext(
            store, settings, metrics, registry, github, rules, self.name, self._db, self.wake,
            self.note_error, self.finishing.submit, self._ended,
        )
        self.runner = JobRunner(self.context)
        self._listener: threading.Thread | None = None

    # --- life -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start claiming jobs (call inside the running event loop)."""
        if self.concurrency <= 0:
            return
        self._tasks.append(asyncio.create_task(self._dispatch()))
        self._tasks.append(asyncio.create_task(self._heartbeats()))
        listen = getattr(self.store, "listen", None)
        if listen is not None:
            loop = asyncio.get_running_loop()
            self._listener = threading.Thread(
                target=self._listen, args=(listen, loop), name="hookwise-listen", daemon=True
            )
            self._listener.start()

    async def stop(self) -> None:
        """Stop claiming; cancel running jobs (their leases let them run again later)."""
        self._stopping = True
        self._wake.set()
        self._slot.set()
        for task in [*self._tasks, *self._running]:
            task.cancel()
        for task in [*self._tasks, *self._running]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._running.clear()
        self._working.clear()
        await self.finishing.close()  # the jobs' ends in flight reach the database first
        if self.concurrency > 0:
            with contextlib.suppress(StoreError):
                await self._db(self.store.forget_worker, self.name)
        # a cancelled task does not stop the database call its thread is making: wait for
        # those calls, or the store would close a connection under them (SQLite segfaults)
        finished = self.executor
        await asyncio.to_thread(finished.shutdown, wait=True, cancel_futures=True)
        self.executor = ThreadPoolExecutor(  # ready for another start (a new lifespan)
            max_workers=max(2, self.concurrency + 2), thread_name_prefix="hookwise-worker"
        )
        self._stopping = False

    def wake(self) -> None:
        """New jobs are queued."""
        self._wake.set()

    @property
    def alive(self) -> bool:
        """Whether the pool is claiming jobs (a database outage does not count as dead)."""
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    async def drain(self, delivery_id: str) -> int:
        """Run the queued jobs of one delivery here and now (hookwise deliveries replay)."""
        count = 0
        while jobs := await self._db(
            self.store.claim_jobs, self.name, self.settings.lease_seconds, delivery_id=delivery_id
        ):
            for job in jobs:
                await self._guarded(job)
                count += 1
        return count

    # --- the loop -----------------------------------------------------------------------------

    async def _db(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: call(*args, **kwargs))

    async def _dispatch(self) -> None:
        backoff = 0.0
        while not self._stopping:
            # `concurrency` jobs work at once; those whose end is committing do not count, up to
            # a batch more (a commit in flight must not hold the next jobs back)
            free = min(
                self.concurrency - len(self._working),
                self.concurrency + FINISH_BATCH - len(self._running),
            )
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            if self._ingesting():
                # answers first: while webhook requests are being answered, a trickle of jobs
                await asyncio.sleep(PRESSED_GAP)
                free = min(free, PRESSED_BATCH)
            try:
                jobs = await self._db(
                    self.store.claim_jobs, self.name, self.settings.lease_seconds, limit=free
                )
            except StoreError as exc:
                backoff = min(max(backoff * 2, 0.1), 5.0)
                self.note_error(f"cannot claim jobs: {exc}")
                await asyncio.sleep(backoff)
                continue
            backoff = 0.0
            self.last_error = None
            if not jobs:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                continue
            try:
                await self.runner.prefetch(jobs)
            except StoreError as exc:  # each job reads its own delivery then
                self.note_error(f"cannot read deliveries: {exc}")
            for job in jobs:
                self._working.add(job.id)
                task = asyncio.create_task(self._guarded(job))
                self._running.add(task)
                task.add_done_callback(functools.partial(self._done, job))

    def _ended(self, job: Job) -> None:
        if job.id in self._working:
            self._working.discard(job.id)
            self._slot.set()

    def _done(self, job: Job, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._working.discard(job.id)
        self._slot.set()

    def note_error(self, message: str) -> None:
        """Remember a database error the workers survived (shown in /health)."""
        if self.last_error != message:
            log.warning("workers wait for the database", error=message)
        self.last_error = message
        self.metrics.worker_errors.inc()

    def _ingesting(self) -> bool:
        """Whether webhook requests are being answered in this process right now.

        GitHub gives a webhook 10 s and never redelivers on its own, and jobs share this
        event loop (and the GIL) with the answers: measured with a backlog draining, one
        connection of ingest fell to 0.12x the floor when workers claimed freely.
        """
        return self.pressure is not None and self.pressure() > 0

    async def _heartbeats(self) -> None:
        while not self._stopping:
            try:
                await self._db(
                    self.store.heartbeat,
                    self.name,
                    kind=self.kind,
                    pid=os.getpid(),
                    jobs_done=self.context.finished,
                    last_error=self.last_error,
                )
            except StoreError as exc:
                self.note_error(f"cannot report: {exc}")
            await asyncio.sleep(HEARTBEAT)

    def _listen(self, listen: Callable[[float], bool], loop: asyncio.AbstractEventLoop) -> None:
        """PostgreSQL: wake up on NOTIFY from any process (a thread of its own)."""
        while not self._stopping:
            try:
                if listen(1.0):
                    loop.call_soon_threadsafe(self._wake.set)
            except Exception:  # the connection dropped: polling covers it until it is back
                time.sleep(1.0)

    # --- one job --------------------------------------------------------------------------------

    async def _guarded(self, job: Job) -> None:
        try:
            await self.runner.run(job)
        except asyncio.CancelledError:
            raise
        except StoreError as exc:  # the lease runs out and the job is taken again
            self.note_error(f"job {job.id}: {exc}")
        except Exception as exc:  # a bug must not kill the worker; the job is failed
            log.exception("job failed unexpectedly", job=job.id)
            with contextlib.suppress(StoreError):
                await self._db(
                    self.store.finish_job, job, self.name, state=FAILED,
                    error=f"internal error: {type(exc).__name__}: {exc}",
                )
            self.metrics.jobs.labels("error").inc()
