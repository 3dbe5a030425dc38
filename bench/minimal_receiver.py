"""The floor for the webhook benchmark: a raw ASGI app that only verifies the signature,
parses the JSON and inserts the delivery into SQLite (WAL, same synchronous setting)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import time
from typing import Any

SECRET = os.environ["GITHUB_WEBHOOK_SECRET"].encode()
db = sqlite3.connect(os.environ["MINIMAL_DB"], isolation_level=None, check_same_thread=False)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.execute(
    "CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, event TEXT, payload TEXT, received_at REAL)"
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    status = 401
    if hmac.compare_digest(expected, headers.get("x-hub-signature-256", "")):
        payload = json.loads(body)
        db.execute(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?)",
            (
                headers["x-github-delivery"],
                headers["x-github-event"],
                json.dumps(payload),
                time.time(),
            ),
        )
        status = 202
    answer = b'{"ok": true}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})
