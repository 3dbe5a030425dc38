"""Storage: deliveries, the job queue with leases, runs, node runs and installations.

SQLite by default (one file, WAL). Every method is one short transaction, so the server can
call them from its event loop. A PostgreSQL backend implements the same Store interface
with the same semantics (claim = UPDATE ... WHERE lease expired, RETURNING).

Durability: a delivery is committed before the webhook is answered. With WAL and
synchronous=NORMAL a commit survives a crash of the process (kill -9); set
HOOKWISE_SQLITE_SYNCHRONOUS=FULL to survive a power loss too, at some cost in throughput.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.store.accounts import AccountsStore
from engine.store.base import Job, StoredDelivery
from engine.store.sqlite_schema import SCHEMA


class SQLiteStore(AccountsStore):
    """The embedded SQLite store (one connection, used from one thread)."""

    def __init__(
        self, path: str, *, synchronous: str | None = None, clock: Any = time.time
    ) -> None:
        self.path = path
        self.clock = clock
        if path not in (":memory:", "") and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        mode = (synchronous or os.environ.get("HOOKWISE_SQLITE_SYNCHRONOUS") or "NORMAL").upper()
        if mode not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"HOOKWISE_SQLITE_SYNCHRONOUS must be NORMAL or FULL, not {mode!r}")
        self.db.execute(f"PRAGMA synchronous={mode}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite://:memory:`."""
        if not url.startswith("sqlite:"):
            raise ValueError(
                f"unsupported DATABASE_URL {url.split(':', 1)[0]}: (sqlite:/// is built in)"
            )
        path = url.removeprefix("sqlite://")
        path = path[1:] if path.startswith("/") else path
        return cls(path or ":memory:")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- deliveries -------------------------------------------------------------------------

    def record_delivery(self, delivery: StoredDelivery, jobs: list[tuple[str, str]]) -> bool:
        """Store a delivery and its jobs (rule, kind) atomically; False if it is a duplicate."""
        return self.record_deliveries([(delivery, jobs)])[0]

    def record_deliveries(
        self, batch: list[tuple[StoredDelivery, list[tuple[str, str]]]]
    ) -> list[bool]:
        """Store several deliveries in one transaction; for each, False if it is a duplicate.

        Each delivery and its jobs are one INSERT (a trigger queues the jobs), so a duplicate
        id fails only its own statement and the others commit.
        """
        results = []
        with self.transaction() as db:
            for delivery, jobs in batch:
                try:
                    db.execute(
                        "INSERT INTO deliveries (delivery_id, event, action, installation_id, repository,"
                        " payload, headers, received_at, status, match_trace, job_spec)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            delivery.delivery_id,
                            delivery.event,
                            delivery.action,
                            delivery.installation_id,
                            delivery.repository,
                            delivery.raw_payload or json.dumps(delivery.payload),
                            json.dumps(delivery.headers),
                            delivery.received_at,
                            delivery.status,
                            json.dumps(delivery.match_trace),
                            json.dumps(jobs) if jobs else None,
                        ),
                    )
                    results.append(True)
                except sqlite3.IntegrityError:
                    results.append(False)
        return results

    def delivery(self, delivery_id: str) -> StoredDelivery | None:
        """One delivery by its X-GitHub-Delivery id."""
        row = self.db.execute(
            "SELECT * FROM deliveries WHERE delivery_id = ?", (delivery_id,)
        ).fetchone()
        return _delivery(row) if row else None

    def deliveries(self, limit: int = 50) -> list[StoredDelivery]:
        """The newest deliveries first, each with a status derived from its jobs."""
        rows = self.db.execute(
            "SELECT d.*, (SELECT CASE WHEN COUNT(*) = 0 THEN 'no_match'"
            " WHEN SUM(j.state IN ('queued', 'running')) > 0 THEN 'running'"
            " WHEN SUM(j.state = 'failed') > 0 THEN 'failed' ELSE 'done' END"
            " FROM jobs j WHERE j.delivery_id = d.delivery_id) AS job_status"
            " FROM deliveries d ORDER BY received_at DESC, id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_delivery(r, r["job_status"]) for r in rows]

    def add_jobs(self, delivery_id: str, jobs: list[tuple[str, str]]) -> int:
        """Queue jobs for a replay under a new generation; return the generation."""
        now = self.clock()
        with self.transaction() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(generation), -1) + 1 FROM jobs WHERE delivery_id = ?",
                (delivery_id,),
            ).fetchone()
            generation = int(row[0]) if row else 0
            db.executemany(
                "INSERT INTO jobs (delivery_id, rule, generation, kind, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                [(delivery_id, rule, generation, kind, now, now) for rule, kind in jobs],
            )
        return generation

    def prune_payloads(self, older_than: float) -> int:
        """Drop the payloads (not the metadata or runs) of deliveries received before a time."""
        cursor = self.db.execute(
            "UPDATE deliveries SET payload = NULL, headers = '{}' WHERE received_at < ? AND payload IS NOT NULL"
            " AND delivery_id NOT IN (SELECT delivery_id FROM jobs WHERE state IN ('queued', 'running'))",
            (older_than,),
        )
        return cursor.rowcount

    # --- jobs --------------------------------------------------------------------------------

    def claim_job(self, worker: str, lease: float, *, delivery_id: str | None = None) -> Job | None:
        """Take a job whose worker's lease ran out (a crash), else the oldest queued one."""
        now = self.clock()
        only = " AND delivery_id = ?" if delivery_id is not None else ""
        extra: tuple[Any, ...] = (delivery_id,) if delivery_id is not None else ()
        # two indexed lookups (state, id) rather than one OR that would scan finished jobs
        found = (
            self.db.execute(
                f"SELECT id FROM jobs WHERE state = 'running' AND lease_until < ?{only} ORDER BY id LIMIT 1",
                (now, *extra),
            ).fetchone()
            or self.db.execute(
                f"SELECT id FROM jobs WHERE state = 'queued'{only} ORDER BY id LIMIT 1", extra
            ).fetchone()
        )
        if found is None:
            return None
        row = self.db.execute(
            "UPDATE jobs SET state = 'running', worker = ?, lease_until = ?, attempts = attempts + 1,"
            " updated_at = ? WHERE id = ? AND (state = 'queued' OR lease_until < ?)"
            " RETURNING id, delivery_id, rule, generation, kind, attempts",
            (worker, now + lease, now, found[0], now),
        ).fetchone()
        if row is None:
            return None
        return Job(
            row["id"],
            row["delivery_id"],
            row["rule"],
            row["generation"],
            row["kind"],
            row["attempts"],
        )

    def extend_lease(self, job_id: int, worker: str, lease: float) -> bool:
        """Keep a long job's lease; False when another worker took the job over."""
        cursor = self.db.execute(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND state = 'running'",
            (self.clock() + lease, job_id, worker),
        )
        return cursor.rowcount == 1

    def finish_job(
        self,
        job: Job,
        worker: str,
        *,
        state: str,
        error: str | None = None,
        run: dict[str, Any] | None = None,
    ) -> bool:
        """Mark a job done (with its run record) in one transaction; False if not ours."""
        now = self.clock()
        with self.transaction() as db:
            owned = db.execute(
                "UPDATE jobs SET state = ?, error = ?, lease_until = NULL, updated_at = ?"
                " WHERE id = ? AND worker = ? AND state = 'running'",
                (state, error, now, job.id, worker),
            ).rowcount
            if not owned:
                return False
            if run is not None:
                db.execute(
                    "INSERT INTO runs (job_id, delivery_id, rule, generation, status, started_at,"
                    " finished_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.id,
                        job.delivery_id,
                        job.rule,
                        job.generation,
                        run["status"],
                        run.get("started_at"),
                        run.get("finished_at"),
                        json.dumps(run, default=str),
                    ),
                )
        return True

    def oldest_queued_age(self) -> float | None:
        """Seconds the oldest queued job has waited, or None when none is queued."""
        row = self.db.execute(
            "SELECT created_at FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1"
        ).fetchone()
        return None if row is None else self.clock() - float(row[0])

    def queue_depth(self) -> int:
        """Jobs waiting or running."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchone()
        return int(row[0])

    def jobs(self, delivery_id: str) -> list[dict[str, Any]]:
        """The jobs of a delivery."""
        rows = self.db.execute(
            "SELECT * FROM jobs WHERE delivery_id = ? ORDER BY id", (delivery_id,)
        )
        return [dict(r) for r in rows]

    # --- node runs (idempotency) ---------------------------------------------------------------

    def record_node(self, job_id: int, node: dict[str, Any], key: str) -> None:
        """Remember a finished node, so a retried job does not repeat its writes."""
        self.db.execute(
            "INSERT INTO node_runs (job_id, node_id, idempotency_key, status, attempts, started_at,"
            " finished_at, outputs, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id, node_id) DO UPDATE SET status = excluded.status,"
            " attempts = excluded.attempts, finished_at = excluded.finished_at,"
            " outputs = excluded.outputs, error = excluded.error",
            (
                job_id,
                node["id"],
                key,
                node["status"],
                node.get("attempts", 0),
                node.get("started_at"),
                node.get("finished_at"),
                json.dumps(node.get("outputs", {}), default=str),
                node.get("error"),
            ),
        )

    def completed_nodes(self, job_id: int) -> dict[str, dict[str, Any]]:
        """idempotency key -> outputs of the job's nodes that already succeeded."""
        rows = self.db.execute(
            "SELECT idempotency_key, outputs FROM node_runs WHERE job_id = ? AND status = 'success'",
            (job_id,),
        ).fetchall()
        return {r["idempotency_key"]: json.loads(r["outputs"]) for r in rows}

    def runs(self, delivery_id: str) -> list[dict[str, Any]]:
        """The run records of a delivery, oldest first."""
        rows = self.db.execute(
            "SELECT rule, generation, status, record FROM runs WHERE delivery_id = ? ORDER BY id",
            (delivery_id,),
        ).fetchall()
        return [
            {
                "rule": r["rule"],
                "generation": r["generation"],
                "status": r["status"],
                "record": json.loads(r["record"]),
            }
            for r in rows
        ]

    def writable(self) -> bool:
        """Whether the database accepts a write now (for /health)."""
        try:
            with self.transaction() as db:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS health_probe (x INTEGER)")
                db.execute("INSERT INTO health_probe VALUES (1)")
                db.execute("DELETE FROM health_probe")
        except sqlite3.Error:
            return False
        return True


def _delivery(row: sqlite3.Row, status: str | None = None) -> StoredDelivery:
    return StoredDelivery(
        delivery_id=row["delivery_id"],
        event=row["event"],
        action=row["action"],
        installation_id=row["installation_id"],
        repository=row["repository"],
        payload=json.loads(row["payload"]) if row["payload"] is not None else None,
        headers=json.loads(row["headers"]),
        received_at=row["received_at"],
        status=status or row["status"],
        match_trace=json.loads(row["match_trace"]),
    )
