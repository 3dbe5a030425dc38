"""The durable floor on PostgreSQL: the shared kit's floor.py with its SQLite INSERT replaced by
an INSERT into PostgreSQL, committed before answering (synchronous_commit on, PostgreSQL's
default). Plain ASGI on uvicorn with uvloop and httptools, HMAC, json.loads, one row per
delivery through an async psycopg pool, so concurrent requests commit concurrently, as a
well-built receiver would. Kept beside the benchmarks; nothing in the product imports it.

    python bench/floor_postgres.py PORT SECRET DATABASE_URL
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from typing import Any

import uvicorn
from psycopg_pool import AsyncConnectionPool

PATH = "/webhooks/github"
MAX_BODY = 25 * 1024 * 1024


def make_app(secret: bytes, url: str) -> Any:
    """The receiver; its pool opens with the ASGI lifespan."""
    pool = AsyncConnectionPool(
        url, min_size=8, max_size=16, open=False, kwargs={"autocommit": True}
    )

    async def respond(send: Any, status: int, body: bytes = b"") -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await pool.open()
                    async with pool.connection() as conn:
                        await conn.execute(
                            "CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT NOT NULL UNIQUE,"
                            " event TEXT NOT NULL, payload TEXT NOT NULL, received_at DOUBLE PRECISION)"
                        )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] != PATH or scope["method"] != "POST":
            return await respond(send, 404, b"not found\n")
        sig = event = delivery = None
        for key, value in scope["headers"]:
            if key == b"x-hub-signature-256":
                sig = value
            elif key == b"x-github-event":
                event = value
            elif key == b"x-github-delivery":
                delivery = value
        if sig is None or event is None or delivery is None:
            return await respond(send, 400, b"missing webhook headers\n")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return await respond(send, 413, b"payload too large\n")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        expected = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, sig):
            return await respond(send, 401, b"bad signature\n")
        try:
            json.loads(body)
        except ValueError:
            return await respond(send, 400, b"invalid json\n")
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO deliveries (delivery_id, event, payload, received_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (delivery_id) DO NOTHING",
                (delivery.decode(), event.decode(), body.decode(), time.time()),
            )
            if cursor.rowcount == 0:
                return await respond(send, 200, b"duplicate\n")
        await respond(send, 202, b"accepted\n")

    return app


def main() -> None:
    """Run the receiver."""
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("secret")
    parser.add_argument("url")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.secret.encode(), args.url),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
