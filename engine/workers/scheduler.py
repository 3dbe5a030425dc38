"""Rules on a clock: every process that runs the service (each `serve` replica and each
`worker`) keeps a scheduler; each tick of each schedule is claimed once in the database
(engine.store.schedules), so it runs once for each target whatever number of processes run.

A tick's run is a delivery of the event `schedule` (its payload names the schedule, the tick
and the target), queued as a `run` job: the delivery log shows it beside webhook deliveries
and the workers run it as any other. Targets are the repositories of the App's installations
(kept by installation events, and read from GitHub's installation-repositories API at start
and every hour) that the rule's `repository` filter selects, or the installations themselves
for `per: installation`. Repository rules run on their own repository's installation only
where the server has seen it (docs/rules.md "Rules on a clock").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from engine.github.api import GitHubError
from engine.github.client import InstallationAPI
from engine.lang.cron import Cron, parse_cron, plan_ticks
from engine.lang.model import Rule, Schedule
from engine.match.events import parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import SCHEDULE_EVENT, match
from engine.observe import logs
from engine.observe.metrics import Metrics
from engine.store.interface import Store
from engine.store.records import NewDelivery, StoredDelivery

T = TypeVar("T")
log = logs.get("hookwise.scheduler")

LATE_AFTER = 2.0  # seconds: a tick decided later than this counts as late
LOOK_AGAIN = 30.0  # seconds: the longest sleep (new installations and repositories are seen)
REFRESH_REPOSITORIES = 3600.0  # seconds between reads of the installation-repositories API


class Scheduler:
    """Decides the ticks of the scheduled rules as they come due, and after downtime."""

    def __init__(
        self,
        store: Store,
        rules: Iterable[Rule],
        metrics: Metrics,
        *,
        installation_api: Callable[[int], InstallationAPI | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rules = [r for r in rules if r.schedules and not r.disabled]
        self.metrics = metrics
        self.installation_api = installation_api
        self.clock = clock
        self.started = clock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._crons = {
            (rule.name, index): parse_cron(s.cron, s.timezone)
            for rule in self.rules
            for index, s in enumerate(rule.schedules)
        }
        self._refreshed = 0.0

    def start(self) -> None:
        """Begin deciding ticks (nothing to do without scheduled rules)."""
        if self.rules and self._task is None:
            self._task = asyncio.create_task(self._forever(), name="hookwise-scheduler")

    async def stop(self) -> None:
        """Stop; a tick being decided is finished or left to another process."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _forever(self) -> None:
        while not self._stop.is_set():
            try:
                if self.clock() - self._refreshed >= REFRESH_REPOSITORIES:
                    self._refreshed = self.clock()
                    await self.refresh_repositories()
                await self.decide(self.clock())
            except Exception as exc:  # the loop must outlive one bad pass (a lost database)
                log.error("schedule pass failed", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._until_next())

    def _until_next(self) -> float:
        """Seconds until the next tick of any schedule (at most LOOK_AGAIN)."""
        now = self.clock()
        moment = datetime.fromtimestamp(now, UTC)
        due = min(next(cron.after(moment)).timestamp() for cron in self._crons.values())
        return max(0.0, min(due - now, LOOK_AGAIN))

    async def decide(self, now: float) -> int:
        """Decide every tick due by `now` for every scheduled rule and target; the ticks this
        process claimed."""
        claimed = 0
        installations = await _db(self.store.installations)
        for rule in self.rules:
            last_ticks = await _db(self.store.last_ticks, rule.name)
            for index, schedule in enumerate(rule.schedules):
                cron = self._crons[(rule.name, index)]
                for target, installation in targets(rule, schedule, installations):
                    # a target decided before continues from its newest tick (so downtime is
                    # caught up once); a new one begins when this process did
                    last = last_ticks.get(target, self.started)
                    claimed += await self._decide_one(
                        rule, schedule, cron, target, installation, last, now
                    )
        return claimed

    async def _decide_one(
        self,
        rule: Rule,
        schedule: Schedule,
        cron: Cron,
        target: str,
        installation: dict[str, Any],
        last: float,
        now: float,
    ) -> int:
        plan = plan_ticks(
            cron, datetime.fromtimestamp(last, UTC), datetime.fromtimestamp(now, UTC)
        )
        if plan.run is None:
            return 0
        tick = plan.run.timestamp()
        delivery = scheduled_delivery(rule, schedule, target, installation, tick, now)
        event = parse_event(SCHEDULE_EVENT, delivery.payload or {}, delivery=delivery.delivery_id)
        decided = match(event, RuleIndex([rule]))  # the one decision path, as for webhooks
        why_not = None if decided.matched else decided.rejected[0].reason
        trace = {
            "matched": [] if why_not else [rule.name],
            "pending": [],
            "not_matched": [{"rule": rule.name, "reason": why_not}] if why_not else [],
            "not_candidates": 0,
            "schedule": {"cron": cron.expression, "timezone": cron.timezone, "target": target},
        }
        delivery = StoredDelivery(
            **{**delivery.__dict__, "match_trace": trace, "status": "no_match" if why_not else "queued"}
        )
        run = NewDelivery(delivery, () if why_not else ((rule.name, "run"),))
        missed = [t.timestamp() for t in plan.missed]
        won = await _db(self.store.claim_tick, rule.name, target, tick, run, missed, now)
        if not won:
            return 0
        self.metrics.schedule_ticks.labels("skipped" if why_not else "run").inc()
        if missed or plan.missed_beyond:
            self.metrics.schedule_ticks.labels("missed").inc(len(missed) + plan.missed_beyond)
            log.warning(
                "schedule ticks missed while nothing ran",
                rule=rule.name,
                target=target,
                missed=len(missed) + plan.missed_beyond,
                first=datetime.fromtimestamp(missed[0], UTC).isoformat() if missed else None,
            )
        late = now - tick
        if late > LATE_AFTER:
            self.metrics.schedule_late.inc()
        log.info(
            "schedule tick",
            rule=rule.name,
            target=target,
            tick=plan.run.isoformat(),
            delivery=delivery.delivery_id,
            late=round(late, 3),
            outcome="skipped" if why_not else "run",
        )
        return 1

    async def refresh_repositories(self) -> None:
        """Each active installation's repositories, read from GitHub (all pages), kept in the
        installations table; installation events keep them fresh in between."""
        if self.installation_api is None:
            return
        for row in await _db(self.store.installations):
            if row.get("deleted_at") is not None or row.get("suspended_at") is not None:
                continue
            api = self.installation_api(int(row["id"]))
            if api is None:
                continue
            try:
                pages = await api.paginate(
                    "/installation/repositories", params={"per_page": 100}, field="repositories"
                )
            except GitHubError as exc:
                log.warning(
                    "installation repositories not read", installation=row["id"], error=str(exc)
                )
                continue
            names = sorted(str(r["full_name"]) for r in pages if isinstance(r, dict))
            keep = functools.partial(
                self.store.upsert_installation,
                int(row["id"]),
                account=row.get("account"),
                account_type=row.get("account_type"),
                repositories=names,
            )
            await _db(keep)


