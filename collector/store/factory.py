"""``open_store(db)``: the backend for a ``--db`` string. Apart from
collector/store/base.py, which the backends import, so that the interface does
not import its implementations. Backends are imported on use, so SQLite users
never load asyncpg."""

from __future__ import annotations

from collector.store.base import Store


def open_store(db: str, *, sqlite_writer: str = "thread") -> Store:
    """A store for ``--db``: a ``postgresql://`` URL or a SQLite file path.
    ``sqlite_writer``: "thread" or "process" (see collector/store/sqlite_writer.py)."""
    if db.startswith(("postgresql://", "postgres://")):
        from collector.store.postgres import PostgresStore

        return PostgresStore(db)
    from collector.store.sqlite import SqliteStore

    return SqliteStore(db, writer=sqlite_writer)
