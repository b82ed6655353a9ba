"""The agent's on-disk spool: a result is "accepted" once it is committed here.

SQLite in WAL mode, driven from one dedicated thread so the event loop never
blocks. Appends from many probe tasks are group-committed (one transaction per
flush): a scheduled result waits up to ``commit_delay_s`` for others to share
its commit, because a commit of one or two records costs ~5x as much CPU per
record as one of twenty (on-demand results and ``flush`` don't wait). The
pusher takes batches in order; a batch's id is written next to its
records when the batch is formed, so a retry after a crash or a failed push
re-sends the same id and the collector's idempotent ingest keeps delivery
exactly-once in effect. Past ``max_records`` the oldest records are dropped and
counted. ``synchronous=NORMAL`` in WAL survives a killed process (only a power
loss can cost the last commits), which is the failure the agent is built for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prio INTEGER NOT NULL DEFAULT 1,
    batch_id TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_unbatched ON records (prio, seq) WHERE batch_id IS NULL;
CREATE INDEX IF NOT EXISTS records_batch ON records (batch_id) WHERE batch_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sent (
    batch_id TEXT PRIMARY KEY,
    records INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    acked_at REAL NOT NULL
);
"""
# The "sent" ledger (one row per batch, the newest LEDGER_MAX kept) lets an operator
# or a test reconcile what left the spool with what the collector stored.
LEDGER_MAX = 100_000

# A commit delay ends early once this many records wait: larger groups save little more.
GROUP_COMMIT_ROWS = 256

PRIO_JOB = 0  # on-demand results jump the backlog
PRIO_SCHEDULED = 1


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    batch_id: str
    bodies: list[bytes]  # encoded ProbeRecords, in spool order
    first_seq: int
    last_seq: int


