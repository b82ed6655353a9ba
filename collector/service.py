"""The collector's core, without HTTP: inventory, ingest pipeline, engine ticks.

Ingest on a store of its own (SQLite): under the judge lock, check the batch
id -> ``engine.observe`` -> ``store.commit_batch`` (records, history points,
verdicts, events and node states in ONE transaction) -> resolve waiting checks
-> metrics. On a shared store (PostgreSQL, several collectors):
``store.ingest_batch`` claims the batch id and stores the records first, then
the engine judges and the verdicts are saved with outage claims (see below).
Either way the HTTP layer answers only after the commit, so an accepted batch
is both durable and already judged: a support agent reading the account right
after sees the new verdict. A retried batch id is answered as a duplicate.

Verdicts are saved only when their name or evidence changed (the engine
reuses the stored Verdict otherwise), so ``updated_at`` is when the verdict
last changed, not when it was last re-judged; a steady fleet writes no
verdict rows at all.

Judging and saving run under one lock so verdicts are saved in the order the
engine produced them (two concurrent ingests must not save an older verdict
over a newer one). The engine's CPU work (tens of ms for a 500-record batch)
runs in a worker thread so the loop keeps answering support reads meanwhile;
readers that walk the engine's tables (node summaries) take the same lock,
single-account verdict reads are one attribute read.

With a shared store (PostgreSQL, several collectors) each collector also
follows the others' writes (``apply_peer_changes``, driven by
``collector.sync``): their inventory changes and latest records go into this
engine too, so node correlation sees every agent's readings. Then: an outage
is opened in the store by compare-and-set (the losers adopt the stored start),
reboot events are written only by the collector that ingested the reading,
and an account's verdict is saved only by the collector that ingested its
latest reading (its "owner"), so verdict history is written once.

Each accepted batch is also its agent's last push (``collector.agents``):
kept in memory, in the store with the batch, and on /metrics. When an agent
has pushed nothing for three of its poll cycles, the accounts it polls turn
``unknown`` saying so (the engine's ``set_agent_silence``), checked every
tick; its next accepted batch frees them before its records are judged. On a
shared store every collector reads every agent's last push on each sync step,
so a push through any collector counts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from collector.agents import AgentWatch
from collector.config import CollectorConfig
from collector.jobs import JobBroker
from collector.keymetrics import history_point
from collector.metrics import CollectorMetrics
from collector.model import AgentStatus, Event, NodeSummary, Verdict
from collector.store.base import (
    AgentPush,
    BatchWrite,
    HistoryPoint,
    NodeState,
    PeerChanges,
    Store,
)
from collector.verdicts import Thresholds, VerdictEngine
from collector.verdicts.engine import EngineOutput
from probes.model import Batch, Headend, Target

log = logging.getLogger("linewatch.collector")

# Where a job goes when nothing else says (no agent column, no default_agent,
# no agent has polled yet).
FALLBACK_AGENT = "default"


class IngestResult(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: str
    accepted: int
    duplicate: bool


@dataclass(slots=True)
class _Unsaved:
    """What failed to be written: saved (as it is then) with the next write."""

    accounts: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)


def _shared_strings(targets: list[Target]) -> list[Target]:
    """Targets whose repeating strings (node, agent, technology...) are one object
    each: a million decoded targets otherwise hold a million copies of each."""
    s = sys.intern
    return [
        msgspec.structs.replace(
            t,
            technology=s(t.technology),
            node=s(t.node),
            credentials=s(t.credentials),
            snmp_profile=s(t.snmp_profile) if t.snmp_profile else t.snmp_profile,
            agent=s(t.agent) if t.agent else t.agent,
        )
        for t in targets
    ]


def batch_history(batch: Batch) -> list[HistoryPoint]:
    """The history points of a batch's records (the chartable ones)."""
    return [p for r in batch.records if (p := history_point(r)) is not None]


