"""What several worker processes must agree on, held in the database: concurrency groups,
GitHub rate-limit backoffs, the workers themselves (heartbeats for /health and /metrics), and
the redeliveries `hookwise recover` asked for.

Concurrency groups follow GitHub Actions' `concurrency:`: at most one run of a group runs and
at most one waits; a newer waiting run supersedes an older one, and `cancel-in-progress`
cancels the running one.
https://docs.github.com/en/actions/how-tos/write-workflows/choose-when-workflows-run/control-workflow-concurrency
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.store.sql import Row, SQLStore, Tx

RUN = "run"
WAIT = "wait"


class CoordinationMixin(SQLStore):
    """Concurrency groups, rate-limit backoffs and worker heartbeats."""

    def _lock_group(self, tx: Tx, key: str) -> Row:
        """The group's row, created if absent and locked for this transaction."""
        tx.execute(
            "INSERT INTO concurrency_groups (group_key, updated_at) VALUES (?, ?)"
            " ON CONFLICT (group_key) DO NOTHING",
            (key, self.clock()),
        )
        lock = " FOR UPDATE" if self.dialect == "postgres" else ""
        rows = tx.execute(
            f"SELECT running_job, pending_job FROM concurrency_groups WHERE group_key = ?{lock}",
            (key,),
        )
        return rows[0]

    def acquire_group(self, key: str, job_id: int, *, cancel_in_progress: bool) -> str:
        """`run` when the job may run now (it holds the group), else `wait` (it is the one
        waiting run; an older waiting run is superseded and, with cancel-in-progress, the
        running one is asked to cancel)."""
        with self._tx() as tx:
            row = self._lock_group(tx, key)
            running, pending = row["running_job"], row["pending_job"]
            if running is not None and running != job_id and not self._alive(tx, running):
                running = None  # it finished or was removed without releasing (a crash)
            if running is None or running == job_id:
                tx.execute(
                    "UPDATE concurrency_groups SET running_job = ?, pending_job = ?,"
                    " updated_at = ? WHERE group_key = ?",
                    (job_id, None if pending == job_id else pending, self.clock(), key),
                )
                return RUN
            if pending is not None and pending != job_id:
                # superseded: it is woken to record its cancellation
                tx.execute(
                    "UPDATE jobs SET cancel_requested = 1, run_after = 0 WHERE id = ?", (pending,)
                )
            if cancel_in_progress:
                tx.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (running,))
            tx.execute(
                "UPDATE concurrency_groups SET pending_job = ?, updated_at = ? WHERE group_key = ?",
                (job_id, self.clock(), key),
            )
            self._notify(tx)
            return WAIT

    def release_group(self, key: str, job_id: int) -> None:
        """The job no longer runs nor waits in the group; the waiting run may start."""
        with self._tx() as tx:
            row = self._lock_group(tx, key)
            running, pending = row["running_job"], row["pending_job"]
            if running == job_id:
                running = None
            if pending == job_id:
                pending = None
            if running is None and pending is not None:
                tx.execute("UPDATE jobs SET run_after = 0 WHERE id = ?", (pending,))
                self._notify(tx)
            if running is None and pending is None:
                tx.execute("DELETE FROM concurrency_groups WHERE group_key = ?", (key,))
            else:
                tx.execute(
                    "UPDATE concurrency_groups SET running_job = ?, pending_job = ?,"
                    " updated_at = ? WHERE group_key = ?",
                    (running, pending, self.clock(), key),
                )

    def _alive(self, tx: Tx, job_id: int) -> bool:
        rows = tx.execute("SELECT state FROM jobs WHERE id = ?", (job_id,))
        return bool(rows) and rows[0]["state"] in ("queued", "running")

    def group(self, key: str) -> Row | None:
        """A group's running and waiting job, or None when the group is idle."""
        rows = self._select(
            "SELECT running_job, pending_job FROM concurrency_groups WHERE group_key = ?", (key,)
        )
        return rows[0] if rows else None

    # --- GitHub rate limits ------------------------------------------------------------------

    def rate_blocked_until(self, bucket: str) -> float:
        """Until when calls of a bucket (an installation, or the App) must wait; 0 if free."""
        rows = self._select("SELECT blocked_until FROM rate_limits WHERE bucket = ?", (bucket,))
        return float(rows[0]["blocked_until"]) if rows else 0.0

    def block_rate(self, bucket: str, until: float) -> int:
        """Record a rate limit hit for every process; the number of hits in a row (strikes)."""
        with self._tx() as tx:
            rows = tx.execute(
                "INSERT INTO rate_limits (bucket, blocked_until, strikes, updated_at)"
                " VALUES (?, ?, 1, ?) ON CONFLICT (bucket) DO UPDATE SET"
                " blocked_until = CASE WHEN excluded.blocked_until > rate_limits.blocked_until"
                " THEN excluded.blocked_until ELSE rate_limits.blocked_until END,"
                " strikes = rate_limits.strikes + 1, updated_at = excluded.updated_at"
                " RETURNING strikes",
                (bucket, until, self.clock()),
            )
        return int(rows[0]["strikes"])

    def clear_rate(self, bucket: str) -> None:
        """A call went through: the strikes start again from zero."""
        self._write(
            "UPDATE rate_limits SET strikes = 0, updated_at = ? WHERE bucket = ? AND strikes > 0",
            (self.clock(), bucket),
        )

    # --- workers ---------------------------------------------------------------------------------

    def heartbeat(
        self, name: str, *, kind: str, pid: int, jobs_done: int, last_error: str | None
    ) -> None:
        """A worker (or a server's pool) says it is alive."""
        now = self.clock()
        self._write(
            "INSERT INTO workers (name, kind, pid, started_at, heartbeat_at, jobs_done, last_error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " heartbeat_at = excluded.heartbeat_at, jobs_done = excluded.jobs_done,"
            " last_error = excluded.last_error",
            (name, kind, pid, now, now, jobs_done, last_error),
        )

    def workers(self, *, seen_within: float = 60.0) -> list[dict[str, Any]]:
        """The workers that sent a heartbeat recently."""
        return self._select(
            "SELECT * FROM workers WHERE heartbeat_at >= ? ORDER BY name",
            (self.clock() - seen_within,),
        )

    def forget_worker(self, name: str) -> None:
        """A worker stopped cleanly."""
        self._write("DELETE FROM workers WHERE name = ?", (name,))

    # --- redeliveries (hookwise recover) ---------------------------------------------------------

    def stored_delivery_ids(self, delivery_ids: Sequence[str]) -> set[str]:
        """Which of these X-GitHub-Delivery ids the store holds."""
        if not delivery_ids:
            return set()
        marks = ", ".join("?" for _ in delivery_ids)
        rows = self._select(
            f"SELECT delivery_id FROM deliveries WHERE delivery_id IN ({marks})", list(delivery_ids)
        )
        return {str(r["delivery_id"]) for r in rows}

    def redeliveries_since(self, delivery_ids: Sequence[str], since: float) -> set[str]:
        """Which of these deliveries were asked to be redelivered at or after `since`."""
        if not delivery_ids:
            return set()
        marks = ", ".join("?" for _ in delivery_ids)
        rows = self._select(
            f"SELECT delivery_id FROM redeliveries WHERE delivery_id IN ({marks})"
            " AND requested_at >= ?",
            [*delivery_ids, since],
        )
        return {str(r["delivery_id"]) for r in rows}

    def claim_redelivery(self, delivery_id: str, hook_delivery_id: int, since: float) -> bool:
        """Take the right to ask for a redelivery: False when someone asked at or after
        `since` (once per delivery per window, whichever process asks)."""
        return (
            self._write(
                "INSERT INTO redeliveries (delivery_id, hook_delivery_id, requested_at)"
                " VALUES (?, ?, ?) ON CONFLICT (delivery_id) DO UPDATE SET"
                " hook_delivery_id = excluded.hook_delivery_id,"
                " requested_at = excluded.requested_at"
                " WHERE redeliveries.requested_at < ?",
                (delivery_id, hook_delivery_id, self.clock(), since),
            )
            == 1
        )

    def release_redelivery(self, delivery_id: str) -> None:
        """Forget a claim whose request failed, so that the next pass asks again."""
        self._write("DELETE FROM redeliveries WHERE delivery_id = ?", (delivery_id,))

