"""SQLite store: the embedded default.

All SQLite calls run off the event loop. One writer connection lives on its
own thread (SQLite allows one writer at a time anyway, so a queue in front of
it is the cheapest lock); reads go to a small pool of reader connections,
each on a thread of its own executor, which WAL lets run beside the writer.

``writer="process"`` (the collector's default, ``sqlite_writer``) moves batch
commits to a child process (collector/store/sqlite_writer.py) so they do not
share the collector's GIL; the other, rare writes stay on the writer thread
and first wait for the batches submitted before them, so writes still land in
the order they were made.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

from collector.calls import Call, call_decoder
from collector.dispatches import Dispatch, dispatch_decoder
from collector.model import DOWN_VERDICTS, Event, NodeSummary, Verdict
from collector.outages import Outage, outage_decoder
from collector.store import migrations
from collector.store.base import (
    AccountSnapshot,
    AgentPush,
    AuditEntry,
    BatchWrite,
    HistoryPoint,
    NodeState,
    Store,
)
from collector.store.codec import (
    BATCH_ID_KEEP_S,
    NODE_COUNTS_SQL,
    down_seconds,
    encode,
    event_decoder,
    hour_floor,
    metrics_decoder,
    node_summaries,
    record_decoder,
    target_decoder,
    verdict_decoder,
    whole_accounts,
)
from collector.store.sqlite_common import (
    INSERT_EVENT,
    SAVE_NODE_STATE,
    Checkpointer,
    bound_wal,
    connect,
    save_verdicts,
    write_batch,
)
from collector.store.sqlite_writer import WriterProcess, WriterUnavailable
from collector.webhooks import DELIVERED_KEEP_S, OutboxRow
from probes.model import Headend, ProbeRecord, Target

T = TypeVar("T")
log = logging.getLogger(__name__)

# 16 KiB pages: a DOCSIS reading's JSON is ~2.3 KB, so with the default 4 KiB
# a leaf holds one or two of them and every batch splits and logs ~3x more
# pages. Measured on a 2,000-reading batch (writer SQL + commit, per reading):
# 31 us at 4 KiB, 18 us at 16 KiB, 20 us at 32 KiB.
PAGE_SIZE = 16384

_UPSERT_TARGET = (
    "INSERT INTO targets (account, agent, node, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (account) DO UPDATE SET agent = excluded.agent, node = excluded.node, "
    "data = excluded.data"
)
_UPSERT_HEADEND = (
    "INSERT INTO headends (headend, agent, data) VALUES (?, ?, ?) "
    "ON CONFLICT (headend) DO UPDATE SET agent = excluded.agent, data = excluded.data"
)
_headend_decoder = msgspec.json.Decoder(Headend)
# Downsample raw points of whole hours before the cutoff to one mean per
# (account, hour, metric); json_each/json_group_object keep it inside SQLite.
_DOWNSAMPLE = """
INSERT INTO history (account, at, raw, metrics)
SELECT account, hour, 0, json_group_object(key, mean) FROM (
    SELECT h.account AS account, CAST(h.at / 3600 AS INTEGER) * 3600.0 AS hour,
           j.key AS key, avg(j.value) AS mean
    FROM history AS h, json_each(h.metrics) AS j
    WHERE h.raw = 1 AND h.at < ? AND h.at >= ?
    GROUP BY 1, 2, 3
) GROUP BY account, hour
"""
# A verdict change older than the cutoff goes only once a later change (still at
# or before the cutoff) supersedes it, so downtime inside the kept window stays right.
_PRUNE_VERDICT_HISTORY = """
DELETE FROM verdict_history AS v WHERE v.since < ? AND EXISTS (
    SELECT 1 FROM verdict_history AS w
    WHERE w.account = v.account AND w.since > v.since AND w.since <= ?)
