"""The ASGI middleware in front of every route, apart from any endpoint: a request id on each
answer and one access-log line per request (`RequestContext`), and the per-address limit of
the installation callback (`AuthThrottle`)."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.edge.throttle import RateLimiter
from engine.observe import logs

access = logs.get("hookwise.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SECRET_PARAMETERS = frozenset({"state", "code", "token", "access_token"})


def client_of(scope: Scope) -> str:
    """The peer's address (the proxy's, unless the server was told to trust X-Forwarded-For)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def header_of(scope: Scope, name: bytes) -> str:
    """One request header (ASGI servers send names in lower case), or ""."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def respond(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A JSON answer, sent in two messages."""
    data = orjson.dumps(body)
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            *(headers or []),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": data})


class RequestContext:
    """Middleware: every answer carries `x-request-id` (the client's when it is sane, else a
    new one), and each request gets one access-log line with its status and duration."""

    def __init__(self, app: ASGIApp, *, log_requests: Callable[[], bool]) -> None:
        self.app = app
        self.log_requests = log_requests
        self._ids = itertools.count(1)
        self._prefix = os.urandom(8).hex()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = header_of(scope, b"x-request-id")
        request_id = (
            given if given and _REQUEST_ID.fullmatch(given) else f"{self._prefix}{next(self._ids):016x}"
        )
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []), (b"x-request-id", request_id.encode())
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.log_requests():
                access.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"] + _query(scope.get("query_string", b"")),
                    status=status,
                    client=client_of(scope),
                    request_id=request_id,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )


class AuthThrottle:
    """Middleware: the installation callback (`.../auth`) is limited per address; past the
    limit the answer is 429 with `retry-after`."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, on_refused: Callable[[], None]) -> None:
        self.app = app
        self.limiter = limiter
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/auth"):
            allowed, wait = self.limiter.allow(client_of(scope))
            if not allowed:
                await refuse(send, wait, self.on_refused)
                return
        await self.app(scope, receive, send)


async def refuse(send: Send, wait: float, on_refused: Callable[[], None]) -> None:
    """429 with how long to wait."""
    on_refused()
    retry = [(b"retry-after", str(max(1, round(wait))).encode())]
    await respond(send, 429, {"error": "too many requests"}, retry)


def _query(raw: bytes) -> str:
    """The query string for the access log, with secret values (state, code) masked."""
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    shown = [(k, "[redacted]" if k.lower() in SECRET_PARAMETERS else v) for k, v in pairs]
    return "?" + urlencode(shown)