class Collector:
    """Lifecycle: ``await start()`` (store must be started), ``await stop()``."""

    def __init__(self, config: CollectorConfig, store: Store, metrics: CollectorMetrics) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.broker = JobBroker()
        self.targets: dict[str, Target] = {}
        self.engine: VerdictEngine | None = None
        self._verdicts: dict[str, str] = {}  # account -> verdict name (change counts)
        self._last_seen: dict[str, float] = {}
        self._fresh = _FreshCount(900.0)  # rebuilt with the thresholds' limit in start()
        self._gauges_due = 0.0  # next tick that recomputes the per-node gauges
        self._judge_lock = asyncio.Lock()
        # Shared store only: accounts whose latest reading another collector
        # ingested; that collector saves their verdicts.
        self._peer_accounts: set[str] = set()
        # Shared store only: start of each outage this engine holds open, as
        # stored (a close must name it, so a late close cannot end a newer one).
        self._open_since: dict[str, float] = {}
        # Single-writer store only: what a failed write left unsaved (saved next),
        # and the batches queued on the store but not committed yet.
        self._unsaved = _Unsaved()
        self._inflight: dict[str, asyncio.Future[bool]] = {}
        self.staleness_s = 900.0  # replaced by the thresholds' value in start()
        self.agents = AgentWatch()  # replaced with the thresholds' poll interval in start()
        # The silent agents as the engine was last told, and whether the
        # inventory changed since (which moves accounts in or out of silence).
        self._silent: dict[str, float] = {}
        self._silence_dirty = False

    # --- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        overrides: dict[str, Any] = dict(self.config.thresholds.overrides)
        if self.config.outage:
            overrides["outage"] = {**overrides.get("outage", {}), **self.config.outage}
        if self.config.staleness_s is not None:
            freshness = dict(overrides.get("freshness", {}))
            freshness["stale_after_s"] = self.config.staleness_s
            overrides["freshness"] = freshness
        thresholds = Thresholds.load(self.config.thresholds.file, overrides)
        self.staleness_s = thresholds.freshness.stale_after_s
        self.agents = AgentWatch(thresholds.freshness.poll_interval_s)
        started = time.perf_counter()
        targets = _shared_strings(await self.store.list_targets())
        self.targets = {t.account: t for t in targets}
        engine = self.engine = VerdictEngine(thresholds, targets)
        del targets
        # Streamed a chunk at a time: with a million accounts the decoded store
        # would be several GB; the engine keeps only compact state per account.
        loaded = 0
        async for verdicts in self.store.verdict_chunks():
            await asyncio.to_thread(engine.load_verdicts, verdicts)
            loaded += len(verdicts)
        node_states = await self.store.node_states()
        engine.load_node_states(node_states)
        self._open_since = {n.node: n.since for n in node_states if n.outage and n.since}
        async for records in self.store.latest_record_chunks():
            await asyncio.to_thread(engine.load_records, records)
            key = engine.account_key
            for record in records:
                self._seen(key(record.account), record.started_at + record.duration_s)
        self._verdicts = engine.verdict_names()  # as stored: warm-start changes count
        now = time.time()
        self.agents.load(await self.store.agent_pushes(), now)
        for push in self.agents.pushes():
            self.metrics.agent_pushed(push.agent, push.last_push, self.agents.interval(push))
        silence = self._silence_due(now)
        if silence is not None:  # facts only: finish_load judges them
            await asyncio.to_thread(self._judge_silence, silence, None)
        output = await asyncio.to_thread(engine.finish_load, now)
        await self._persist(output)
        del output
        self._recount_fresh()
        self._update_gauges(now)
        # A million long-lived accounts: keep the cyclic GC from walking them again.
        gc.collect()
        gc.freeze()
        log.info(
            "collector started: %d targets, %d verdicts warm, in %.1f s",
            len(self.targets), loaded, time.perf_counter() - started,
        )

    async def stop(self) -> None:
        self.broker.close()

    def _engine(self) -> VerdictEngine:
        if self.engine is None:
            raise RuntimeError("collector not started")
        return self.engine

    # --- inventory ----------------------------------------------------------------------
    async def import_inventory(self, targets: Sequence[Target]) -> int:
        written = await self.store.upsert_targets(targets)
        all_targets = await self.store.list_targets()
        now = time.time()
        async with self._judge_lock:
            self.targets = {t.account: t for t in all_targets}
            output = await asyncio.to_thread(self._engine().set_targets, all_targets, now)
            await self._persist(output)
            self._silence_dirty = True
            await self._refresh_silence(now)
            self._recount_fresh()
            self._update_gauges(now)
        return written

    # --- peers (shared store) -----------------------------------------------------------
    async def apply_peer_changes(self, changes: PeerChanges) -> int:
        """Fold other collectors' writes into this engine; returns records observed.

        Idempotent: a target equal to the one held, or a record not newer than
        the engine's, changes nothing (the feed may repeat rows).
        """
        now = time.time()
        moved = [t for t in changes.targets if self.targets.get(t.account) != t]
        records = changes.records
        async with self._judge_lock:
            for push in self.agents.merge(changes.agents):
                self.metrics.agent_pushed(push.agent, push.last_push, self.agents.interval(push))
            engine = self._engine()
            if moved:
                merged = dict(self.targets)
                merged.update((t.account, t) for t in moved)
                output = await asyncio.to_thread(engine.set_targets, list(merged.values()), now)
                self.targets = merged
                await self._persist(output)
                log.info("inventory: %d targets changed by another collector", len(moved))
                self._silence_dirty = True
            await self._refresh_silence(now)  # an agent pushing through a peer is back
            if records:
                self._peer_accounts.update(r.account for r in records)
                output = await asyncio.to_thread(engine.observe, records, now)
                output.events.clear()  # the ingesting collector wrote them
                await self._persist(output)
            for state in changes.outages:
                await self._persist(engine.adopt_node_outage(state, now))
                held = engine.node_outage(state.node)
                if held is not None and held.outage and state.since is not None \
                        and held.since == state.since:
                    self._open_since[state.node] = state.since
            if moved:
                self._recount_fresh()
                self._update_gauges(now)
        job_probes: dict[tuple[str, str], set[str]] = defaultdict(set)
        for record in records:
            self._seen(record.account, record.started_at + record.duration_s)
            if record.job_id:
                job_probes[(record.job_id, record.account)].add(record.probe)
        for (job_id, account), probes in job_probes.items():
            self.broker.arrived(job_id, account, probes)
        return len(records)

    @property
    def wants_body(self) -> bool:
        """Whether ``ingest`` should get the batch JSON (``body``) instead of
        history points and records' JSON: the store derives those itself."""
        return self.store.derives_history and not self.store.shared

    def assignment(self, agent: str) -> list[Target]:
        """The agent's own rows, plus rows without an agent (see ``default_agent``)."""
        default = self.config.default_agent
        return [
            t for t in self.targets.values()
            if t.agent == agent or (not t.agent and default in (None, agent))
        ]

    async def import_headends(self, headends: Sequence[Headend]) -> int:
        """Upsert headends (CMTS, DSLAM, OLT) by id; agents get them with their
        assignment. The verdict engine does not judge headends."""
        return await self.store.upsert_headends(headends)

    async def headend_assignment(self, agent: str) -> list[Headend]:
        """The headends an agent polls: the same agent/default_agent rule as targets.
        Read from the store each time (rare: once per assignment refresh), so every
        collector on a shared store answers the same without a change feed."""
        default = self.config.default_agent
        return [
            h for h in await self.store.list_headends()
            if h.agent == agent or (not h.agent and default in (None, agent))
        ]

    def job_agent(self, target: Target) -> str:
        """Which agent runs an on-demand check: the row's agent, else the
        configured default, else the agent that polled for jobs most recently."""
        return (
            target.agent
            or self.config.default_agent
            or self.broker.most_recent_agent()
            or FALLBACK_AGENT
        )

    # --- ingest -------------------------------------------------------------------------
    async def ingest(
        self,
        batch: Batch,
        *,
        record_json: Sequence[bytes | msgspec.Raw] | None = None,
        history: list[HistoryPoint] | None = None,
        body: bytes | None = None,
        body_encoding: str = "identity",
    ) -> IngestResult:
        """``record_json``: each record as the agent sent it (see
        ``BatchWrite.record_json``); ``history``: the batch's history points if
        the caller already made them (off the loop), else made here, unless
        the store makes them from ``body`` (the batch JSON as received, in
        ``body_encoding``: see ``BatchWrite.body`` and ``wants_body``)."""
        now = time.time()
        if self.store.shared:
            if history is None:
                history = batch_history(batch)
            fresh = await self._ingest_shared(batch, history, now)
        else:
            if body is None or not self.store.derives_history:
                body = None
                if history is None:
                    history = batch_history(batch)
            fresh = await self._ingest_single(
                batch, history or [], now, record_json, body, body_encoding
            )
        if not fresh:
            self.metrics.ingest_batches.labels("duplicate").inc()
            return IngestResult(batch_id=batch.batch_id, accepted=0, duplicate=True)
        job_probes: dict[tuple[str, str], set[str]] = defaultdict(set)
        per_probe: dict[str, int] = defaultdict(int)
        # ``_seen`` inlined: this loop runs on the event loop for every record.
        last_seen, targets, fresh_count = self._last_seen, self.targets, self._fresh
        for record in batch.records:
            account, at = record.account, record.started_at + record.duration_s
            old = last_seen.get(account)
            if old is None or at > old:
                last_seen[account] = at
                if account in targets:
                    fresh_count.moved(old, at)
            per_probe[record.probe] += 1
            if record.job_id:
                job_probes[(record.job_id, account)].add(record.probe)
        for (job_id, account), probes in job_probes.items():
            self.broker.arrived(job_id, account, probes)
        m = self.metrics
        m.ingest_batches.labels("accepted").inc()
        for probe, n in per_probe.items():
            m.ingest_records.labels(probe).inc(n)
        m.last_ingest.set(now)
        return IngestResult(batch_id=batch.batch_id, accepted=len(batch.records), duplicate=False)

    async def _ingest_single(
        self,
        batch: Batch,
        history: list[HistoryPoint],
        now: float,
        record_json: Sequence[bytes | msgspec.Raw] | None = None,
        body: bytes | None = None,
        body_encoding: str = "identity",
    ) -> bool:
        """One collector on its store: judge first, then commit the batch with its
        verdicts, events and node states in one transaction (one commit per batch).

        Under the judge lock: the batch id is checked (in flight here, or in the
        store), the engine observes, and the write is queued on the store's
        writer, so writes commit in the order the engine judged. The lock is
        released before the commit is awaited: the next batch is judged while
        this one commits. The answer waits for the commit.

        If the commit fails, the batch is not acknowledged (the agent retries it)
        and the engine keeps what it observed; re-observing the same records
        changes nothing, so the accounts, nodes and events of the failed write
        are remembered and their *current* verdicts and node states (never the
        failed write's, which a later commit may have superseded) and the events
        go out with the next write.
        """
        async with self._judge_lock:
            inflight = self._inflight.get(batch.batch_id)
            if inflight is None:
                if await self.store.has_batch(batch.batch_id):
                    return False
                await self._note_push(batch, now)
                output = await asyncio.to_thread(self._engine().observe, batch.records, now)
                output = self._take_unsaved(output)
                try:
                    pending = self._submit(batch, history, now, record_json, body,
                                           body_encoding, output)
                except BaseException:  # e.g. the writer process is down: 503
                    self._keep_unsaved(output)
                    raise
                self._inflight[batch.batch_id] = done = asyncio.ensure_future(
                    self._settle(batch.batch_id, pending, output)
                )
        if inflight is not None:  # the same batch id is committing right now
            await asyncio.shield(inflight)
            return False
        return await asyncio.shield(done)

    def _submit(
        self,
        batch: Batch,
        history: list[HistoryPoint],
        now: float,
        record_json: Sequence[bytes | msgspec.Raw] | None,
        body: bytes | None,
        body_encoding: str,
        output: EngineOutput,
    ) -> Awaitable[bool]:
        return self.store.submit_batch(
            BatchWrite(
                batch_id=batch.batch_id,
                agent=batch.agent,
                received_at=now,
                records=batch.records,
                history=history,
                interval_s=batch.interval_s,
                verdicts=output.verdicts,
                events=output.events,
                node_states=output.node_states,
                record_json=record_json,
                body=body,
                body_encoding=body_encoding,
            )
        )

    async def _settle(
        self, batch_id: str, pending: Awaitable[bool], output: EngineOutput
    ) -> bool:
        try:
            fresh = await pending
        except BaseException:
            self._keep_unsaved(output)
            raise
        finally:
            self._inflight.pop(batch_id, None)
        if fresh:
            self._count_changes(output.verdicts)
        else:  # the store had the id after all (another process): save the judgement
            self._keep_unsaved(output)
        return fresh

    def _keep_unsaved(self, output: EngineOutput) -> None:
        u = self._unsaved
        u.accounts.update(v.account for v in output.verdicts)
        u.nodes.update(s.node for s in output.node_states)
        u.events.extend(output.events)

    async def _ingest_shared(self, batch: Batch, history: list[HistoryPoint], now: float) -> bool:
        """Collectors sharing a store: commit the records first (the batch id is
        claimed in the database), then judge and save with outage claims."""
        fresh = await self.store.ingest_batch(
            batch.batch_id, batch.agent, now, batch.records, history,
            interval_s=batch.interval_s,
        )
        if not fresh:
            return False
        async with self._judge_lock:
            await self._note_push(batch, now)
            if self._peer_accounts:
                self._peer_accounts.difference_update(r.account for r in batch.records)
            output = await asyncio.to_thread(self._engine().observe, batch.records, now)
            await self._persist(output)
        return True

    def _take_unsaved(self, output: EngineOutput) -> EngineOutput:
        """``output`` plus the current state of whatever an earlier failed write
        left unsaved. Call with the judge lock held."""
        u = self._unsaved
        if not (u.accounts or u.nodes or u.events):
            return output
        self._unsaved = _Unsaved()
        engine = self._engine()
        have = {v.account for v in output.verdicts}
        verdicts = [
            v for a in sorted(u.accounts - have) if (v := engine.stored_verdict(a)) is not None
        ]
        saved_nodes = {s.node for s in output.node_states}
        states = [
            s for n in sorted(u.nodes - saved_nodes) if (s := engine.node_outage(n)) is not None
        ]
        return EngineOutput(
            verdicts=verdicts + output.verdicts,
            events=u.events + output.events,
            node_states=states + output.node_states,
            judged=output.judged,
        )

    async def tick(self) -> None:
        """Re-judge on time alone: data going stale, outages ending."""
        now = time.time()
        async with self._judge_lock:
            output = await asyncio.to_thread(self._engine().tick, now)
            await self._persist(output)
            await self._refresh_silence(now)
            self._update_gauges(now, every_tick=True)

    # --- agents ---------------------------------------------------------------------------
    async def _note_push(self, batch: Batch, now: float) -> None:
        """An accepted batch is its agent's push; an agent that was silent frees
        its accounts first, so the batch's records are judged as usual (the
        ones it did not bring are judged from their readings again). Call with
        the judge lock held, before the batch is observed."""
        push = AgentPush(agent=batch.agent, last_push=now, interval_s=batch.interval_s)
        self.agents.pushed(push)
        self.metrics.agent_pushed(push.agent, now, self.agents.interval(push))
        if push.agent in self._silent:
            await self._refresh_silence(now)

    def _silence_due(self, now: float) -> dict[str, float] | None:
        """The silent agents, when the engine must hear of them (the set changed,
        or the inventory did while an agent is silent); else None. O(agents)."""
        silent = self.agents.silent(now)
        dirty, self._silence_dirty = self._silence_dirty, False
        if silent == self._silent and not (dirty and silent):
            return None
        self._silent = silent
        return silent

    def _judge_silence(self, silent: dict[str, float], now: float | None) -> EngineOutput:
        """(worker thread: O(targets)) Tell the engine whose agent is silent."""
        silenced = self.agents.silenced_accounts(
            self.targets.values(), silent, self.config.default_agent
        )
        return self._engine().set_agent_silence(silenced, now)

    async def _refresh_silence(self, now: float) -> None:
        """Re-judge the accounts whose agent went silent or came back. Call with
        the judge lock held."""
        silence = self._silence_due(now)
        if silence is not None:
            await self._persist(await asyncio.to_thread(self._judge_silence, silence, now))

    def agent_statuses(self, now: float | None = None) -> list[AgentStatus]:
        """Every agent heard from, with its last push and whether it is silent."""
        return self.agents.statuses(time.time() if now is None else now)

    async def add_events(self, events: Sequence[Event]) -> None:
        await self.store.add_events(events)

    async def _persist(self, output: EngineOutput) -> None:
        """Save what the engine changed: node flags first (on a shared store an
        opening outage is claimed, and a lost claim re-judges the node with the
        winner's start), then verdicts, then events. Call with the judge lock held."""
        if self.store.shared:
            verdicts: Sequence[Verdict] = await self._claim_outages(
                output.node_states, output.verdicts
            )
            if self._peer_accounts:
                verdicts = [v for v in verdicts if v.account not in self._peer_accounts]
            await self._save(verdicts, output.events)
            return
        output = self._take_unsaved(output)
        try:
            for state in output.node_states:
                await self.store.save_node_state(state)
            await self._save(output.verdicts, output.events)
        except BaseException:
            self._keep_unsaved(output)  # the engine moved on: save it with the next write
            raise

    async def _claim_outages(
        self, states: Sequence[NodeState], verdicts: Sequence[Verdict]
    ) -> Sequence[Verdict]:
        for state in states:
            if not state.outage or state.since is None:
                opened = self._open_since.pop(state.node, None)
                if opened is None:
                    await self.store.save_node_state(state)
                elif not await self.store.close_node_outage(state.node, opened):
                    log.info("outage of %s not closed: another collector holds a newer one",
                             state.node)
                continue
            stored = await self.store.claim_node_outage(state.node, state.since)
            if stored.since is not None:
                self._open_since[state.node] = stored.since
            if stored.since == state.since:
                continue
            log.info("outage of %s opened by another collector at %s; adopting it",
                     state.node, stored.since)
            redo = self._engine().adopt_node_outage(stored, time.time())
            if redo.verdicts:
                again = {v.account for v in redo.verdicts}
                verdicts = [v for v in verdicts if v.account not in again] + redo.verdicts
        return verdicts

    async def _save(self, verdicts: Sequence[Verdict], events: Sequence[Event]) -> None:
        if verdicts:
            await self.store.save_verdicts(verdicts)
            self._count_changes(verdicts)
        if events:
            await self.store.add_events(events)

    def _count_changes(self, verdicts: Sequence[Verdict]) -> None:
        for v in verdicts:
            if self._verdicts.get(v.account) != v.verdict:
                self.metrics.verdict_changes.labels(v.verdict).inc()
            self._verdicts[v.account] = v.verdict

    # --- reads ----------------------------------------------------------------------------
    def verdict(self, account: str) -> Verdict | None:
        return self._engine().verdict(account)

    def last_seen(self, account: str) -> float | None:
        return self._last_seen.get(account)

    def is_fresh(self, account: str, now: float) -> bool:
        seen = self._last_seen.get(account)
        return seen is not None and now - seen <= self.staleness_s

    def _seen(self, account: str, at: float) -> None:
        old = self._last_seen.get(account)
        if old is None or at > old:
            self._last_seen[account] = at
            if account in self.targets:
                self._fresh.moved(old, at)

    async def node_summaries(self) -> list[NodeSummary]:
        async with self._judge_lock:
            return self._engine().node_summaries()

    def _update_gauges(self, now: float, *, every_tick: bool = False) -> None:
        """Verdict/node/staleness gauges, without a pass over every account.

        The stale count is kept up to date as data arrives (``_FreshCount``).
        The per-node verdict gauges cost O(nodes); from the tick they are
        recomputed at most as often as keeps them under ~5 % of the time
        (every tick on a small fleet, every few seconds with 20,000 nodes).
        Call with the judge lock held (or before serving)."""
        self.metrics.stale_accounts.set(len(self.targets) - self._fresh.count(now))
        if every_tick and now < self._gauges_due:
            return
        started = time.perf_counter()
        summaries = self._engine().node_summaries()
        self.metrics.set_verdict_gauges(summaries)
        self._gauges_due = now + 20 * (time.perf_counter() - started)

    def _recount_fresh(self) -> None:
        """Rebuild the fresh count (start, inventory changes): O(accounts)."""
        self._fresh = _FreshCount(self.staleness_s)
        seen = self._last_seen
        for account in self.targets:
            at = seen.get(account)
            if at is not None:
                self._fresh.moved(None, at)


