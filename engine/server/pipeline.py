"""The running server's parts and the webhook pipeline: verify, parse, match, record, answer.

The webhook route does the least it can before answering: verify the signature, parse,
match with what the payload carries (no API calls), and commit the delivery with its jobs.
Workers run the jobs after the answer (engine.server.workers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sqlite3
import time
from typing import Any

from engine.github.api import GitHubError
from engine.github.client import GitHubClient
from engine.lang.files import load_rules
from engine.match.events import parse_event
from engine.match.matcher import RuleIndex, match
from engine.nodes import default_registry
from engine.server.groupcommit import GroupCommitter
from engine.server.integrations import IntegrationService
from engine.server.limits import RateLimiter
from engine.server.metrics import Metrics
from engine.server.verify import MAX_BODY_BYTES, Accepted, check_webhook
from engine.server.workers import WorkerPool
from engine.settings import Settings, SettingsError
from engine.store.base import StoredDelivery
from engine.store.sqlite import SQLiteStore

log = logging.getLogger("hookwise.server")
TRACE_LIMIT = 200  # rejected rules recorded per delivery; the rest are counted


class Hookwise:
    """The running server's parts, shared by the routes."""

    def __init__(self, settings: Settings, store: SQLiteStore | None = None) -> None:
        if not settings.webhook_secrets and not settings.insecure_no_signature:
            raise SettingsError(
                "GITHUB_WEBHOOK_SECRET is not set, so webhook signatures cannot be verified; set it, "
                "or set HOOKWISE_INSECURE_NO_SIGNATURE=1 for local development only"
            )
        self.settings = settings
        self.registry = default_registry()
        self.ruleset = load_rules([settings.rules_path], self.registry)
        self.index = RuleIndex(self.ruleset.rules)
        self.store = store or SQLiteStore.from_url(settings.database_url)
        self.metrics = Metrics()
        credentials = settings.app_credentials()
        self.github = (
            GitHubClient(credentials, base_url=settings.github_api_base_url)
            if credentials
            else None
        )
        self.workers = WorkerPool(
            self.store,
            {r.name: r for r in self.ruleset.rules},
            self.registry,
            settings,
            self.metrics,
            self.github,
        )
        self.limits = {
            "webhook": RateLimiter(settings.rate_webhooks),
            "auth": RateLimiter(settings.rate_auth),
            "api": RateLimiter(settings.rate_api),
        }
        self.networks = [ipaddress.ip_network(c, strict=False) for c in settings.allowed_cidrs]
        self.integrations = IntegrationService(settings, self.store, self.github)
        self.committer = GroupCommitter(self.store)
        self.app_login = settings.app_login  # the App's bot: its own deliveries never match

    async def learn_app_login(self) -> None:
        """Ask GitHub for the App's slug when it is not configured, so that rules cannot loop
        on the App's own writes by default."""
        if self.app_login or self.github is None:
            return
        try:
            app = await self.github.app_request("GET", "/app")
        except GitHubError as exc:
            log.warning(
                "could not read the App's slug; set GITHUB_APP_SLUG", extra={"error": exc.message}
            )
            return
        self.app_login = f"{app['slug']}[bot]"
        log.info("the App's own deliveries are ignored", extra={"app_login": self.app_login})
        self.metrics.on_scrape(self._scrape)

    def _scrape(self) -> None:
        self.metrics.queue_depth.set(self.store.queue_depth())
        self.metrics.installations.set(self.store.active_installations())
        if self.github is not None:
            for installation, remaining in self.github.rate_remaining.items():
                self.metrics.rate_limit.labels(installation).set(remaining)
            self.metrics.token_refreshes.set(self.github.token_refreshes)

    async def retention(self) -> None:
        """Prune old payloads every hour (delivery metadata and runs stay)."""
        while True:
            cutoff = time.time() - self.settings.retention_days * 86400
            pruned = self.store.prune_payloads(cutoff)
            if pruned:
                log.info("pruned old payloads", extra={"deliveries": pruned})
            await asyncio.sleep(3600)

    # --- ingest -------------------------------------------------------------------------------

    async def ingest(
        self, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, Any]]:
        """Verify, record and match one delivery: (status, JSON body)."""
        started = time.perf_counter()
        if body is None:
            self.metrics.rejected.labels("too_large").inc()
            return 413, {"error": f"body is larger than {MAX_BODY_BYTES} bytes"}
        secrets = () if self.settings.insecure_no_signature else self.settings.webhook_secrets
        checked = check_webhook(headers, body, secrets)
        if not isinstance(checked, Accepted):
            self.metrics.rejected.labels(checked.reason).inc()
            log.info("webhook refused", extra={"status": checked.status, "reason": checked.reason})
            return checked.status, {"error": checked.error}
        event = parse_event(checked.event, checked.payload, delivery=checked.delivery)
        result = match(event, self.index, app_login=self.app_login)
        jobs = [(m.rule.name, "run") for m in result.matched]
        jobs += [(m.rule.name, "files") for m in result.pending]
        rejected = result.rejected[:TRACE_LIMIT]
        trace = {
            "matched": [m.rule.name for m in result.matched],
            "pending": [m.rule.name for m in result.pending],
            "not_matched": [{"rule": r.rule.name, "reason": r.reason} for r in rejected],
            "not_candidates": len(self.index.rules) - len(jobs) - len(rejected),
        }
        stored = StoredDelivery(
            delivery_id=checked.delivery,
            event=checked.event,
            action=event.action,
            installation_id=event.installation_id,
            repository=event.repository,
            payload=checked.payload,
            headers=checked.headers,
            received_at=time.time(),
            status="queued" if jobs else "done",
            match_trace=trace,
            raw_payload=checked.raw,
        )
        try:
            recorded = await self.committer.record(stored, jobs)
        except sqlite3.Error as exc:  # full disk, locked database: nothing was stored
            self.metrics.rejected.labels("storage").inc()
            log.error(
                "delivery not stored", extra={"delivery": checked.delivery, "error": str(exc)}
            )
            return 503, {"error": "the delivery could not be stored; it was not accepted"}
        if not recorded:
            self.metrics.duplicates.inc()
            return 200, {
                "delivery": checked.delivery,
                "event": checked.event,
                "matched": [],
                "duplicate": True,
            }
        self._installation_event(event.name, checked.payload)
        if jobs:
            self.workers.wake()
        self.metrics.received.labels(checked.event).inc()
        self.metrics.ingest.observe(time.perf_counter() - started)
        answer = {
            "delivery": checked.delivery,
            "event": checked.event,
            "matched": trace["matched"],
            "pending": trace["pending"],
            "duplicate": False,
        }
        return (200 if checked.event == "ping" else 202), answer

    def _installation_event(self, name: str, payload: dict[str, Any]) -> None:
        """Keep the installations table in step with installation events."""
        if name not in ("installation", "installation_repositories"):
            return
        installation = payload.get("installation") or {}
        installation_id = installation.get("id")
        if not isinstance(installation_id, int):
            return
        account = installation.get("account") or {}
        action = payload.get("action")
        now = time.time()
        if name == "installation" and action == "deleted":
            self.store.set_installation(installation_id, deleted_at=now)
            return
        repos = [r["full_name"] for r in payload.get("repositories") or [] if "full_name" in r]
        known = self.store.installation(installation_id)
        if name == "installation_repositories":
            current = set(known["repositories"]) if known else set()
            current |= {r["full_name"] for r in payload.get("repositories_added") or []}
            current -= {r["full_name"] for r in payload.get("repositories_removed") or []}
            repos = sorted(current)
        self.store.upsert_installation(
            installation_id,
            account=account.get("login"),
            account_type=account.get("type"),
            repositories=repos if (repos or name == "installation_repositories") else None,
        )
        if action == "suspend":
            self.store.set_installation(installation_id, suspended_at=now)
        elif action == "unsuspend":
            self.store.set_installation(installation_id, suspended_at=None)
