"""Recovering missed deliveries: ask GitHub to send again each failed delivery that the store
does not hold (`hookwise recover`, and the server every HOOKWISE_RECOVER_INTERVAL).

A delivery counts as missed when no attempt of it succeeded and its id is not in the store:
a delivery the store holds was accepted, and its jobs are ours to finish, not GitHub's to
resend. Each is asked for at most once per window (claimed in the database, so two replicas
never both ask), and requests are paced under GitHub's limits for content-creating calls.

The store's own upkeep runs beside it: payloads past the retention are pruned every hour.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.github.api import GitHubError
from engine.github.client import GitHubClient
from engine.github.hook_deliveries import HookDelivery, deliveries_since, failed_events, redeliver
from engine.observe import logs
from engine.store.interface import Store
from engine.store.records import StoreError

log = logs.get("hookwise.recover")
T = TypeVar("T")
BURST = 20  # redelivery requests sent at once before pacing starts
PACE_SECONDS = 1.0  # then one a second: under GitHub's 80 content-creating requests a minute


@dataclass
class RecoverReport:
    """What one pass found and did."""

    window_start: float
    attempts: int = 0  # delivery attempts listed in the window
    failed: int = 0  # events no attempt delivered
    stored: list[str] = field(default_factory=list)  # failed at GitHub, yet held: skipped
    refused: list[str] = field(default_factory=list)  # hookwise answered 4xx: would fail again
    already_asked: list[str] = field(default_factory=list)  # asked within the window
    redeliver: list[HookDelivery] = field(default_factory=list)  # asked now (or, dry-run, would be)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The `recover --format json` shape."""
        return {
            "window_start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.window_start)),
            "attempts": self.attempts,
            "failed": self.failed,
            "stored": self.stored,
            "refused": self.refused,
            "already_asked": self.already_asked,
            "redeliver": [
                {"delivery": d.guid, "hook_delivery_id": d.id, "event": d.event, "action": d.action}
                for d in self.redeliver
            ],
            "errors": self.errors,
        }


async def _db(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(call, *args)


async def recover(
    client: GitHubClient,
    store: Store,
    window: float,
    *,
    dry_run: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_request: Callable[[], None] | None = None,
) -> RecoverReport:
    """One pass over the last `window` seconds."""
    since = time.time() - window
    report = RecoverReport(since)
    attempts = await deliveries_since(client, since)
    report.attempts = len(attempts)
    failed = failed_events(attempts)
    report.failed = len(failed)
    guids = [a.guid for a in failed]
    held = await _db(store.stored_delivery_ids, guids)
    asked = await _db(store.redeliveries_since, guids, since)
    sent = 0
    for attempt in failed:
        if attempt.guid in held:
            report.stored.append(attempt.guid)
            continue
        if not attempt.worth_redelivering:
            report.refused.append(attempt.guid)
            continue
        if attempt.guid in asked:
            report.already_asked.append(attempt.guid)
            continue
        if dry_run:
            report.redeliver.append(attempt)
            continue
        if not await _db(store.claim_redelivery, attempt.guid, attempt.id, since):
            report.already_asked.append(attempt.guid)  # another process asked just now
            continue
        if sent >= BURST:
            await sleep(PACE_SECONDS)
        try:
            await redeliver(client, attempt)
        except GitHubError as exc:
            await _db(store.release_redelivery, attempt.guid)
            report.errors.append(f"{attempt.guid}: {exc.message}")
            log.warning("redelivery refused", delivery=attempt.guid, error=exc.message)
            continue
        sent += 1
        report.redeliver.append(attempt)
        if on_request is not None:
            on_request()
        log.info("asked GitHub to redeliver", delivery=attempt.guid, event=attempt.event)
    return report


async def recover_forever(
    client: GitHubClient,
    store: Store,
    interval: float,
    *,
    on_request: Callable[[], None] | None = None,
    on_pass: Callable[[RecoverReport | None], None] | None = None,
) -> None:
    """The server's periodic pass: every `interval`, over twice that window (passes overlap,
    so a delivery that failed just before a pass is seen by the next)."""
    while True:
        await asyncio.sleep(interval)
        try:
            report: RecoverReport | None = await recover(
                client, store, max(2 * interval, 600.0), on_request=on_request
            )
        except (GitHubError, StoreError) as exc:
            log.warning("recover pass failed", error=str(exc))
            report = None
        except Exception:  # a pass must never end the loop
            log.exception("recover pass failed")
            report = None
        if on_pass is not None:
            on_pass(report)


async def prune_payloads_forever(store: Store, retention_days: float, every: float = 3600.0) -> None:
    """Every hour, drop the payloads of deliveries older than the retention (their metadata
    and runs stay)."""
    while True:
        cutoff = time.time() - retention_days * 86400
        try:
            pruned = await asyncio.to_thread(store.prune_payloads, cutoff)
        except StoreError as exc:
            log.warning("could not prune payloads", error=str(exc))
        else:
            if pruned:
                log.info("pruned old payloads", deliveries=pruned)
        await asyncio.sleep(every)
