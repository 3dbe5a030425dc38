"""The store's SQL, written once for both backends: deliveries, jobs, runs, node runs, health.

Statements use `?` placeholders and SQL that SQLite and PostgreSQL both accept; each backend
supplies connections and transactions (`_tx`, `_read`) and the few statements that differ
(claiming jobs, recording a batch of deliveries). Every method is one short transaction.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import orjson

from engine.store.records import (
    DeliveryFilter,
    InstallationChange,
    NewDelivery,
    StoredDelivery,
    StoreError,
)

Row = dict[str, Any]

# A delivery's status from its latest generation of jobs; the list and one delivery use this
# one expression, so they cannot disagree.
STATUS_SQL = """(SELECT CASE
    WHEN COUNT(*) = 0 OR SUM(CASE WHEN j.state = 'not_matched' THEN 1 ELSE 0 END) = COUNT(*)
        THEN 'no_match'
    WHEN SUM(CASE WHEN j.state = 'running' THEN 1 ELSE 0 END) > 0 THEN 'running'
    WHEN SUM(CASE WHEN j.state = 'queued' THEN 1 ELSE 0 END) > 0 THEN 'queued'
    WHEN SUM(CASE WHEN j.state = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed'
    WHEN SUM(CASE WHEN j.state = 'undecided' THEN 1 ELSE 0 END) > 0 THEN 'undecided'
    ELSE 'done' END
  FROM jobs j WHERE j.delivery_id = d.delivery_id AND j.generation =
    (SELECT COALESCE(MAX(g.generation), 0) FROM jobs g WHERE g.delivery_id = d.delivery_id))"""

DELIVERY_COLUMNS = (
    "delivery_id, event, action, installation_id, repository, payload, headers, received_at,"
    " status, match_trace"
)


class Tx(Protocol):
    """One transaction (or autocommit reads) of a backend."""

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; its rows (empty when it returns none)."""
        ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of arguments."""
        ...

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        ...


class SQLStore:
    """The statements both backends share; subclasses provide connections."""

    dialect = "sql"
    clock: Callable[[], float]

    # --- provided by the backend ------------------------------------------------------------

    def _tx(self) -> AbstractContextManager[Tx]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Tx]:
        raise NotImplementedError

    def _claim(self, tx: Tx, worker: str, lease: float, limit: int, only: str | None) -> list[Row]:
        raise NotImplementedError

    def _notify(self, tx: Tx) -> None:
        """Wake workers in other processes (PostgreSQL NOTIFY); nothing by default."""

    def _apply_installation(self, tx: Tx, change: InstallationChange, now: float) -> None:
        """Keep the installations table in step (the accounts mixin does)."""

    def _payload_value(self, text: str) -> Any:
        """How a payload's text is stored (SQLite compresses; PostgreSQL's TOAST does)."""
        return text

    def _migration_lock(self, tx: Tx) -> None:
        """Hold off other processes' migrations for this transaction (SQLite's write lock
        already does)."""

    def close(self) -> None:
        """Close every connection."""

    def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; the rows it changed."""
        with self._tx() as tx:
            tx.execute(sql, args)
            return tx.rowcount

    def _select(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """One read."""
        with self._read() as tx:
            return tx.execute(sql, args)

    # --- deliveries ---------------------------------------------------------------------------

    def record_deliveries(self, batch: Sequence[NewDelivery]) -> list[bool | StoreError]:
        """Store deliveries with their jobs in one transaction; per delivery: True if stored,
        False if its id was seen before, or the StoreError that refused it alone.

        When the shared transaction fails, each delivery is retried in its own, so one bad
        delivery never costs the others their answer.
        """
        if not batch:
            return []
        try:
            with self._tx() as tx:
                results: list[bool | StoreError] = list(self._insert(tx, batch))
                self._notify(tx)
            return results
        except StoreError as exc:
            if len(batch) == 1 and not exc.retryable:
                raise
        # each alone (a dropped connection: once more, on a fresh one)
        alone: list[bool | StoreError] = []
        for item in batch:
            try:
                with self._tx() as tx:
                    alone.extend(self._insert(tx, [item]))
                    self._notify(tx)
            except StoreError as exc:
                alone.append(exc)
        return alone

    def _insert(self, tx: Tx, batch: Sequence[NewDelivery]) -> Iterator[bool]:
        """Insert a batch with one statement per table (executemany: one trip into the driver,
        not one per row); whether each delivery was new."""
        fresh: dict[str, NewDelivery] = {}
        for item in batch:  # an id twice in one batch: the first one counts
            fresh.setdefault(item.delivery.delivery_id, item)
        rows = [
            (
                d.delivery_id,
                d.event,
                d.action,
                d.installation_id,
                d.repository,
                self._payload_value(d.raw_payload or json.dumps(d.payload)),
                orjson.dumps(d.headers).decode(),
                d.received_at,
                d.status,
                orjson.dumps(d.match_trace).decode(),
            )
            for d in (item.delivery for item in fresh.values())
        ]
        inserted = self._insert_deliveries(tx, rows)
        jobs: list[tuple[Any, ...]] = []
        for delivery_id in inserted:
            item = fresh[delivery_id]
            at = item.delivery.received_at
            jobs.extend((delivery_id, rule, kind, at, at) for rule, kind in item.jobs)
            if item.installation is not None:
                self._apply_installation(tx, item.installation, at)
        if jobs:
            tx.executemany(
                "INSERT INTO jobs (delivery_id, rule, generation, kind, state, created_at, updated_at)"
                " VALUES (?, ?, 0, ?, 'queued', ?, ?)",
                jobs,
            )
        claimed: set[str] = set()
        for item in batch:
            delivery_id = item.delivery.delivery_id
            new = delivery_id in inserted and delivery_id not in claimed
            claimed.add(delivery_id)
            yield new

    def _insert_deliveries(self, tx: Tx, rows: list[tuple[Any, ...]]) -> set[str]:
        """Insert delivery rows, skipping ids already stored; the ids inserted. (SQLite: the
        write lock is held, so no other writer can insert one of them meanwhile.)"""
        marks = ", ".join("?" for _ in rows)
        known = tx.execute(
            f"SELECT delivery_id FROM deliveries WHERE delivery_id IN ({marks})",
            [row[0] for row in rows],
        )
        existing = {r["delivery_id"] for r in known}
        new_rows = [row for row in rows if row[0] not in existing]
        if new_rows:
            tx.executemany(
                f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                new_rows,
            )
        return {row[0] for row in new_rows}

    def delivery(self, delivery_id: str) -> StoredDelivery | None:
        """One delivery by its X-GitHub-Delivery id, with its derived status."""
        with self._read() as tx:
            rows = tx.execute(
                f"SELECT d.*, {STATUS_SQL} AS derived FROM deliveries d WHERE d.delivery_id = ?",
                (delivery_id,),
            )
        return _delivery(rows[0]) if rows else None

    def delivery_ids_starting(self, prefix: str, limit: int = 10) -> list[str]:
        """The delivery ids that start with `prefix` (as git takes a short hash), sorted."""
        with self._read() as tx:  # substr: case-sensitive on both backends, unlike LIKE
            rows = tx.execute(
                "SELECT delivery_id FROM deliveries WHERE substr(delivery_id, 1, ?) = ?"
                " ORDER BY delivery_id LIMIT ?",
                (len(prefix), prefix, limit),
            )
        return [str(r["delivery_id"]) for r in rows]

    def deliveries_by_id(self, delivery_ids: Sequence[str]) -> list[StoredDelivery]:
        """Several deliveries (with payloads) by id, in one query; absent ones are left out."""
        if not delivery_ids:
            return []
        marks = ", ".join("?" for _ in delivery_ids)
        with self._read() as tx:
            rows = tx.execute(
                f"SELECT d.*, d.status AS derived FROM deliveries d WHERE d.delivery_id IN ({marks})",
                list(delivery_ids),
            )
        return [_delivery(r) for r in rows]

    def deliveries(
        self, limit: int = 50, where: DeliveryFilter | None = None
    ) -> list[StoredDelivery]:
        """Deliveries newest first (payloads left out), filtered and paged by row id."""
        where = where or DeliveryFilter()
        clauses, args = [], []
        for column, value, op in (
            ("d.repository", where.repository, "="),
            ("d.event", where.event, "="),
            ("d.received_at", where.since, ">="),
            ("d.received_at", where.until, "<"),
            ("d.id", where.before_id, "<"),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                args.append(value)
        condition = " WHERE " + " AND ".join(clauses) if clauses else ""
        inner = (
            "SELECT d.id, d.delivery_id, d.event, d.action, d.installation_id, d.repository,"
            " NULL AS payload, '{}' AS headers, d.received_at, d.status, d.match_trace,"
            f" {STATUS_SQL} AS derived FROM deliveries d{condition}"
        )
        status = ""
        if where.status is not None:
            status = " WHERE listed.derived = ?"
            args.append(where.status)
        sql = f"SELECT * FROM ({inner}) listed{status} ORDER BY listed.id DESC LIMIT ?"
        with self._read() as tx:
            rows = tx.execute(sql, (*args, limit))
        return [_delivery(r) for r in rows]

    def delivery_row_id(self, delivery_id: str) -> int | None:
        """The row id of a delivery (the cursor of the next page)."""
        with self._read() as tx:
            rows = tx.execute("SELECT id FROM deliveries WHERE delivery_id = ?", (delivery_id,))
        return int(rows[0]["id"]) if rows else None

    def add_jobs(self, delivery_id: str, jobs: Sequence[tuple[str, str]]) -> int:
        """Queue jobs for a replay under a new generation; return the generation."""
        now = self.clock()
        with self._tx() as tx:
            rows = tx.execute(
                "SELECT COALESCE(MAX(generation), -1) + 1 AS next FROM jobs WHERE delivery_id = ?",
                (delivery_id,),
            )
            generation = int(rows[0]["next"]) if rows else 0
            tx.executemany(
                "INSERT INTO jobs (delivery_id, rule, generation, kind, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                [(delivery_id, rule, generation, kind, now, now) for rule, kind in jobs],
            )
            self._notify(tx)
        return generation

    def prune_payloads(self, older_than: float) -> int:
        """Drop the payloads (not the metadata or runs) of deliveries received before a time."""
        with self._tx() as tx:
            tx.execute(
                "UPDATE deliveries SET payload = NULL, headers = '{}' WHERE received_at < ?"
                " AND payload IS NOT NULL AND delivery_id NOT IN"
                " (SELECT delivery_id FROM jobs WHERE state IN ('queued', 'running'))",
                (older_than,),
            )
            return tx.rowcount

    # --- health --------------------------------------------------------------------------------

    def probe_write(self) -> bool:
        """Whether the database takes a real write now (a committed row, for /health)."""
        try:
            with self._probe() as tx:
                tx.execute(
                    "INSERT INTO health_probe (id, checked_at) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                    (self.clock(),),
                )
        except StoreError:
            return False
        return True

    def _probe(self) -> AbstractContextManager[Tx]:
        return self._tx()


def payload_text(value: Any) -> str | None:
    """A stored payload as text: zlib-compressed bytes (SQLite) or text (PostgreSQL, 0.1)."""
    if isinstance(value, bytes | memoryview):
        return zlib.decompress(bytes(value)).decode("utf-8")
    return value if value is None else str(value)


def _delivery(row: Row) -> StoredDelivery:
    payload = payload_text(row.get("payload"))
    return StoredDelivery(
        delivery_id=row["delivery_id"],
        event=row["event"],
        action=row["action"],
        installation_id=row["installation_id"],
        repository=row["repository"],
        payload=orjson.loads(payload) if payload is not None else None,
        headers=json.loads(row["headers"]),
        received_at=float(row["received_at"]),
        status=row.get("derived") or row["status"],
        match_trace=json.loads(row["match_trace"]),
        raw_payload=payload,
    )
