"""The embedded SQLite backend: one file in WAL mode, a connection per thread.

Durability: a delivery is committed before the webhook is answered. With WAL and
synchronous=NORMAL a commit survives a crash of the process (kill -9); set
HOOKWISE_SQLITE_SYNCHRONOUS=FULL to survive a power loss too, at some cost in throughput.
A writer waits at most `busy_timeout` seconds for a lock (well under GitHub's 10 s), so a
locked database gives a prompt error rather than a frozen server.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from engine.store.interface import Store
from engine.store.migrate import Migrator
from engine.store.records import StoreError, StoreMissing, without_nul
from engine.store.sql import Row

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
COMPRESS_OVER = 10**9  # bytes; smaller payloads stay text


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class _Tx:
    """A transaction (or autocommit reads) on one SQLite connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._rowcount = 0

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            cursor = self.db.execute(sql, without_nul(args))
            rows = cursor.fetchall() if cursor.description else []
        except (sqlite3.Error, OverflowError, ValueError) as exc:
            raise StoreError(f"SQLite: {exc}") from exc
        self._rowcount = cursor.rowcount
        return rows

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            cursor = self.db.executemany(sql, [without_nul(row) for row in rows])
        except (sqlite3.Error, OverflowError, ValueError) as exc:
            raise StoreError(f"SQLite: {exc}") from exc
        self._rowcount = cursor.rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount


class SQLiteStore(Store):
    """The embedded SQLite store: safe to use from several threads (one connection each)."""

    dialect = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        synchronous: str | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 5.0,
        create: bool = True,
        upgrade: bool = True,
    ) -> None:
        self.path = path
        self.clock = clock
        self.busy_timeout = busy_timeout
        self.memory = path in (":memory:", "")
        if not self.memory and not create and not os.path.exists(path):
            raise StoreMissing(f"no database at {path}")
        if not self.memory and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = (synchronous or os.environ.get("HOOKWISE_SQLITE_SYNCHRONOUS") or "NORMAL").upper()
        if mode not in SYNCHRONOUS:
            raise ValueError(f"HOOKWISE_SQLITE_SYNCHRONOUS must be NORMAL or FULL, not {mode!r}")
        self.synchronous = mode
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._shared: sqlite3.Connection | None = None
        # operations in progress; close() waits for them (closing a connection that another
        # thread is using crashes the process)
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._closing = False
        db = self._connection()
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc
        if upgrade:
            Migrator(self).upgrade()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite://:memory:`."""
        return cls(sqlite_path(url), **options)

    # --- connections --------------------------------------------------------------------------

    def _open(self, timeout: float) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=timeout
        )
        db.row_factory = _dict_row
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._connections.append(db)
        return db

    def _connection(self) -> sqlite3.Connection:
        if self.memory:  # one in-memory database: every thread shares its one connection
            if self._shared is None:
                self._shared = self._open(self.busy_timeout)
            return self._shared
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._open(self.busy_timeout)
        return db

    def close(self, timeout: float = 30.0) -> None:
        """Close every connection once the operations in progress have finished (a later
        operation opens a new one)."""
        with self._idle:
            self._closing = True
            try:
                self._idle.wait_for(lambda: self._busy == 0, timeout)
                connections, self._connections = self._connections, []
                for db in connections:
                    db.close()
                self._local = threading.local()
                self._shared = None
            finally:
                self._closing = False
                self._idle.notify_all()

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, counted as in use until the block ends."""
        with self._idle:
            self._idle.wait_for(lambda: not self._closing)
            self._busy += 1
        try:
            yield self._connection()
        finally:
            with self._idle:
                self._busy -= 1
                if self._busy == 0:
                    self._idle.notify_all()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self._using() as db, self._transaction(db) as tx:
            yield tx

    @contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Iterator[_Tx]:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc
        try:
            yield _Tx(db)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"SQLite: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[_Tx]:
        with self._using() as db:
            yield _Tx(db)

    @contextmanager
    def _probe(self) -> Iterator[_Tx]:
        """/health's write: this thread's connection, waiting at most two seconds for the lock."""
        with self._using() as db:
            db.execute("PRAGMA busy_timeout = 2000")
            try:
                with self._transaction(db) as tx:
                    yield tx
            finally:
                db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def _payload_value(self, text: str) -> Any:
        """Payloads over 1 KB go in zlib-compressed (level 1): a pull request's 21 KB becomes
        about 2 KB, so the file takes a tenth of the writes. zlib runs in the writer thread,
        outside the GIL, and the text reads back exactly as received."""
        data = text.encode("utf-8", "surrogatepass")
        return zlib.compress(data, 1) if len(data) > COMPRESS_OVER else text

    def _claim(self, tx: Any, worker: str, lease: float, limit: int, only: str | None) -> list[Row]:
        now = self.clock()
        scope = " AND delivery_id = ?" if only is not None else ""
        extra: tuple[Any, ...] = (only,) if only is not None else ()
        # the write lock (BEGIN IMMEDIATE) makes select-then-update safe: no other writer
        expired = tx.execute(
            f"SELECT id FROM jobs WHERE state = 'running' AND lease_until < ?{scope}"
            " ORDER BY id LIMIT ?",
            (now, *extra, limit),
        )
        due = tx.execute(
            f"SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ?{scope}"
            " ORDER BY id LIMIT ?",
            (now, *extra, limit - len(expired)),
        )
        ids = [r["id"] for r in [*expired, *due]]
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows: list[Row] = tx.execute(
            "UPDATE jobs SET state = 'running', worker = ?, lease_until = ?,"
            f" attempts = attempts + 1, updated_at = ? WHERE id IN ({marks})"
            " RETURNING id, delivery_id, rule, generation, kind, attempts, cancel_requested, error",
            (worker, now + lease, now, *ids),
        )
        return rows


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:` URL (`sqlite:///rel.db`, `sqlite:////abs.db`, `sqlite://:memory:`)."""
    if not url.startswith("sqlite:"):
        raise ValueError(f"not a sqlite URL: {url.split(':', 1)[0]}:")
    path = url.removeprefix("sqlite://")
    path = path[1:] if path.startswith("/") else path
    return path or ":memory:"
