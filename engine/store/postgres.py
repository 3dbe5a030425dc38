"""The PostgreSQL backend (psycopg 3 and its pool): several servers and workers on one database.

Jobs are claimed with `FOR UPDATE SKIP LOCKED` under leases that expire, so workers in any
number of processes never take the same job and a crashed worker's jobs are taken over.
Inserting jobs sends `NOTIFY hookwise_jobs`; idle workers LISTEN and wake at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from engine.store.interface import Store
from engine.store.migrate import Migrator
from engine.store.records import ConnectionLost, StoreError, StoreMissing, without_nul
from engine.store.sql import DELIVERY_COLUMNS, Row

CHANNEL = "hookwise_jobs"
_PLACEHOLDER = re.compile(r"\?")


@cache
def _pg(statement: str) -> str:
    """`?` placeholders as psycopg's `%s`."""
    return _PLACEHOLDER.sub("%s", statement)


class _Tx:
    """A transaction (or reads) on one pooled connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.cur = conn.cursor(row_factory=dict_row)
        self._rowcount = 0

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            self.cur.execute(_pg(sql) if args else sql, without_nul(args) or None)
            rows = self.cur.fetchall() if self.cur.description else []
        except (psycopg.Error, OverflowError, ValueError) as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc
        self._rowcount = self.cur.rowcount
        return rows

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self.cur.executemany(_pg(sql), [without_nul(row) for row in rows])
        except (psycopg.Error, OverflowError, ValueError) as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc
        self._rowcount = self.cur.rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount

    def insert_returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> set[str]:
        """executemany with RETURNING (pipelined): the first column of every returned row."""
        try:
            self.cur.executemany(_pg(sql), [without_nul(row) for row in rows], returning=True)
            found: set[str] = set()
            while True:
                found.update(str(row["delivery_id"]) for row in self.cur.fetchall())
                if not self.cur.nextset():
                    return found
        except (psycopg.Error, OverflowError, ValueError) as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc


class PostgresStore(Store):
    """The PostgreSQL store: a connection pool shared by the threads of one process."""

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        pool_size: int = 10,
        busy_timeout: float = 5.0,
        create: bool = True,
        upgrade: bool = True,
    ) -> None:
        self.url = url
        self.clock = clock
        self.busy_timeout = busy_timeout
        if create:
            ensure_database(url)
        elif not database_exists(url):
            raise StoreMissing(f"no database {psycopg.conninfo.conninfo_to_dict(url).get('dbname')}")
        options = f"-c lock_timeout={int(busy_timeout * 1000)} -c idle_in_transaction_session_timeout=60000"
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"options": options},
            open=False,
            timeout=busy_timeout,
            name="hookwise",
        )
        try:
            self.pool.open(wait=True, timeout=busy_timeout)
        except PoolTimeout as exc:
            raise StoreError(f"PostgreSQL: cannot connect to the database: {exc}") from exc
        if upgrade:
            Migrator(self).upgrade()

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        conn: psycopg.Connection[Any] | None = None
        try:
            with self.pool.connection() as conn, conn.transaction():
                yield _Tx(conn)
        except StoreError as exc:  # from a statement: was it the connection that failed?
            if isinstance(exc.__cause__, psycopg.OperationalError) and conn is not None and conn.broken:
                raise ConnectionLost(str(exc)) from exc
            raise
        except psycopg.OperationalError as exc:  # the commit itself, on a dropped connection
            raise ConnectionLost(f"PostgreSQL: {exc}") from exc
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    _read = _tx

    @contextmanager
    def _probe(self) -> Iterator[_Tx]:
        """/health's write: at most a second's wait for a connection or a lock."""
        try:
            with self.pool.connection(timeout=1.0) as conn, conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '1s'")
                conn.execute("SET LOCAL statement_timeout = '1s'")
                yield _Tx(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def _insert_deliveries(self, tx: Any, rows: list[tuple[Any, ...]]) -> set[str]:
        """One pipelined statement per row (psycopg's executemany with RETURNING): a delivery
        another replica stored first is skipped by the unique constraint, not counted twice."""
        inserted: set[str] = tx.insert_returning(
            f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
            rows,
        )
        return inserted

    def _notify(self, tx: Any) -> None:
        tx.execute(f"NOTIFY {CHANNEL}")

    def _migration_lock(self, tx: Any) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(7720231)")

    def _claim(self, tx: Any, worker: str, lease: float, limit: int, only: str | None) -> list[Row]:
        now = self.clock()
        scope = " AND delivery_id = ?" if only is not None else ""
        extra: tuple[Any, ...] = (only,) if only is not None else ()
        rows: list[Row] = tx.execute(
            f"WITH expired AS (SELECT id FROM jobs WHERE state = 'running' AND lease_until < ?{scope}"
            " ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED),"
            f" due AS (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ?{scope}"
            " ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED),"
            " picked AS (SELECT id FROM expired UNION ALL SELECT id FROM due LIMIT ?)"
            " UPDATE jobs SET state = 'running', worker = ?, lease_until = ?,"
            " attempts = attempts + 1, updated_at = ? FROM picked WHERE jobs.id = picked.id"
            " RETURNING jobs.id, delivery_id, rule, generation, kind, attempts, cancel_requested,"
            " error",
            (now, *extra, limit, now, *extra, limit, limit, worker, now + lease, now),
        )
        return rows

    def listen(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a NOTIFY on the jobs channel (a dedicated
        connection, kept between calls); True when one arrived."""
        conn: psycopg.Connection[Any] | None = getattr(self, "_listener", None)
        if conn is None or conn.closed:
            conn = self._listener = psycopg.connect(self.url, autocommit=True)
            conn.execute(f"LISTEN {CHANNEL}")
        for _ in conn.notifies(timeout=timeout, stop_after=1):
            return True
        return False


def _admin(url: str) -> tuple[str, str]:
    """(a URL of the server's `postgres` database, the database name of `url`)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    name = str(params.get("dbname") or "postgres")
    params["dbname"] = "postgres"
    return psycopg.conninfo.make_conninfo("", **params), name


def database_exists(url: str) -> bool:
    """Whether the database of a URL exists on its server."""
    admin, name = _admin(url)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            return bool(
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            )
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL: {exc}") from exc


def ensure_database(url: str) -> None:
    """Create the database of a URL when it does not exist yet (as `serve` and `db upgrade` do)."""
    if database_exists(url):
        return
    admin, name = _admin(url)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        return  # another process created it first
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL: {exc}") from exc
