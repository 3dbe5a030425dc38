"""The web application (FastAPI): its routes, health and metrics; server.py creates it.

The webhook route itself is served by the plain-ASGI gateway in front (engine.edge.gateway)
and handled by ingest (engine.edge.ingest); this app only describes it in its OpenAPI.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import __version__
from engine.edge.gateway import Gateway
from engine.edge.ingest import Hookwise
from engine.edge.install import install_router
from engine.edge.integrations import ErrorBody, integrations_router
from engine.edge.ui.routes import ui_router
from engine.observe import logs
from engine.settings import Settings
from engine.store.interface import Store
from engine.workers.recover import prune_payloads_forever, recover_forever

log = logs.get("hookwise.web")
WEBHOOK_PATHS = ("/webhooks/github", "/api/v1/public/webhooks/github")
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
    queue_depth: int | None
    queue_oldest_age_seconds: float | None
    alarms: list[str]
    rules: int
    dry_run: bool


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    """A JSON error body: {"error": message}."""
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    start_workers: bool = True,
    workers: int | None = None,
) -> Gateway:
    """Build the ASGI app; rules are loaded and checked, and settings validated, right here.

    `workers` (default: settings.workers) is how many jobs this process runs at once; 0 makes
    it a replica that only accepts deliveries (`hookwise worker` processes run the jobs).
    """
    concurrency = (settings.workers if workers is None else workers) if start_workers else 0
    hookwise = Hookwise(settings, store, workers=concurrency)
    hookwise.workers.pressure = hookwise.pressure

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if not await hookwise.learn_app_login():
            tasks.append(asyncio.create_task(hookwise.keep_learning_app_login()))
        hookwise.runtime.scheduler.start()  # every replica: each tick is claimed once
        if concurrency > 0:
            hookwise.workers.start()
            retention = prune_payloads_forever(hookwise.store, settings.retention_days)
            tasks.append(asyncio.create_task(retention))
        if settings.recover_interval and hookwise.github is not None:
            metrics = hookwise.metrics
            recovering = recover_forever(
                hookwise.github,
                hookwise.store,
                settings.recover_interval,
                on_request=metrics.redeliveries.inc,
                on_pass=lambda report: metrics.recover_passes.labels(
                    "ok" if report is not None else "error"
                ).inc(),
            )
            tasks.append(asyncio.create_task(recovering))
        # what start-up built (rules, schemas, modules) lives as long as the server: keep it
        # out of the collector's sight, so collections under load walk only request garbage
        gc.collect()
        gc.freeze()
        if settings.dry_run:
            log.warning(
                "no GitHub App credentials: running in dry-run mode (writes are recorded, not sent)"
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await hookwise.close()

    docs = settings.api_docs  # /docs and /openapi.json only when enabled
    app = FastAPI(
        title="hookwise",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.hookwise = hookwise

    app.include_router(integrations_router(hookwise.integrations))
    app.include_router(install_router(hookwise.integrations))
    app.include_router(ui_router(hookwise))

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
        log.exception("unhandled error", path=request.url.path)
        return error(500, "internal error")

    @app.get(
        "/health",
        responses={200: {"model": Health}, 503: {"model": Health, "description": "Unhealthy"}},
    )
    async def health() -> JSONResponse:
        """Liveness: a real write to the database, the queue, the workers; 503 when unhealthy."""
        status, body = await hookwise.health(workers_expected=concurrency > 0)
        return JSONResponse(body, status_code=status)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics(request: Request) -> Response:
        """Prometheus text format; with a metrics token set, only for `Bearer <token>`."""
        token = settings.metrics_token
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "the metrics need `Authorization: Bearer <HOOKWISE_METRICS_TOKEN>`")
        return Response(
            hookwise.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    document_webhook(app)
    # the gateway is the outermost ASGI app: the webhook route never enters the framework
    return Gateway(app, hookwise=hookwise, paths=WEBHOOK_PATHS)


def document_webhook(app: FastAPI) -> None:
    """Add the webhook route, which the gateway serves, to the app's OpenAPI description."""
    framework_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            description = framework_openapi()  # kept by the app as app.openapi_schema
            error_body = {"$ref": "#/components/schemas/ErrorBody"}
            answer = {"$ref": "#/components/schemas/WebhookAnswer"}
            description["paths"][WEBHOOK_PATHS[0]] = {
                "post": {
                    "tags": ["webhooks"],
                    "summary": "Webhook",
                    "description": "Receive a GitHub delivery (served by the gateway).",
                    "operationId": "webhook",
                    **WEBHOOK_REQUEST,
                    "responses": {
                        "202": {
                            "description": "Accepted: recorded, its jobs queued",
                            "content": {"application/json": {"schema": answer}},
                        },
                        "200": {
                            "description": "ping, or a delivery seen before",
                            "content": {"application/json": {"schema": answer}},
                        },
                        **{
                            str(code): {
                                "description": why,
                                "content": {"application/json": {"schema": error_body}},
                            }
                            for code, why in WEBHOOK_ERRORS.items()
                        },
                    },
                }
            }
            schemas = description.setdefault("components", {}).setdefault("schemas", {})
            schemas["WebhookAnswer"] = WebhookAnswer.model_json_schema()
            schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
            app.openapi_schema = description
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def configure_logging(settings: Settings) -> None:
    """JSON logs at the configured level."""
    logs.configure(settings.log_level)
