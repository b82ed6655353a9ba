"""Peer sync: several collectors on one PostgreSQL database act as one.

Each collector judges in memory, so without this a collector would know only
the inventory it imported itself and the readings its own agents pushed. The
sync reads, every ``interval_s``, what the others wrote since its cursor
(``Store.changes_since``: changed targets, latest records ingested elsewhere,
open outages) and folds it into the local engine
(``Collector.apply_peer_changes``). A store that is not shared (SQLite: one
collector per file) gets no sync at all, so it costs nothing there.
"""

from __future__ import annotations

import logging
import time

from collector.service import Collector

log = logging.getLogger("linewatch.collector.sync")


class PeerSync:
    """Lifecycle: ``await prime()`` before ``collector.start()`` (so nothing
    written during the warm load is missed), then ``await step()`` per tick."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.cursor: int | None = None
        self.records = 0  # peer records observed so far (tests, logs)
        self.steps = 0

    async def prime(self) -> None:
        self.cursor = await self.collector.store.change_cursor()

    async def step(self) -> int:
        """One read-and-apply round; returns the peer records it observed.

        The cursor moves only after the changes were applied: a failed round
        is read again next time.
        """
        if self.cursor is None:
            await self.prime()
            assert self.cursor is not None
        started = time.perf_counter()
        changes = await self.collector.store.changes_since(self.cursor)
        n = await self.collector.apply_peer_changes(changes)
        self.cursor = changes.cursor
        self.records += n
        self.steps += 1
        if n or changes.targets:
            log.debug(
                "peer sync: %d records, %d targets in %.1f ms",
                n,
                len(changes.targets),
                (time.perf_counter() - started) * 1e3,
            )
        return n
