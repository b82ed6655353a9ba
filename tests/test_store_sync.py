"""What several collectors on one database rely on, against SQLite and a real PostgreSQL.

- ``claim_node_outage``: compare-and-set, one winner even when two stores race;
- ``save_verdicts``: a verdict change is appended to the history once, even
  when two stores save it at the same time (also for a brand-new account);
- the PostgreSQL change feed (``change_cursor``/``changes_since``): peers'
  targets and latest records, never our own, and never a row committed late;
- two ``Collector`` services with ``PeerSync`` on one PostgreSQL schema: B
  picks up A's inventory and readings, the outage is opened once and both
  engines show the same start.

Stores come from the ``make_store`` fixture of tests/test_store.py (same
database per test, fresh schema on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
import test_store
from test_store import (
    StoreFactory,
    ping_record,
    snmp_record,
    target,
    verdict,
)

from collector.config import CollectorConfig
from collector.metrics import CollectorMetrics
from collector.service import Collector
from collector.store.base import NodeState, Store
from collector.store.codec import encode
from collector.store.postgres import PostgresStore
from collector.sync import PeerSync
from probes.model import Batch, PingResult, ProbeError, ProbeRecord, SnmpReading

# The backend-parametrised store factory fixture (SQLite, PostgreSQL) of test_store.
make_store = test_store.make_store
T0 = 1_700_000_000.0


async def started(make: StoreFactory, n: int) -> list[Store]:
    stores = [make() for _ in range(n)]
    for s in stores:
        await s.start()
    return stores


# The change feed exists on shared (PostgreSQL) stores only.
postgres_only = pytest.mark.parametrize("make_store", ["postgres"], indirect=True)


# --- outage compare-and-set -------------------------------------------------------------------


async def test_claim_opens_once_and_reopens_after_a_close(make_store: StoreFactory) -> None:
    (s,) = await started(make_store, 1)
    assert await s.claim_node_outage("N-1", T0) == NodeState(node="N-1", outage=True, since=T0)
    # Open already: the second claimer gets the first one's start.
    assert (await s.claim_node_outage("N-1", T0 + 5)).since == T0
    assert await s.node_states() == [NodeState(node="N-1", outage=True, since=T0)]
    await s.save_node_state(NodeState(node="N-1", outage=False))
    assert (await s.claim_node_outage("N-1", T0 + 60)).since == T0 + 60


async def test_a_late_close_does_not_end_a_newer_outage(make_store: StoreFactory) -> None:
    (s,) = await started(make_store, 1)
    await s.claim_node_outage("N-1", T0)
    assert await s.close_node_outage("N-1", T0)
    assert (await s.claim_node_outage("N-1", T0 + 60)).since == T0 + 60  # re-opened
    assert not await s.close_node_outage("N-1", T0)  # a collector closing the old one
    assert await s.node_states() == [NodeState(node="N-1", outage=True, since=T0 + 60)]
    assert not await s.close_node_outage("N-2", T0)  # never opened


async def test_concurrent_claims_have_one_winner(make_store: StoreFactory) -> None:
    a, b = await started(make_store, 2)
    for round_ in range(5):
        node = f"N-{round_}"
        got = await asyncio.gather(
            a.claim_node_outage(node, T0 + round_), b.claim_node_outage(node, T0 + 100 + round_)
        )
        assert got[0] == got[1], got  # both callers end with the same start
        assert got[0].since in (T0 + round_, T0 + 100 + round_)
        states = {n.node: n for n in await b.node_states()}
        assert states[node] == got[0]


# --- verdict history written once --------------------------------------------------------------


async def count_changes(s: Store, account: str) -> list[tuple[str, float]]:
    return [(v.verdict, v.since) for v in await s.verdict_history(account, 0, T0 + 1e6)]


async def test_same_change_saved_by_two_stores_is_history_once(make_store: StoreFactory) -> None:
    a, b = await started(make_store, 2)
    accounts = [f"ACC-{i:03d}" for i in range(20)]
    # Brand-new accounts, saved by both at once: no verdict row to lock yet.
    first = [verdict(acc, "ok", T0) for acc in accounts]
    await asyncio.gather(a.save_verdicts(first), b.save_verdicts(first))
    # Then the same change from both, at once, then again (already stored).
    change = [verdict(acc, "area_outage", T0 + 60) for acc in accounts]
    await asyncio.gather(a.save_verdicts(change), b.save_verdicts(change))
    await b.save_verdicts(change)
    for acc in accounts:
        assert await count_changes(a, acc) == [("ok", T0), ("area_outage", T0 + 60)], acc
        assert (await b.get_verdict(acc)).verdict == "area_outage"  # type: ignore[union-attr]


# --- the change feed (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.parametrize("make_store", ["sqlite"], indirect=True)
async def test_sqlite_is_not_shared(make_store: StoreFactory) -> None:
    (s,) = await started(make_store, 1)
    assert not s.shared
    with pytest.raises(NotImplementedError):
        await s.change_cursor()


@postgres_only
async def test_feed_has_peers_targets_and_records_but_not_our_own(
    make_store: StoreFactory,
) -> None:
    me, peer = await started(make_store, 2)
    cursor = await me.change_cursor()
    await peer.upsert_targets([target("ACC-1"), target("ACC-2")])
    await peer.ingest_batch("b-peer", "south", T0, [snmp_record("ACC-1", T0)], [])
    await me.ingest_batch("b-mine", "north", T0, [snmp_record("ACC-2", T0)], [])
    await peer.claim_node_outage("N-9", T0)
    got = await me.changes_since(cursor)
    assert sorted(t.account for t in got.targets) == ["ACC-1", "ACC-2"]
    assert [(r.account, r.started_at) for r in got.records] == [("ACC-1", T0)]
    assert got.outages == [NodeState(node="N-9", outage=True, since=T0)]
    assert got.cursor >= cursor

    # Nothing new: once the cursor has moved past them, rows do not come again;
    # an unchanged re-import and an older record change nothing.
    await peer.upsert_targets([target("ACC-1")])
    await peer.ingest_batch("b-old", "south", T0, [snmp_record("ACC-1", T0 - 10)], [])
    again = await me.changes_since(got.cursor)
    again = await me.changes_since(again.cursor)
    assert again.targets == [] and again.records == []

    # A newer record and a changed target do.
    await peer.upsert_targets([target("ACC-1", node="N-2")])
    await peer.ingest_batch("b-new", "south", T0, [ping_record("ACC-1", T0 + 1)], [])
    fresh = await me.changes_since(again.cursor)
    assert [(t.account, t.node) for t in fresh.targets] == [("ACC-1", "N-2")]
    assert [(r.account, r.probe) for r in fresh.records] == [("ACC-1", "ping")]


@postgres_only
async def test_feed_never_skips_a_row_committed_after_a_read(make_store: StoreFactory) -> None:
    """A transaction that wrote before a read but committed after it must show
    up in the next read (a plain sequence number would skip it)."""
    me, peer = await started(make_store, 2)
    assert isinstance(peer, PostgresStore)
    cursor = await me.change_cursor()
    async with peer.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(
                "INSERT INTO latest (account, probe, started_at, data, origin) "
                "VALUES ('ACC-LATE', 'snmp', $1, $2, 'peer')",
                T0,
                encode(snmp_record("ACC-LATE", T0)),
            )
            # Meanwhile a later transaction commits and the reader moves on.
            await peer.ingest_batch("b-1", "south", T0, [snmp_record("ACC-EARLY", T0)], [])
            first = await me.changes_since(cursor)
            assert [r.account for r in first.records] == ["ACC-EARLY"]
        finally:
            await tx.commit()
    second = await me.changes_since(first.cursor)
    assert "ACC-LATE" in [r.account for r in second.records]


# --- two collectors on one PostgreSQL -------------------------------------------------------------


def dark(account: str, at: float) -> list[ProbeRecord]:
    return [
        ProbeRecord(account=account, probe="snmp", started_at=at, duration_s=2.0,
                    result=ProbeError(kind="timeout", message="no answer")),
        ProbeRecord(account=account, probe="ping", started_at=at, duration_s=1.0,
                    result=PingResult(sent=5, received=0)),
    ]


@postgres_only
async def test_two_collectors_share_inventory_readings_and_one_outage(
    make_store: StoreFactory,
) -> None:
    sa, sb = await started(make_store, 2)
    config = CollectorConfig(db="unused", outage={"min_share": 0.6, "min_count": 4})
    col_a = Collector(config, sa, CollectorMetrics())
    col_b = Collector(config, sb, CollectorMetrics())
    sync_a, sync_b = PeerSync(col_a), PeerSync(col_b)
    for sync, col in ((sync_a, col_a), (sync_b, col_b)):
        await sync.prime()
        await col.start()
    accounts = [f"ACC-{i}" for i in range(8)]  # even: agent north via A, odd: south via B
    await col_a.import_inventory(
        [target(a, node="N-1", agent="north" if i % 2 == 0 else "south")
         for i, a in enumerate(accounts)]
    )
    await sync_b.step()
    assert len(col_b.assignment("south")) == 4 and len(col_b.targets) == 8

    now = time.time()
    north, south = accounts[0::2], accounts[1::2]

    def batch(bid: str, agent: str, recs: list[ProbeRecord]) -> Batch:
        return Batch(batch_id=bid, agent=agent, sent_at=now, records=recs)

    await col_a.ingest(batch("a-ok", "north", [snmp_record(a, now - 30) for a in north]))
    await col_b.ingest(batch("b-ok", "south", [snmp_record(a, now - 30) for a in south]))
    assert await sync_a.step() == 4 and await sync_b.step() == 4
    for col in (col_a, col_b):
        assert {col.verdict(a).verdict for a in accounts} == {"ok"}  # type: ignore[union-attr]

    # A north modem restarts: one reboot event, from A (B sees the same
    # readings through the feed and must not write it again).
    before = snmp_record(north[0], now - 20)
    after = snmp_record(north[0], now - 15)
    assert isinstance(after.result, SnmpReading)
    after = msgspec.structs.replace(
        after, result=msgspec.structs.replace(after.result, sys_uptime_s=4.0)
    )
    await col_a.ingest(batch("a-reboot1", "north", [before]))
    assert await sync_b.step() == 1
    await col_a.ingest(batch("a-reboot2", "north", [after]))
    assert await sync_b.step() == 1
    reboots = await sb.events(north[0], 0, now + 60, ["reboot"])
    assert len(reboots) == 1, reboots

    # Half the node dark on each side: neither alone reaches 0.6. A's modems
    # went dark later than B's, so the engines would pick different starts.
    await col_a.ingest(batch("a-dark", "north", [r for a in north for r in dark(a, now - 5)]))
    await col_b.ingest(batch("b-dark", "south", [r for a in south for r in dark(a, now - 8)]))
    assert not col_a.engine.node_outage("N-1").outage  # type: ignore[union-attr]
    await sync_a.step()  # A opens first: start = B's earliest dark poll
    await sync_b.step()  # B opens too, loses the claim, adopts A's start
    states = await sa.node_states()
    assert states == [NodeState(node="N-1", outage=True, since=now - 8)]
    for col in (col_a, col_b):
        assert col.engine.node_outage("N-1") == states[0]  # type: ignore[union-attr]
        for a in accounts:
            v = col.verdict(a)
            assert v is not None and v.verdict == "area_outage", (a, v)
    for a in accounts:
        history = [(v.verdict, v.since) for v in await sa.verdict_history(a, 0, now + 60)]
        assert [h for h in history if h[0] == "area_outage"] == [
            ("area_outage", max(now - 8, history[-2][1]))
        ], (a, history)
