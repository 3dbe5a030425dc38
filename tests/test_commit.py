"""Group commit: deliveries arriving while a commit is in flight share the next one, each with
its own answer; a bad delivery is refused alone; a stuck commit is answered in time."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.edge.groupcommit import GroupCommitter
from engine.store.records import NewDelivery, StoredDelivery, StoreError
from engine.store.sqlite import SQLiteStore
from tests.storekit import refuse_writes


def delivery(delivery_id: str, installation: int = 1) -> NewDelivery:
    stored = StoredDelivery(
        delivery_id, "issues", "opened", installation, "a/b", {"action": "opened"}, {},
        time.time(), "queued", {},
    )
    return NewDelivery(stored, (("rule", "run"),))


class GatedStore(SQLiteStore):
    """A store whose commits wait for the test to open the gate, counting batch sizes."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def record_deliveries(self, batch: Sequence[NewDelivery]) -> list[bool | StoreError]:
        self.batches.append(len(batch))
        self.entered.set()
        self.gate.wait(timeout=30)
        return super().record_deliveries(batch)


def test_arrivals_during_a_commit_share_the_next_one(tmp_path: Path) -> None:
    store = GatedStore(str(tmp_path / "h.db"))
    committer = GroupCommitter(store)

    async def burst() -> list[bool]:
        first = asyncio.create_task(committer.record(delivery("d-0")))
        await asyncio.to_thread(store.entered.wait, 30)  # d-0's commit is in flight
        rest = [asyncio.create_task(committer.record(delivery(i))) for i in ("d-1", "d-2", "d-1")]
        await asyncio.sleep(0)  # let them queue behind the commit in flight
        store.gate.set()
        return [await first, *[await task for task in rest]]

    assert asyncio.run(burst()) == [True, True, True, False]
    assert store.batches == [1, 3]
    assert [j["delivery_id"] for j in store.jobs("d-1")] == ["d-1"]


def test_a_bad_delivery_is_refused_alone_and_the_rest_commit(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "h.db"))
    committer = GroupCommitter(store)

    async def burst() -> list[object]:
        items = [delivery("good-1"), delivery("bad", installation=2**70), delivery("good-2")]
        return list(
            await asyncio.gather(*(committer.record(i) for i in items), return_exceptions=True)
        )

    results = asyncio.run(burst())
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], StoreError)
    assert store.delivery("good-2") is not None and store.delivery("bad") is None


def test_a_read_only_database_refuses_every_waiter_and_stores_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "h.db"))
    refuse_writes(store.path)
    committer = GroupCommitter(store)

    async def burst() -> list[object]:
        calls = [committer.record(delivery(f"d-{i}")) for i in range(3)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    results = asyncio.run(burst())
    assert all(isinstance(r, StoreError) for r in results)
    refuse_writes(store.path, False)
    assert store.deliveries() == []


def test_a_commit_that_does_not_finish_in_time_is_answered_as_not_stored(tmp_path: Path) -> None:
    store = GatedStore(str(tmp_path / "h.db"))
    committer = GroupCommitter(store, timeout=0.2)

    async def late() -> None:
        with pytest.raises(StoreError, match=r"did not commit within 0\.2s"):
            await committer.record(delivery("slow"))
        store.gate.set()
        await committer.close()

    asyncio.run(late())


@pytest.mark.parametrize("size", [1, 64, 300])
def test_large_bursts_are_split_at_max_batch(tmp_path: Path, size: int) -> None:
    store = SQLiteStore(str(tmp_path / "h.db"))
    committer = GroupCommitter(store, max_batch=256)

    async def burst() -> list[bool]:
        return list(
            await asyncio.gather(*(committer.record(delivery(f"d-{i}")) for i in range(size)))
        )

    assert asyncio.run(burst()) == [True] * size
    assert len(store.deliveries(limit=1000)) == size
