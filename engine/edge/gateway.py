"""Plain ASGI in front of the FastAPI app: the middleware (request ids, the access log, the
installation callback's throttle) and the webhook route itself, served here so the hot path
skips the framework.

Rate limits never refuse a verified delivery: GitHub delivers from a few addresses and never
retries a 429. Only requests that fail verification count against their address; once it has
failed too often, its failures are answered 429 (no more signature feedback to a guesser),
while a verified delivery from it is still accepted. The installation callback is limited
per address and the API per user.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
from collections import OrderedDict
from typing import Any

from starlette.types import Receive, Scope, Send

from engine.edge.middleware import AuthThrottle, RequestContext, client_of, refuse, respond
from engine.edge.verify import MAX_BODY_BYTES

_REQUESTS = itertools.count()
UNVERIFIED = frozenset({401, 403, 413, 415})  # answers to requests that did not prove GitHub
BODY_TIMEOUT = 10.0  # seconds to receive a whole webhook body (GitHub sends it at once)
FIRST_BYTE_TIMEOUT = 5.0  # seconds from the headers to the body's first bytes
MAX_INCOMPLETE = 256  # webhook requests waiting for their body; past it the oldest is dropped


class BodyTimeout(Exception):
    """The client did not send its whole body in time."""


class Gateway:
    """The outermost ASGI app: the middleware (engine.edge.middleware) around a router that
    sends the webhook path to `WebhookEndpoint` and everything else to the framework."""

    def __init__(self, app: Any, hookwise: Any, paths: tuple[str, ...]) -> None:
        self.app = app
        self.hookwise = hookwise
        self.paths = frozenset(paths)
        self.state = app.state  # the FastAPI app's state: app.state.hookwise
        self.webhook = WebhookEndpoint(hookwise)
        refused = hookwise.metrics.rejected.labels("rate_limited").inc
        self.handler = RequestContext(
            AuthThrottle(self._route, hookwise.limits["auth"], refused),
            log_requests=lambda: bool(hookwise.settings.access_log),
        )

    @property
    def incomplete(self) -> OrderedDict[int, asyncio.Timeout]:
        """The webhook requests still receiving their body (WebhookEndpoint.incomplete)."""
        return self.webhook.incomplete

    def openapi(self) -> dict[str, Any]:
        """The framework's OpenAPI description (the webhook route is described there)."""
        description: dict[str, Any] = self.app.openapi()
        return description

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.webhook(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class WebhookEndpoint:
    """The one webhook route: POST only; the source allow-list, the body read under its
    deadlines and cap, ingest, and the limit on failed verifications per address."""

    def __init__(self, hookwise: Any) -> None:
        self.hookwise = hookwise
        # deadlines of the webhook requests still receiving their body, oldest first: past
        # MAX_INCOMPLETE the oldest is dropped, so idle connections cannot starve deliveries
        self.incomplete: OrderedDict[int, asyncio.Timeout] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await respond(send, 405, {"error": "Method Not Allowed"}, [(b"allow", b"POST")])
            return
        hookwise = self.hookwise
        client = client_of(scope)
        limiter = hookwise.limits["webhook"]
        if hookwise.networks and not _allowed(client, hookwise.networks):
            hookwise.metrics.rejected.labels("source_ip").inc()
            limiter.allow(client)
            await respond(send, 403, {"error": "source address is not allowed"})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await _read_capped(receive, headers, MAX_BODY_BYTES, self.incomplete)
        except BodyTimeout as exc:
            hookwise.metrics.rejected.labels("body_timeout").inc()
            limiter.allow(client)
            # free the connection too
            await respond(send, 408, {"error": str(exc)}, [(b"connection", b"close")])
            return
        status, answer = await hookwise.ingest(headers, body)
        if status in UNVERIFIED:
            allowed, wait = limiter.allow(client)  # spends one of the address's tokens
            if not allowed:
                await refuse(send, wait, hookwise.metrics.rejected.labels("rate_limited").inc)
                return
        await respond(send, status, answer)


async def _read_capped(
    receive: Receive,
    headers: dict[str, str],
    limit: int,
    incomplete: OrderedDict[int, asyncio.Timeout],
) -> bytes | None:
    """The raw body, or None as soon as it passes `limit` bytes. BodyTimeout when its first
    bytes take over FIRST_BYTE_TIMEOUT, the whole over BODY_TIMEOUT, or when it is the oldest
    of more than MAX_INCOMPLETE requests still waiting for their body."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    loop = asyncio.get_running_loop()
    started = loop.time()
    key = next(_REQUESTS)
    why = f"the request body did not start within {FIRST_BYTE_TIMEOUT:g}s"
    try:
        async with asyncio.timeout_at(started + FIRST_BYTE_TIMEOUT) as deadline:
            incomplete[key] = deadline
            if len(incomplete) > MAX_INCOMPLETE:
                _, oldest = incomplete.popitem(last=False)
                oldest.reschedule(loop.time())  # it times out now
            first = await receive()
            if not first.get("more_body"):  # most bodies arrive in one message
                body: bytes = first.get("body", b"")
                return None if len(body) > limit else body
            why = f"the request body did not arrive within {BODY_TIMEOUT:g}s"
            deadline.reschedule(started + BODY_TIMEOUT)
            chunks: list[bytes] = [first.get("body", b"")]
            size = len(chunks[0])
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)
    except TimeoutError:
        if key not in incomplete:  # dropped for a newer request (its own deadline leaves it in)
            why = "the server is waiting for too many request bodies; this one waited longest"
        raise BodyTimeout(why) from None
    finally:
        incomplete.pop(key, None)


def _allowed(host: str, networks: list[Any]) -> bool:
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host)
        return any(address in network for network in networks)
    return False
