"""Plain ASGI in front of the FastAPI app: request ids, the source allow-list, rate limits,
a cheap access log, and the webhook route itself, served here so the hot path skips the
framework.

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
import os
import re
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from engine.edge.verify import MAX_BODY_BYTES
from engine.observe import logs

access = logs.get("hookwise.access")
_REQUESTS = itertools.count()
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNVERIFIED = frozenset({401, 403, 413, 415})  # answers to requests that did not prove GitHub
SECRET_PARAMETERS = frozenset({"state", "code", "token", "access_token"})
BODY_TIMEOUT = 10.0  # seconds to receive a whole webhook body (GitHub sends it at once)
FIRST_BYTE_TIMEOUT = 5.0  # seconds from the headers to the body's first bytes
MAX_INCOMPLETE = 256  # webhook requests waiting for their body; past it the oldest is dropped


class BodyTimeout(Exception):
    """The client did not send its whole body in time."""


class Gateway:
    """Plain ASGI in front of FastAPI (see the module docstring)."""

    def __init__(self, app: Any, hookwise: Any, paths: tuple[str, ...]) -> None:
        self.app = app
        self.hookwise = hookwise
        self.paths = paths
        self.state = app.state  # the FastAPI app's state: app.state.hookwise
        self._ids = itertools.count(1)
        self._prefix = os.urandom(8).hex()
        # deadlines of the webhook requests still receiving their body, oldest first: past
        # MAX_INCOMPLETE the oldest is dropped, so idle connections cannot starve deliveries
        self.incomplete: OrderedDict[int, asyncio.Timeout] = OrderedDict()

    def openapi(self) -> dict[str, Any]:
        """The framework's OpenAPI description (the webhook route is documented there)."""
        description: dict[str, Any] = self.app.openapi()
        return description

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # ASGI servers send header names in lower case (uvicorn, hypercorn, the test client)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = (
            given
            if given and _REQUEST_ID.fullmatch(given)
            else f"{self._prefix}{next(self._ids):016x}"
        )
        client = scope["client"][0] if scope.get("client") else "unknown"
        path = scope["path"]
        hookwise = self.hookwise
        group = "webhook" if path in self.paths else "auth" if path.endswith("/auth") else "api"
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        status = 0
        try:
            if group == "webhook":  # the one webhook route: the framework never sees it
                if scope["method"] == "POST":
                    status = await self._webhook(headers, client, receive, send, extra)
                else:
                    allow = [*extra, (b"allow", b"POST")]
                    status = await _respond(send, 405, {"error": "Method Not Allowed"}, allow)
                return
            if group == "auth":
                allowed, wait = hookwise.limits["auth"].allow(client)
                if not allowed:
                    status = await _refuse(hookwise, send, extra, wait)
                    return

            async def send_with_id(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", []), *extra]
                await send(message)

            await self.app(scope, receive, send_with_id)
        finally:
            if hookwise.settings.access_log:
                access.info(
                    "request",
                    method=scope["method"],
                    path=path + _query(scope.get("query_string", b"")),
                    status=status,
                    client=client,
                    request_id=request_id,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )

    async def _webhook(
        self,
        headers: dict[str, str],
        client: str,
        receive: Any,
        send: Any,
        extra: list[tuple[bytes, bytes]],
    ) -> int:
        hookwise = self.hookwise
        limiter = hookwise.limits["webhook"]
        if hookwise.networks and not _allowed(client, hookwise.networks):
            hookwise.metrics.rejected.labels("source_ip").inc()
            limiter.allow(client)
            return await _respond(send, 403, {"error": "source address is not allowed"}, extra)
        try:
            body = await _read_capped(receive, headers, MAX_BODY_BYTES, self.incomplete)
        except BodyTimeout as exc:
            hookwise.metrics.rejected.labels("body_timeout").inc()
            limiter.allow(client)
            closing = [*extra, (b"connection", b"close")]  # free the connection too
            return await _respond(send, 408, {"error": str(exc)}, closing)
        status, answer = await hookwise.ingest(headers, body)
        if status in UNVERIFIED:
            allowed, wait = limiter.allow(client)  # spends one of the address's tokens
            if not allowed:
                return await _refuse(hookwise, send, extra, wait)
        return await _respond(send, status, answer, extra)


async def _refuse(hookwise: Any, send: Any, extra: list[tuple[bytes, bytes]], wait: float) -> int:
    hookwise.metrics.rejected.labels("rate_limited").inc()
    headers = [*extra, (b"retry-after", str(max(1, round(wait))).encode())]
    return await _respond(send, 429, {"error": "too many requests"}, headers)


def _query(raw: bytes) -> str:
    """The query string for the access log, with secret values (state, code) masked."""
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    shown = [(k, "[redacted]" if k.lower() in SECRET_PARAMETERS else v) for k, v in pairs]
    return "?" + urlencode(shown)


async def _read_capped(
    receive: Any,
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


async def _respond(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> int:
    data = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
    return status


def _allowed(host: str, networks: list[Any]) -> bool:
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host)
        return any(address in network for network in networks)
    return False
