"""A load generator: N keep-alive connections posting signed deliveries for T seconds.

Run as its own process (`python bench/loadgen.py URL SECONDS CONNECTIONS BODYFILE SECRET EVENT`);
prints one JSON line: requests, per second, p50 / p99 latency in ms, errors. The body and its
signature are the same for every request; each request has a unique X-GitHub-Delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from urllib.parse import urlsplit


async def connection(
    host: str,
    port: int,
    path: str,
    head: str,
    body: bytes,
    stop: float,
    ident: int,
    latencies: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while time.perf_counter() < stop:
            n += 1
            request = (
                f"POST {path} HTTP/1.1\r\n{head}X-GitHub-Delivery: bench-{ident}-{n}-{time.time_ns()}\r\n\r\n"
            ).encode() + body
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1]) if status_line else 0
            if status >= 300:
                errors.append(str(status))
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


async def main(
    url: str, seconds: float, connections: int, body_file: str, secret: str, event: str
) -> dict[str, float]:
    parts = urlsplit(url)
    with open(body_file, "rb") as handle:
        body = handle.read()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"Host: {parts.hostname}:{parts.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
        f"X-GitHub-Event: {event}\r\nX-Hub-Signature-256: {signature}\r\n"
    )
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(
        *(
            connection(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                parts.path,
                head,
                body,
                stop,
                i,
                latencies,
                errors,
            )
            for i in range(connections)
        )
    )
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": len(errors),
    }


if __name__ == "__main__":
    url, seconds, conns, body_file, secret, event = sys.argv[1:7]
    print(json.dumps(asyncio.run(main(url, float(seconds), int(conns), body_file, secret, event))))
