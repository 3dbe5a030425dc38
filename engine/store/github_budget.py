"""GitHub's budget kept in the store, for every server and worker on it: answers kept for
conditional requests (the newest `limit` of them), and the write lanes that space out the
content-creating requests of an installation."""

from __future__ import annotations

from typing import Any

from engine.store.sql import SQLStore


class GitHubBudgetMixin(SQLStore):
    """The `http_cache` and `write_lanes` tables."""

    def cached_answer(self, key: str) -> dict[str, Any] | None:
        """A kept answer: etag, last_modified, content_type, link, body (bytes)."""
        rows = self._select(
            "SELECT etag, last_modified, content_type, link, body FROM http_cache"
            " WHERE cache_key = ?",
            (key,),
        )
        if not rows:
            return None
        found = dict(rows[0])
        found["body"] = bytes(found["body"])
        return found

    def keep_answer(
        self,
        key: str,
        *,
        etag: str | None,
        last_modified: str | None,
        content_type: str | None,
        link: str | None,
        body: bytes,
        limit: int,
    ) -> None:
        """Keep (or replace) an answer, and forget the oldest past `limit` answers."""
        now = self.clock()
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO http_cache (cache_key, etag, last_modified, content_type, link, body,"
                " stored_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cache_key) DO UPDATE SET"
                " etag = excluded.etag, last_modified = excluded.last_modified,"
                " content_type = excluded.content_type, link = excluded.link,"
                " body = excluded.body, stored_at = excluded.stored_at",
                (key, etag, last_modified, content_type, link, body, now),
            )
            tx.execute(
                "DELETE FROM http_cache WHERE stored_at < (SELECT stored_at FROM http_cache"
                " ORDER BY stored_at DESC LIMIT 1 OFFSET ?)",
                (max(limit - 1, 0),),
            )

    def reserve_write(self, bucket: str, interval: float) -> float:
        """The time this process may send its next content-creating request of `bucket`:
        each reservation comes at least `interval` seconds after the previous one, across
        processes."""
        now = self.clock()
        with self._tx() as tx:
            rows = tx.execute(
                "INSERT INTO write_lanes (bucket, next_at) VALUES (?, ?)"
                " ON CONFLICT (bucket) DO UPDATE SET next_at = CASE"
                " WHEN write_lanes.next_at > ? THEN write_lanes.next_at + ? ELSE ? END"
                " RETURNING next_at",
                (bucket, now + interval, now, interval, now + interval),
            )
        return float(rows[0]["next_at"]) - interval
