"""Both store backends for tests: a SQLite file, and a PostgreSQL database of the session's own.

PostgreSQL runs on 127.0.0.1:5432 on these machines (user postgres, trust auth); the session
creates one database named after its process and drops it at the end. Where PostgreSQL is
absent the PostgreSQL cases skip with a message, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.store.interface import Store

PG_SERVER = os.environ.get("HOOKWISE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/")
TABLES = (
    "deliveries, jobs, runs, node_runs, installations, integrations, install_states,"
    " concurrency_groups, rate_limits, workers, health_probe, http_cache, write_lanes,"
    " schedule_ticks"
)


def postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_SERVER + "postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    """Skip (or, under CI, fail) when no PostgreSQL server answers."""
    if postgres_available():
        return
    message = f"PostgreSQL is not reachable at {PG_SERVER} (start it, or set HOOKWISE_TEST_POSTGRES)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def new_postgres_url(prefix: str = "hookwise_test") -> str:
    """The URL of a fresh database name on the test server (created on first open)."""
    return f"{PG_SERVER}{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the session, dropped at the end."""
    require_postgres()
    url = new_postgres_url()
    yield url
    drop_database(url)


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own (created by `hookwise db upgrade`), dropped at
    the end: for tests that run several server and worker processes on it."""
    require_postgres()
    url = new_postgres_url("hookwise_fleet")
    yield url
    drop_database(url)


StoreFactory = Callable[..., Store]


@pytest.fixture(params=["sqlite", "postgres"])
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreFactory]:
    """Opens stores on the backend under test: a fresh SQLite file, or the session's
    PostgreSQL database emptied first. Every store it opened is closed at the end."""
    opened: list[Store] = []
    if request.param == "sqlite":
        from engine.store.sqlite import SQLiteStore

        def make(**options: Any) -> Store:
            store = SQLiteStore(str(tmp_path / "store.db"), **options)
            opened.append(store)
            return store
    else:
        url = request.getfixturevalue("postgres_url")
        from engine.store.postgres import PostgresStore

        first = PostgresStore(url)
        with first._tx() as tx:
            tx.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")
        opened.append(first)

        def make(**options: Any) -> Store:
            if not options:
                return first
            store = PostgresStore(url, **options)
            opened.append(store)
            return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    """A store on each backend."""
    return store_factory()


def drop_database(url: str) -> None:
    """Drop the PostgreSQL database of a URL (the server's `postgres` database does it)."""
    import psycopg
    from psycopg import sql as pgsql

    params = psycopg.conninfo.conninfo_to_dict(url)
    name = str(params.get("dbname") or "postgres")
    params["dbname"] = "postgres"
    with psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def queue_depth(store: Store) -> int:
    """Jobs waiting or running."""
    stats = store.queue_stats()
    return stats.queued + stats.running


def refuse_writes(path: str, refuse: bool = True) -> None:
    """Make a SQLite file refuse every write, as a read-only or full disk does (triggers that
    abort each INSERT, UPDATE and DELETE), or (refuse=False) accept them again."""
    import sqlite3

    with sqlite3.connect(path, isolation_level=None) as db:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        for table in tables:
            for op in ("INSERT", "UPDATE", "DELETE"):
                name = f"refuse_{op.lower()}_{table}"
                db.execute(f'DROP TRIGGER IF EXISTS "{name}"')
                if refuse:
                    db.execute(
                        f'CREATE TRIGGER "{name}" BEFORE {op} ON "{table}" '
                        "BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END"
                    )
