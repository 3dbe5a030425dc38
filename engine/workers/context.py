"""What a job is given by the pool that runs it: one context object passed down (the store,
the settings, the rules, GitHub, the caches), and the three ways a job ends its turn: finish,
retry later (an attempt spent), or defer (no attempt spent: a rate limit, a busy lease).

How a GitHub failure ends a job is decided here, once, from the error's class
(engine.github.api): a rate limit defers the job until it resets; a missing permission ends
it as not matched, naming the permission, when the caller says which one it needs; a failure
that may pass retries with backoff while attempts remain; the rest fail it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.declarations.registry import Registry
from engine.github.api import Forbidden, GitHubAPI, GitHubError, RateLimited, retryable
from engine.github.client import GitHubClient
from engine.github.facts import DeliveryFiles
from engine.github.teams import MembershipCache
from engine.lang.model import Rule
from engine.match.events import Event
from engine.observe import logs
from engine.observe.metrics import Metrics
from engine.settings import Settings
from engine.store.interface import Store
from engine.store.records import FAILED, NOT_MATCHED, Finish, Job

log = logs.get("hookwise.worker")
Db = Callable[..., Awaitable[Any]]
SHORTEST_DEFER = 0.2  # seconds: a deferred job never comes back sooner


@dataclass
class WorkContext:
    """One pool's shared parts, as its jobs see them."""

    store: Store
    settings: Settings
    metrics: Metrics
    registry: Registry
    github: GitHubClient | None
    rules: Mapping[str, Rule]
    worker: str  # the pool's name: the owner of the leases it takes
    db: Db  # runs a store call in the pool's threads, off the event loop
    wake: Callable[[], None]  # new jobs are queued
    note_error: Callable[[str], None]  # a database error the pool survives (shown in /health)
    commit: Callable[[Finish], Awaitable[bool]]  # ends a job in the pool's next group commit
    ended: Callable[[Job], None]  # a job's work is over (its slot is free while it commits)
    memberships: MembershipCache = field(default_factory=MembershipCache)
    files: DeliveryFiles = field(default_factory=DeliveryFiles)
    finished: int = 0  # jobs this pool finished (its heartbeat reports them)

    def installation(
        self, event: Event, *, deadline: float | None = None, repository_id: int | None = None
    ) -> GitHubAPI | None:
        """The event's installation as a GitHubAPI (None without credentials)."""
        if self.github is None or event.installation_id is None:
            return None
        return self.github.installation(
            event.installation_id, deadline=deadline, repository_id=repository_id
        )

    async def finish(
        self,
        job: Job,
        state: str,
        *,
        run: dict[str, Any] | None = None,
        error: str | None = None,
        nodes: Sequence[tuple[dict[str, Any], str]] = (),
        spawn: Sequence[tuple[str, str]] = (),
        trace: dict[str, Any] | None = None,
        outcome: str | None = None,
    ) -> bool:
        """End the job (False: its lease ran out and another worker has it now)."""
        self.ended(job)
        done = await self.commit(Finish(job, state, error, run, nodes, spawn, trace))
        if done:
            self.finished += 1
            self.metrics.jobs.labels(outcome or state).inc()
            if spawn:
                self.wake()
        return done

    async def retry(self, job: Job, error: str, reason: str, *, at_least: float = 0.0) -> None:
        """Try again later with backoff; the attempt counts."""
        delay = max(min(2.0**job.attempts, 60.0), at_least)
        self.ended(job)
        await self.db(self.store.requeue_job, job, self.worker, delay=delay, error=error)
        self.metrics.job_retries.labels(reason).inc()

    async def defer(self, job: Job, delay: float, *, error: str | None = None) -> None:
        """Come back after `delay` seconds; no attempt is spent (nothing failed)."""
        self.ended(job)
        await self.db(
            self.store.requeue_job, job, self.worker, delay=max(delay, SHORTEST_DEFER),
            error=error, retry=False,
        )

    async def github_failed(
        self,
        job: Job,
        exc: GitHubError,
        what: str,
        *,
        needs: str | None = None,
        fail: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """End a job's turn after GitHub refused `what` (see the module docstring): `needs`
        names the permission a 403 means; `fail` ends the job with a run record instead of
        an error alone."""
        message = f"could not read {what}: GitHub {exc.status}: {exc.message}"
        if isinstance(exc, RateLimited):  # never a missing permission: wait until it resets
            await self.defer(job, exc.wait, error=f"rate limited: {exc.message}")
            return
        if isinstance(exc, Forbidden) and needs is not None:
            log.warning(
                "the App lacks a permission", delivery=job.delivery_id, needs=needs,
                error=exc.message,
            )
            await self.finish(
                job, NOT_MATCHED,
                error=f"not matched: GitHub 403: {exc.message}; the App needs {needs}",
            )
            return
        if retryable(exc) and job.attempts < self.settings.job_attempts:
            await self.retry(job, f"attempt {job.attempts}: {message}", "github")
        elif fail is not None:
            await fail(message)
        else:
            await self.finish(job, FAILED, error=message)
