"""Storage of who is connected: installations (kept in step by installation events), the
install flow's one-time states, and users' integrations (credential data arrives sealed).

A mixin of SQLiteStore: it uses the store's connection (`db`) and clock.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any


class AccountsStore:
    """Installations, install states and integrations."""

    db: sqlite3.Connection
    clock: Any

    # --- installations ---------------------------------------------------------------------------

    def upsert_installation(
        self,
        installation_id: int,
        *,
        account: str | None,
        account_type: str | None,
        repositories: list[str] | None = None,
    ) -> None:
        """Create or refresh an installation (undeleting it)."""
        now = self.clock()
        self.db.execute(
            "INSERT INTO installations (id, account, account_type, repositories, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET account = excluded.account,"
            " account_type = excluded.account_type, updated_at = excluded.updated_at, deleted_at = NULL,"
            " repositories = CASE WHEN ? THEN excluded.repositories ELSE installations.repositories END",
            (
                installation_id,
                account,
                account_type,
                json.dumps(sorted(repositories or [])),
                now,
                now,
                repositories is not None,
            ),
        )

    def set_installation(self, installation_id: int, **fields: Any) -> None:
        """Update columns of an installation (suspended_at, deleted_at, repositories)."""
        for name, value in fields.items():
            if name not in ("suspended_at", "deleted_at", "repositories"):
                raise ValueError(name)
            stored = json.dumps(sorted(value)) if name == "repositories" else value
            self.db.execute(
                f"UPDATE installations SET {name} = ?, updated_at = ? WHERE id = ?",
                (stored, self.clock(), installation_id),
            )

    def installation(self, installation_id: int) -> dict[str, Any] | None:
        """One installation row."""
        row = self.db.execute(
            "SELECT * FROM installations WHERE id = ?", (installation_id,)
        ).fetchone()
        if row is None:
            return None
        found = dict(row)
        found["repositories"] = json.loads(found["repositories"])
        return found

    def active_installations(self) -> int:
        """Installations neither deleted nor suspended."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM installations WHERE deleted_at IS NULL AND suspended_at IS NULL"
        ).fetchone()
        return int(row[0])

    # --- install states and integrations (the App installation flow) ---------------------------

    def create_install_state(self, nonce: str, user_id: str) -> None:
        """Remember an install URL's state for its user."""
        self.db.execute(
            "INSERT INTO install_states (nonce, user_id, created_at) VALUES (?, ?, ?)",
            (nonce, user_id, self.clock()),
        )

    def install_state(self, nonce: str) -> dict[str, Any] | None:
        """An install state by nonce."""
        row = self.db.execute("SELECT * FROM install_states WHERE nonce = ?", (nonce,)).fetchone()
        return dict(row) if row else None

    def use_install_state(self, nonce: str) -> bool:
        """Mark a state used; False if it was used already (single use, race-free)."""
        cursor = self.db.execute(
            "UPDATE install_states SET used_at = ? WHERE nonce = ? AND used_at IS NULL",
            (self.clock(), nonce),
        )
        return cursor.rowcount == 1

    def save_integration(
        self,
        integration_id: str,
        user_id: str,
        sealed: str,
        *,
        provider: str = "github",
        kind: str = "github_app",
    ) -> None:
        """Create or update (and undelete) an integration row; credential data arrives sealed."""
        now = self.clock()
        self.db.execute(
            "INSERT INTO integrations (id, user_id, integration_id, provider, credential_data,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " credential_data = excluded.credential_data, updated_at = excluded.updated_at,"
            " deleted_at = NULL",
            (integration_id, user_id, kind, provider, sealed, now, now),
        )

    def integrations(self, user_id: str, provider: str | None = None) -> list[dict[str, Any]]:
        """A user's integrations that are not deleted, oldest first."""
        query = "SELECT * FROM integrations WHERE user_id = ? AND deleted_at IS NULL"
        args: tuple[Any, ...] = (user_id,)
        if provider is not None:
            query += " AND provider = ?"
            args += (provider,)
        return [dict(r) for r in self.db.execute(query + " ORDER BY created_at, id", args)]

    def delete_integration(self, user_id: str, integration_id: str) -> bool:
        """Soft-delete one of the user's integrations; False if there is none of theirs."""
        cursor = self.db.execute(
            "UPDATE integrations SET deleted_at = ?, updated_at = ? WHERE id = ? AND user_id = ?"
            " AND deleted_at IS NULL",
            (self.clock(), self.clock(), integration_id, user_id),
        )
        return cursor.rowcount == 1
