"""The web application (FastAPI): webhook ingest, health, metrics; server.py creates it.

The webhook route does the least it can before answering: verify the signature, parse,
match with what the payload carries (no API calls), and commit the delivery with its jobs
in one transaction. Workers run the jobs after the answer (engine.worker).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import logs
from engine.commit import GroupCommitter
from engine.events import parse_event
from engine.gateway import Gateway
from engine.github import GitHubClient, GitHubError, credentials_from_settings
from engine.ingest import MAX_BODY_BYTES, Accepted, check_webhook
from engine.integrations import ErrorBody, IntegrationService, integrations_router
from engine.matcher import RuleIndex, match
from engine.metrics import Metrics
from engine.ratelimit import RateLimiter
from engine.registry import default_registry
from engine.ruleset import load_rules
from engine.settings import Settings, SettingsError
from engine.store import SQLiteStore, StoredDelivery
from engine.worker import WorkerPool

log = logging.getLogger("hookwise.web")
WEBHOOK_PATHS = ("/webhooks/github", "/api/v1/public/webhooks/github")
TRACE_LIMIT = 200  # rejected rules recorded per delivery; the rest are counted
WEBHOOK_ERRORS = {
    503: "The delivery could not be stored (nothing was accepted; redeliver it)",
    400: "Malformed JSON, missing or empty X-GitHub-Event / X-GitHub-Delivery, unknown event",
    401: "Missing or wrong X-Hub-Signature-256",
    403: "Source address outside HOOKWISE_ALLOWED_CIDRS",
    413: "Body over 25 MB",
    415: "Content type other than application/json or application/x-www-form-urlencoded",
    429: "Too many requests from this address",
}
WEBHOOK_REQUEST: dict[str, Any] = {
    "parameters": [
        {"name": "X-GitHub-Event", "in": "header", "required": True, "schema": {"type": "string"}},
        {
            "name": "X-GitHub-Delivery",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
        },
        {
            "name": "X-Hub-Signature-256",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "sha256=HMAC of the body with the webhook secret",
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"payload": {"type": "string"}}}
            },
        },
    },
}


class WebhookAnswer(BaseModel):
    """The answer to an accepted delivery."""

    delivery: str
    event: str
    matched: list[str]
    pending: list[str] = []
    duplicate: bool


class Health(BaseModel):
    """/health."""

    status: str
    checks: dict[str, bool]
    queue_depth: int
    rules: int
    dry_run: bool


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    """A JSON error body: {"error": message}."""
    return JSONResponse({"error": message, **extra}, status_code=status)


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
        credentials = credentials_from_settings(settings)
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


def create_app(
    settings: Settings, *, store: SQLiteStore | None = None, start_workers: bool = True
) -> FastAPI:
    """Build the ASGI app; rules are loaded and checked, and settings validated, right here."""
    hookwise = Hookwise(settings, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        await hookwise.learn_app_login()
        if start_workers:
            hookwise.workers.start()
            tasks.append(asyncio.create_task(hookwise.retention()))
        if settings.dry_run:
            log.warning(
                "no GitHub App credentials: running in dry-run mode (writes are recorded, not sent)"
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await hookwise.workers.stop()
            if hookwise.github is not None:
                await hookwise.github.aclose()

    app = FastAPI(title="hookwise", version="0.1.0", lifespan=lifespan)
    app.state.hookwise = hookwise

    app.add_middleware(Gateway, hookwise=hookwise, paths=WEBHOOK_PATHS)
    app.include_router(integrations_router(hookwise.integrations))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 204:
            return Response(status_code=204)
        response = error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, "invalid request", details=exc.errors())

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error(500, "internal error")

    @app.post(
        WEBHOOK_PATHS[0],
        status_code=202,
        tags=["webhooks"],
        response_model=WebhookAnswer,
        responses={
            200: {"model": WebhookAnswer, "description": "ping, or a delivery seen before"},
            **{
                code: {"model": ErrorBody, "description": why}
                for code, why in WEBHOOK_ERRORS.items()
            },
        },
        openapi_extra=WEBHOOK_REQUEST,
    )
    async def webhook(request: Request) -> JSONResponse:
        """Receive a GitHub delivery (served by the gateway; documented here for OpenAPI)."""
        status, body = await hookwise.ingest(dict(request.headers), await request.body())
        return JSONResponse(body, status_code=status)

    @app.get(
        "/health",
        responses={200: {"model": Health}, 503: {"model": Health, "description": "Unhealthy"}},
    )
    def health() -> JSONResponse:
        """Liveness: database writable, queue depth, workers alive; 503 when unhealthy."""
        writable = hookwise.store.writable()
        workers = hookwise.workers.alive or not start_workers
        body = {
            "status": "ok" if writable and workers else "unhealthy",
            "checks": {"database_writable": writable, "workers_alive": workers},
            "queue_depth": hookwise.store.queue_depth(),
            "rules": len(hookwise.ruleset.rules),
            "dry_run": settings.dry_run,
        }
        return JSONResponse(body, status_code=200 if writable and workers else 503)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        """Prometheus text format."""
        return Response(
            hookwise.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return app


def configure_logging(settings: Settings) -> None:
    """JSON logs at the configured level."""
    logs.configure(settings.log_level)
