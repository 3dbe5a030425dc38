"""The running service's parts, assembled in one place for `serve`, `worker` and
`deliveries replay` alike: the node registry and the rules, the store, the GitHub client with
the rate budget every process on the store shares, the metrics and the worker pool.

A process that assembles its runtime here waits out a rate limit any other process on the
same database met (engine.workers.rate_budget), so a replay from the command line does not
call GitHub while the servers are backing off.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from engine.declarations.registry import Registry
from engine.errors import HookwiseError
from engine.github.client import GitHubClient
from engine.lang.command_help import help_rule
from engine.lang.files import RuleSet, load_rules
from engine.match.events import Event, parse_event
from engine.match.filters import is_own_app
from engine.match.index import RuleIndex
from engine.match.matcher import MatchResult
from engine.match.matcher import match as decide_now
from engine.nodes import default_registry
from engine.observe.metrics import Metrics
from engine.settings import Settings, SettingsError
from engine.store.interface import Store
from engine.store.migrate import Migrator
from engine.store.open import open_store
from engine.store.records import StoredDelivery, StoreMissing
from engine.workers.pool import WorkerPool
from engine.workers.rate_budget import StoreRateBudget
from engine.workers.repository_jobs import repository_jobs
from engine.workers.scheduler import Scheduler


def open_server_store(settings: Settings) -> Store:
    """The store of the settings: SQLite upgrades itself; PostgreSQL must be upgraded with
    `hookwise db upgrade` first (several replicas must not race a schema change at start)."""
    embedded = settings.database_url.startswith("sqlite:")
    try:
        store = open_store(settings.database_url, create=embedded, upgrade=embedded)
    except StoreMissing as exc:
        raise SettingsError(f"{exc}; `hookwise db upgrade` creates it and its schema") from None
    if not embedded:
        pending = Migrator(store).pending()
        if pending:
            store.close()
            raise SettingsError(
                f"the database schema lacks {len(pending)} migration(s) "
                f"(first: {pending[0].version:04d} {pending[0].name}); run `hookwise db upgrade`"
            )
    return store


def github_client(settings: Settings, store: Store) -> GitHubClient | None:
    """The App's client (None without credentials), sharing rate limits through the store."""
    credentials = settings.app_credentials()
    if credentials is None:
        return None
    budget = StoreRateBudget(store, cache_entries=settings.github_cache_entries)
    return GitHubClient(
        credentials,
        base_url=settings.github_api_base_url,
        budget=budget,
        answers=budget if settings.github_cache_entries > 0 else None,
        lanes=budget,
        write_gap=settings.github_write_gap,
        secondary_wait=settings.github_secondary_wait,
        max_hold=settings.github_max_hold,
    )


@dataclass
class Runtime:
    """What a process that runs jobs holds for its life."""

    settings: Settings
    registry: Registry
    ruleset: RuleSet
    index: RuleIndex
    store: Store
    github: GitHubClient | None
    metrics: Metrics
    workers: WorkerPool
    scheduler: Scheduler
    owns_store: bool = True

    def jobs_for(
        self, event: Event, result: MatchResult, app_login: str | None
    ) -> tuple[tuple[str, str], ...]:
        """The jobs a match queues: runs, rules waiting for facts, and the repository's rules."""
        reads_repository = self.settings.reads_repository_rules
        return tuple(
            [(m.rule.name, "run") for m in result.matched]
            + [(m.rule.name, "facts") for m in result.pending]
            + (repository_jobs(event) if reads_repository and not is_own_app(event, app_login) else [])
        )

    async def queue_replay(self, delivery: StoredDelivery, app_login: str | None) -> int | None:
        """Match a stored delivery against the rules loaded now and queue its jobs as a new
        generation (None: nothing matches now); the workers run them."""
        if delivery.payload is None:
            raise HookwiseError(
                f"the payload of {delivery.delivery_id} was pruned; it cannot be replayed"
            )
        event = parse_event(
            delivery.event, delivery.payload, delivery=delivery.delivery_id, at=delivery.received_at
        )
        jobs = self.jobs_for(event, decide_now(event, self.index, app_login=app_login), app_login)
        if not jobs:
            return None
        generation = await asyncio.to_thread(self.store.add_jobs, delivery.delivery_id, jobs)
        self.workers.wake()
        return generation

    async def close(self) -> None:
        """Stop the scheduler and the workers, close GitHub's connections and the store (when
        opened here)."""
        await self.scheduler.stop()
        await self.workers.stop()
        if self.github is not None:
            await self.github.aclose()
        if self.owns_store:
            self.store.close()


def assemble(
    settings: Settings, *, kind: str, concurrency: int, store: Store | None = None
) -> Runtime:
    """Load the rules and open what the runtime needs (`store`: one already open, as the
    delivery log the CLI opened, or a test's)."""
    registry = default_registry()
    ruleset = load_rules([settings.rules_path], registry, cache_dir=settings.rules_cache)
    answer = help_rule(ruleset.rules, registry) if settings.command_help else None
    if answer is not None:
        ruleset = RuleSet((*ruleset.rules, answer), ruleset.files)
    owns_store = store is None
    store = store or open_server_store(settings)
    github = github_client(settings, store)
    metrics = Metrics()
    workers = WorkerPool(
        store,
        {r.name: r for r in ruleset.rules},
        registry,
        settings,
        metrics,
        github,
        concurrency=concurrency,
        kind=kind,
    )
    scheduler = Scheduler(
        store,
        ruleset.rules,
        metrics,
        installation_api=(lambda i: github.installation(i)) if github is not None else None,
    )
    return Runtime(
        settings,
        registry,
        ruleset,
        RuleIndex(ruleset.rules),
        store,
        github,
        metrics,
        workers,
        scheduler,
        owns_store=owns_store,
    )