class _FreshCount:
    """How many accounts were last seen within ``staleness_s``, kept as data
    arrives: accounts per whole second of last-seen time, and a cutoff second
    that moves with the clock (each second it passes takes its bucket out).
    Counts to the second, which is as exact as a gauge needs."""

    def __init__(self, staleness_s: float) -> None:
        self.staleness_s = staleness_s
        self._buckets: dict[int, int] = defaultdict(int)
        self._cutoff: int | None = None  # seconds <= cutoff are stale
        self._fresh = 0

    def moved(self, old: float | None, new: float) -> None:
        b = self._buckets
        if old is not None:
            ob = int(old)
            if ob == int(new):  # same second: nothing moves (a re-poll within it)
                return
            b[ob] -= 1
            if not b[ob]:
                del b[ob]
            if self._cutoff is None or ob > self._cutoff:
                self._fresh -= 1
        nb = int(new)
        b[nb] += 1
        if self._cutoff is None or nb > self._cutoff:
            self._fresh += 1

    def count(self, now: float) -> int:
        cutoff = int(now - self.staleness_s)
        if self._cutoff is None or cutoff - self._cutoff > len(self._buckets):
            self._fresh = sum(n for sec, n in self._buckets.items() if sec > cutoff)
        elif cutoff > self._cutoff:
            b = self._buckets
            for sec in range(self._cutoff + 1, cutoff + 1):
                self._fresh -= b.get(sec, 0)
        elif cutoff < self._cutoff:  # the clock went back
            self._fresh = sum(n for sec, n in self._buckets.items() if sec > cutoff)
        self._cutoff = cutoff
        return self._fresh
