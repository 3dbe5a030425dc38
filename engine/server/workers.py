"""The worker pool inside the server: claim jobs under a lease, run them, store the runs.

A job is one (delivery, rule). A worker that dies (kill -9) leaves its job `running` with a
lease that runs out; another worker (after a restart, the new process) claims it again.
Nodes that already succeeded are not run again (their idempotency keys are in node_runs),
and `runs` is unique per (delivery, rule, generation), so no job runs twice to completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import uuid
from typing import Any

from engine.github.changed_files import fetch_changed_files
from engine.github.client import GitHubClient
from engine.lang.model import Rule
from engine.match.events import parse_event
from engine.match.filters import FILES_NEEDED, evaluate
from engine.nodes.registry import Registry
from engine.run.concurrency import ConcurrencyGroups
from engine.run.executor import ExecutionOptions, idempotency_key, run_rule
from engine.run.record import NodeRecord, RunRecord
from engine.server.metrics import Metrics
from engine.settings import Settings
from engine.store.base import Job
from engine.store.sqlite import SQLiteStore

log = logging.getLogger("hookwise.worker")
QUIET_GAP = 0.1  # seconds without a new delivery before workers claim jobs during a burst


class WorkerPool:
    """N asyncio workers sharing one store, one GitHub client and the loaded rules."""

    def __init__(
        self,
        store: SQLiteStore,
        rules: dict[str, Rule],
        registry: Registry,
        settings: Settings,
        metrics: Metrics,
        github: GitHubClient | None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.github = github
        self.groups = ConcurrencyGroups()
        self.prefix = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.heartbeat = time.monotonic()
        self.last_ingest = 0.0  # monotonic time of the latest accepted delivery
        self._oldest_checked = 0.0
        self._oldest_age: float | None = None

    def start(self) -> None:
        """Start the workers (call inside the running event loop)."""
        for i in range(self.settings.workers):
            self._tasks.append(asyncio.create_task(self._loop(f"{self.prefix}-w{i}")))

    async def stop(self) -> None:
        """Stop claiming; cancel running jobs (their leases let them run again later)."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def wake(self) -> None:
        """New jobs are queued."""
        self.last_ingest = time.monotonic()
        self._wake.set()

    def _ingest_busy(self) -> bool:
        """Whether deliveries are arriving without a pause (a burst is being answered).

        Answering comes first: GitHub gives a webhook 10 s and never redelivers on its own,
        so during a burst the workers wait for a quiet gap, unless the oldest queued job has
        waited longer than max_defer_seconds.
        """
        now = time.monotonic()
        if now - self.last_ingest >= QUIET_GAP:
            return False
        if now - self._oldest_checked > 0.25:  # one cheap query per quarter second, not per worker
            self._oldest_checked = now
            self._oldest_age = self.store.oldest_queued_age()
        return self._oldest_age is None or self._oldest_age < self.settings.max_defer_seconds

    @property
    def alive(self) -> bool:
        """Whether the workers are running and none crashed."""
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    async def drain(self, delivery_id: str) -> int:
        """Run the queued jobs of one delivery here and now (hookwise deliveries replay)."""
        name = f"{self.prefix}-cli"
        count = 0
        while (
            job := self.store.claim_job(name, self.settings.lease_seconds, delivery_id=delivery_id)
        ) is not None:
            await self._run(job, name)
            count += 1
        return count

    async def _loop(self, name: str) -> None:
        while not self._stopping:
            self.heartbeat = time.monotonic()
            if self._ingest_busy():
                await asyncio.sleep(QUIET_GAP)
                continue
            job = self.store.claim_job(name, self.settings.lease_seconds)
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                continue
            try:
                await self._run(job, name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the worker; the job is failed
                log.exception(
                    "job failed unexpectedly", extra={"job": job.id, "delivery": job.delivery_id}
                )
                self.store.finish_job(job, name, state="failed", error=f"internal error: {exc!r}")
                self.metrics.jobs.labels("error").inc()

    async def _run(self, job: Job, worker: str) -> None:
        delivery = self.store.delivery(job.delivery_id)
        rule = self.rules.get(job.rule)
        if delivery is None or delivery.payload is None or rule is None:
            why = (
                "the rule is no longer loaded" if rule is None else "the delivery's payload is gone"
            )
            self.store.finish_job(job, worker, state="failed", error=why)
            self.metrics.jobs.labels("failed").inc()
            return
        event = parse_event(delivery.event, delivery.payload, delivery=delivery.delivery_id)
        deadline = time.time() + (rule.timeout or 600.0)
        api = None
        if self.github is not None and event.installation_id is not None:
            api = self.github.installation(event.installation_id, deadline=deadline)
        shared: dict[str, Any] = {}
        if job.kind == "files":
            decided = await self._decide_paths(job, worker, rule, event, api, shared)
            if decided is None:
                return
            event = decided
        keeper = asyncio.create_task(self._keep_lease(job, worker))
        started = time.monotonic()
        try:
            options = ExecutionOptions(
                github=api,
                dry_run=self.settings.dry_run,
                groups=self.groups,
                completed=self.store.completed_nodes(job.id),
                recovering=job.attempts > 1,
                shared=shared,
                on_node=lambda node: self._node_done(job, rule, event.delivery, node),
            )
            record = await run_rule(rule, event, self.registry, options)
        finally:
            keeper.cancel()
        self.metrics.run_seconds.observe(time.monotonic() - started)
        state = "done" if record.status in ("success", "cancelled") else "failed"
        if self.store.finish_job(job, worker, state=state, run=_run_json(record)):
            self.metrics.jobs.labels(record.status).inc()
        log.info(
            "run finished",
            extra={
                "delivery": job.delivery_id,
                "rule": rule.name,
                "status": record.status,
                "job": job.id,
            },
        )

    async def _decide_paths(
        self, job: Job, worker: str, rule: Rule, event: Any, api: Any, shared: dict[str, Any]
    ) -> Any:
        """Fetch the changed files and decide a rule that waited for them."""
        if api is None:
            self.store.finish_job(
                job, worker, state="skipped", error="changed files need App credentials"
            )
            self.metrics.jobs.labels("skipped").inc()
            return None
        event = event.with_files(await fetch_changed_files(api, event, shared))
        trigger = next((t for t in rule.triggers if t.event in (event.name, None)), None)
        reason = evaluate(trigger, event) if trigger is not None else "no trigger for this event"
        if reason is not None and reason is not FILES_NEEDED:
            self.store.finish_job(job, worker, state="done", error=f"not matched: {reason}")
            self.metrics.jobs.labels("not_matched").inc()
            return None
        return event

    def _node_done(self, job: Job, rule: Rule, delivery: str, node: NodeRecord) -> None:
        key = idempotency_key(delivery, rule.name, node.id)
        self.store.record_node(job.id, dataclasses.asdict(node), key)

    async def _keep_lease(self, job: Job, worker: str) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            if not self.store.extend_lease(job.id, worker, self.settings.lease_seconds):
                return


def _run_json(record: RunRecord) -> dict[str, Any]:
    return dataclasses.asdict(record)
