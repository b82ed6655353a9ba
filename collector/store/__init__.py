"""Where the collector keeps what it is told: SQLite by default, PostgreSQL at scale.

``open_store(db)`` picks the backend from the ``--db`` string; both implement
``collector.store.base.Store``. Backends are imported lazily so SQLite users
never load asyncpg.
"""

from collector.store.base import AuditEntry, HistoryPoint, NodeState, Store, open_store

__all__ = ["AuditEntry", "HistoryPoint", "NodeState", "Store", "open_store"]
