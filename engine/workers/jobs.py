"""Running one claimed job: read its delivery (once per delivery), dispatch on its kind, and
for a rule: decide it when it waited for facts (the one decision path,
engine.match.matcher.decide_delivery), take its concurrency group, execute its graph, keep
its lease, and finish it with its run record, or put it back to try again later.

GitHub's failures end as a run with a failed node and GitHub's message; those that may pass
(5xx, rate limits, the network) put the job back with backoff until its attempts run out.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from engine.github.api import GitHubError
from engine.github.facts import GitHubFacts
from engine.lang.model import Rule
from engine.match.events import Event, parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import decide_delivery
from engine.observe import logs
from engine.run.budget import REPOSITORY_LIMITS, OutputLimits
from engine.run.contexts import concurrency_key
from engine.run.executor import (
    ExecutionOptions,
    execute,
    failed_record,
    idempotency_key,
)
from engine.run.graph import CANCELLED, FAILURE
from engine.run.record import NodeRecord, RunRecord
from engine.store.coordination import WAIT
from engine.store.records import DONE, FAILED, NOT_MATCHED, UNDECIDED, Job, JobKind, StoreError
from engine.workers.context import WorkContext
from engine.workers.repository_jobs import RepositoryJobs, repository_id, scope_for

log = logs.get("hookwise.worker")
GROUP_RECHECK = 5.0  # a run waiting for its concurrency group looks again at least this often
EVENT_CACHE = 256  # parsed deliveries kept, so a delivery's jobs parse its payload once
Handler = Callable[[Job, Event], Awaitable[None]]


def writes_in_doubt(record: RunRecord) -> bool:
    """Whether a write was sent and no answer came (a timeout, a cut connection)."""
    return any(c.in_doubt for c in record.calls)


def failure_of(record: RunRecord) -> str | None:
    """Why a run failed: its own error, else the first failed node's."""
    if record.error:
        return record.error
    failed = next((n for n in record.nodes if n.status == FAILURE and n.error), None)
    return f"node {failed.id}: {failed.error}" if failed is not None else None


