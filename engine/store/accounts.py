"""Storage of who is connected: installations (kept in step by installation events), the
install flow's one-time states, and users' integrations (credential data arrives sealed).

A mixin of both backends: it uses the store's transactions and clock.
"""

from __future__ import annotations

import json
from typing import Any

from engine.store.records import InstallationChange
from engine.store.sql import SQLStore, Tx


class AccountsMixin(SQLStore):
    """Installations, install states and integrations."""

    # --- installations ---------------------------------------------------------------------------

    def _apply_installation(self, tx: Tx, change: InstallationChange, now: float) -> None:
        """An installation event's change, in the transaction that records the delivery."""
        if change.action == "deleted":
            tx.execute(
                "UPDATE installations SET deleted_at = ?, updated_at = ? WHERE id = ?",
                (now, now, change.installation_id),
            )
            return
        rows = tx.execute(
            "SELECT repositories FROM installations WHERE id = ?", (change.installation_id,)
        )
        current = set(json.loads(rows[0]["repositories"])) if rows else set()
        if change.repositories is not None:
            current = set(change.repositories)
        current = (current | set(change.added)) - set(change.removed)
        tx.execute(
            "INSERT INTO installations (id, account, account_type, repositories, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " account = COALESCE(excluded.account, installations.account),"
            " account_type = COALESCE(excluded.account_type, installations.account_type),"
            " repositories = excluded.repositories, updated_at = excluded.updated_at,"
            " deleted_at = NULL",
            (
                change.installation_id,
                change.account,
                change.account_type,
                json.dumps(sorted(current)),
                now,
                now,
            ),
        )
        if change.action in ("suspend", "unsuspend"):
            suspended = now if change.action == "suspend" else None
            tx.execute(
                "UPDATE installations SET suspended_at = ? WHERE id = ?",
                (suspended, change.installation_id),
            )

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
        self._write(
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

    def installation(self, installation_id: int) -> dict[str, Any] | None:
        """One installation row."""
        rows = self._select("SELECT * FROM installations WHERE id = ?", (installation_id,))
        if not rows:
            return None
        found = dict(rows[0])
        found["repositories"] = json.loads(found["repositories"])
        return found

    def installations(self) -> list[dict[str, Any]]:
        """Every installation row, newest first (the browser log's installations page)."""
        rows = self._select("SELECT * FROM installations ORDER BY updated_at DESC, id")
        return [{**dict(r), "repositories": json.loads(r["repositories"])} for r in rows]

    def installation_activity(self) -> dict[int, bool]:
        """installation id -> whether it is active (neither suspended nor removed)."""
        rows = self._select("SELECT id, suspended_at, deleted_at FROM installations")
        return {
            int(r["id"]): r["suspended_at"] is None and r["deleted_at"] is None for r in rows
        }

    def active_installations(self) -> int:
        """Installations neither deleted nor suspended."""
        rows = self._select(
            "SELECT COUNT(*) AS n FROM installations WHERE deleted_at IS NULL"
            " AND suspended_at IS NULL"
        )
        return int(rows[0]["n"])

    # --- install states and integrations (the App installation flow) ---------------------------

    def create_install_state(self, nonce: str, user_id: str) -> None:
        """Remember an install URL's state for its user."""
        self._write(
            "INSERT INTO install_states (nonce, user_id, created_at) VALUES (?, ?, ?)",
            (nonce, user_id, self.clock()),
        )

    def install_state(self, nonce: str) -> dict[str, Any] | None:
        """An install state by nonce."""
        rows = self._select("SELECT * FROM install_states WHERE nonce = ?", (nonce,))
        return dict(rows[0]) if rows else None

    def use_install_state(self, nonce: str) -> bool:
        """Mark a state used; False if it was used already (single use, race-free)."""
        return (
            self._write(
                "UPDATE install_states SET used_at = ? WHERE nonce = ? AND used_at IS NULL",
                (self.clock(), nonce),
            )
            == 1
        )

    def save_integration(
        self,
        row_id: str,
        user_id: str,
        sealed: str,
        *,
        external_id: str,
        name: str | None = None,
        provider: str = "github",
        kind: str = "github_app",
    ) -> None:
        """Create or update (and undelete) an integration row; credential data arrives sealed."""
        now = self.clock()
        self._write(
            "INSERT INTO integrations (id, user_id, integration_id, integration_type, name,"
            " provider, credential_data, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " credential_data = excluded.credential_data, name = excluded.name,"
            " updated_at = excluded.updated_at, deleted_at = NULL",
            (row_id, user_id, external_id, kind, name, provider, sealed, now, now),
        )

    def integrations(self, user_id: str, provider: str | None = None) -> list[dict[str, Any]]:
        """A user's integrations that are not deleted, oldest first."""
        query = "SELECT * FROM integrations WHERE user_id = ? AND deleted_at IS NULL"
        args: tuple[Any, ...] = (user_id,)
        if provider is not None:
            query += " AND provider = ?"
            args += (provider,)
        return self._select(query + " ORDER BY created_at, id", args)

    def delete_integration(self, user_id: str, integration_id: str) -> bool:
        """Soft-delete one of the user's integrations; False if there is none of theirs."""
        changed = self._write(
            "UPDATE integrations SET deleted_at = ?, updated_at = ? WHERE id = ? AND user_id = ?"
            " AND deleted_at IS NULL",
            (self.clock(), self.clock(), integration_id, user_id),
        )
        return changed == 1
