"""Plain ASGI in front of the FastAPI app: request ids, the source allow-list, per-IP rate
limits, and the webhook route itself, served here so the hot path skips the framework."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import uuid
from typing import Any

from engine.server.verify import MAX_BODY_BYTES


class Gateway:
    """Plain ASGI in front of FastAPI: request ids, the allow-list, rate limits, and the
    webhook route itself, served here so the hot path skips the framework's routing."""

    def __init__(self, app: Any, hookwise: Any, paths: tuple[str, ...]) -> None:
        self.app = app
        self.hookwise = hookwise
        self.paths = paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        client = scope["client"][0] if scope.get("client") else "unknown"
        path = scope["path"]
        hookwise = self.hookwise
        group = "webhook" if path in self.paths else "auth" if path.endswith("/auth") else "api"
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        if group == "webhook" and hookwise.networks and not _allowed(client, hookwise.networks):
            hookwise.metrics.rejected.labels("source_ip").inc()
            await _respond(send, 403, {"error": "source address is not allowed"}, extra)
            return
        if group != "api":  # the API is limited per user, once the token is checked
            allowed, wait = hookwise.limits[group].allow(client)
            if not allowed:
                hookwise.metrics.rejected.labels("rate_limited").inc()
                extra.append((b"retry-after", str(max(1, round(wait))).encode()))
                await _respond(send, 429, {"error": "too many requests"}, extra)
                return
        if group == "webhook" and scope["method"] == "POST":
            body = await _read_capped(receive, headers, MAX_BODY_BYTES)
            status, answer = await hookwise.ingest(headers, body)
            await _respond(send, status, answer, extra)
            return

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _read_capped(receive: Any, headers: dict[str, str], limit: int) -> bytes | None:
    """The raw body, or None as soon as it passes `limit` bytes."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
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


def _allowed(host: str, networks: list[Any]) -> bool:
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host)
        return any(address in network for network in networks)
    return False