class JobRunner:
    """Runs the jobs a pool claims: one handler per job kind."""

    def __init__(self, context: WorkContext) -> None:
        self.context = context
        self._events: OrderedDict[str, Event] = OrderedDict()
        self.repository = RepositoryJobs(context)
        self.handlers: dict[JobKind, Handler] = {
            JobKind.RUN: self.run_rule,
            JobKind.FACTS: self.run_rule,
            JobKind.REPOSITORY: self.repository.match,
            JobKind.RULES_CHECK: self.repository.check,
        }

    async def prefetch(self, jobs: list[Job]) -> None:
        """Read the deliveries of freshly claimed jobs in one query (not one per job)."""
        missing = sorted({j.delivery_id for j in jobs if j.delivery_id not in self._events})
        if not missing:
            return
        store = self.context.store
        for delivery in await self.context.db(store.deliveries_by_id, missing):
            if delivery.payload is not None:
                self._remember(
                    parse_event(
            delivery.event, delivery.payload, delivery=delivery.delivery_id, at=delivery.received_at
        )
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
        delivery = await self.context.db(self.context.store.delivery, delivery_id)
        if delivery is None or delivery.payload is None:
            return None
        event = parse_event(
            delivery.event, delivery.payload, delivery=delivery.delivery_id, at=delivery.received_at
        )
        self._remember(event)
        return event

    async def run(self, job: Job) -> None:
        """Run one claimed job to its end (or put it back)."""
        event = await self._event(job.delivery_id)
        if event is None:
            await self.context.finish(job, FAILED, error="the delivery's payload is gone")
            return
        await self.handlers[job.kind](job, event)

    async def run_rule(self, job: Job, event: Event) -> None:
        """A `run` job, or a `facts` job (decided first): the rule's graph, executed."""
        context = self.context
        rule = context.rules.get(job.rule) or await self.repository.versions.rule(job.rule)
        if rule is None:
            await context.finish(job, FAILED, error="the rule is no longer loaded")
            return
        options = self._options(rule, job, event)
        if job.cancel_requested:
            why = "superseded by a newer run in its concurrency group before it started"
            record = failed_record(rule, event, options, why, status=CANCELLED)
            await self._finish(job, DONE, record)
            return
        if job.kind == JobKind.FACTS:
            decided = await self._decide(job, rule, event, options)
            if decided is None:
                return
            event = decided
        key = concurrency_key(rule, event)
        if key is not None:
            verdict = await context.db(
                context.store.acquire_group, key[0], job.id, cancel_in_progress=key[1]
            )
            if verdict == WAIT:
                await context.defer(job, GROUP_RECHECK)
                return
        cancel = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(job, cancel, fast=key is not None))
        buffered: list[tuple[dict[str, Any], str]] = []
        options.on_node = lambda node: self._node_done(job, rule, event, node, buffered)
        started = time.monotonic()
        try:
            if job.attempts > 1 or job.put_back:  # only an earlier turn can have completed nodes
                options.completed = await context.db(context.store.completed_nodes, job.id)
            record = await execute(rule, event, context.registry, options, cancel=cancel)
        finally:
            keeper.cancel()
            if key is not None:
                await context.db(context.store.release_group, key[0], job.id)
        context.metrics.run_seconds.observe(time.monotonic() - started)
        limited = [n.wait for n in record.nodes if n.status == FAILURE and n.wait is not None]
        if record.status == FAILURE and limited:
            # a rate limit is no failure: the job waits it out, holding no worker and spending
            # no attempt; nodes that wrote are not run again (their idempotency keys)
            settle = context.settings.write_settle_seconds if writes_in_doubt(record) else 0.0
            await context.defer(job, max(*limited, settle), error=f"rate limited: {failure_of(record)}")
            return
        if record.status == FAILURE and self._retry_later(record, job):
            reason = next((n.error for n in record.nodes if n.retryable), record.error)
            # a write whose answer never came may still be applied by GitHub: the next attempt
            # looks for it (by its marker) only once GitHub has had time to apply it
            settle = context.settings.write_settle_seconds if writes_in_doubt(record) else 0.0
            await context.retry(job, f"attempt {job.attempts}: {reason}", "github", at_least=settle)
            return
        await self._finish(job, FAILED if record.status == FAILURE else DONE, record, buffered)

    def _options(self, rule: Rule, job: Job, event: Event) -> ExecutionOptions:
        """A server rule acts as the installation; a repository rule (or an organisation
        default) only on the event's repository, with a token for that repository alone."""
        settings = self.context.settings
        scope = scope_for(rule, event)
        api = self.context.installation(
            event,
            deadline=time.time() + (rule.timeout or 600.0),
            repository_id=repository_id(event) if scope is not None else None,
        )
        limits = OutputLimits(settings.max_node_output_bytes, settings.max_run_record_bytes)
        if rule.scope is not None:
            limits = limits.tighter(REPOSITORY_LIMITS)
        return ExecutionOptions(
            github=api,
            dry_run=settings.dry_run,
            recovering=job.attempts > 1 or job.put_back,
            scope=scope,
            limits=limits,
        )

    def _retry_later(self, record: RunRecord, job: Job) -> bool:
        retryable = any(n.retryable and n.status == FAILURE for n in record.nodes)
        return retryable and job.attempts < self.context.settings.job_attempts

    async def _finish(
        self,
        job: Job,
        state: str,
        record: RunRecord,
        nodes: list[tuple[dict[str, Any], str]] | None = None,
    ) -> None:
        if await self.context.finish(
            job, state, run=record.to_store(), error=failure_of(record), nodes=nodes or [],
            outcome=record.status,
        ):
            log.info(
                "run finished",
                delivery=job.delivery_id, rule=job.rule, status=record.status, job=job.id,
            )

    async def _decide(
        self, job: Job, rule: Rule, event: Event, options: ExecutionOptions
    ) -> Event | None:
        """Read the facts the rule waits for and decide it (None: the job is finished)."""
        context = self.context
        facts = GitHubFacts(
            options.github,
            event.installation_id,
            files=context.files,
            memberships=context.memberships,
            shared=options.shared,
        )
        try:
            result = await decide_delivery(event, RuleIndex([rule]), facts)
        except GitHubError as exc:

            async def fail(message: str) -> None:
                await self._finish(job, FAILED, failed_record(rule, event, options, message))

            await context.github_failed(job, exc, facts.reading, fail=fail)
            return None
        if result.matched:
            return result.event
        if result.pending:
            why = result.unknown or "the facts could not be settled"
            await context.finish(job, UNDECIDED, error=f"undecided: {why}")
            return None
        (rejected,) = result.not_matched()
        await context.finish(job, NOT_MATCHED, error=f"not matched: {rejected.reason}")
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
        context = self.context
        entry = (node.to_store(), idempotency_key(event.delivery, rule.name, node.id))
        node_type = context.registry.get(node.uses)
        writes = node_type is not None and node_type.writes and not context.settings.dry_run
        if writes and node.status == "success":
            await context.db(context.store.record_nodes, job.id, [entry])
        else:
            buffered.append(entry)

    async def _keep_lease(self, job: Job, cancel: asyncio.Event, *, fast: bool) -> None:
        """Extend the lease while the job runs; with a concurrency group, also watch for a
        cancel-in-progress from a newer run (once a second)."""
        context = self.context
        lease = context.settings.lease_seconds
        interval = min(lease / 3, 1.0 if fast else 30.0)
        while True:
            await asyncio.sleep(interval)
            try:
                owned = await context.db(context.store.extend_leases, [job.id], context.worker, lease)
            except StoreError as exc:
                context.note_error(f"cannot extend a lease: {exc}")
                continue
            if job.id not in owned:
                return
            if owned[job.id]:
                cancel.set()