class Spool:
    """Durable FIFO of encoded ProbeRecords. ``open()`` before use, ``close()`` after."""

    def __init__(
        self,
        path: str,
        max_records: int,
        on_drop: Callable[[int], None] | None = None,
        commit_delay_s: float = 0.0,
    ) -> None:
        self.path = path
        self.max_records = max_records
        self._on_drop = on_drop
        self.commit_delay_s = commit_delay_s
        self._db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Sequence[bytes], int, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._pending_rows = 0
        self._hurry = 0  # > 0: someone waits for everything pending (flush, a job)
        self._wake: asyncio.Future[None] | None = None  # ends the current commit delay
        self._count = 0
        self._job_count = 0  # unbatched job records; lets the pusher skip waiting
        self.dropped = 0
        self._acks = 0

    # -- lifecycle ---------------------------------------------------------------
    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        await self._call(self._open_sync)

    def _open_sync(self) -> None:
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db
        self._count = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        self._job_count = db.execute(
            "SELECT COUNT(*) FROM records WHERE batch_id IS NULL AND prio = ?", (PRIO_JOB,)
        ).fetchone()[0]

    async def close(self) -> None:
        """Commit everything pending, then close the database and its thread."""
        await self.flush()
        if self._db is not None:
            await self._call(self._db.close)
            self._db = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        assert self._executor is not None, "spool is not open"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- appending ---------------------------------------------------------------
    @property
    def count(self) -> int:
        """Records held (committed and not yet acknowledged by the collector)."""
        return self._count

    @property
    def has_job_records(self) -> bool:
        return self._job_count > 0

    async def append(self, bodies: Sequence[bytes], prio: int = PRIO_SCHEDULED) -> None:
        """Return once ``bodies`` are committed. Many callers share one transaction."""
        if not bodies:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((bodies, prio, future))
        self._pending_rows += len(bodies)
        job = prio == PRIO_JOB
        if job:
            self._hurry += 1  # a person waits for this result: no commit delay
        try:
            if job or self._pending_rows >= GROUP_COMMIT_ROWS:
                self._end_delay()
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_loop(), name="spool-flush")
            await asyncio.shield(future)
        finally:
            if job:
                self._hurry -= 1

    async def flush(self) -> None:
        self._hurry += 1
        try:
            self._end_delay()
            while self._flusher is not None and not self._flusher.done():
                await asyncio.shield(self._flusher)
            if self._pending:
                await self._flush_loop()
        finally:
            self._hurry -= 1

    def _end_delay(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _delay(self) -> None:
        """Let more results join this commit, up to ``commit_delay_s``."""
        if self.commit_delay_s <= 0 or self._hurry or self._pending_rows >= GROUP_COMMIT_ROWS:
            return
        loop = asyncio.get_running_loop()
        self._wake = wake = loop.create_future()
        timer = loop.call_later(self.commit_delay_s, self._end_delay)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    async def _flush_loop(self) -> None:
        while self._pending:
            await self._delay()
            pending, self._pending = self._pending, []
            self._pending_rows = 0
            rows = [(prio, body) for bodies, prio, _ in pending for body in bodies]
            try:
                dropped = await self._call(self._append_sync, rows)
            except Exception as exc:  # disk full, I/O error: callers see it
                log.error("spool append failed: %s", exc)
                for _, _, fut in pending:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self._job_count += sum(1 for prio, _ in rows if prio == PRIO_JOB)
            if dropped:
                self.dropped += dropped
                log.warning("spool full (%d records): dropped %d oldest", self.max_records, dropped)
                if self._on_drop is not None:
                    self._on_drop(dropped)
            for _, _, fut in pending:
                if not fut.done():
                    fut.set_result(None)

    def _append_sync(self, rows: list[tuple[int, bytes]]) -> int:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO records (prio, body) VALUES (?, ?)", rows)
            excess = self._count + len(rows) - self.max_records
            dropped = 0
            if excess > 0:
                dropped = db.execute(
                    "DELETE FROM records WHERE seq IN "
                    "(SELECT seq FROM records ORDER BY seq LIMIT ?)",
                    (excess,),
                ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # Only this thread changes the count, so the cap check above is exact.
        self._count += len(rows) - dropped
        return dropped

    # -- draining ----------------------------------------------------------------
    async def next_batch(self, max_records: int) -> SpoolBatch | None:
        """The batch to push next: an already formed one (a retry keeps its id) or a
        new one of up to ``max_records`` records, jobs first, otherwise in order."""
        await self.flush()
        batch = await self._call(self._next_batch_sync, max_records)
        if batch is not None:
            self._job_count = await self._call(self._count_jobs_sync)
        return batch

    def _count_jobs_sync(self) -> int:
        assert self._db is not None
        return self._db.execute(
            "SELECT COUNT(*) FROM records WHERE batch_id IS NULL AND prio = ?", (PRIO_JOB,)
        ).fetchone()[0]

    def _next_batch_sync(self, max_records: int) -> SpoolBatch | None:
        db = self._db
        assert db is not None
        row = db.execute(
            "SELECT batch_id FROM records WHERE batch_id IS NOT NULL ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            batch_id = uuid.uuid4().hex
            db.execute("BEGIN IMMEDIATE")
            try:
                changed = db.execute(
                    "UPDATE records SET batch_id = ? WHERE seq IN (SELECT seq FROM records "
                    "WHERE batch_id IS NULL ORDER BY prio, seq LIMIT ?)",
                    (batch_id, max_records),
                ).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if changed == 0:
                return None
        else:
            batch_id = row[0]
        rows = db.execute(
            "SELECT seq, body FROM records WHERE batch_id = ? ORDER BY prio, seq", (batch_id,)
        ).fetchall()
        if not rows:
            return None
        seqs = [r[0] for r in rows]
        return SpoolBatch(batch_id, [r[1] for r in rows], min(seqs), max(seqs))

    async def ack(self, batch_id: str, outcome: str = "ok") -> int:
        """The collector has the batch (or refused it for good): forget its records
        and note it in the ledger."""
        return await self._call(self._ack_sync, batch_id, outcome)

    def _ack_sync(self, batch_id: str, outcome: str) -> int:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            removed = db.execute("DELETE FROM records WHERE batch_id = ?", (batch_id,)).rowcount
            db.execute(
                "INSERT OR REPLACE INTO sent (batch_id, records, outcome, acked_at) "
                "VALUES (?, ?, ?, ?)",
                (batch_id, removed, outcome, time.time()),
            )
            self._acks += 1
            if self._acks % 1000 == 0:
                db.execute(
                    "DELETE FROM sent WHERE rowid <= (SELECT MAX(rowid) FROM sent) - ?",
                    (LEDGER_MAX,),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._count -= removed
        return removed

    async def ledger(self) -> list[tuple[str, int, str]]:
        """(batch_id, records, outcome) of batches that left the spool, oldest first."""
        return await self._call(self._ledger_sync)

    def _ledger_sync(self) -> list[tuple[str, int, str]]:
        assert self._db is not None
        return [
            (r[0], int(r[1]), r[2])
            for r in self._db.execute("SELECT batch_id, records, outcome FROM sent ORDER BY rowid")
        ]

    # -- bookkeeping -------------------------------------------------------------
    async def accepted_total(self) -> int:
        """Records ever accepted by this spool file (AUTOINCREMENT never reuses a seq)."""
        return await self._call(self._accepted_sync)

    def _accepted_sync(self) -> int:
        assert self._db is not None
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
        return int(row[0]) if row else 0

    async def get_meta(self, key: str) -> bytes | None:
        return await self._call(self._get_meta_sync, key)

    def _get_meta_sync(self, key: str) -> bytes | None:
        assert self._db is not None
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    async def set_meta(self, key: str, value: bytes) -> None:
        await self._call(self._set_meta_sync, key, value)

    def _set_meta_sync(self, key: str, value: bytes) -> None:
        assert self._db is not None
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
