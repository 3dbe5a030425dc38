"""Rules on a clock: which ticks were decided, and the claim that makes each (rule, target,
tick) run once across every replica and worker. A mixin of both backends."""

from __future__ import annotations

from collections.abc import Sequence

from engine.store.records import NewDelivery
from engine.store.sql import SQLStore


class SchedulesMixin(SQLStore):
    """schedule_ticks."""

    def last_ticks(self, rule: str) -> dict[str, float]:
        """target -> the newest tick of the rule decided for it (run or missed)."""
        rows = self._select(
            "SELECT target, MAX(tick) AS tick FROM schedule_ticks WHERE rule = ? GROUP BY target",
            (rule,),
        )
        return {str(r["target"]): float(r["tick"]) for r in rows}

    def claim_tick(
        self,
        rule: str,
        target: str,
        tick: float,
        run: NewDelivery | None,
        missed: Sequence[float] = (),
        decided_at: float | None = None,
    ) -> bool:
        """Decide one tick in one transaction: the missed ticks before it are recorded, and the
        tick itself is claimed; only the process whose claim lands records `run` (its delivery
        and jobs; a delivery without jobs is a tick whose `if:` was false: outcome skipped).
        False: another process decided this tick first. `decided_at`: the scheduler's clock
        (default the store's)."""
        now = self.clock() if decided_at is None else decided_at
        with self._tx() as tx:
            if missed:
                tx.executemany(
                    "INSERT INTO schedule_ticks (rule, target, tick, outcome, decided_at)"
                    " VALUES (?, ?, ?, 'missed', ?) ON CONFLICT (rule, target, tick) DO NOTHING",
                    [(rule, target, t, now) for t in missed],
                )
            tx.execute(
                "INSERT INTO schedule_ticks (rule, target, tick, outcome, delivery_id, decided_at,"
                " late) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule, target, tick) DO NOTHING",
                (
                    rule,
                    target,
                    tick,
                    "run" if run is not None and run.jobs else "skipped",
                    run.delivery.delivery_id if run is not None else None,
                    now,
                    max(0.0, now - tick),
                ),
            )
            if tx.rowcount != 1:
                return False
            if run is not None:
                list(self._insert(tx, [run]))
                self._notify(tx)
            return True

    def schedule_ticks(self, rule: str | None = None, limit: int = 500) -> list[dict[str, object]]:
        """The newest decided ticks (of one rule, or all): rule, target, tick, outcome,
        delivery_id, decided_at, late."""
        where, args = ("WHERE rule = ?", [rule]) if rule is not None else ("", [])
        rows = self._select(
            f"SELECT rule, target, tick, outcome, delivery_id, decided_at, late FROM schedule_ticks"
            f" {where} ORDER BY tick DESC, rule, target LIMIT ?",
            (*args, limit),
        )
        return [dict(r) for r in rows]
