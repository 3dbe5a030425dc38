"""Group commit: deliveries arriving together share a transaction, each with its own answer."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from engine.server.groupcommit import GroupCommitter
from engine.store.base import StoredDelivery
from engine.store.sqlite import SQLiteStore


def delivery(delivery_id: str) -> StoredDelivery:
    return StoredDelivery(
        delivery_id,
        "issues",
        "opened",
        1,
        "a/b",
        {"action": "opened"},
        {},
        time.time(),
        "queued",
        {},
    )


def test_deliveries_of_one_turn_share_a_commit_and_duplicates_are_per_row(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "h.db"))
    commits: list[int] = []
    original = store.record_deliveries

    def counting(batch: list[tuple[StoredDelivery, list[tuple[str, str]]]]) -> list[bool]:
        commits.append(len(batch))
        return original(batch)

    store.record_deliveries = counting  # type: ignore[method-assign]
    committer = GroupCommitter(store)

    async def burst() -> list[bool]:
        ids = ["d-1", "d-2", "d-1", "d-3"]
        return list(
            await asyncio.gather(*(committer.record(delivery(i), [("rule", "run")]) for i in ids))
        )

    assert asyncio.run(burst()) == [True, True, False, True]
    assert commits == [4]
    assert [
        j["delivery_id"] for j in store.db.execute("SELECT delivery_id FROM jobs ORDER BY id")
    ] == ["d-1", "d-2", "d-3"]


def test_a_failed_commit_reaches_every_waiter_and_stores_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "h.db"))
    store.db.execute("PRAGMA query_only = ON")
    committer = GroupCommitter(store)

    async def burst() -> list[object]:
        calls = [committer.record(delivery(f"d-{i}"), []) for i in range(3)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    results = asyncio.run(burst())
    assert all(isinstance(r, sqlite3.Error) for r in results)
    store.db.execute("PRAGMA query_only = OFF")
    assert store.db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0


@pytest.mark.parametrize("size", [1, 64, 65])
def test_large_bursts_are_split_at_max_batch(tmp_path: Path, size: int) -> None:
    store = SQLiteStore(str(tmp_path / "h.db"))
    committer = GroupCommitter(store, max_batch=64)

    async def burst() -> list[bool]:
        return list(
            await asyncio.gather(*(committer.record(delivery(f"d-{i}"), []) for i in range(size)))
        )

    assert asyncio.run(burst()) == [True] * size
    assert store.db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == size
