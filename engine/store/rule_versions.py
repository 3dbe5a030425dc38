"""Repository rules shared by every worker: each version (repository, commit) read once and
kept; which version is current; and a lease on reading a new one, so that a fleet of workers
meeting the same repository at once asks GitHub once."""

from __future__ import annotations

from typing import Any

import orjson

from engine.store.sql import Row, SQLStore


class RuleVersionsMixin(SQLStore):
    """rule_versions and rule_heads."""

    def rule_head(self, repository: str) -> Row | None:
        """The current version of a repository's rules: commit_sha (None: it has none),
        checked_at, loading_until, loader."""
        rows = self._select(
            "SELECT commit_sha, checked_at, loading_until, loader FROM rule_heads"
            " WHERE repository = ?",
            (repository.lower(),),
        )
        return rows[0] if rows else None

    def rule_heads(self) -> list[Row]:
        """Every repository whose rules were looked at: repository, commit_sha, checked_at."""
        return self._select(
            "SELECT repository, commit_sha, checked_at FROM rule_heads ORDER BY repository"
        )

    def claim_rule_load(self, repository: str, worker: str, lease: float) -> bool:
        """Take the lease on reading a repository's rules; False while someone holds it."""
        now = self.clock()
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO rule_heads (repository, checked_at) VALUES (?, 0)"
                " ON CONFLICT (repository) DO NOTHING",
                (repository.lower(),),
            )
            lock = " FOR UPDATE" if self.dialect == "postgres" else ""
            rows = tx.execute(
                f"SELECT loading_until, loader FROM rule_heads WHERE repository = ?{lock}",
                (repository.lower(),),
            )
            if rows[0]["loading_until"] > now:
                return False  # being read, by another worker or another job of this one
            tx.execute(
                "UPDATE rule_heads SET loading_until = ?, loader = ? WHERE repository = ?",
                (now + lease, worker, repository.lower()),
            )
        return True

    def save_rule_head(
        self, repository: str, commit: str | None, files: dict[str, Any] | None = None
    ) -> None:
        """Make `commit` the current version (its files stored when given) and end the lease."""
        now = self.clock()
        with self._tx() as tx:
            if commit is not None and files is not None:
                tx.execute(
                    "INSERT INTO rule_versions (repository, commit_sha, files, fetched_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (repository, commit_sha) DO NOTHING",
                    (repository.lower(), commit, orjson.dumps(files).decode(), now),
                )
            tx.execute(
                "UPDATE rule_heads SET commit_sha = ?, checked_at = ?, loading_until = 0,"
                " loader = NULL WHERE repository = ?",
                (commit, now, repository.lower()),
            )

    def release_rule_load(self, repository: str, worker: str) -> None:
        """End a lease without a new version (the read failed)."""
        self._write(
            "UPDATE rule_heads SET loading_until = 0, loader = NULL"
            " WHERE repository = ? AND loader = ?",
            (repository.lower(), worker),
        )

    def rule_version(self, repository: str, commit: str) -> dict[str, Any] | None:
        """The files of one version: path -> {"sha", "content" (base64)}, or None."""
        rows = self._select(
            "SELECT files FROM rule_versions WHERE repository = ? AND commit_sha = ?",
            (repository.lower(), commit),
        )
        if not rows:
            return None
        files: dict[str, Any] = orjson.loads(rows[0]["files"])
        return files
