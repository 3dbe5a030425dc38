"""Running one claimed job: read its delivery (once per delivery), decide a rule that
waited for facts (the changed files, team memberships), take its concurrency group, execute
its graph, keep its lease, and finish it with its run record, or put it back to try again later.

GitHub's failures end as a run with a failed node and GitHub's message; those that may pass
(5xx, rate limits, the network) put the job back with backoff until its attempts run out.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from engine.github.api import GitHubError
from engine.github.changed_files import FilesUnknown, fetch_changed_files
from engine.github.teams import read_memberships
from engine.lang.model import Rule
from engine.match.events import Event, parse_event
from engine.match.filters import Needed
from engine.match.matcher import decide
from engine.observe import logs
from engine.run.budget import REPOSITORY_LIMITS, OutputLimits
from engine.run.executor import (
    ExecutionOptions,
    concurrency_key,
    execute,
    failed_record,
    idempotency_key,
)
from engine.run.graph import CANCELLED, FAILURE
from engine.run.record import NodeRecord, RunRecord
from engine.run.recorded_github import node_error
from engine.store.coordination import WAIT
from engine.store.records import DONE, FAILED, NOT_MATCHED, UNDECIDED, Job, StoreError
from engine.workers.repository_jobs import (
    REPOSITORY_KINDS,
    RepositoryJobs,
    repository_id,
    scope_for,
)

if TYPE_CHECKING:
    from engine.workers.pool import WorkerPool

log = logs.get("hookwise.worker")


def writes_in_doubt(record: RunRecord) -> bool:
    """Whether a write was sent and no answer came (a timeout, a cut connection)."""
    return any(c.in_doubt for c in record.calls)


def failure_of(record: RunRecord) -> str | None:
    """Why a run failed: its own error, else the first failed node's."""
    if record.error:
        return record.error
    failed = next((n for n in record.nodes if n.status == FAILURE and n.error), None)
    return f"node {failed.id}: {failed.error}" if failed is not None else None
GROUP_RECHECK = 5.0  # a run waiting for its concurrency group looks again at least this often
EVENT_CACHE = 256  # parsed deliveries kept, so a delivery's jobs parse its payload once


