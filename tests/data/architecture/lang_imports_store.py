# module: engine.lang.badcheck
"""A rule check that reads the database: the pure core reaching an edge."""

from engine.store.sqlite import SQLiteStore

STORE = SQLiteStore
