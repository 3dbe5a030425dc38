"""Opening the store named by DATABASE_URL: `sqlite:///file.db` or `postgresql://...`."""

from __future__ import annotations

from typing import Any

from engine.store.interface import Store
from engine.store.records import StoreError


def open_store(url: str, **options: Any) -> Store:
    """The store of a URL; `create=False` refuses to create a database that does not exist."""
    if url.startswith("sqlite:"):
        from engine.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, **options)
    if url.startswith(("postgresql:", "postgres:")):
        try:
            from engine.store.postgres import PostgresStore
        except ImportError as exc:  # pragma: no cover - psycopg is a dependency
            raise StoreError(f"PostgreSQL needs psycopg: {exc}") from exc
        return PostgresStore(url, **options)
    scheme = url.split(":", 1)[0]
    raise StoreError(
        f"unsupported DATABASE_URL scheme {scheme!r}: use sqlite:///file.db or postgresql://..."
    )