class JobRunner:
    """Runs the jobs a pool claims (one runner per pool)."""

    def __init__(self, pool: WorkerPool, db: Callable[..., Awaitable[Any]]) -> None:
        self.pool = pool
        self.store = pool.store
        self.settings = pool.settings
        self.metrics = pool.metrics
        self._db = db
        self._events: OrderedDict[str, Event] = OrderedDict()
        self._files: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._files_locks: dict[str, asyncio.Lock] = {}
        self.repository = RepositoryJobs(self)

    async def prefetch(self, jobs: list[Job]) -> None:
        """Read the deliveries of freshly claimed jobs in one query (not one per job)."""
        missing = sorted({j.delivery_id for j in jobs if j.delivery_id not in self._events})
        if not missing:
            return
        for delivery in await self._db(self.store.deliveries_by_id, missing):
            if delivery.payload is not None:
                self._remember(
                    parse_event(delivery.event, delivery.payload, delivery=delivery.delivery_id)
                )

    def _remember(self, event: Event) -> None:
        self._events[event.delivery] = event
        if len(self._events) > EVENT_CACHE:
            self._events.popitem(last=False)

    async def _event(self, delivery_id: str) -> Event | None:
        event = self._events.get(delivery_id)
        if event is not None:
            self._events.move_to_end(delivery_id)
            return event
        delivery = await self._db(self.store.delivery, delivery_id)
        if delivery is None or delivery.payload is None:
            return None
        event = parse_event(delivery.event, delivery.payload, delivery=delivery.delivery_id)
        self._remember(event)
        return event

    async def run(self, job: Job) -> None:
        """Run one claimed job to its end (or put it back)."""
        event = await self._event(job.delivery_id)
        if event is not None and job.kind in REPOSITORY_KINDS:
            await self.repository.run(job, event)
            return
        rule = self.pool.rules.get(job.rule) or await self.repository.versions.rule(job.rule)
        if event is None or rule is None:
            why = "the rule is no longer loaded" if rule is None else "the delivery's payload is gone"
            await self._finish(job, FAILED, error=why)
            return
        options = self._options(rule, job, event)
        if job.cancel_requested:
            why = "superseded by a newer run in its concurrency group before it started"
            await self._finish(job, DONE, failed_record(rule, event, options, why, status=CANCELLED))
            return
        if job.kind != "run":  # "facts" (or "files", as earlier releases queued it)
            decided = await self._decide(job, rule, event, options)
            if decided is None:
                return
            event = decided
        key = concurrency_key(rule, event)
        if key is not None:
            verdict = await self._db(
                self.store.acquire_group, key[0], job.id, cancel_in_progress=key[1]
            )
            if verdict == WAIT:
                await self._db(
                    self.store.requeue_job, job, self.pool.name, delay=GROUP_RECHECK, retry=False
                )
                return
        cancel = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(job, cancel, fast=key is not None))
        buffered: list[tuple[dict[str, Any], str]] = []
        options.on_node = lambda node: self._node_done(job, rule, event, node, buffered)
        started = time.monotonic()
        try:
            if job.attempts > 1:  # only an earlier attempt can have completed nodes
                options.completed = await self._db(self.store.completed_nodes, job.id)
            record = await execute(rule, event, self.pool.registry, options, cancel=cancel)
        finally:
            keeper.cancel()
            if key is not None:
                await self._db(self.store.release_group, key[0], job.id)
        self.metrics.run_seconds.observe(time.monotonic() - started)
        if record.status == FAILURE and self._retry_later(record, job):
            reason = next((n.error for n in record.nodes if n.retryable), record.error)
            # a write whose answer never came may still be applied by GitHub: the next attempt
            # looks for it (by its marker) only once GitHub has had time to apply it
            settle = self.settings.write_settle_seconds if writes_in_doubt(record) else 0.0
            await self._requeue(job, f"attempt {job.attempts}: {reason}", "github", at_least=settle)
            return
        state = FAILED if record.status == FAILURE else DONE
        await self._finish(job, state, record, nodes=buffered)

    def _options(self, rule: Rule, job: Job, event: Event) -> ExecutionOptions:
        """A server rule acts as the installation; a repository rule (or an organisation
        default) only on the event's repository, with a token for that repository alone."""
        scope = scope_for(rule, event)
        api = None
        if self.pool.github is not None and event.installation_id is not None:
            deadline = time.time() + (rule.timeout or 600.0)
            api = self.pool.github.installation(
                event.installation_id,
                deadline=deadline,
                repository_id=repository_id(event) if scope is not None else None,
            )
        limits = OutputLimits(
            self.settings.max_node_output_bytes, self.settings.max_run_record_bytes
        )
        if rule.scope is not None:
            limits = limits.tighter(REPOSITORY_LIMITS)
        return ExecutionOptions(
            github=api,
            dry_run=self.settings.dry_run,
            recovering=job.attempts > 1,
            scope=scope,
            limits=limits,
        )

    def _retry_later(self, record: RunRecord, job: Job) -> bool:
        retryable = any(n.retryable and n.status == FAILURE for n in record.nodes)
        return retryable and job.attempts < self.settings.job_attempts

    async def _requeue(self, job: Job, error: str, reason: str, *, at_least: float = 0.0) -> None:
        delay = max(min(2.0 ** job.attempts, 60.0), at_least)
        await self._db(self.store.requeue_job, job, self.pool.name, delay=delay, error=error)
        self.metrics.job_retries.labels(reason).inc()

    async def _finish(
        self,
        job: Job,
        state: str,
        record: RunRecord | None = None,
        *,
        error: str | None = None,
        nodes: list[tuple[dict[str, Any], str]] | None = None,
    ) -> None:
        run = record.to_store() if record is not None else None
        error = error or (failure_of(record) if record is not None else None)
        if await self._db(
            self.store.finish_job, job, self.pool.name, state=state, error=error, run=run,
            nodes=nodes or [],
        ):
            self.pool.jobs_done += 1
            outcome = record.status if record is not None else state
            self.metrics.jobs.labels(outcome).inc()
            log.info(
                "run finished" if record is not None else "job finished",
                delivery=job.delivery_id, rule=job.rule, status=outcome, job=job.id,
            )

    async def _changed_files(
        self, api: Any, event: Event, options: ExecutionOptions
    ) -> tuple[str, ...]:
        """The delivery's changed files, fetched once per delivery however many of its rules
        wait for them (the jobs of a delivery are claimed together, so they meet here)."""
        lock = self._files_locks.setdefault(event.delivery, asyncio.Lock())
        async with lock:
            known = self._files.get(event.delivery)
            if known is None:
                known = await fetch_changed_files(api, event, options.shared)
                self._files[event.delivery] = known
                if len(self._files) > EVENT_CACHE:
                    dropped, _ = self._files.popitem(last=False)
                    self._files_locks.pop(dropped, None)
            return known

    async def _decide(
        self, job: Job, rule: Rule, event: Event, options: ExecutionOptions
    ) -> Event | None:
        """Read the facts the rule waits for and decide it (None: the job is finished)."""
        trigger = next((t for t in rule.triggers if t.event in (event.name, None)), None)
        if trigger is None:
            await self._finish(job, NOT_MATCHED, error="not matched: no trigger for this event")
            return None
        for _ in range(3):  # files, then memberships: at most two reads
            reason = decide(rule, trigger, event)
            if reason is None:
                return event
            if not isinstance(reason, Needed):
                await self._finish(job, NOT_MATCHED, error=f"not matched: {reason}")
                return None
            api, installation = options.github, event.installation_id
            if api is None or installation is None:
                what = "the changed files" if reason.files else "team membership"
                await self._finish(
                    job, UNDECIDED, error=f"undecided: {what} can only be read with App credentials"
                )
                return None
            try:
                if reason.files:
                    event = event.with_files(await self._changed_files(api, event, options))
                else:
                    facts = await read_memberships(
                        api, installation, reason.memberships, self.pool.memberships
                    )
                    event = event.with_memberships(facts)
            except FilesUnknown as exc:
                await self._finish(job, UNDECIDED, error=f"undecided: {exc}")
                return None
            except GitHubError as exc:
                failure = node_error(exc)
                what = "the changed files" if reason.files else "team membership"
                message = f"could not read {what}: {failure.message}"
                if failure.retryable and job.attempts < self.settings.job_attempts:
                    kind = "changed_files" if reason.files else "memberships"
                    await self._requeue(job, f"attempt {job.attempts}: {message}", kind)
                else:
                    await self._finish(job, FAILED, failed_record(rule, event, options, message))
                return None
        await self._finish(job, UNDECIDED, error="undecided: the facts could not be settled")
        return None

    async def _node_done(
        self,
        job: Job,
        rule: Rule,
        event: Event,
        node: NodeRecord,
        buffered: list[tuple[dict[str, Any], str]],
    ) -> None:
        """Nodes that wrote to GitHub are recorded at once (a crash must not repeat their
        writes); the others go with the run, in the transaction that finishes the job."""
        entry = (node.to_store(), idempotency_key(event.delivery, rule.name, node.id))
        node_type = self.pool.registry.get(node.uses)
        writes = node_type is not None and node_type.writes and not self.settings.dry_run
        if writes and node.status == "success":
            await self._db(self.store.record_nodes, job.id, [entry])
        else:
            buffered.append(entry)

    async def _keep_lease(self, job: Job, cancel: asyncio.Event, *, fast: bool) -> None:
        """Extend the lease while the job runs; with a concurrency group, also watch for a
        cancel-in-progress from a newer run (once a second)."""
        interval = min(self.settings.lease_seconds / 3, 1.0 if fast else 30.0)
        while True:
            await asyncio.sleep(interval)
            try:
                owned = await self._db(
                    self.store.extend_leases, [job.id], self.pool.name, self.settings.lease_seconds
                )
            except StoreError as exc:
                self.pool.note_error(f"cannot extend a lease: {exc}")
                continue
            if job.id not in owned:
                return
            if owned[job.id]:
                cancel.set()
