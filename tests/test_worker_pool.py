"""The worker pool inside `serve`: webhook answers come first. While requests are being
answered, workers claim a trickle of jobs (PRESSED_BATCH every PRESSED_GAP); once the answers
are out, they claim as many as they have room for. The trickle still drains a backlog."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from engine.runtime import assemble
from engine.store.records import NewDelivery, StoredDelivery
from engine.workers.pool import PRESSED_BATCH
from tests.serverkit import server_settings, write_rule

RULE = """name: note
on:
  events:
    issues: {types: [opened]}
nodes:
  note:
    uses: core.log
    with:
      message: seen ${{ github.delivery }}
"""


def _deliveries(prefix: str, count: int) -> list[NewDelivery]:
    raw = json.dumps(
        {
            "action": "opened",
            "issue": {"number": 1, "labels": []},
            "repository": {"full_name": "octo-org/hello"},
            "sender": {"login": "mona", "type": "User"},
        }
    )
    return [
        NewDelivery(
            StoredDelivery(
                f"{prefix}-{i}", "issues", "opened", None, "octo-org/hello", None, {},
                time.time(), "queued", {"matched": ["note"]}, raw_payload=raw,
            ),
            (("note", "run"),),
        )
        for i in range(count)
    ]


async def _until_empty(store: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stats = await asyncio.to_thread(store.queue_stats)
        if stats.queued + stats.running == 0:
            return
        assert time.monotonic() < deadline, f"{stats.queued} jobs still queued"
        await asyncio.sleep(0.02)


def test_workers_claim_a_trickle_while_webhooks_are_answered(tmp_path: Path) -> None:
    rules = write_rule(tmp_path / "rules", "note", RULE)
    settings = server_settings(tmp_path, rules, workers=16)
    claims: list[tuple[int, int | None]] = []  # (requests in flight, jobs asked for)
    in_flight = [1]

    async def scenario() -> None:
        runtime = assemble(settings, kind="server", concurrency=16)
        store = runtime.store
        claim = store.claim_jobs

        def counted(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("delivery_id") is None:
                claims.append((in_flight[0], kwargs.get("limit")))
            return claim(*args, **kwargs)

        store.claim_jobs = counted  # type: ignore[method-assign]
        pool = runtime.workers
        pool.pressure = lambda: in_flight[0]
        store.record_deliveries(_deliveries("busy", 40))
        pool.start()
        try:
            await _until_empty(store)  # the trickle alone drains them
            in_flight[0] = 0
            store.record_deliveries(_deliveries("quiet", 40))
            pool.wake()
            await _until_empty(store)
        finally:
            await runtime.close()

    asyncio.run(scenario())
    busy = [limit for pressure, limit in claims if pressure]
    quiet = [limit for pressure, limit in claims if not pressure]
    assert busy and all(limit is not None and limit <= PRESSED_BATCH for limit in busy), busy
    assert quiet and max(limit or 0 for limit in quiet) > PRESSED_BATCH, quiet


def test_answering_is_busy_while_requests_keep_coming_not_after_a_lone_one(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from engine.edge.ingest import BUSY_WINDOW
    from engine.edge.web import create_app
    from tests.rulekit import payload
    from tests.serverkit import signed

    rules = write_rule(tmp_path / "rules", "note", RULE)
    app = create_app(server_settings(tmp_path, rules), start_workers=False)
    hookwise = app.state.hookwise
    now = [100.0]
    hookwise.clock = lambda: now[0]

    def deliver(name: str) -> None:
        body, headers = signed(payload("issues", "opened.1"), "issues", name)
        assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202

    with TestClient(app) as client:
        deliver("lone")
        now[0] += BUSY_WINDOW / 4
        assert hookwise.pressure() == 0  # one delivery: its job may start at once
        deliver("second")
        now[0] += BUSY_WINDOW / 4
        assert hookwise.pressure() == 1  # two in a row: answering is busy
        now[0] += BUSY_WINDOW
        assert hookwise.pressure() == 0