"""



class SqliteStore(Store):
    """``SqliteStore(path)``; ``path`` ":memory:" keeps everything in one connection."""

    def __init__(
        self, path: str | Path, *, readers: int = 4,
        writer: Literal["thread", "process"] | str = "thread",
    ) -> None:
        if writer not in ("thread", "process"):
            raise ValueError(f"sqlite writer must be 'thread' or 'process', not {writer!r}")
        self.path = str(path)
        self._memory = self.path == ":memory:"
        # Batch commits in a child process (a file database only).
        self._proc: WriterProcess | None = None
        self._use_process = writer == "process" and not self._memory
        self.derives_history = self._use_process
        self._reader_count = 0 if self._memory else max(1, readers)
        self._writer: ThreadPoolExecutor | None = None
        self._read_pool: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._readers: asyncio.Queue[sqlite3.Connection] | None = None
        self._reader_conns: list[sqlite3.Connection] = []
        self._checkpointer: Checkpointer | None = None

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._writer is not None:
            return
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lw-sqlite-writer")
        try:
            await self._write(self._open_writer)
            if self._use_process:  # the child checkpoints after its commits
                self._proc = WriterProcess(self.path)
                await self._proc.start()
            elif not self._memory:
                self._checkpointer = Checkpointer(self.path)
                self._checkpointer.start()
            if self._reader_count:
                self._read_pool = ThreadPoolExecutor(
                    self._reader_count, thread_name_prefix="lw-sqlite-reader"
                )
                loop = asyncio.get_running_loop()
                self._readers = asyncio.Queue()
                for _ in range(self._reader_count):
                    conn = await loop.run_in_executor(self._read_pool, connect, self.path)
                    self._reader_conns.append(conn)
                    self._readers.put_nowait(conn)
        except BaseException:
            await self.stop()
            raise

    def _open_writer(self) -> None:
        conn = connect(self.path)
        if not self._memory:
            # Takes effect only on a new file (before WAL and the first table).
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            mode = _enable_wal(conn)
            if str(mode).lower() != "wal":
                raise RuntimeError(f"SQLite refused WAL mode for {self.path}: {mode}")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer does it
            conn.execute("PRAGMA journal_size_limit = 67108864")
        self._wconn = conn
        _migrate(conn)

    @property
    def writer_pid(self) -> int | None:
        """The writer process's pid (``writer="process"`` and running), else None."""
        return self._proc.pid if self._proc is not None else None

    def unavailable(self, exc: BaseException) -> bool:
        """The writer process is down (it is being restarted)."""
        seen: BaseException | None = exc
        for _ in range(5):
            if seen is None:
                return False
            if isinstance(seen, WriterUnavailable):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._proc is not None:  # drains: every submitted batch is answered
            proc, self._proc = self._proc, None
            await proc.stop()
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await asyncio.to_thread(checkpointer.stop)
        if self._read_pool is not None and self._readers is not None:
            pool, queue, count = self._read_pool, self._readers, len(self._reader_conns)
            self._read_pool, self._readers, self._reader_conns = None, None, []
            # Take every connection back first: reads in flight finish, none start.
            for _ in range(count):
                conn = await queue.get()
                await loop.run_in_executor(pool, conn.close)
            pool.shutdown(wait=False)
        if self._writer is not None:
            writer, conn = self._writer, self._wconn
            self._writer, self._wconn = None, None
            if conn is not None:
                await loop.run_in_executor(writer, _close_writer, conn)
            writer.shutdown(wait=False)

    # --- thread plumbing -----------------------------------------------------------------
    async def _write(self, fn: Callable[[], T]) -> T:
        if self._writer is None:
            raise RuntimeError("store is not started")
        if self._proc is not None:  # batches submitted before this write land first
            await self._proc.drain()
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
        """``fn`` inside BEGIN IMMEDIATE .. COMMIT on the writer connection."""

        def run() -> T:
            conn = self._wconn
            assert conn is not None
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            if not self._memory:
                bound_wal(conn, self.path)
            return result

        return run

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        queue, pool = self._readers, self._read_pool
        if queue is None or pool is None:
            if self._memory and self._writer is not None:
                return await self._write(lambda: fn(self._wconn))  # type: ignore[arg-type]
            raise RuntimeError("store is not started")
        conn = await queue.get()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, conn)
        finally:
            queue.put_nowait(conn)

    # --- inventory -----------------------------------------------------------------------
    async def upsert_targets(self, targets: Sequence[Target]) -> int:
        rows = [(t.account, t.agent, t.node, encode(t)) for t in targets]
        if not rows:
            return 0
        await self._write(self._tx(lambda c: c.executemany(_UPSERT_TARGET, rows)))
        return len(rows)

    async def get_target(self, account: str) -> Target | None:
        row = await self._read(
            lambda c: c.execute("SELECT data FROM targets WHERE account = ?", (account,)).fetchone()
        )
        return target_decoder.decode(row[0]) if row else None

    async def list_targets(
        self, *, agent: str | None = None, node: str | None = None
    ) -> list[Target]:
        sql = "SELECT data FROM targets WHERE 1 = 1"
        args: list[str] = []
        if agent is not None:
            sql += " AND agent = ?"
            args.append(agent)
        if node is not None:
            sql += " AND node = ?"
            args.append(node)
        sql += " ORDER BY account"
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [target_decoder.decode(r[0]) for r in rows]

    async def count_targets(self) -> int:
        return await self._read(lambda c: c.execute("SELECT count(*) FROM targets").fetchone()[0])

    async def upsert_headends(self, headends: Sequence[Headend]) -> int:
        rows = [(h.headend, h.agent, encode(h)) for h in headends]
        if not rows:
            return 0
        await self._write(self._tx(lambda c: c.executemany(_UPSERT_HEADEND, rows)))
        return len(rows)

    async def list_headends(self) -> list[Headend]:
        rows = await self._read(
            lambda c: c.execute("SELECT data FROM headends ORDER BY headend").fetchall()
        )
        return [_headend_decoder.decode(r[0]) for r in rows]

    # --- ingest --------------------------------------------------------------------------
    async def ingest_batch(
        self,
        batch_id: str,
        agent: str,
        received_at: float,
        records: Sequence[ProbeRecord],
        history: Sequence[HistoryPoint],
        *,
        interval_s: float | None = None,
    ) -> bool:
        write = BatchWrite(
            batch_id=batch_id, agent=agent, received_at=received_at, records=records,
            history=history, interval_s=interval_s,
        )
        if self._proc is not None:
            return await self.submit_batch(write)
        return await self._write(self._tx(lambda c: write_batch(c, write)))

    async def commit_batch(self, write: BatchWrite) -> bool:
        return await self.submit_batch(write)

    def submit_batch(self, write: BatchWrite) -> asyncio.Future[bool]:
        """Queued on the writer (thread or process) before returning: writes
        submitted one after another commit in that order."""
        if self._writer is None:
            raise RuntimeError("store is not started")
        if self._use_process:
            if self._proc is None:
                raise WriterUnavailable("SQLite writer process is not running")
            return self._proc.submit(write, derive=write.body is not None)
        return asyncio.get_running_loop().run_in_executor(
            self._writer, self._tx(lambda c: write_batch(c, write))
        )

    async def agent_pushes(self) -> list[AgentPush]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT agent, last_push, interval_s FROM agents ORDER BY agent"
            ).fetchall()
        )
        return [AgentPush(agent=r[0], last_push=r[1], interval_s=r[2]) for r in rows]

    async def has_batch(self, batch_id: str) -> bool:
        return await self._read(
            lambda c: c.execute(
                "SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)
            ).fetchone() is not None
        )

    async def latest_records(self, account: str) -> dict[str, ProbeRecord]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT probe, data FROM latest WHERE account = ?", (account,)
            ).fetchall()
        )
        return {probe: record_decoder.decode(data) for probe, data in rows}

    async def account_snapshot(self, account: str) -> AccountSnapshot:
        def work(c: sqlite3.Connection) -> tuple:
            target = c.execute("SELECT data FROM targets WHERE account = ?", (account,)).fetchone()
            verdict = c.execute(
                "SELECT data FROM verdicts WHERE account = ?", (account,)
            ).fetchone()
            latest = c.execute(
                "SELECT probe, data FROM latest WHERE account = ?", (account,)
            ).fetchall()
            return target, verdict, latest

        target, verdict, latest = await self._read(work)
        return AccountSnapshot(
            target=target_decoder.decode(target[0]) if target else None,
            verdict=verdict_decoder.decode(verdict[0]) if verdict else None,
            latest={probe: record_decoder.decode(data) for probe, data in latest},
        )

    async def all_latest_records(self) -> list[ProbeRecord]:
        rows = await self._read(lambda c: c.execute("SELECT data FROM latest").fetchall())
        return [record_decoder.decode(r[0]) for r in rows]

    async def latest_record_chunks(self, size: int = 5_000) -> AsyncIterator[list[ProbeRecord]]:
        cursor: str | None = ""
        while cursor is not None:

            def page(
                c: sqlite3.Connection, after: str = cursor
            ) -> tuple[list[ProbeRecord], str | None]:
                rows = c.execute(
                    "SELECT account, data FROM latest WHERE account > ? "
                    "ORDER BY account, probe LIMIT ?",
                    (after, size),
                ).fetchall()
                data, nxt = whole_accounts(rows, size)
                return [record_decoder.decode(d) for d in data], nxt

            records, cursor = await self._read(page)
            yield records

    async def history(self, account: str, since: float, until: float) -> list[HistoryPoint]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT at, metrics FROM history WHERE account = ? AND at >= ? AND at <= ? "
                "ORDER BY at",
                (account, since, until),
            ).fetchall()
        )
        return [
            HistoryPoint(account=account, at=at, metrics=metrics_decoder.decode(m))
            for at, m in rows
        ]

    async def prune(self, now: float, keep_raw_s: float, keep_s: float) -> int:
        raw_cutoff = hour_floor(now - keep_raw_s)
        cutoff = now - keep_s

        def work(conn: sqlite3.Connection) -> int:
            removed = 0
            before = conn.total_changes
            conn.execute(_DOWNSAMPLE, (raw_cutoff, cutoff))
            added = conn.total_changes - before
            removed += conn.execute(
                "DELETE FROM history WHERE raw = 1 AND at < ?", (raw_cutoff,)
            ).rowcount
            removed -= added
            removed += conn.execute("DELETE FROM history WHERE at < ?", (cutoff,)).rowcount
            removed += conn.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount
            removed += conn.execute(_PRUNE_VERDICT_HISTORY, (cutoff, cutoff)).rowcount
            conn.execute("DELETE FROM batches WHERE received_at < ?", (now - BATCH_ID_KEEP_S,))
            return removed

        return await self._write(self._tx(work))

    # --- verdicts --------------------------------------------------------------------------
    async def save_verdicts(self, verdicts: Sequence[Verdict]) -> None:
        if verdicts:
            await self._write(self._tx(lambda c: save_verdicts(c, verdicts)))

    async def get_verdict(self, account: str) -> Verdict | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT data FROM verdicts WHERE account = ?", (account,)
            ).fetchone()
        )
        return verdict_decoder.decode(row[0]) if row else None

    async def all_verdicts(self) -> list[Verdict]:
        rows = await self._read(lambda c: c.execute("SELECT data FROM verdicts").fetchall())
        return [verdict_decoder.decode(r[0]) for r in rows]

    async def verdict_chunks(self, size: int = 5_000) -> AsyncIterator[list[Verdict]]:
        cursor = ""
        while True:

            def page(c: sqlite3.Connection, after: str = cursor) -> list[tuple[str, bytes]]:
                return c.execute(
                    "SELECT account, data FROM verdicts WHERE account > ? ORDER BY account LIMIT ?",
                    (after, size),
                ).fetchall()

            rows = await self._read(page)
            if rows:
                yield [verdict_decoder.decode(r[1]) for r in rows]
            if len(rows) < size:
                return
            cursor = rows[-1][0]

    async def verdict_history(self, account: str, since: float, until: float) -> list[Verdict]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM verdict_history WHERE account = ? AND since >= ? "
                "AND since <= ? ORDER BY since, id",
                (account, since, until),
            ).fetchall()
        )
        return [verdict_decoder.decode(r[0]) for r in rows]

    async def downtime_seconds(self, account: str, start: float, end: float) -> float:
        end = min(end, time.time())  # no downtime in the future
        if end <= start:
            return 0.0

        def work(conn: sqlite3.Connection) -> list[tuple[str, float]]:
            first = conn.execute(
                "SELECT verdict, since FROM verdict_history WHERE account = ? AND since <= ? "
                "ORDER BY since DESC, id DESC LIMIT 1",
                (account, start),
            ).fetchall()
            rest = conn.execute(
                "SELECT verdict, since FROM verdict_history WHERE account = ? AND since > ? "
                "AND since < ? ORDER BY since, id",
                (account, start, end),
            ).fetchall()
            return [*first, *rest]

        changes = await self._read(work)
        return down_seconds(changes, start, end, DOWN_VERDICTS)

    async def node_summaries(self) -> list[NodeSummary]:
        def work(conn: sqlite3.Connection) -> tuple[list[tuple[str, str, int]], list[tuple]]:
            counts = conn.execute(NODE_COUNTS_SQL).fetchall()
            states = conn.execute("SELECT node, outage, since FROM node_state").fetchall()
            return counts, states

        counts, states = await self._read(work)
        return node_summaries(counts, {n: (bool(o), s) for n, o, s in states})

    async def save_node_state(self, state: NodeState) -> None:
        await self._write(
            self._tx(
                lambda c: c.execute(
                    SAVE_NODE_STATE, (state.node, int(state.outage), state.since)
                )
            )
        )

    async def claim_node_outage(self, node: str, since: float) -> NodeState:
        def work(c: sqlite3.Connection) -> NodeState:
            won = c.execute(
                "INSERT INTO node_state (node, outage, since) VALUES (?, 1, ?) "
                "ON CONFLICT (node) DO UPDATE SET outage = 1, since = excluded.since "
                "WHERE NOT node_state.outage RETURNING since",
                (node, since),
            ).fetchall()
            if won:
                return NodeState(node=node, outage=True, since=won[0][0])
            row = c.execute("SELECT since FROM node_state WHERE node = ?", (node,)).fetchone()
            return NodeState(node=node, outage=True, since=row[0] if row else since)

        return await self._write(self._tx(work))

    async def close_node_outage(self, node: str, since: float) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            return c.execute(
                "UPDATE node_state SET outage = 0, since = NULL "
                "WHERE node = ? AND outage AND since = ?",
                (node, since),
            ).rowcount == 1

        return await self._write(self._tx(work))

    async def node_states(self) -> list[NodeState]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT node, outage, since FROM node_state ORDER BY node"
            ).fetchall()
        )
        return [NodeState(node=n, outage=bool(o), since=s) for n, o, s in rows]

    # --- events and audit --------------------------------------------------------------------
    async def add_events(self, events: Sequence[Event]) -> None:
        rows = [(e.account, e.kind, e.at, encode(e)) for e in events]
        if rows:
            await self._write(
                self._tx(
                    lambda c: c.executemany(INSERT_EVENT, rows)
                )
            )

    async def events(
        self, account: str, since: float, until: float, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        sql = "SELECT data FROM events WHERE account = ? AND at >= ? AND at <= ?"
        args: list[object] = [account, since, until]
        if kinds is not None:
            if not kinds:
                return []
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        sql += " ORDER BY at DESC, id DESC"
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [event_decoder.decode(r[0]) for r in rows]

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._write(
            self._tx(
                lambda c: c.execute(
                    "INSERT INTO audit (actor, account, action, at) VALUES (?, ?, ?, ?)",
                    (entry.actor, entry.account, entry.action, entry.at),
                )
            )
        )

    async def audit_log(self, account: str, limit: int = 100) -> list[AuditEntry]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT actor, account, action, at FROM audit WHERE account = ? "
                "ORDER BY at DESC, id DESC LIMIT ?",
                (account, limit),
            ).fetchall()
        )
        return [AuditEntry(actor=a, account=acc, action=act, at=at) for a, acc, act, at in rows]

    async def add_call(self, call: Call) -> None:
        row = (call.account, call.at, encode(call))
        await self._write(
            self._tx(
                lambda c: c.execute("INSERT INTO calls (account, at, data) VALUES (?, ?, ?)", row)
            )
        )

    async def calls(self, account: str, since: float, limit: int = 100) -> list[Call]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM calls WHERE account = ? AND at >= ? "
                "ORDER BY at DESC, id DESC LIMIT ?",
                (account, since, limit),
            ).fetchall()
        )
        return [call_decoder.decode(r[0]) for r in rows]

    async def recent_callers(self, since: float, limit: int) -> list[str]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT account FROM calls WHERE at >= ? GROUP BY account "
                "ORDER BY max(at) DESC LIMIT ?",
                (since, limit),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def add_dispatch(self, dispatch: Dispatch) -> Dispatch | None:
        row = (dispatch.id, dispatch.account, dispatch.fault, dispatch.at, encode(dispatch))

        def work(c: sqlite3.Connection) -> Dispatch | None:
            # BEGIN IMMEDIATE holds the write lock: check and insert are one step.
            if not dispatch.forced:
                first = c.execute(
                    "SELECT data FROM dispatches WHERE fault = ? ORDER BY at, id LIMIT 1",
                    (dispatch.fault,),
                ).fetchone()
                if first is not None:
                    return dispatch_decoder.decode(first[0])
            c.execute(
                "INSERT INTO dispatches (id, account, fault, at, data) VALUES (?, ?, ?, ?, ?)", row
            )
            return None

        return await self._write(self._tx(work))

    async def dispatches(
        self, *, account: str | None = None, fault: str | None = None, since: float = 0.0,
        limit: int = 100,
    ) -> list[Dispatch]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM dispatches WHERE (account = ? OR fault = ?) AND at >= ? "
                "ORDER BY at, id LIMIT ?",
                (account, fault, since, limit),
            ).fetchall()
        )
        return [dispatch_decoder.decode(r[0]) for r in rows]

    async def record_outage(self, outage: Outage) -> Outage:
        def work(c: sqlite3.Connection) -> Outage:
            row = c.execute("SELECT data FROM outages WHERE id = ?", (outage.id,)).fetchone()
            kept = outage
            if row is not None:
                old = outage_decoder.decode(row[0])
                kept = msgspec.structs.replace(
                    old, accounts=sorted(set(old.accounts) | set(outage.accounts))
                )
            c.execute(
                "INSERT INTO outages (id, since, until, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (kept.id, kept.since, kept.until, encode(kept)),
            )
            return kept

        return await self._write(self._tx(work))

    async def close_outage(self, outage_id: str, until: float) -> None:
        def work(c: sqlite3.Connection) -> None:
            row = c.execute(
                "SELECT data FROM outages WHERE id = ? AND until IS NULL", (outage_id,)
            ).fetchone()
            if row is not None:
                closed = msgspec.structs.replace(outage_decoder.decode(row[0]), until=until)
                c.execute("UPDATE outages SET until = ?, data = ? WHERE id = ?",
                          (until, encode(closed), outage_id))

        await self._write(self._tx(work))

    async def outages(
        self, *, open_only: bool = False, since: float = 0.0, limit: int = 1000
    ) -> list[Outage]:
        sql = ("SELECT data FROM outages WHERE until IS NULL" if open_only else
               "SELECT data FROM outages WHERE until IS NULL OR until >= ?")
        args: tuple[object, ...] = () if open_only else (since,)
        rows = await self._read(
            lambda c: c.execute(sql + " ORDER BY since DESC, id LIMIT ?", (*args, limit)).fetchall()
        )
        return [outage_decoder.decode(r[0]) for r in rows]

    async def get_outage(self, outage_id: str) -> Outage | None:
        row = await self._read(
            lambda c: c.execute("SELECT data FROM outages WHERE id = ?", (outage_id,)).fetchone()
        )
        return None if row is None else outage_decoder.decode(row[0])

    async def enqueue_webhooks(self, rows: Sequence[OutboxRow], max_rows: int) -> int:
        def work(c: sqlite3.Connection) -> int:
            dropped = 0
            c.execute("DELETE FROM webhook_outbox WHERE delivered_at < ?",
                      (time.time() - DELIVERED_KEEP_S,))
            depth = c.execute(
                "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL"
            ).fetchone()[0]
            for r in rows:
                if c.execute("SELECT 1 FROM webhook_outbox WHERE id = ?", (r.id,)).fetchone():
                    continue
                if depth >= max_rows:
                    dropped += 1
                    continue
                c.execute(
                    "INSERT INTO webhook_outbox (id, hook, event, body, created_at, next_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (r.id, r.hook, r.event, r.body, r.created_at, r.created_at),
                )
                depth += 1
            return dropped

        return await self._write(self._tx(work))

    async def claim_webhooks(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[OutboxRow]:
        def work(c: sqlite3.Connection) -> list[OutboxRow]:
            found = c.execute(
                "SELECT id, hook, event, body, created_at, attempts FROM webhook_outbox "
                "WHERE delivered_at IS NULL AND next_at <= ? "
                "AND (claimed_until IS NULL OR claimed_until < ?) "
                "ORDER BY next_at, created_at LIMIT ?",
                (now, now, limit),
            ).fetchall()
            c.executemany(
                "UPDATE webhook_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                [(owner, now + lease_s, r[0]) for r in found],
            )
            return [OutboxRow(id=i, hook=h, event=e, body=bytes(b), created_at=t, attempts=a)
                    for i, h, e, b, t, a in found]

        return await self._write(self._tx(work))

    async def finish_webhook(self, delivery_id: str) -> None:
        await self._write(self._tx(
            lambda c: c.execute(
                "UPDATE webhook_outbox SET delivered_at = ?, body = x'' WHERE id = ?",
                (time.time(), delivery_id),
            )
        ))

    async def retry_webhook(self, delivery_id: str, next_at: float) -> None:
        await self._write(self._tx(
            lambda c: c.execute(
                "UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ?, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                (next_at, delivery_id),
            )
        ))

    async def webhook_outbox_stats(self) -> tuple[int, float | None]:
        row = await self._read(
            lambda c: c.execute(
                "SELECT count(*), min(created_at) FROM webhook_outbox WHERE delivered_at IS NULL"
            ).fetchone()
        )
        return int(row[0]), row[1]

    # --- tokens ------------------------------------------------------------------------------
    async def add_token(self, name: str, role: str, token_hash: str, created_at: float) -> None:
        await self._write(
            self._tx(
                lambda c: c.execute(
                    "INSERT INTO tokens (token_hash, name, role, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (token_hash) DO UPDATE SET name = excluded.name, "
                    "role = excluded.role, created_at = excluded.created_at",
                    (token_hash, name, role, created_at),
                )
            )
        )

    async def role_for_token_hash(self, token_hash: str) -> tuple[str, str] | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT name, role FROM tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        )
        return (row[0], row[1]) if row else None



def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> str:
    """Switch to WAL, waiting out another starter doing the same.

    Changing the journal mode takes an exclusive lock, and SQLite answers
    "database is locked" at once instead of calling the busy handler when two
    processes open a fresh file together (seen with two collectors starting at
    once); so retry, bounded (~5 s), on this writer thread.
    """
    for attempt in range(attempts):
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations; BEGIN IMMEDIATE serialises concurrent starters."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for migration in migrations.load("sqlite"):
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if done is None:
                for statement in migrations.split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _close_writer(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("PRAGMA optimize")
    finally:
        conn.close()


__all__ = ["SqliteStore"]
