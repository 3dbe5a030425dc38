"""Versioned schema migrations: numbered SQL files per backend, applied in order, each once.

`engine/store/migrations/<backend>/NNNN_name.sql` holds step NNNN; `schema_migrations` records
the steps applied. Each step runs in its own transaction (both backends have transactional
DDL), under a lock, so several processes starting together apply it once. A small runner
rather than Alembic: the store writes plain SQL for two dialects and has no ORM models for
Alembic to compare, and yoyo-migrations would add a dependency for the same thirty lines.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from typing import TYPE_CHECKING, Any

from engine.store.records import Migration

if TYPE_CHECKING:
    from engine.store.sql import SQLStore

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations"
    " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


def migrations(dialect: str) -> list[Migration]:
    """The shipped migrations of a backend, in order."""
    folder = resources.files("engine").joinpath("store", "migrations", dialect)
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def statements(script: str) -> list[str]:
    """SQL statements of a script (a trigger's body stays whole)."""
    result, current = [], ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            result.append(current.strip())
            current = ""
    if current.strip():
        result.append(current.strip())
    return result


class Migrator:
    """Applies and reports a store's migrations."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self.steps = migrations(store.dialect)

    def applied(self) -> dict[int, float]:
        """version -> when it was applied."""
        with self.store._tx() as tx:
            tx.execute(_TABLE)
            rows = tx.execute("SELECT version, applied_at FROM schema_migrations")
        return {int(r["version"]): float(r["applied_at"]) for r in rows}

    def status(self) -> list[dict[str, Any]]:
        """Every known step: version, name, applied_at (None when pending)."""
        done = self.applied()
        return [
            {"version": m.version, "name": m.name, "applied_at": done.get(m.version)}
            for m in self.steps
        ]

    def pending(self) -> list[Migration]:
        """The steps not applied yet."""
        done = self.applied()
        return [m for m in self.steps if m.version not in done]

    def upgrade(self) -> list[Migration]:
        """Apply every pending step; return the ones applied by this call."""
        applied = []
        for step in self.pending():
            with self.store._tx() as tx:
                self.store._migration_lock(tx)
                already = tx.execute(
                    "SELECT version FROM schema_migrations WHERE version = ?", (step.version,)
                )
                if already:
                    continue  # another process applied it while we waited for the lock
                for statement in statements(step.sql):
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.name, self.store.clock()),
                )
            applied.append(step)
        return applied
