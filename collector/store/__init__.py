"""Where the collector keeps what it is told: SQLite by default, PostgreSQL at scale.

``collector.store.factory.open_store(db)`` picks the backend from the ``--db``
string; both implement ``collector.store.base.Store``. Backends are imported
lazily so SQLite users never load asyncpg. The factory is not re-exported
here: every store module imports this package, and the backends import
modules (collector.keymetrics) that import the store's types.

Retention (``Store.prune(now, keep_raw_s, keep_s)``, run periodically, e.g.
hourly): history points older than ``keep_raw_s`` become one mean per account
and hour; history and events older than ``keep_s`` go; a verdict change older
than ``keep_s`` goes once a later change before the cutoff supersedes it (so
downtime stays right inside the kept window); ingested batch ids are kept for
7 days (``codec.BATCH_ID_KEEP_S``) — a batch re-pushed after that is ingested
again, harmlessly for latest records (newer-only), as duplicate history points.
The audit log and tokens are not pruned.
"""

from collector.store.base import AuditEntry, HistoryPoint, NodeState, Store

__all__ = ["AuditEntry", "HistoryPoint", "NodeState", "Store"]
