"""The store on both backends (SQLite and PostgreSQL): one suite, the same expectations."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.store.coordination import RUN, WAIT
from engine.store.interface import Store
from engine.store.migrate import Migrator, migrations, statements
from engine.store.open import open_store
from engine.store.records import (
    DeliveryFilter,
    NewDelivery,
    StoredDelivery,
    StoreError,
    StoreMissing,
)
from engine.store.sqlite import SQLiteStore
from tests.conftest import DATA
from tests.storekit import StoreFactory, queue_depth

Clock = list[float]


def delivery(
    delivery_id: str, *, event: str = "issues", repository: str = "o/r", at: float = 100.0, **extra: Any
) -> StoredDelivery:
    values: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": event,
        "action": "opened",
        "installation_id": 1,
        "repository": repository,
        "payload": {"action": "opened", "n": delivery_id},
        "headers": {"x-github-event": event},
        "received_at": at,
        "status": "queued",
        "match_trace": {"matched": []},
    }
    values.update(extra)
    return StoredDelivery(**values)


def new(delivery_id: str, *rules: str, **extra: Any) -> NewDelivery:
    return NewDelivery(delivery(delivery_id, **extra), tuple((r, "run") for r in rules))


def clocked(factory: StoreFactory, start: float = 1000.0) -> tuple[Store, Clock]:
    now = [start]
    return factory(clock=lambda: now[0]), now


# --- deliveries ----------------------------------------------------------------------------


def test_deliveries_are_stored_once_with_their_jobs(store: Store) -> None:
    assert store.record_deliveries([new("a", "r1", "r2"), new("b")]) == [True, True]
    assert store.record_deliveries([new("a", "r1"), new("c", "r1")]) == [False, True]
    assert [j["rule"] for j in store.jobs("a")] == ["r1", "r2"]
    assert store.jobs("b") == []
    found = store.delivery("a")
    assert found is not None and found.payload == {"action": "opened", "n": "a"}
    assert found.raw_payload == json.dumps({"action": "opened", "n": "a"})


def test_the_raw_payload_is_stored_as_received(store: Store) -> None:
    raw = '{"action":  "opened" ,"n":1}'
    store.record_deliveries([NewDelivery(delivery("raw", raw_payload=raw))])
    found = store.delivery("raw")
    assert found is not None and found.raw_payload == raw


def test_one_bad_delivery_is_refused_alone(store: Store) -> None:
    batch = [new("good-1", "r"), new("bad", "r", installation_id=2**70), new("good-2", "r")]
    results = store.record_deliveries(batch)
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], StoreError)
    assert store.delivery("bad") is None
    assert [j["rule"] for j in store.jobs("good-2")] == ["r"]


def test_status_is_derived_from_the_latest_generation_in_list_and_show(
    store_factory: StoreFactory,
) -> None:
    store, _ = clocked(store_factory)
    store.record_deliveries([new("none"), new("one", "r"), new("two", "r", "s")])
    [job] = store.claim_jobs("w", 60, delivery_id="one")
    store.finish_job(job, "w", state="failed", error="boom")
    jobs = store.claim_jobs("w", 60, limit=5, delivery_id="two")
    store.finish_job(jobs[0], "w", state="done")
    store.finish_job(jobs[1], "w", state="not_matched")
    listed = {d.delivery_id: d.status for d in store.deliveries()}
    assert listed == {"none": "no_match", "one": "failed", "two": "done"}
    for delivery_id, status in listed.items():
        shown = store.delivery(delivery_id)
        assert shown is not None and shown.status == status
    store.add_jobs("one", [("r", "run")])  # a replay: generation 1 is queued
    assert {d.delivery_id: d.status for d in store.deliveries()}["one"] == "queued"


def test_listing_filters_and_pages_newest_first(store: Store) -> None:
    store.record_deliveries(
        [
            new(f"d{i}", repository="o/a" if i % 2 else "o/b", event="push" if i < 3 else "issues", at=float(i))
            for i in range(6)
        ]
    )
    assert [d.delivery_id for d in store.deliveries()] == ["d5", "d4", "d3", "d2", "d1", "d0"]
    assert [d.delivery_id for d in store.deliveries(where=DeliveryFilter(repository="o/a"))] == [
        "d5",
        "d3",
        "d1",
    ]
    assert [d.delivery_id for d in store.deliveries(where=DeliveryFilter(event="push"))] == [
        "d2",
        "d1",
        "d0",
    ]
    assert [
        d.delivery_id for d in store.deliveries(where=DeliveryFilter(since=2.0, until=4.0))
    ] == ["d3", "d2"]
    first = store.deliveries(limit=2)
    cursor = store.delivery_row_id(first[-1].delivery_id)
    second = store.deliveries(limit=2, where=DeliveryFilter(before_id=cursor))
    assert [d.delivery_id for d in first + second] == ["d5", "d4", "d3", "d2"]
    assert [d.delivery_id for d in store.deliveries(where=DeliveryFilter(status="no_match"))][:1] == [
        "d5"
    ]
    assert all(d.payload is None for d in first)


def test_replays_take_the_next_generation(store: Store) -> None:
    store.record_deliveries([new("a", "r")])
    assert store.add_jobs("a", [("r", "run")]) == 1
    assert store.add_jobs("a", [("r", "run")]) == 2
    assert [j["generation"] for j in store.jobs("a")] == [0, 1, 2]


def test_payloads_are_pruned_but_not_while_jobs_wait(store: Store) -> None:
    store.record_deliveries([new("old", at=1.0), new("waiting", "r", at=1.0), new("new", at=500.0)])
    assert store.prune_payloads(100.0) == 1
    old, waiting = store.delivery("old"), store.delivery("waiting")
    assert old is not None and old.payload is None
    assert waiting is not None and waiting.payload is not None


# --- jobs ---------------------------------------------------------------------------------


def test_claims_take_expired_leases_first_then_due_jobs(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    store.record_deliveries([new("a", "r1", "r2", "r3")])
    first = store.claim_jobs("w1", 10)
    assert [j.rule for j in first] == ["r1"] and first[0].attempts == 1
    now[0] += 11  # w1 died: its lease runs out
    again = store.claim_jobs("w2", 10, limit=2)
    assert [(j.rule, j.attempts) for j in again] == [("r1", 2), ("r2", 1)]
    assert store.finish_job(first[0], "w1", state="done") is False  # no longer w1's
    assert store.finish_job(again[0], "w2", state="done", run={"status": "success"}) is True


def test_requeued_jobs_wait_until_they_are_due(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    store.record_deliveries([new("a", "r")])
    [job] = store.claim_jobs("w", 10)
    assert store.requeue_job(job, "w", delay=5, error="GitHub 502")
    assert store.claim_jobs("w", 10) == []
    now[0] += 6
    [again] = store.claim_jobs("w", 10)
    assert again.attempts == 2
    assert store.requeue_job(again, "w", delay=0, retry=False)  # a deferral does not count
    [third] = store.claim_jobs("w", 10)
    assert third.attempts == 2


def test_concurrent_claims_never_share_a_job(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.record_deliveries([new(f"d{i}", "r") for i in range(60)])
    others = [store_factory(pool_size=2) if store.dialect == "postgres" else store for _ in range(3)]
    taken: list[list[int]] = [[] for _ in others]

    def work(index: int) -> None:
        while jobs := others[index].claim_jobs(f"w{index}", 60, limit=3):
            taken[index].extend(j.id for j in jobs)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(others))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job for ids in taken for job in ids]
    assert len(every) == 60 and len(set(every)) == 60


def test_finishing_records_the_run_and_nodes_in_one_go(store: Store) -> None:
    store.record_deliveries([new("a", "r")])
    [job] = store.claim_jobs("w", 60)
    store.record_nodes(job.id, [({"id": "n1", "status": "success", "outputs": {"x": 1}}, "a:r:n1")])
    assert store.completed_nodes(job.id) == {"a:r:n1": {"x": 1}}
    run = {"status": "success", "started_at": 1.0, "finished_at": 2.0, "nodes": []}
    nodes = [({"id": "n2", "status": "failure", "outputs": {}}, "a:r:n2")]
    assert store.finish_job(job, "w", state="done", run=run, nodes=nodes)
    assert store.completed_nodes(job.id) == {"a:r:n1": {"x": 1}}
    [stored] = store.runs("a")
    assert stored["rule"] == "r" and stored["record"]["status"] == "success"


def test_leases_are_extended_and_carry_cancel_requests(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    store.record_deliveries([new("a", "r")])
    [job] = store.claim_jobs("w", 10)
    now[0] += 8
    assert store.extend_leases([job.id], "w", 10) == {job.id: False}
    now[0] += 8  # within the extended lease
    assert store.claim_jobs("other", 10) == []
    assert store.extend_leases([job.id], "intruder", 10) == {}


def test_queue_stats(store_factory: StoreFactory) -> None:
    store, _ = clocked(store_factory)
    store.record_deliveries([new("a", "r1", "r2", at=990.0)])
    store.claim_jobs("w", 10)
    stats = store.queue_stats()
    assert (stats.queued, stats.running, stats.oldest_queued_age) == (1, 1, 10.0)
    assert queue_depth(store) == 2


# --- coordination -----------------------------------------------------------------------------


def test_concurrency_groups_run_one_and_keep_one_waiting(store: Store) -> None:
    store.record_deliveries([new("a", "r"), new("b", "r"), new("c", "r")])
    a, b, c = (store.claim_jobs("w", 60, delivery_id=d)[0] for d in "abc")
    assert store.acquire_group("g", a.id, cancel_in_progress=False) == RUN
    assert store.acquire_group("g", b.id, cancel_in_progress=False) == WAIT
    assert store.acquire_group("g", c.id, cancel_in_progress=False) == WAIT
    # c superseded b: b is asked to cancel
    assert {j["id"]: j["cancel_requested"] for j in store.jobs("b")} == {b.id: 1}
    store.release_group("g", a.id)
    assert store.acquire_group("g", c.id, cancel_in_progress=False) == RUN
    assert store.group("g") == {"running_job": c.id, "pending_job": None}
    store.release_group("g", c.id)
    assert store.group("g") is None


def test_cancel_in_progress_asks_the_running_job_to_stop(store: Store) -> None:
    store.record_deliveries([new("a", "r"), new("b", "r")])
    a = store.claim_jobs("w", 60, delivery_id="a")[0]
    b = store.claim_jobs("w", 60, delivery_id="b")[0]
    assert store.acquire_group("g", a.id, cancel_in_progress=True) == RUN
    assert store.acquire_group("g", b.id, cancel_in_progress=True) == WAIT
    assert store.extend_leases([a.id], "w", 60) == {a.id: True}


def test_a_group_held_by_a_finished_job_is_free(store: Store) -> None:
    store.record_deliveries([new("a", "r"), new("b", "r")])
    a = store.claim_jobs("w", 60, delivery_id="a")[0]
    b = store.claim_jobs("w", 60, delivery_id="b")[0]
    store.acquire_group("g", a.id, cancel_in_progress=False)
    store.finish_job(a, "w", state="done")  # and crashed before releasing
    assert store.acquire_group("g", b.id, cancel_in_progress=False) == RUN


def test_rate_limit_backoffs_are_shared(store_factory: StoreFactory) -> None:
    store, _ = clocked(store_factory)
    assert store.rate_blocked_until("42") == 0.0
    assert store.block_rate("42", 1060.0) == 1
    assert store.block_rate("42", 1030.0) == 2
    assert store.rate_blocked_until("42") == 1060.0
    store.clear_rate("42")
    assert store.block_rate("42", 1070.0) == 1  # the strikes start again


def test_workers_report_themselves(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    store.heartbeat("w1", kind="worker", pid=1, jobs_done=3, last_error=None)
    now[0] += 120
    store.heartbeat("w2", kind="server", pid=2, jobs_done=0, last_error="locked")
    assert [w["name"] for w in store.workers()] == ["w2"]
    store.forget_worker("w2")
    assert store.workers() == []


def test_a_real_write_probes_health(store: Store) -> None:
    assert store.probe_write() is True


def test_accounts(store: Store) -> None:
    store.upsert_installation(7, account="octo", account_type="Organization", repositories=["o/a"])
    store.upsert_installation(7, account="octo", account_type="Organization")
    found = store.installation(7)
    assert found is not None and found["repositories"] == ["o/a"]
    assert store.active_installations() == 1
    store.create_install_state("n1", "user")
    assert store.use_install_state("n1") and not store.use_install_state("n1")
    store.save_integration("i1", "user", "sealed", external_id="7", name="octo")
    assert [r["id"] for r in store.integrations("user", "github")] == ["i1"]
    assert store.delete_integration("user", "i1") and not store.delete_integration("user", "i1")


# --- migrations --------------------------------------------------------------------------------


def test_every_backend_has_the_same_numbered_steps() -> None:
    sqlite_steps = [(m.version, m.name) for m in migrations("sqlite")]
    assert sqlite_steps == [(m.version, m.name) for m in migrations("postgres")]
    assert [v for v, _ in sqlite_steps] == list(range(1, len(sqlite_steps) + 1))


def test_status_shows_every_step_applied(store: Store) -> None:
    status = Migrator(store).status()
    assert [s["version"] for s in status] == [m.version for m in migrations(store.dialect)]
    assert all(s["applied_at"] is not None for s in status)
    assert Migrator(store).upgrade() == []


def test_a_database_made_by_release_0_1_upgrades_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript((DATA / "store" / "release-0.1.sqlite.sql").read_text())
    old.commit()
    old.close()
    store = SQLiteStore(str(path), upgrade=False)
    steps = [m.version for m in migrations("sqlite")]
    assert [s["applied_at"] for s in Migrator(store).status()] == [None] * len(steps)
    assert [m.version for m in Migrator(store).upgrade()] == steps
    found = store.delivery("d-0.1")
    assert found is not None and found.payload == {"action": "opened"}
    assert found.status == "done"
    assert [r["status"] for r in store.runs("d-0.1")] == ["success"]
    installation = store.installation(5)
    assert installation is not None and installation["account"] == "octo-org"
    store.record_deliveries([new("after-upgrade", "r")])  # the new queue works on old data
    assert [j.rule for j in store.claim_jobs("w", 60)] == ["r"]
    store.close()


def test_read_only_commands_never_create_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing):
        open_store(f"sqlite:///{tmp_path / 'absent.db'}", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_scripts_split_into_statements_keeping_trigger_bodies() -> None:
    script = "CREATE TABLE a (x);\n-- note\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\nEND;\n"
    assert len(statements(script)) == 2


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(StoreError, match="unsupported DATABASE_URL scheme 'mysql'"):
        open_store("mysql://localhost/x")


# --- redeliveries (hookwise recover) ------------------------------------------------------------


def test_a_redelivery_is_claimed_once_per_window(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    store.record_deliveries([new("held")])
    assert store.stored_delivery_ids(["held", "missed"]) == {"held"}
    assert store.claim_redelivery("missed", 7, since=now[0] - 3600)
    assert not store.claim_redelivery("missed", 8, since=now[0] - 3600)  # asked in the window
    assert store.redeliveries_since(["missed", "other"], now[0] - 3600) == {"missed"}
    now[0] += 7200  # the window has moved past the request: it may be asked for again
    assert store.claim_redelivery("missed", 9, since=now[0] - 3600)
    store.release_redelivery("missed")  # GitHub refused: the next pass asks again
    assert store.claim_redelivery("missed", 9, since=now[0] - 3600)


def test_the_oldest_queued_age_is_one_probe_of_the_queue(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    assert store.oldest_queued_age() is None
    store.record_deliveries([new("a", "r1", at=now[0]), new("b", "r2", at=now[0])])
    now[0] += 5
    store.record_deliveries([new("c", "r3", at=now[0])])
    now[0] += 2
    assert store.oldest_queued_age() == 7.0
    assert store.oldest_queued_age() == store.queue_stats().oldest_queued_age
    claimed = store.claim_jobs("w", 60, limit=2)  # the two oldest leave the queue
    assert sorted(j.rule for j in claimed) == ["r1", "r2"]
    assert store.oldest_queued_age() == 2.0
    assert store.oldest_queued_age() == store.queue_stats().oldest_queued_age


def test_nul_characters_are_stored_alike_on_both_backends(store: Store) -> None:
    """PostgreSQL text cannot hold NUL (SQLite can): both store U+FFFD in its place."""
    store.record_deliveries([new("nul-1", "r", action="open\x00ed", repository="octo/he\x00llo")])
    found = store.delivery("nul-1")
    assert found is not None
    assert (found.action, found.repository) == ("open\ufffded", "octo/he\ufffdllo")


def test_a_delivery_write_cut_by_a_dropped_connection_is_retried_on_a_fresh_one(
    postgres_url: str,
) -> None:
    import psycopg

    from engine.store.postgres import PostgresStore

    store = PostgresStore(postgres_url, pool_size=1)
    try:
        store.record_deliveries([new("before-restart", "r")])
        with store._tx() as tx:
            own = tx.execute("SELECT pg_backend_pid() AS pid")[0]["pid"]
        # what a PostgreSQL restart does to the pool's idle connection
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (own,))
        assert store.record_deliveries([new("after-restart", "r")]) == [True]
        assert store.delivery("after-restart") is not None
    finally:
        store.close()


def test_kept_answers_are_shared_and_the_oldest_forgotten_past_the_limit(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    for index in range(4):
        now[0] += 1
        store.keep_answer(
            f"1 GET /r/{index}", etag=f'"e{index}"', last_modified=None, content_type="application/json",
            link=None, body=b'{"n": %d}' % index, limit=3,
        )
    assert store.cached_answer("1 GET /r/0") is None  # the oldest of four, past the limit of three
    kept = store.cached_answer("1 GET /r/3")
    assert kept is not None and (kept["etag"], kept["body"]) == ('"e3"', b'{"n": 3}')
    store.keep_answer("1 GET /r/3", etag='"e9"', last_modified=None, content_type=None, link=None, body=b"x", limit=3)
    again = store.cached_answer("1 GET /r/3")
    assert again is not None and (again["etag"], again["body"]) == ('"e9"', b"x")


def test_write_lanes_space_out_an_installations_writes(store_factory: StoreFactory) -> None:
    store, now = clocked(store_factory)
    assert [store.reserve_write("1", 1.0) for _ in range(3)] == [1000.0, 1001.0, 1002.0]
    assert store.reserve_write("2", 1.0) == 1000.0  # another installation has its own lane
    now[0] = 1010.0  # a lane idle for a while starts at the present
    assert store.reserve_write("1", 1.0) == 1010.0


def test_delivery_ids_are_found_by_prefix_case_sensitively(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.record_deliveries([new(d) for d in ("72d3162e-1", "72d3162e-2", "72d4aaaa", "A_%b", "a_xb")])
    assert store.delivery_ids_starting("72d3") == ["72d3162e-1", "72d3162e-2"]
    assert store.delivery_ids_starting("72d4") == ["72d4aaaa"]
    assert store.delivery_ids_starting("72D4") == []  # ids are compared as written
    assert store.delivery_ids_starting("A_%") == ["A_%b"]  # no wildcard in a prefix
    assert store.delivery_ids_starting("72d", limit=1) == ["72d3162e-1"]