def targets(
    rule: Rule, schedule: Schedule, installations: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """(target, installation) pairs a schedule runs for: each repository the rule selects, or
    each installation (`per: installation`); suspended and removed installations are left out."""
    found: list[tuple[str, dict[str, Any]]] = []
    for row in installations:
        if row.get("deleted_at") is not None or row.get("suspended_at") is not None:
            continue
        if schedule.per == "installation":
            found.append((f"installation/{row['id']}", row))
            continue
        for name in row.get("repositories") or []:
            if rule.scope is not None and rule.scope.repository not in (None, name):
                continue
            if schedule.repository is None or schedule.repository.selects(name):
                found.append((name, row))
    return found


def scheduled_delivery(
    rule: Rule, schedule: Schedule, target: str, installation: dict[str, Any], tick: float, now: float
) -> StoredDelivery:
    """The delivery of one tick: a stable id per (rule, target, tick), and a payload shaped like
    a webhook's (repository, installation) with the schedule and its tick."""
    moment = datetime.fromtimestamp(tick, UTC)
    digest = hashlib.sha256(f"{rule.name}\0{target}\0{tick}".encode()).hexdigest()[:16]
    delivery_id = f"schedule-{moment.strftime('%Y%m%dT%H%M%SZ')}-{digest}"
    payload: dict[str, Any] = {
        "schedule": {
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "per": schedule.per,
            "tick": moment.isoformat().replace("+00:00", "Z"),
            "rule": rule.name,
        },
        "installation": {"id": int(installation["id"])},
    }
    repository = None
    if schedule.per != "installation":
        owner, _, name = target.partition("/")
        repository = target
        payload["repository"] = {"full_name": target, "name": name, "owner": {"login": owner}}
    elif installation.get("account"):
        payload["organization"] = {"login": installation["account"]}
    return StoredDelivery(
        delivery_id=delivery_id,
        event=SCHEDULE_EVENT,
        action=None,
        installation_id=int(installation["id"]),
        repository=repository,
        payload=payload,
        headers={},
        received_at=now,
        status="queued",
        match_trace={},
    )


async def _db(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(call, *args)
