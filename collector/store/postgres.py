"""PostgreSQL store: for several collectors sharing one database.

asyncpg with a connection pool. Batches go in as one ``unnest`` upsert (latest)
and one binary COPY (history) per transaction. Idempotency across processes
rests on the ``batches`` primary key: the batch row is inserted first, so a
concurrent duplicate blocks on it and then sees the conflict.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Sequence

import asyncpg
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
    HistoryPoint,
    NodeState,
    PeerChanges,
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
    metrics_text,
    node_summaries,
    record_decoder,
    target_decoder,
    verdict_decoder,
    whole_accounts,
)
from collector.webhooks import DELIVERED_KEEP_S, OutboxRow
from probes.model import Headend, ProbeRecord, Target

# pg_advisory_xact_lock key for migrations: b"lwmigr" as an integer.
_MIGRATION_LOCK = 0x6C776D696772

# DISTINCT ON keeps the newest record per (account, probe) of the batch, since
# one INSERT .. ON CONFLICT may not touch a row twice; ORDER BY gives every
# collector the same lock order, so concurrent batches do not deadlock.
_UPSERT_LATEST = """
INSERT INTO latest (account, probe, started_at, data, origin)
SELECT DISTINCT ON (account, probe) account, probe, started_at, data, $5
FROM unnest($1::text[], $2::text[], $3::float8[], $4::bytea[])
     AS t (account, probe, started_at, data)
ORDER BY account, probe, started_at DESC
ON CONFLICT (account, probe) DO UPDATE
SET started_at = excluded.started_at, data = excluded.data, origin = excluded.origin,
    xid = pg_current_xact_id()
WHERE latest.started_at < excluded.started_at
"""
_UPSERT_TARGETS = """
INSERT INTO targets (account, agent, node, data)
SELECT DISTINCT ON (account) account, agent, node, data
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY
     AS t (account, agent, node, data, n)
ORDER BY account, n DESC
ON CONFLICT (account) DO UPDATE
SET agent = excluded.agent, node = excluded.node, data = excluded.data,
    xid = pg_current_xact_id()
WHERE targets.data IS DISTINCT FROM excluded.data
"""
_UPSERT_HEADENDS = """
INSERT INTO headends (headend, agent, data)
SELECT DISTINCT ON (headend) headend, agent, data
FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS t (headend, agent, data, n)
ORDER BY headend, n DESC
ON CONFLICT (headend) DO UPDATE SET agent = excluded.agent, data = excluded.data
"""
_headend_decoder = msgspec.json.Decoder(Headend)
_UPSERT_VERDICTS = """
INSERT INTO verdicts (account, node, verdict, since, updated_at, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::bytea[])
ORDER BY 1
ON CONFLICT (account) DO UPDATE
SET node = excluded.node, verdict = excluded.verdict, since = excluded.since,
    updated_at = excluded.updated_at, data = excluded.data
"""
# A batch committed out of order (an older received_at) leaves the newer push.
_NOTE_PUSH = """
INSERT INTO agents (agent, last_push, interval_s) VALUES ($1, $2, $3)
ON CONFLICT (agent) DO UPDATE SET last_push = excluded.last_push, interval_s = excluded.interval_s
WHERE agents.last_push <= excluded.last_push
"""
# Compare-and-set: only a closed (or new) node is opened; RETURNING says we did.
_CLAIM_OUTAGE = """
INSERT INTO node_state (node, outage, since) VALUES ($1, true, $2)
ON CONFLICT (node) DO UPDATE SET outage = true, since = excluded.since
WHERE NOT node_state.outage
RETURNING since
"""
# The feed's cursor: transactions below the oldest one still running have all
# ended, so rows they wrote are visible to any later read.
_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_DOWNSAMPLE = """
INSERT INTO history (account, at, raw, metrics)
SELECT account, hour, false, jsonb_object_agg(key, mean) FROM (
    SELECT h.account, floor(h.at / 3600) * 3600 AS hour, j.key, avg(j.value::float8) AS mean
    FROM history AS h, jsonb_each_text(h.metrics) AS j
    WHERE h.raw AND h.at < $1 AND h.at >= $2
    GROUP BY 1, 2, 3
) AS means GROUP BY account, hour
"""
_SNAPSHOT = """
SELECT (SELECT data FROM targets WHERE account = $1),
       (SELECT data FROM verdicts WHERE account = $1),
       l.probes, l.datas
