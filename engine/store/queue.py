"""The job queue: claiming under leases, finishing with the run record, retries and
deferrals, node runs for idempotency. Shared by both backends; each supplies `_claim`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson

from engine.store.records import QUEUED, RUNNING, Finish, Job, JobKind, QueueStats
from engine.store.sql import Row, SQLStore, Tx


class QueueMixin(SQLStore):
    """Jobs, node runs and runs."""

    # --- jobs -------------------------------------------------------------------------------

    def claim_jobs(
        self, worker: str, lease: float, *, limit: int = 1, delivery_id: str | None = None
    ) -> list[Job]:
        """Take up to `limit` jobs: those whose lease ran out (a crash) first, then queued ones
        that are due, oldest first. Several workers never take the same job."""
        with self._tx() as tx:
            rows = self._claim(tx, worker, lease, limit, delivery_id)
        return sorted((_job(r) for r in rows), key=lambda j: j.id)

    def extend_leases(self, job_ids: Sequence[int], worker: str, lease: float) -> dict[int, bool]:
        """Keep running jobs' leases: job id -> cancel requested, for the jobs still ours."""
        if not job_ids:
            return {}
        marks = ", ".join("?" for _ in job_ids)
        with self._tx() as tx:
            rows = tx.execute(
                f"UPDATE jobs SET lease_until = ? WHERE id IN ({marks}) AND worker = ?"
                " AND state = 'running' RETURNING id, cancel_requested",
                (self.clock() + lease, *job_ids, worker),
            )
        return {int(r["id"]): bool(r["cancel_requested"]) for r in rows}

    def finish_job(
        self,
        job: Job,
        worker: str,
        *,
        state: str,
        error: str | None = None,
        run: dict[str, Any] | None = None,
        nodes: Sequence[tuple[dict[str, Any], str]] = (),
        spawn: Sequence[tuple[str, str]] = (),
        trace: dict[str, Any] | None = None,
    ) -> bool:
        """Mark a job finished, with its run record and node records, in one transaction;
        False when the job is no longer ours (its lease ran out and another worker took it)."""
        (done,) = self.finish_jobs(worker, [Finish(job, state, error, run, nodes, spawn, trace)])
        return done

    def finish_jobs(self, worker: str, finishes: Sequence[Finish]) -> list[bool]:
        """Finish several jobs in one transaction (one commit for a batch: the workers' group
        commit); for each, False when it is no longer ours. A job is finished with all of its
        records or not at all."""
        now = self.clock()
        with self._tx() as tx:
            owned = self._end_jobs(tx, worker, finishes, now)
            mine = [f for f in finishes if f.job.id in owned]
            self._nodes_of(tx, [(f.job.id, n) for f in mine for n in f.nodes])
            runs = [f for f in mine if f.run is not None]
            if runs:
                tx.executemany(
                    "INSERT INTO runs (job_id, delivery_id, rule, generation, status, started_at,"
                    " finished_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [_run_row(f.job, f.run) for f in runs if f.run is not None],
                )
            spawned = [
                (f.job.delivery_id, rule, f.job.generation, kind, now, now)
                for f in mine
                for rule, kind in f.spawn
            ]
            if spawned:
                tx.executemany(
                    "INSERT INTO jobs (delivery_id, rule, generation, kind, state, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                    spawned,
                )
                self._notify(tx)
            for finish in mine:
                if finish.trace:
                    self._merge_trace(tx, finish.job.delivery_id, finish.trace)
        return [f.job.id in owned for f in finishes]

    def _end_jobs(self, tx: Tx, worker: str, finishes: Sequence[Finish], now: float) -> set[int]:
        """Set the jobs' end states (one statement per state and error): the ids still ours."""
        groups: dict[tuple[str, str | None], list[int]] = {}
        for finish in finishes:
            groups.setdefault((finish.state, finish.error), []).append(finish.job.id)
        owned: set[int] = set()
        for (state, error), ids in groups.items():
            marks = ", ".join("?" for _ in ids)
            rows = tx.execute(
                "UPDATE jobs SET state = ?, error = ?, lease_until = NULL, updated_at = ?"
                f" WHERE id IN ({marks}) AND worker = ? AND state = 'running' RETURNING id",
                (state, error, now, *ids, worker),
            )
            owned.update(int(r["id"]) for r in rows)
        return owned

    def _merge_trace(self, tx: Tx, delivery_id: str, trace: dict[str, Any]) -> None:
        rows = tx.execute("SELECT match_trace FROM deliveries WHERE delivery_id = ?", (delivery_id,))
        if rows:
            merged = {**orjson.loads(rows[0]["match_trace"] or "{}"), **trace}
            tx.execute(
                "UPDATE deliveries SET match_trace = ? WHERE delivery_id = ?",
                (orjson.dumps(merged, default=str).decode(), delivery_id),
            )

    def requeue_job(
        self, job: Job, worker: str, *, delay: float, error: str | None = None, retry: bool = True
    ) -> bool:
        """Put a claimed job back to run after `delay` seconds: a retry (the attempt counts)
        or a deferral (it waits for its concurrency group; the attempt does not count)."""
        with self._tx() as tx:
            tx.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL,"
                " run_after = ?, error = ?, updated_at = ?,"
                " attempts = attempts - ? WHERE id = ? AND worker = ? AND state = 'running'",
                (self.clock() + delay, error, self.clock(), 0 if retry else 1, job.id, worker),
            )
            changed = tx.rowcount == 1
            if changed and delay <= 0:
                self._notify(tx)
        return changed

    def jobs(self, delivery_id: str) -> list[Row]:
        """The jobs of a delivery, oldest first."""
        with self._read() as tx:
            return tx.execute(
                "SELECT * FROM jobs WHERE delivery_id = ? ORDER BY id", (delivery_id,)
            )

    def queue_stats(self) -> QueueStats:
        """Jobs queued and running, and how long the oldest queued one has waited."""
        with self._read() as tx:
            rows = tx.execute(
                "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs"
                " WHERE state IN ('queued', 'running') GROUP BY state"
            )
        by_state = {r["state"]: r for r in rows}
        queued = by_state.get(QUEUED)
        oldest = queued["oldest"] if queued else None
        return QueueStats(
            queued=int(queued["n"]) if queued else 0,
            running=int(by_state[RUNNING]["n"]) if RUNNING in by_state else 0,
            oldest_queued_age=None if oldest is None else max(0.0, self.clock() - float(oldest)),
        )

    def oldest_queued_age(self) -> float | None:
        """Seconds the oldest queued job has waited (None: none is queued). One index probe
        (jobs_state_order), however deep the queue: workers ask it several times a second."""
        with self._read() as tx:
            rows = tx.execute(
                "SELECT created_at FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1"
            )
        return max(0.0, self.clock() - float(rows[0]["created_at"])) if rows else None

    # --- node runs (idempotency) and runs -------------------------------------------------------

    def record_nodes(self, job_id: int, nodes: Sequence[tuple[dict[str, Any], str]]) -> None:
        """Remember finished nodes (record, idempotency key), so a retried job skips them."""
        with self._tx() as tx:
            self._nodes(tx, job_id, nodes)

    def _nodes(self, tx: Tx, job_id: int, nodes: Sequence[tuple[dict[str, Any], str]]) -> None:
        self._nodes_of(tx, [(job_id, node) for node in nodes])

    def _nodes_of(
        self, tx: Tx, nodes: Sequence[tuple[int, tuple[dict[str, Any], str]]]
    ) -> None:
        """Upsert node records: (job id, (record, idempotency key)) each."""
        if not nodes:
            return
        tx.executemany(
            "INSERT INTO node_runs (job_id, node_id, idempotency_key, status, attempts, started_at,"
            " finished_at, outputs, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id, node_id) DO UPDATE SET status = excluded.status,"
            " attempts = excluded.attempts, finished_at = excluded.finished_at,"
            " outputs = excluded.outputs, error = excluded.error",
            [
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
                )
                for job_id, (node, key) in nodes
            ],
        )

    def completed_nodes(self, job_id: int) -> dict[str, dict[str, Any]]:
        """idempotency key -> outputs of the job's nodes that already succeeded."""
        with self._read() as tx:
            rows = tx.execute(
                "SELECT idempotency_key, outputs FROM node_runs WHERE job_id = ?"
                " AND status = 'success'",
                (job_id,),
            )
        return {r["idempotency_key"]: json.loads(r["outputs"]) for r in rows}

    def runs(self, delivery_id: str) -> list[Row]:
        """The run records of a delivery, oldest first."""
        with self._read() as tx:
            rows = tx.execute(
                "SELECT rule, generation, status, record FROM runs WHERE delivery_id = ?"
                " ORDER BY id",
                (delivery_id,),
            )
        return [{**r, "record": json.loads(r["record"])} for r in rows]


def _run_row(job: Job, run: dict[str, Any]) -> tuple[Any, ...]:
    return (
        job.id,
        job.delivery_id,
        job.rule,
        job.generation,
        run["status"],
        run.get("started_at"),
        run.get("finished_at"),
        orjson.dumps(run, default=str).decode(),
    )


def _job(row: Row) -> Job:
    return Job(
        int(row["id"]),
        row["delivery_id"],
        row["rule"],
        int(row["generation"]),
        JobKind.of(row["kind"]),
        int(row["attempts"]),
        bool(row.get("cancel_requested")),
        row.get("error") is not None,
    )
