"""The store interface. Two real backends implement it: SQLite (WAL) and PostgreSQL.

The store is dumb on purpose: it keeps what it is given, atomically, and
answers indexed lookups. Judging happens in ``collector.verdicts``; turning a
reading into history points happens in ``collector.keymetrics``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Sequence

import msgspec

from collector.calls import Call
from collector.dispatches import Dispatch
from collector.model import Event, NodeState, NodeSummary, Verdict
from collector.outages import Outage
from collector.webhooks import OutboxRow
from probes.model import Headend, ProbeRecord, Target


class HistoryPoint(msgspec.Struct, frozen=True, kw_only=True):
    """Key readings of one account at one time, for charts and trends."""

    account: str
    at: float
    metrics: dict[str, float]  # e.g. {"ds_power_dbmv_min": -2.1, "ping_loss_ratio": 0.0}


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    actor: str
    account: str
    action: str
    at: float


class AgentPush(msgspec.Struct, frozen=True, kw_only=True):
    """An agent's last accepted push (table ``agents``, written with the batch)."""

    agent: str
    last_push: float  # unix seconds the collector accepted the batch
    interval_s: float | None = None  # the poll cycle the agent sent (None: it did not say)


class PeerChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What other collectors wrote since a cursor (``Store.changes_since``).

    Rows may come again in a later read (the feed errs on the side of repeating
    rather than skipping), so whoever applies them must be idempotent.
    """

    cursor: int  # pass to the next changes_since
    targets: list[Target]  # inventory rows written since the cursor (by anyone)
    records: list[ProbeRecord]  # latest records ingested by other collectors
    outages: list[NodeState]  # every node outage open now
    agents: list[AgentPush] = []  # every agent's last push, as stored now


class BatchWrite(msgspec.Struct, frozen=True, kw_only=True):
    """One ingested batch and what judging it changed, to commit together."""

    batch_id: str
    agent: str
    received_at: float
    records: Sequence[ProbeRecord]
    history: Sequence[HistoryPoint]
    verdicts: Sequence[Verdict] = ()
    events: Sequence[Event] = ()
    node_states: Sequence[NodeState] = ()
    # Optional: each record's JSON as the agent sent it (validated by decoding
    # it into ``records``; same order and length). A store that keeps records
    # as JSON may write these instead of encoding ``records`` again.
    record_json: Sequence[bytes | msgspec.Raw] | None = None
    # The sending agent's poll cycle (``Batch.interval_s``), kept with its last push.
    interval_s: float | None = None
    # Optional: the whole batch JSON as received (validated into ``records``),
    # still in its content coding ``body_encoding`` ("identity", "gzip" or
    # "deflate"; a size-checked one). A store whose ``derives_history`` is True
    # takes the records' JSON and the history points from it itself (off the
    # caller's GIL); ``history`` and ``record_json`` may then be left empty.
    body: bytes | None = None
    body_encoding: str = "identity"


class AccountSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an account status answer needs, read in one go."""

    target: Target | None
    verdict: Verdict | None
    latest: dict[str, ProbeRecord]


