"""Ingest: verify, parse, match, record, answer; and the server's health. The parts it uses
(rules, store, GitHub client, workers) come assembled from engine.runtime.

The webhook route does only what it must before answering: verify the signature, parse the
payload's facts (type- and range-checked), match with what the payload carries (no API
calls), and commit the delivery with its jobs (group commit, in the writer thread). Each
failure is the delivery's own: a 4xx with a reason, or a 503 when it could not be stored.
Workers run the jobs after the answer (engine.workers.pool).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from typing import Any

from engine.edge.groupcommit import GroupCommitter
from engine.edge.integrations import IntegrationService
from engine.edge.throttle import RateLimiter
from engine.edge.verify import MAX_BODY_BYTES, Accepted, check_webhook
from engine.errors import HookwiseError
from engine.github.api import GitHubError
from engine.match.events import Event, parse_event
from engine.match.filters import written_by_hookwise
from engine.match.matcher import MatchResult, match
from engine.match.payload import PayloadError, Reader
from engine.observe import logs
from engine.runtime import assemble
from engine.settings import Settings, SettingsError
from engine.store.interface import Store
from engine.store.records import (
    InstallationChange,
    NewDelivery,
    StoredDelivery,
    StoreError,
)

log = logs.get("hookwise.server")
TRACE_LIMIT = 200  # rejected rules recorded per delivery; the rest are counted
BUSY_WINDOW = 0.02  # seconds: two webhook requests this close mean answering is busy


def match_trace(result: MatchResult, rules: int) -> dict[str, Any]:
    """What the delivery log keeps of a match: matched, waiting for files, and why not."""
    rejected = result.rejected[:TRACE_LIMIT]
    jobs = len(result.matched) + len(result.pending)
    return {
        "matched": [m.rule.name for m in result.matched],
        "pending": [m.rule.name for m in result.pending],
        "not_matched": [{"rule": r.rule.name, "reason": r.reason} for r in rejected],
        "not_candidates": rules - jobs - len(rejected),
    }


def installation_change(event: Event) -> InstallationChange | None:
    """The change an installation event makes to the installations table (None for others)."""
    if event.name not in ("installation", "installation_repositories"):
        return None
    read = Reader(event.payload)
    installation_id = read.integer("installation.id", low=1)
    if installation_id is None:
        return None

    def names(path: str) -> tuple[str, ...]:
        found = []
        for index, item in enumerate(read.items(path)):
            name = Reader({"r": item}).text("r.full_name") if isinstance(item, dict) else None
            if name is None:
                raise PayloadError(f"{path}[{index}].full_name", "must be a string")
            found.append(name)
        return tuple(found)

    listed = names("repositories") if event.name == "installation" else ()
    return InstallationChange(
        installation_id=installation_id,
        action=event.action,
        account=read.text("installation.account.login"),
        account_type=read.text("installation.account.type"),
        repositories=listed if (listed or event.action == "created") else None,
        added=names("repositories_added"),
        removed=names("repositories_removed"),
    )


class Hookwise:
    """The running server's parts, shared by the routes."""

    def __init__(
        self, settings: Settings, store: Store | None = None, *, workers: int | None = None
    ) -> None:
        if not settings.webhook_secrets and not settings.insecure_no_signature:
            raise SettingsError(
                "GITHUB_WEBHOOK_SECRET is not set, so webhook signatures cannot be verified; set it, "
                "or set HOOKWISE_INSECURE_NO_SIGNATURE=1 for local development only"
            )
        self.runtime = runtime = assemble(
            settings,
            kind="server",
            concurrency=settings.workers if workers is None else workers,
            store=store,
        )
        self.settings = settings
        self.registry = runtime.registry
        self.ruleset = runtime.ruleset
        self.index = runtime.index
        self.store = runtime.store
        self.metrics = runtime.metrics
        self.github = runtime.github
        self.workers = runtime.workers
        self.limits = {
            "webhook": RateLimiter(settings.rate_webhooks),  # requests that fail verification
            "auth": RateLimiter(settings.rate_auth),
            "api": RateLimiter(settings.rate_api),
        }
        self.networks = [ipaddress.ip_network(c, strict=False) for c in settings.allowed_cidrs]
        self.integrations = IntegrationService(settings, self.store, self.github)
        self.committer = GroupCommitter(self.store, timeout=settings.commit_timeout)
        self.app_login = settings.app_login  # the App's bot: its own deliveries never match
        self.in_flight = 0  # webhook requests being answered (workers yield while it is high)
        self.clock: Callable[[], float] = time.monotonic
        self._starts = (-BUSY_WINDOW, -BUSY_WINDOW)  # when the last two webhook requests began
        self.metrics.on_scrape(self._scrape)

    async def learn_app_login(self) -> bool:
        """Ask GitHub for the App's slug when it is not configured, so that rules cannot loop
        on the App's own writes; whether the App's bot is known now."""
        if self.app_login or self.github is None:
            return True
        try:
            app = await self.github.app_request("GET", "/app")
        except GitHubError as exc:
            log.warning(
                "could not read the App's slug (set GITHUB_APP_SLUG); trying again",
                error=exc.message,
            )
            return False
        if not self.app_login:
            self.app_login = f"{app['slug']}[bot]"
            log.info("the App's own deliveries are ignored", app_login=self.app_login)
        return True

    async def keep_learning_app_login(self, sleep: Any = asyncio.sleep) -> None:
        """After a failed start-up attempt: again after 5 s, doubling up to 5 minutes, until the
        App's bot is known (meanwhile it is recognised by the markers on what it writes)."""
        delay = 5.0
        while True:
            await sleep(delay)
            if await self.learn_app_login():
                return
            delay = min(delay * 2, 300.0)

    def learn_from(self, event: Event) -> None:
        """A bot delivery about something hookwise wrote names the App's bot: remember it, so
        its other writes (labels, merges) are recognised too, before GET /app answers."""
        if not self.app_login and event.sender and written_by_hookwise(event):
            self.app_login = event.sender
            log.info("the App's bot was recognised by its marker", app_login=self.app_login)

    def _scrape(self) -> None:
        """Gauges read at scrape time (the /metrics route runs in a thread)."""
        try:
            stats = self.store.queue_stats()
            self.metrics.queue_depth.set(stats.queued + stats.running)
            self.metrics.queue_queued.set(stats.queued)
            self.metrics.queue_oldest.set(stats.oldest_queued_age or 0.0)
            self.metrics.installations.set(self.store.active_installations())
            self.metrics.database_up.set(1)
        except StoreError:
            self.metrics.database_up.set(0)
        self.metrics.workers_alive.set(1 if self.workers.alive else 0)
        if self.github is not None:
            for installation, remaining in self.github.rate_remaining.items():
                self.metrics.rate_limit.labels(installation).set(remaining)
            self.metrics.token_refreshes.set(self.github.token_refreshes)
            for outcome, count in self.github.economy.outcomes.items():
                self.metrics.github_answers.labels(outcome).set(count)

    async def close(self) -> None:
        """Stop the workers, finish the commits in flight, close connections."""
        await self.workers.stop()
        await self.committer.close()
        await self.runtime.close()

    # --- ingest -------------------------------------------------------------------------------

    async def ingest(
        self, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, Any]]:
        """Verify, parse, match and record one delivery: (status, JSON body)."""
        self.in_flight += 1
        self._starts = (self._starts[1], self.clock())
        try:
            return await self._ingest(headers, body)
        finally:
            self.in_flight -= 1

    def pressure(self) -> int:
        """How busy answering webhooks is: the requests in flight, or 1 while requests keep
        coming (two began within BUSY_WINDOW). A group commit answers many requests in one
        turn of the loop, so in-flight alone reads 0 between the turns of a burst; a lone
        delivery does not count, so the job it queued starts at once."""
        if self.in_flight:
            return self.in_flight
        return 1 if self.clock() - self._starts[0] < BUSY_WINDOW else 0

    async def _ingest(
        self, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, Any]]:
        started = time.perf_counter()
        if body is None:
            self.metrics.rejected.labels("too_large").inc()
            return 413, {"error": f"body is larger than {MAX_BODY_BYTES} bytes"}
        secrets = () if self.settings.insecure_no_signature else self.settings.webhook_secrets
        checked = check_webhook(headers, body, secrets)
        if not isinstance(checked, Accepted):
            self.metrics.rejected.labels(checked.reason).inc()
            return checked.status, {"error": checked.error}
        try:
            event = parse_event(
                checked.event, checked.payload, delivery=checked.delivery, at=time.time()
            )
            change = installation_change(event)
        except PayloadError as exc:
            self.metrics.rejected.labels("payload").inc()
            return 400, {"error": str(exc)}
        self.learn_from(event)
        result = match(event, self.index, app_login=self.app_login)
        jobs = self.jobs_for(event, result)
        trace = match_trace(result, len(self.index.rules))
        stored = StoredDelivery(
            delivery_id=checked.delivery,
            event=checked.event,
            action=event.action,
            installation_id=event.installation_id,
            repository=event.repository,
            payload=None,
            headers=checked.headers,
            received_at=time.time(),
            status="queued" if jobs else "no_match",
            match_trace=trace,
            raw_payload=checked.raw,
        )
        try:
            recorded = await self.committer.record(NewDelivery(stored, jobs, change))
        except HookwiseError as exc:  # locked, read-only, full disk: nothing was stored
            self.metrics.rejected.labels("storage").inc()
            log.error("delivery not stored", delivery=checked.delivery, error=str(exc))
            return 503, {"error": "the delivery could not be stored; it was not accepted"}
        if not recorded:
            self.metrics.duplicates.inc()
            return 200, {
                "delivery": checked.delivery,
                "event": checked.event,
                "matched": [],
                "duplicate": True,
            }
        if jobs:
            self.workers.wake()
        self.metrics.count_received(checked.event)
        self.metrics.ingest.observe(time.perf_counter() - started)
        answer = {
            "delivery": checked.delivery,
            "event": checked.event,
            "matched": trace["matched"],
            "pending": trace["pending"],
            "duplicate": False,
        }
        return (200 if checked.event == "ping" else 202), answer

    def jobs_for(self, event: Event, result: MatchResult) -> tuple[tuple[str, str], ...]:
        """The jobs a match queues (engine.runtime.Runtime.jobs_for)."""
        return self.runtime.jobs_for(event, result, self.app_login)

    async def replay(self, delivery: StoredDelivery) -> int | None:
        """Queue a stored delivery's jobs anew, matched against the rules loaded now."""
        return await self.runtime.queue_replay(delivery, self.app_login)

    # --- health ---------------------------------------------------------------------------------

    async def health(self, *, workers_expected: bool) -> tuple[int, dict[str, Any]]:
        """Liveness that checks what it claims: a real write, the queue, the workers."""
        writable = await self.committer.probe()
        try:
            stats = await asyncio.wait_for(asyncio.to_thread(self.store.queue_stats), 3.0)
        except (TimeoutError, StoreError):
            stats = None
        workers = self.workers.alive or not workers_expected
        alarms = []
        oldest = stats.oldest_queued_age if stats else None
        if oldest is not None and oldest > self.settings.queue_age_alarm:
            alarms.append(
                f"the oldest queued job has waited {oldest:.0f}s "
                f"(over {self.settings.queue_age_alarm:g}s): workers are not keeping up"
            )
        if self.workers.last_error:
            alarms.append(f"workers: {self.workers.last_error}")
        healthy = writable and workers
        body = {
            "status": "ok" if healthy else "unhealthy",
            "checks": {"database_writable": writable, "workers_alive": workers},
            "queue_depth": (stats.queued + stats.running) if stats else None,
            "queue_oldest_age_seconds": oldest,
            "alarms": alarms,
            "rules": len(self.ruleset.rules),
            "dry_run": self.settings.dry_run,
        }
        return (200 if healthy else 503), body