FROM (SELECT array_agg(probe) AS probes, array_agg(data) AS datas
      FROM latest WHERE account = $1) AS l
"""
_PRUNE_VERDICT_HISTORY = """
DELETE FROM verdict_history AS v WHERE v.since < $1 AND EXISTS (
    SELECT 1 FROM verdict_history AS w
    WHERE w.account = v.account AND w.since > v.since AND w.since <= $1)
"""


# What a server that is down, restarting or gone away looks like to asyncpg:
# refused/reset sockets, connect or query timeouts, SQLSTATE class 08
# (connection exception) and 57 (operator intervention: admin/crash shutdown,
# "cannot connect now" while starting up or shutting down).
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


def _count(status: str) -> int:
    """Rows affected from an asyncpg status string such as 'DELETE 12' or 'INSERT 0 3'."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresStore(Store):
    """``PostgresStore(url)``. Extra URL query parameters become server settings,
    e.g. ``?search_path=lw`` puts every table in schema ``lw``."""

    shared = True

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        # Tags this process's latest rows, so changes_since returns only peers' rows.
        self.origin = f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._pool is not None:
            return
        pool = await asyncpg.create_pool(
            self.url, min_size=self._min_size, max_size=self._max_size, command_timeout=60
        )
        try:
            async with pool.acquire() as conn:
                await _migrate(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def stop(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def unavailable(self, exc: BaseException) -> bool:
        """The server is away (the pool reconnects by itself once it is back)."""
        seen: BaseException | None = exc
        for _ in range(5):  # the error itself, or what it was raised while handling
            if seen is None:
                return False
            if isinstance(seen, _UNAVAILABLE):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    @contextlib.asynccontextmanager
    async def _conn(self, *, transaction: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, in a transaction if asked. When the server drops
        the connection mid-statement, asyncpg may report it as a protocol-state
        error (InternalClientError, InterfaceError "another operation is in
        progress" or "connection is closed"); on a closed connection those are
        re-raised as ConnectionDoesNotExistError, i.e. "store unavailable"."""
        broken = (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)
        own_error: BaseException | None = None  # ours to raise as it is
        try:
            async with self.pool.acquire() as conn:
                try:
                    if transaction:
                        async with conn.transaction():
                            yield conn
                    else:
                        yield conn
                except broken as exc:
                    if not conn.is_closed():
                        own_error = exc
                        raise
                    raise asyncpg.ConnectionDoesNotExistError(
                        f"connection lost mid-operation ({exc})"
                    ) from exc
        except broken as exc:
            if exc is own_error:
                raise
            # The pool's reset of the connection on release failed: the server
            # dropped it (the pool discards it). The work may have committed;
            # the client's retry of the same batch id then answers duplicate.
            raise asyncpg.ConnectionDoesNotExistError(
                f"connection lost on release ({exc})"
            ) from exc

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not started")
        return self._pool

    # --- inventory -----------------------------------------------------------------------
    async def upsert_targets(self, targets: Sequence[Target]) -> int:
        if not targets:
            return 0
        cols: tuple[list, list, list, list] = ([], [], [], [])
        for t in targets:
            cols[0].append(t.account)
            cols[1].append(t.agent)
            cols[2].append(t.node)
            cols[3].append(encode(t))
        await self.pool.execute(_UPSERT_TARGETS, *cols)
        return len(targets)

    async def get_target(self, account: str) -> Target | None:
        data = await self.pool.fetchval("SELECT data FROM targets WHERE account = $1", account)
        return target_decoder.decode(data) if data is not None else None

    async def list_targets(
        self, *, agent: str | None = None, node: str | None = None
    ) -> list[Target]:
        # Built per filter (not "$1 IS NULL OR ..."), so a cached generic plan
        # still uses the agent/node index.
        where: list[str] = []
        args: list[str] = []
        if agent is not None:
            args.append(agent)
            where.append(f"agent = ${len(args)}")
        if node is not None:
            args.append(node)
            where.append(f"node = ${len(args)}")
        sql = "SELECT data FROM targets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.pool.fetch(sql + " ORDER BY account", *args)
        return [target_decoder.decode(r[0]) for r in rows]

    async def count_targets(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM targets"))

    async def upsert_headends(self, headends: Sequence[Headend]) -> int:
        if not headends:
            return 0
        await self.pool.execute(
            _UPSERT_HEADENDS, [h.headend for h in headends], [h.agent for h in headends],
            [encode(h) for h in headends],
        )
        return len(headends)

    async def list_headends(self) -> list[Headend]:
        rows = await self.pool.fetch("SELECT data FROM headends ORDER BY headend")
        return [_headend_decoder.decode(r["data"]) for r in rows]

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
        cols: tuple[list, list, list, list] = ([], [], [], [])
        for r in records:
            cols[0].append(r.account)
            cols[1].append(r.probe)
            cols[2].append(r.started_at)
            cols[3].append(encode(r))
        points = [(p.account, p.at, metrics_text(p)) for p in history]
        async with self._conn(transaction=True) as conn:
            fresh = await conn.fetchval(
                "INSERT INTO batches (batch_id, agent, received_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (batch_id) DO NOTHING RETURNING true",
                batch_id,
                agent,
                received_at,
            )
            if not fresh:
                return False
            # One agent has one batch in flight, so its row is not contended.
            await conn.execute(_NOTE_PUSH, agent, received_at, interval_s)
            if records:
                await conn.execute(_UPSERT_LATEST, *cols, self.origin)
            if points:
                await conn.copy_records_to_table(
                    "history", records=points, columns=("account", "at", "metrics")
                )
        return True

    async def agent_pushes(self) -> list[AgentPush]:
        rows = await self.pool.fetch(
            "SELECT agent, last_push, interval_s FROM agents ORDER BY agent"
        )
        return [AgentPush(agent=r[0], last_push=r[1], interval_s=r[2]) for r in rows]

    async def has_batch(self, batch_id: str) -> bool:
        return bool(
            await self.pool.fetchval("SELECT true FROM batches WHERE batch_id = $1", batch_id)
        )

    async def latest_records(self, account: str) -> dict[str, ProbeRecord]:
        rows = await self.pool.fetch("SELECT probe, data FROM latest WHERE account = $1", account)
        return {r[0]: record_decoder.decode(r[1]) for r in rows}

    async def account_snapshot(self, account: str) -> AccountSnapshot:
        row = await self.pool.fetchrow(_SNAPSHOT, account)
        assert row is not None
        probes, datas = row[2] or [], row[3] or []
        return AccountSnapshot(
            target=target_decoder.decode(row[0]) if row[0] is not None else None,
            verdict=verdict_decoder.decode(row[1]) if row[1] is not None else None,
            latest={p: record_decoder.decode(d) for p, d in zip(probes, datas, strict=True)},
        )

    async def all_latest_records(self) -> list[ProbeRecord]:
        rows = await self.pool.fetch("SELECT data FROM latest")
        return [record_decoder.decode(r[0]) for r in rows]

    async def latest_record_chunks(self, size: int = 5_000) -> AsyncIterator[list[ProbeRecord]]:
        cursor: str | None = ""
        while cursor is not None:
            rows = await self.pool.fetch(
                "SELECT account, data FROM latest WHERE account > $1 "
                "ORDER BY account, probe LIMIT $2",
                cursor,
                size,
            )
            data, cursor = whole_accounts([(r[0], r[1]) for r in rows], size)
            yield await asyncio.to_thread(lambda d=data: [record_decoder.decode(x) for x in d])

    async def history(self, account: str, since: float, until: float) -> list[HistoryPoint]:
        rows = await self.pool.fetch(
            "SELECT at, metrics::text FROM history WHERE account = $1 AND at >= $2 "
            "AND at <= $3 ORDER BY at",
            account,
            since,
            until,
        )
        return [
            HistoryPoint(account=account, at=r[0], metrics=metrics_decoder.decode(r[1]))
            for r in rows
        ]

    async def prune(self, now: float, keep_raw_s: float, keep_s: float) -> int:
        raw_cutoff = hour_floor(now - keep_raw_s)
        cutoff = now - keep_s
        async with self._conn(transaction=True) as conn:
            added = _count(await conn.execute(_DOWNSAMPLE, raw_cutoff, cutoff))
            removed = _count(
                await conn.execute("DELETE FROM history WHERE raw AND at < $1", raw_cutoff)
            )
            removed -= added
            removed += _count(await conn.execute("DELETE FROM history WHERE at < $1", cutoff))
            removed += _count(await conn.execute("DELETE FROM events WHERE at < $1", cutoff))
            removed += _count(await conn.execute(_PRUNE_VERDICT_HISTORY, cutoff))
            await conn.execute("DELETE FROM batches WHERE received_at < $1", now - BATCH_ID_KEEP_S)
        return removed

    # --- verdicts --------------------------------------------------------------------------
    async def save_verdicts(self, verdicts: Sequence[Verdict]) -> None:
        if not verdicts:
            return
        latest: dict[str, Verdict] = {v.account: v for v in verdicts}
        accounts = sorted(latest)
        async with self._conn(transaction=True) as conn:
            # FOR UPDATE: another collector saving the same accounts waits, so a
            # change is appended to the history once.
            rows = await conn.fetch(
                "SELECT account, verdict FROM verdicts WHERE account = ANY($1::text[]) "
                "ORDER BY account FOR UPDATE",
                accounts,
            )
            stored: dict[str, str] = {r[0]: r[1] for r in rows}
            if len(stored) < len(accounts):
                await self._lock_new_verdicts(conn, [latest[a] for a in accounts
                                                     if a not in stored], stored)
            changes: list[tuple[str, str, str, float, bytes]] = []
            for v in verdicts:
                if stored.get(v.account) != v.verdict:
                    changes.append((v.account, v.node, v.verdict, v.since, encode(v)))
                    stored[v.account] = v.verdict
            if changes:
                await conn.copy_records_to_table(
                    "verdict_history",
                    records=changes,
                    columns=("account", "node", "verdict", "since", "data"),
                )
            cols: tuple[list, list, list, list, list, list] = ([], [], [], [], [], [])
            for account in accounts:
                v = latest[account]
                cols[0].append(v.account)
                cols[1].append(v.node)
                cols[2].append(v.verdict)
                cols[3].append(v.since)
                cols[4].append(v.updated_at)
                cols[5].append(encode(v))
            await conn.execute(_UPSERT_VERDICTS, *cols)

    @staticmethod
    async def _lock_new_verdicts(
        conn: asyncpg.Connection, new: Sequence[Verdict], stored: dict[str, str]
    ) -> None:
        """Accounts without a verdict row cannot be locked FOR UPDATE: insert
        their row now (ON CONFLICT DO NOTHING waits for a concurrent inserter).
        Rows we inserted have no previous verdict; for rows another collector
        inserted first, lock and read its verdict into ``stored``."""
        cols: tuple[list, list, list, list, list, list] = ([], [], [], [], [], [])
        for v in new:
            cols[0].append(v.account)
            cols[1].append(v.node)
            cols[2].append(v.verdict)
            cols[3].append(v.since)
            cols[4].append(v.updated_at)
            cols[5].append(encode(v))
        mine = {
            r[0]
            for r in await conn.fetch(
                "INSERT INTO verdicts (account, node, verdict, since, updated_at, data) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], "
                "$5::float8[], $6::bytea[]) ORDER BY 1 ON CONFLICT (account) DO NOTHING "
                "RETURNING account",
                *cols,
            )
        }
        theirs = [v.account for v in new if v.account not in mine]
        if theirs:
            rows = await conn.fetch(
                "SELECT account, verdict FROM verdicts WHERE account = ANY($1::text[]) "
                "ORDER BY account FOR UPDATE",
                theirs,
            )
            stored.update((r[0], r[1]) for r in rows)

    async def get_verdict(self, account: str) -> Verdict | None:
        data = await self.pool.fetchval("SELECT data FROM verdicts WHERE account = $1", account)
        return verdict_decoder.decode(data) if data is not None else None

    async def all_verdicts(self) -> list[Verdict]:
        rows = await self.pool.fetch("SELECT data FROM verdicts")
        return [verdict_decoder.decode(r[0]) for r in rows]

    async def verdict_chunks(self, size: int = 5_000) -> AsyncIterator[list[Verdict]]:
        cursor = ""
        while True:
            rows = await self.pool.fetch(
                "SELECT account, data FROM verdicts WHERE account > $1 ORDER BY account LIMIT $2",
                cursor,
                size,
            )
            if rows:
                data = [r[1] for r in rows]
                yield await asyncio.to_thread(lambda d=data: [verdict_decoder.decode(x) for x in d])
            if len(rows) < size:
                return
            cursor = rows[-1][0]

    async def verdict_history(self, account: str, since: float, until: float) -> list[Verdict]:
        rows = await self.pool.fetch(
            "SELECT data FROM verdict_history WHERE account = $1 AND since >= $2 "
            "AND since <= $3 ORDER BY since, id",
            account,
            since,
            until,
        )
        return [verdict_decoder.decode(r[0]) for r in rows]

    async def downtime_seconds(self, account: str, start: float, end: float) -> float:
        end = min(end, time.time())  # no downtime in the future
        if end <= start:
            return 0.0
        rows = await self.pool.fetch(
            "(SELECT verdict, since, id FROM verdict_history WHERE account = $1 "
            " AND since <= $2 ORDER BY since DESC, id DESC LIMIT 1) "
            "UNION ALL "
            "(SELECT verdict, since, id FROM verdict_history WHERE account = $1 "
            " AND since > $2 AND since < $3) ORDER BY since, id",
            account,
            start,
            end,
        )
        return down_seconds([(r[0], r[1]) for r in rows], start, end, DOWN_VERDICTS)

    async def node_summaries(self) -> list[NodeSummary]:
        async with self._conn() as conn:
            counts = await conn.fetch(NODE_COUNTS_SQL)
            states = await conn.fetch("SELECT node, outage, since FROM node_state")
        return node_summaries(
            [(r[0], r[1], r[2]) for r in counts], {r[0]: (r[1], r[2]) for r in states}
        )

    async def save_node_state(self, state: NodeState) -> None:
        await self.pool.execute(
            "INSERT INTO node_state (node, outage, since) VALUES ($1, $2, $3) "
            "ON CONFLICT (node) DO UPDATE SET outage = excluded.outage, since = excluded.since",
            state.node,
            state.outage,
            state.since,
        )

    async def node_states(self) -> list[NodeState]:
        rows = await self.pool.fetch("SELECT node, outage, since FROM node_state ORDER BY node")
        return [NodeState(node=r[0], outage=r[1], since=r[2]) for r in rows]

    async def claim_node_outage(self, node: str, since: float) -> NodeState:
        async with self._conn() as conn:
            for _ in range(3):  # a close between our two statements: try again
                won = await conn.fetchval(_CLAIM_OUTAGE, node, since)
                if won is not None:
                    return NodeState(node=node, outage=True, since=won)
                row = await conn.fetchrow(
                    "SELECT outage, since FROM node_state WHERE node = $1", node
                )
                if row is not None and row[0]:
                    return NodeState(node=node, outage=True, since=row[1])
        return NodeState(node=node, outage=True, since=since)

    async def close_node_outage(self, node: str, since: float) -> bool:
        status = await self.pool.execute(
            "UPDATE node_state SET outage = false, since = NULL "
            "WHERE node = $1 AND outage AND since = $2",
            node,
            since,
        )
        return _count(status) == 1

    # --- peers ---------------------------------------------------------------------------------
    async def change_cursor(self) -> int:
        return int(await self.pool.fetchval(_XMIN))

    async def changes_since(self, cursor: int) -> PeerChanges:
        async with self._conn() as conn:
            # The new cursor is read first: anything not yet visible to the reads
            # below belongs to a transaction at or above it, so the next call sees it.
            nxt = int(await conn.fetchval(_XMIN))
            since = str(cursor)
            targets = await conn.fetch(
                "SELECT data FROM targets WHERE xid >= $1::text::xid8", since
            )
            records = await conn.fetch(
                "SELECT data FROM latest WHERE xid >= $1::text::xid8 "
                "AND origin IS DISTINCT FROM $2",
                since,
                self.origin,
            )
            outages = await conn.fetch("SELECT node, since FROM node_state WHERE outage")
            # Whole: one row per agent, and pushes through this collector are in it too.
            agents = await conn.fetch("SELECT agent, last_push, interval_s FROM agents")
        return PeerChanges(
            cursor=nxt,
            targets=[target_decoder.decode(r[0]) for r in targets],
            records=[record_decoder.decode(r[0]) for r in records],
            outages=[NodeState(node=r[0], outage=True, since=r[1]) for r in outages],
            agents=[AgentPush(agent=r[0], last_push=r[1], interval_s=r[2]) for r in agents],
        )

    # --- events and audit --------------------------------------------------------------------
    async def add_events(self, events: Sequence[Event]) -> None:
        rows = [(e.account, e.kind, e.at, encode(e)) for e in events]
        if rows:
            await self.pool.copy_records_to_table(
                "events", records=rows, columns=("account", "kind", "at", "data")
            )

    async def events(
        self, account: str, since: float, until: float, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        rows = await self.pool.fetch(
            "SELECT data FROM events WHERE account = $1 AND at >= $2 AND at <= $3 "
            "AND ($4::text[] IS NULL OR kind = ANY($4::text[])) ORDER BY at DESC, id DESC",
            account,
            since,
            until,
            list(kinds) if kinds is not None else None,
        )
        return [event_decoder.decode(r[0]) for r in rows]

    async def add_audit(self, entry: AuditEntry) -> None:
        await self.pool.execute(
            "INSERT INTO audit (actor, account, action, at) VALUES ($1, $2, $3, $4)",
            entry.actor,
            entry.account,
            entry.action,
            entry.at,
        )

    async def audit_log(self, account: str, limit: int = 100) -> list[AuditEntry]:
        rows = await self.pool.fetch(
            "SELECT actor, account, action, at FROM audit WHERE account = $1 "
            "ORDER BY at DESC, id DESC LIMIT $2",
            account,
            limit,
        )
        return [AuditEntry(actor=r[0], account=r[1], action=r[2], at=r[3]) for r in rows]

    async def add_call(self, call: Call) -> None:
        await self.pool.execute(
            "INSERT INTO calls (account, at, data) VALUES ($1, $2, $3)",
            call.account, call.at, encode(call),
        )

    async def calls(self, account: str, since: float, limit: int = 100) -> list[Call]:
        rows = await self.pool.fetch(
            "SELECT data FROM calls WHERE account = $1 AND at >= $2 "
            "ORDER BY at DESC, id DESC LIMIT $3",
            account, since, limit,
        )
        return [call_decoder.decode(r[0]) for r in rows]

    async def recent_callers(self, since: float, limit: int) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT account FROM calls WHERE at >= $1 GROUP BY account "
            "ORDER BY max(at) DESC LIMIT $2",
            since, limit,
        )
        return [r[0] for r in rows]

    async def add_dispatch(self, dispatch: Dispatch) -> Dispatch | None:
        async with self._conn(transaction=True) as conn:
            # Collectors sharing the database take turns per fault.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", dispatch.fault)
            if not dispatch.forced:
                first = await conn.fetchval(
                    "SELECT data FROM dispatches WHERE fault = $1 ORDER BY at, id LIMIT 1",
                    dispatch.fault,
                )
                if first is not None:
                    return dispatch_decoder.decode(first)
            await conn.execute(
                "INSERT INTO dispatches (id, account, fault, at, data) VALUES ($1, $2, $3, $4, $5)",
                dispatch.id, dispatch.account, dispatch.fault, dispatch.at, encode(dispatch),
            )
            return None

    async def dispatches(
        self, *, account: str | None = None, fault: str | None = None, since: float = 0.0,
        limit: int = 100,
    ) -> list[Dispatch]:
        rows = await self.pool.fetch(
            "SELECT data FROM dispatches WHERE (account = $1 OR fault = $2) AND at >= $3 "
            "ORDER BY at, id LIMIT $4",
            account, fault, since, limit,
        )
        return [dispatch_decoder.decode(r[0]) for r in rows]

    async def record_outage(self, outage: Outage) -> Outage:
        async with self._conn(transaction=True) as conn:
            await conn.execute(
                "INSERT INTO outages (id, since, until, data) VALUES ($1, $2, NULL, $3) "
                "ON CONFLICT (id) DO NOTHING",
                outage.id, outage.since, encode(outage),
            )
            data = await conn.fetchval(
                "SELECT data FROM outages WHERE id = $1 FOR UPDATE", outage.id
            )
            old = outage_decoder.decode(data)
            merged = sorted(set(old.accounts) | set(outage.accounts))
            if merged == old.accounts:
                return old
            kept = msgspec.structs.replace(old, accounts=merged)
            await conn.execute("UPDATE outages SET data = $2 WHERE id = $1", kept.id, encode(kept))
            return kept

    async def close_outage(self, outage_id: str, until: float) -> None:
        async with self._conn(transaction=True) as conn:
            data = await conn.fetchval(
                "SELECT data FROM outages WHERE id = $1 AND until IS NULL FOR UPDATE", outage_id
            )
            if data is not None:
                closed = msgspec.structs.replace(outage_decoder.decode(data), until=until)
                await conn.execute(
                    "UPDATE outages SET until = $2, data = $3 WHERE id = $1",
                    outage_id, until, encode(closed),
                )

    async def outages(
        self, *, open_only: bool = False, since: float = 0.0, limit: int = 1000
    ) -> list[Outage]:
        rows = await self.pool.fetch(
            "SELECT data FROM outages WHERE until IS NULL OR (NOT $1 AND until >= $2) "
            "ORDER BY since DESC, id LIMIT $3",
            open_only, since, limit,
        )
        return [outage_decoder.decode(r[0]) for r in rows]

    async def get_outage(self, outage_id: str) -> Outage | None:
        data = await self.pool.fetchval("SELECT data FROM outages WHERE id = $1", outage_id)
        return None if data is None else outage_decoder.decode(data)

    async def enqueue_webhooks(self, rows: Sequence[OutboxRow], max_rows: int) -> int:
        dropped = 0
        async with self._conn(transaction=True) as conn:
            # One enqueuer at a time, so the bound holds across collectors.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lw-webhook-outbox'))")
            await conn.execute("DELETE FROM webhook_outbox WHERE delivered_at < $1",
                               time.time() - DELIVERED_KEEP_S)
            depth = await conn.fetchval(
                "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL"
            )
            for r in rows:
                if await conn.fetchval("SELECT 1 FROM webhook_outbox WHERE id = $1", r.id):
                    continue
                if depth >= max_rows:
                    dropped += 1
                    continue
                await conn.execute(
                    "INSERT INTO webhook_outbox (id, hook, event, body, created_at, next_at) "
                    "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
                    r.id, r.hook, r.event, r.body, r.created_at,
                )
                depth += 1
        return dropped

    async def claim_webhooks(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[OutboxRow]:
        rows = await self.pool.fetch(
            "UPDATE webhook_outbox SET claimed_by = $1, claimed_until = $2 + $3 "
            "WHERE id IN (SELECT id FROM webhook_outbox WHERE delivered_at IS NULL "
            "AND next_at <= $2 "
            "AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY next_at, created_at "
            "LIMIT $4 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, hook, event, body, created_at, attempts",
            owner, now, lease_s, limit,
        )
        found = [OutboxRow(id=r[0], hook=r[1], event=r[2], body=bytes(r[3]), created_at=r[4],
                           attempts=r[5]) for r in rows]
        return sorted(found, key=lambda r: r.created_at)

    async def finish_webhook(self, delivery_id: str) -> None:
        await self.pool.execute(
            "UPDATE webhook_outbox SET delivered_at = $2, body = ''::bytea WHERE id = $1",
            delivery_id, time.time(),
        )

    async def retry_webhook(self, delivery_id: str, next_at: float) -> None:
        await self.pool.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, next_at = $2, "
            "claimed_by = NULL, claimed_until = NULL WHERE id = $1",
            delivery_id, next_at,
        )

    async def webhook_outbox_stats(self) -> tuple[int, float | None]:
        row = await self.pool.fetchrow(
            "SELECT count(*), min(created_at) FROM webhook_outbox WHERE delivered_at IS NULL"
        )
        assert row is not None
        return int(row[0]), row[1]

    # --- tokens ------------------------------------------------------------------------------
    async def add_token(self, name: str, role: str, token_hash: str, created_at: float) -> None:
        await self.pool.execute(
            "INSERT INTO tokens (token_hash, name, role, created_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (token_hash) DO UPDATE SET name = excluded.name, role = excluded.role, "
            "created_at = excluded.created_at",
            token_hash,
            name,
            role,
            created_at,
        )

    async def role_for_token_hash(self, token_hash: str) -> tuple[str, str] | None:
        row = await self.pool.fetchrow(
            "SELECT name, role FROM tokens WHERE token_hash = $1", token_hash
        )
        return (row[0], row[1]) if row else None


async def _migrate(conn: asyncpg.Connection) -> None:
    """Apply pending migrations under an advisory lock, so concurrent starters wait."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at double precision NOT NULL)"
        )
        done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in migrations.load("postgres"):
            if migration.version in done:
                continue
            async with conn.transaction():  # a savepoint: one migration, all or nothing
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time(),
                )


__all__ = ["PostgresStore"]
