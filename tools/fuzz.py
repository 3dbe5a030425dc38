"""`make fuzz`: N mutated, signed real deliveries against a live `hookwise serve`; report the
answers by status and whether the server is still alive and healthy. Exit 1 on any 5xx.

    python tools/fuzz.py [--count 20000] [--seed 1] [--connections 8]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests import fuzzkit  # noqa: E402
from tests.serverkit import (  # noqa: E402
    SECRET,
    free_port,
    signed,
    start_process,
    stop_process,
    write_rule,
)

RULE = """name: note
on:
  events: [issues, pull_request, push, issue_comment, installation, release, create]
nodes:
  note:
    uses: core.log
    with:
      message: ${{ github.event }} ${{ github.delivery }}
"""


def main(argv: list[str]) -> int:
    """Run the fuzz; print a summary line; 0 when no answer was a 5xx and /health is 200."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    files = fuzzkit.payload_files()
    if not files:
        print("no payloads: vendor/shared/fixtures is missing", file=sys.stderr)
        return 1
    folder = Path(tempfile.mkdtemp(prefix="hookwise-fuzz-"))
    rules = write_rule(folder / "rules", "note", RULE)
    env = {
        **os.environ,
        "HOOKWISE_RULES": str(rules),
        "DATABASE_URL": f"sqlite:///{folder / 'hookwise.db'}",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "HOOKWISE_LOG_LEVEL": "ERROR",
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_process(
        ["serve", "--port", str(port)], env, folder / "server.log", health=f"{url}/health"
    )
    statuses: Counter[int] = Counter()
    samples: dict[int, str] = {}
    lock = threading.Lock()
    cache: dict[Path, Any] = {}
    started = time.monotonic()
    try:
        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(args.connections) as pool:

            def one(index: int) -> None:
                rng = random.Random(args.seed * 1_000_003 + index)
                event, raw = fuzzkit.delivery(rng, files, cache)
                body, headers = signed(raw, event, f"fuzz-{args.seed}-{index}")
                try:
                    answer = client.post(f"{url}/webhooks/github", content=body, headers=headers)
                    code, text = answer.status_code, answer.text[:200]
                except httpx.HTTPError as exc:
                    code, text = 0, str(exc)
                with lock:
                    statuses[code] += 1
                    samples.setdefault(code, text)

            list(pool.map(one, range(args.count)))
        health = httpx.get(f"{url}/health", timeout=10).status_code
        alive = server.poll() is None
    finally:
        stop_process(server)
    errors = sum(n for code, n in statuses.items() if code >= 500 or code == 0)
    seconds = time.monotonic() - started
    print(
        f"fuzz: {args.count} mutated signed deliveries in {seconds:.0f}s: "
        + ", ".join(f"{code}×{n}" for code, n in sorted(statuses.items()))
        + f"; 5xx or no answer: {errors}; server alive: {alive}; /health: {health}"
    )
    for code, text in sorted(samples.items()):
        if code >= 500 or code == 0:
            print(f"  {code}: {text}")
    return 0 if errors == 0 and alive and health == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