class Store(ABC):
    """Lifecycle: ``await start()`` (connects and migrates), ``await stop()``."""

    # True when several collectors may share the database: they then follow
    # each other's writes through change_cursor/changes_since (collector/sync.py).
    shared: bool = False
    # True when ``commit_batch``/``submit_batch`` derive history points from
    # ``BatchWrite.body`` themselves (SQLite's writer process): the collector
    # then does not make them.
    derives_history: bool = False
    # The default submit_batch's last write, which the next one waits for.
    _last_submitted: asyncio.Future[bool] | None = None

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    def unavailable(self, exc: BaseException) -> bool:
        """True when ``exc`` means the database cannot be reached right now (the
        caller should retry: 503), not that the request or the code is wrong."""
        return False

    # --- inventory -----------------------------------------------------------------
    @abstractmethod
    async def upsert_targets(self, targets: Sequence[Target]) -> int:
        """Insert or replace targets by account; returns how many were written."""

    @abstractmethod
    async def get_target(self, account: str) -> Target | None: ...

    @abstractmethod
    async def list_targets(
        self, *, agent: str | None = None, node: str | None = None
    ) -> list[Target]: ...

    @abstractmethod
    async def count_targets(self) -> int: ...

    # Headends (CMTS, DSLAM, OLT) the agents poll; table ``headends``.
    async def upsert_headends(self, headends: Sequence[Headend]) -> int:
        """Insert or replace headends by id; returns how many were written."""
        raise NotImplementedError

    async def list_headends(self) -> list[Headend]:
        """Every headend, by id (few: one per node and technology at most)."""
        raise NotImplementedError

    # --- ingest ----------------------------------------------------------------------
    @abstractmethod
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
        """In one transaction: remember batch_id, replace the latest record per
        (account, probe) when newer by started_at, append history points, and
        note ``received_at`` (with ``interval_s``) as the agent's last push.
        Returns False (and writes nothing) when batch_id was already ingested."""

    @abstractmethod
    async def agent_pushes(self) -> list[AgentPush]:
        """Every agent's last accepted push (warm start; peers follow it through
        ``changes_since``)."""

    @abstractmethod
    async def has_batch(self, batch_id: str) -> bool:
        """Whether ``batch_id`` was ingested (and not yet pruned)."""

    async def commit_batch(self, write: BatchWrite) -> bool:
        """``ingest_batch`` plus the node states, verdicts and events judged from
        it. SQLite does it in one transaction (one commit per batch); this
        default does it in four, for stores that only use it single-writer.
        Returns False (and writes nothing) when the batch id was already ingested."""
        fresh = await self.ingest_batch(
            write.batch_id, write.agent, write.received_at, write.records, write.history,
            interval_s=write.interval_s,
        )
        if fresh:
            for state in write.node_states:
                await self.save_node_state(state)
            await self.save_verdicts(write.verdicts)
            await self.add_events(write.events)
        return fresh

    def submit_batch(self, write: BatchWrite) -> Awaitable[bool]:
        """Start ``commit_batch`` now and return its result to await later.

        Writes submitted one after another commit in that order even when
        awaited later (the collector judges batch N+1 while batch N commits).
        SQLite queues them on its one writer; this default chains each commit
        after the one submitted before it (whatever that one's outcome), since
        two commits racing on a connection pool may land in either order."""
        before = self._last_submitted

        async def in_turn() -> bool:
            if before is not None and not before.done():
                await asyncio.wait([before])
            return await self.commit_batch(write)

        self._last_submitted = task = asyncio.ensure_future(in_turn())
        return task

    @abstractmethod
    async def latest_records(self, account: str) -> dict[str, ProbeRecord]:
        """Latest record per probe kind for one account."""

    @abstractmethod
    async def account_snapshot(self, account: str) -> AccountSnapshot:
        """Target, current verdict and latest records of one account in one read
        (one thread hop on SQLite, one round trip on PostgreSQL): the status path."""

    @abstractmethod
    async def all_latest_records(self) -> list[ProbeRecord]:
        """Every latest record (warm start of the verdict engine)."""

    async def latest_record_chunks(self, size: int = 5_000) -> AsyncIterator[list[ProbeRecord]]:
        """Every latest record, a chunk at a time, every record of one account in
        the same chunk (warm start of a large store without holding it all)."""
        yield await self.all_latest_records()

    @abstractmethod
    async def history(self, account: str, since: float, until: float) -> list[HistoryPoint]: ...

    @abstractmethod
    async def prune(self, now: float, keep_raw_s: float, keep_s: float) -> int:
        """Downsample history older than keep_raw_s to one point per hour (mean),
        drop history and events older than keep_s; returns rows removed."""

    # --- verdicts ---------------------------------------------------------------------
    @abstractmethod
    async def save_verdicts(self, verdicts: Sequence[Verdict]) -> None:
        """Upsert the current verdict per account; append to verdict history
        those whose verdict name differs from the stored current one."""

    @abstractmethod
    async def get_verdict(self, account: str) -> Verdict | None: ...

    @abstractmethod
    async def all_verdicts(self) -> list[Verdict]: ...

    async def verdict_chunks(self, size: int = 5_000) -> AsyncIterator[list[Verdict]]:
        """Every current verdict, a chunk at a time (warm start)."""
        yield await self.all_verdicts()

    @abstractmethod
    async def verdict_history(self, account: str, since: float, until: float) -> list[Verdict]:
        """Verdict changes (oldest first), each with its ``since``."""

    @abstractmethod
    async def downtime_seconds(self, account: str, start: float, end: float) -> float:
        """Seconds within [start, end) the account spent in a DOWN_VERDICTS verdict."""

    @abstractmethod
    async def node_summaries(self) -> list[NodeSummary]: ...

    @abstractmethod
    async def save_node_state(self, state: NodeState) -> None: ...

    @abstractmethod
    async def node_states(self) -> list[NodeState]: ...

    @abstractmethod
    async def claim_node_outage(self, node: str, since: float) -> NodeState:
        """Open ``node``'s outage at ``since`` unless it is open already, atomically
        (compare-and-set). Returns the stored state: ``since`` is the caller's
        when it opened the outage, else the one whoever opened it first stored."""

    @abstractmethod
    async def close_node_outage(self, node: str, since: float) -> bool:
        """Close ``node``'s outage only if it is still the one that opened at
        ``since`` (a collector late to close must not end a newer outage).
        Returns whether it closed."""

    # --- peers (shared stores only) -------------------------------------------------------
    async def change_cursor(self) -> int:
        """A cursor before everything committed so far (read it before a full load)."""
        raise NotImplementedError(f"{type(self).__name__} is not shared between collectors")

    async def changes_since(self, cursor: int) -> PeerChanges:
        """Inventory rows, other collectors' latest records and open outages
        written since ``cursor`` (from ``change_cursor`` or a previous call),
        and every agent's last push."""
        raise NotImplementedError(f"{type(self).__name__} is not shared between collectors")

    # --- events and audit --------------------------------------------------------------
    @abstractmethod
    async def add_events(self, events: Sequence[Event]) -> None: ...

    @abstractmethod
    async def events(
        self, account: str, since: float, until: float, kinds: Sequence[str] | None = None
    ) -> list[Event]:
        """Events of one account, newest first."""

    @abstractmethod
    async def add_audit(self, entry: AuditEntry) -> None: ...

    @abstractmethod
    async def audit_log(self, account: str, limit: int = 100) -> list[AuditEntry]: ...

    # Calls (issue 17); table ``calls``.
    async def add_call(self, call: Call) -> None:
        """Keep one call on its account."""
        raise NotImplementedError

    async def calls(self, account: str, since: float, limit: int = 100) -> list[Call]:
        """Calls of one account at or after ``since``, newest first, at most ``limit``."""
        raise NotImplementedError

    async def recent_callers(self, since: float, limit: int) -> list[str]:
        """Accounts with a call at or after ``since``, latest caller first."""
        raise NotImplementedError

    # Dispatches (issue 17); table ``dispatches``.
    async def add_dispatch(self, dispatch: Dispatch) -> Dispatch | None:
        """Keep ``dispatch`` unless its fault already has one and it is not
        ``forced``: then keep nothing and return the fault's first. Atomic
        across collectors sharing the store."""
        raise NotImplementedError

    async def dispatches(
        self, *, account: str | None = None, fault: str | None = None, since: float = 0.0,
        limit: int = 100,
    ) -> list[Dispatch]:
        """Dispatches of ``account`` or for ``fault`` (either matching) at or
        after ``since``, oldest first, at most ``limit``."""
        raise NotImplementedError

    # Outage history (issue 17); table ``outages``.
    async def record_outage(self, outage: Outage) -> Outage:
        """Insert an open outage, or add accounts to the stored one (its start
        and close kept); returns the row as stored."""
        raise NotImplementedError

    async def close_outage(self, outage_id: str, until: float) -> None:
        """Stamp the close, unless it is already closed (the first close wins)."""
        raise NotImplementedError

    async def outages(
        self, *, open_only: bool = False, since: float = 0.0, limit: int = 1000
    ) -> list[Outage]:
        """Outages open now or closed at or after ``since``, newest first."""
        raise NotImplementedError

    async def get_outage(self, outage_id: str) -> Outage | None:
        raise NotImplementedError

    # Webhook outbox (issue 17); table ``webhook_outbox``.
    async def enqueue_webhooks(self, rows: Sequence[OutboxRow], max_rows: int) -> int:
        """Keep rows whose id is new while the outbox holds fewer than
        ``max_rows``; returns how many new rows were dropped for room."""
        raise NotImplementedError

    async def claim_webhooks(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> list[OutboxRow]:
        """Due rows no live lease holds, oldest first, now leased to ``owner``."""
        raise NotImplementedError

    async def finish_webhook(self, delivery_id: str) -> None:
        raise NotImplementedError

    async def retry_webhook(self, delivery_id: str, next_at: float) -> None:
        """One more attempt counted, the lease released, due again at ``next_at``."""
        raise NotImplementedError

    async def webhook_outbox_stats(self) -> tuple[int, float | None]:
        """Rows in the outbox and the oldest one's created_at."""
        raise NotImplementedError

    # --- tokens ---------------------------------------------------------------------------
    @abstractmethod
    async def add_token(self, name: str, role: str, token_hash: str, created_at: float) -> None: ...

    @abstractmethod
    async def role_for_token_hash(self, token_hash: str) -> tuple[str, str] | None:
        """(name, role) for a stored token hash, or None."""
