"""The Store contract, checked the same way against SQLite and a real PostgreSQL.

PostgreSQL runs on 127.0.0.1:5432 (trust auth, database ``test``, see
../shared/PEERS.md); each test gets a fresh schema, dropped afterwards. Where
the server is unreachable the PostgreSQL half skips (fails with CI=true).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from needs import PG_ADMIN_URL, pg_admin

from collector.model import Event, Evidence, Verdict
from collector.store import migrations
from collector.store.base import AuditEntry, HistoryPoint, NodeState, Store
from collector.store.factory import open_store
from collector.store.postgres import PostgresStore
from collector.store.sqlite import SqliteStore
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    PingResult,
    ProbeError,
    ProbeRecord,
    SnmpReading,
    Target,
)

_schema_seq = itertools.count()

StoreFactory = Callable[[], Store]




@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A factory of stores that all share one fresh database; all are stopped after."""
    made: list[Store] = []
    admin: asyncpg.Connection | None = None
    schema = ""
    if request.param == "sqlite":
        db = str(tmp_path / "store.db")

        def factory() -> Store:
            made.append(SqliteStore(db))
            return made[-1]

    else:
        admin = await pg_admin()
        schema = f"lw_test_{os.getpid()}_{next(_schema_seq)}"
        await admin.execute(f"CREATE SCHEMA {schema}")
        url = f"{PG_ADMIN_URL}?search_path={schema}"

        def factory() -> Store:
            made.append(PostgresStore(url, min_size=1, max_size=4))
            return made[-1]

    try:
        yield factory
    finally:
        for s in made:
            await s.stop()
        if admin is not None:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[Store]:
    s = make_store()
    await s.start()
    yield s


def target(account: str, node: str = "N-1", agent: str | None = "agent-a") -> Target:
    return Target(
        account=account,
        host=f"127.20.0.{len(account)}",
        technology="docsis",
        node=node,
        plan_down_mbps=250.0,
        plan_up_mbps=25.0,
        agent=agent,
    )


def snmp_record(account: str, started_at: float, power: float = 1.5) -> ProbeRecord:
    channels = [
        DownstreamChannel(
            index=i,
            frequency_hz=300_000_000 + i * 8_000_000,
            power_dbmv=power,
            snr_db=38.5,
            unerrored=1000 * i,
            corrected=i,
            uncorrectable=0,
        )
        for i in range(1, 17)
    ]
    return ProbeRecord(
        account=account,
        probe="snmp",
        started_at=started_at,
        duration_s=0.12,
        result=SnmpReading(sys_uptime_s=3600.0, line=DocsisLine(downstream=channels, cm_status=12)),
    )


def ping_record(account: str, started_at: float, received: int = 5) -> ProbeRecord:
    return ProbeRecord(
        account=account,
        probe="ping",
        started_at=started_at,
        duration_s=1.0,
        result=PingResult(sent=5, received=received, rtt_avg_ms=8.0),
    )


def verdict(account: str, name: str, since: float, node: str = "N-1") -> Verdict:
    return Verdict(
        account=account,
        node=node,
        verdict=name,  # type: ignore[arg-type]
        since=since,
        confidence=0.9,
        evidence=[Evidence(fact="ds_snr_db", value=24.0, threshold=">= 30", unit="dB")],
        action="dispatch",
        customer_message={"en": "We are on it", "sv": "Vi jobbar på det"},
        updated_at=since,
    )


# --- migrations ---------------------------------------------------------------------------


async def test_migrations_apply_once_even_when_run_twice_and_concurrently(
    make_store: StoreFactory,
) -> None:
    first, second = make_store(), make_store()
    await asyncio.gather(first.start(), second.start())
    await first.stop()
    again = make_store()
    await again.start()
    await again.upsert_targets([target("acc-1")])
    assert await second.count_targets() == 1
    if isinstance(again, SqliteStore):
        import sqlite3

        with sqlite3.connect(again.path) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    else:
        assert isinstance(again, PostgresStore)
        versions = [r[0] for r in await again.pool.fetch("SELECT version FROM schema_migrations")]
    backend = "sqlite" if isinstance(again, SqliteStore) else "postgres"
    assert versions == [m.version for m in migrations.load(backend)]
    assert versions[0] == 1


async def test_data_survives_a_restart(make_store: StoreFactory) -> None:
    first = make_store()
    await first.start()
    for i in range(20):  # enough commits to exercise WAL checkpoints on SQLite
        recs = [snmp_record(f"acc-{j}", 100.0 + i) for j in range(50)]
        assert await first.ingest_batch(f"batch-{i:04d}", "a", 1.0, recs, [])
    await first.save_verdicts([verdict("acc-1", "line_fault", 5.0)])
    await first.stop()
    second = make_store()
    await second.start()
    assert (await second.latest_records("acc-3"))["snmp"].started_at == 119.0
    assert (await second.get_verdict("acc-1")) == verdict("acc-1", "line_fault", 5.0)
    assert await second.ingest_batch("batch-0007", "a", 1.0, [], []) is False


async def test_new_sqlite_files_get_16k_pages_and_old_ones_keep_theirs(tmp_path: Path) -> None:
    import sqlite3

    from collector.store.sqlite import PAGE_SIZE

    def page_size(path: Path) -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("PRAGMA page_size").fetchone()[0])

    fresh = SqliteStore(str(tmp_path / "new.db"))
    await fresh.start()
    assert await fresh.ingest_batch("b1", "a", 1.0, [snmp_record("acc-1", 10.0)], [])
    await fresh.stop()
    assert page_size(tmp_path / "new.db") == PAGE_SIZE == 16384

    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as conn:  # a file made before the change: 4 KiB pages
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE made_before (x)")
    old = SqliteStore(str(old_path))
    await old.start()
    assert await old.ingest_batch("b1", "a", 1.0, [snmp_record("acc-1", 10.0)], [])
    assert (await old.latest_records("acc-1"))["snmp"].started_at == 10.0
    await old.stop()
    assert page_size(old_path) == 4096


async def test_open_store_picks_backend_from_db_string(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path / "x.db")), SqliteStore)
    assert isinstance(open_store("postgresql://postgres@127.0.0.1/test"), PostgresStore)


# --- inventory ----------------------------------------------------------------------------


async def test_upsert_targets_replaces_by_account_and_lists_by_agent_and_node(store: Store) -> None:
    written = await store.upsert_targets(
        [target("acc-1", "N-1", "a"), target("acc-2", "N-1", "b"), target("acc-3", "N-2", "a")]
    )
    assert written == 3
    await store.upsert_targets([target("acc-2", "N-2", "a")])  # moved node and agent
    assert await store.count_targets() == 3
    assert (await store.get_target("acc-2")) == target("acc-2", "N-2", "a")
    assert await store.get_target("nobody") is None
    assert [t.account for t in await store.list_targets(agent="a")] == ["acc-1", "acc-2", "acc-3"]
    assert [t.account for t in await store.list_targets(agent="b")] == []
    assert [t.account for t in await store.list_targets(node="N-2")] == ["acc-2", "acc-3"]
    assert [t.account for t in await store.list_targets(agent="a", node="N-1")] == ["acc-1"]
    assert len(await store.list_targets()) == 3


# --- ingest ----------------------------------------------------------------------------------


async def test_same_batch_twice_is_refused_and_adds_nothing(store: Store) -> None:
    recs = [snmp_record("acc-1", 100.0), ping_record("acc-1", 100.0)]
    points = [HistoryPoint(account="acc-1", at=100.0, metrics={"ds_snr_db_min": 38.5})]
    assert await store.ingest_batch("batch-0001", "agent-a", 101.0, recs, points) is True
    newer = [snmp_record("acc-1", 200.0, power=9.0)]
    newer_points = [HistoryPoint(account="acc-1", at=200.0, metrics={"ds_snr_db_min": 1.0})]
    assert await store.ingest_batch("batch-0001", "agent-a", 201.0, newer, newer_points) is False
    latest = await store.latest_records("acc-1")
    assert latest == {"snmp": recs[0], "ping": recs[1]}
    assert await store.history("acc-1", 0.0, 1000.0) == points


async def test_latest_is_replaced_only_by_a_newer_record(store: Store) -> None:
    await store.ingest_batch("batch-0001", "a", 1.0, [ping_record("acc-1", 100.0, 5)], [])
    await store.ingest_batch("batch-0002", "a", 2.0, [ping_record("acc-1", 50.0, 0)], [])
    assert (await store.latest_records("acc-1"))["ping"].started_at == 100.0
    # two records for the same probe in one batch: the newer wins whatever the order
    await store.ingest_batch(
        "batch-0003", "a", 3.0, [ping_record("acc-1", 300.0, 4), ping_record("acc-1", 200.0, 1)], []
    )
    latest = await store.latest_records("acc-1")
    assert latest["ping"] == ping_record("acc-1", 300.0, 4)
    err = ProbeRecord(
        account="acc-1",
        probe="snmp",
        started_at=400.0,
        duration_s=2.0,
        result=ProbeError(kind="timeout", message="no answer"),
    )
    await store.ingest_batch("batch-0004", "a", 4.0, [err], [])
    latest = await store.latest_records("acc-1")
    assert latest["snmp"] == err
    assert sorted(r.account + r.probe for r in await store.all_latest_records()) == [
        "acc-1ping",
        "acc-1snmp",
    ]
    assert await store.latest_records("acc-2") == {}


async def test_account_snapshot_reads_target_verdict_and_latest_together(store: Store) -> None:
    empty = await store.account_snapshot("acc-1")
    assert (empty.target, empty.verdict, empty.latest) == (None, None, {})
    await store.upsert_targets([target("acc-1")])
    recs = [snmp_record("acc-1", 10.0), ping_record("acc-1", 11.0)]
    await store.ingest_batch("batch-0001", "a", 12.0, recs, [])
    await store.save_verdicts([verdict("acc-1", "ok", 12.0)])
    snap = await store.account_snapshot("acc-1")
    assert snap.target == await store.get_target("acc-1") == target("acc-1")
    assert snap.verdict == await store.get_verdict("acc-1") == verdict("acc-1", "ok", 12.0)
    assert snap.latest == await store.latest_records("acc-1") == {"snmp": recs[0], "ping": recs[1]}


async def test_history_range_is_inclusive_and_ordered(store: Store) -> None:
    points = [
        HistoryPoint(account="acc-1", at=float(t), metrics={"ping_loss_ratio": t / 100})
        for t in (30, 10, 20, 40)
    ]
    other = [HistoryPoint(account="acc-2", at=20.0, metrics={"ping_loss_ratio": 1.0})]
    await store.ingest_batch("batch-0001", "a", 1.0, [], points + other)
    got = await store.history("acc-1", 10.0, 30.0)
    assert [p.at for p in got] == [10.0, 20.0, 30.0]
    assert got[0].metrics == {"ping_loss_ratio": 0.1}


async def test_concurrent_ingest_of_one_batch_id_has_exactly_one_winner(
    make_store: StoreFactory,
) -> None:
    one, two = make_store(), make_store()  # two collectors on one database
    await one.start()
    await two.start()
    for round_ in range(5):
        batch_id = f"batch-race-{round_}"
        recs = [snmp_record(f"acc-{i}", 100.0 + round_) for i in range(200)]
        points = [
            HistoryPoint(account=r.account, at=r.started_at, metrics={"x": 1.0}) for r in recs
        ]
        results = await asyncio.gather(
            one.ingest_batch(batch_id, "a", 1.0, recs, points),
            two.ingest_batch(batch_id, "a", 1.0, recs, points),
            one.ingest_batch(batch_id, "a", 1.0, recs, points),
        )
        assert sorted(results) == [False, False, True]
        assert len(await one.history("acc-7", 0.0, 1000.0)) == round_ + 1


# --- prune --------------------------------------------------------------------------------------


async def test_prune_downsamples_old_history_to_hourly_means_and_drops_expired(
    store: Store,
) -> None:
    hour = 3600.0
    now = 1000 * hour
    old_hour = now - 50 * hour  # older than keep_raw (24 h), younger than keep (72 h)
    points = [
        HistoryPoint(account="acc-1", at=old_hour + 60, metrics={"snr": 30.0, "loss": 0.0}),
        HistoryPoint(account="acc-1", at=old_hour + 120, metrics={"snr": 40.0, "loss": 1.0}),
        HistoryPoint(account="acc-1", at=old_hour + 180, metrics={"snr": 35.0}),
        HistoryPoint(account="acc-1", at=old_hour + hour + 5, metrics={"snr": 20.0}),
        HistoryPoint(account="acc-2", at=old_hour + 60, metrics={"snr": 10.0}),
        HistoryPoint(account="acc-1", at=now - 100 * hour, metrics={"snr": 1.0}),  # expired
        HistoryPoint(account="acc-1", at=now - 60, metrics={"snr": 33.0}),  # recent: raw
        HistoryPoint(account="acc-1", at=now - 30, metrics={"snr": 34.0}),
    ]
    await store.ingest_batch("batch-0001", "a", 1.0, [], points)
    await store.add_events(
        [
            Event(account="acc-1", kind="note", at=now - 100 * hour, text="ancient"),
            Event(account="acc-1", kind="note", at=now - hour, text="recent"),
        ]
    )
    removed = await store.prune(now, keep_raw_s=24 * hour, keep_s=72 * hour)
    # 3 raw -> 1 mean (-2), 1 -> 1 (0), acc-2 1 -> 1 (0), 1 expired point, 1 expired event
    assert removed == 4
    got = await store.history("acc-1", 0.0, now)
    assert [(p.at, p.metrics) for p in got] == [
        (old_hour, {"snr": 35.0, "loss": 0.5}),
        (old_hour + hour, {"snr": 20.0}),
        (now - 60, {"snr": 33.0}),
        (now - 30, {"snr": 34.0}),
    ]
    assert [e.text for e in await store.events("acc-1", 0.0, now)] == ["recent"]
    assert await store.prune(now, keep_raw_s=24 * hour, keep_s=72 * hour) == 0  # stable


async def test_prune_forgets_batch_ids_after_a_week(store: Store) -> None:
    now = 10_000_000.0
    assert await store.ingest_batch("batch-old1", "a", now - 8 * 86400, [], [])
    assert await store.ingest_batch("batch-new1", "a", now - 86400, [], [])
    await store.prune(now, keep_raw_s=86400, keep_s=30 * 86400)
    assert await store.ingest_batch("batch-old1", "a", now, [], []) is True
    assert await store.ingest_batch("batch-new1", "a", now, [], []) is False


# --- verdicts -----------------------------------------------------------------------------------


async def test_verdict_history_grows_only_when_the_verdict_changes(store: Store) -> None:
    await store.save_verdicts([verdict("acc-1", "ok", 100.0), verdict("acc-2", "ok", 100.0)])
    await store.save_verdicts([verdict("acc-1", "ok", 100.0)])  # same verdict, refreshed
    line = verdict("acc-1", "line_fault", 200.0)
    await store.save_verdicts([line])
    await store.save_verdicts([verdict("acc-1", "ok", 300.0)])
    assert await store.get_verdict("acc-1") == verdict("acc-1", "ok", 300.0)
    assert await store.get_verdict("nobody") is None
    hist = await store.verdict_history("acc-1", 0.0, 1000.0)
    assert [(v.verdict, v.since) for v in hist] == [
        ("ok", 100.0),
        ("line_fault", 200.0),
        ("ok", 300.0),
    ]
    assert hist[1] == line  # evidence, action and messages survive the round trip
    assert [v.since for v in await store.verdict_history("acc-1", 150.0, 250.0)] == [200.0]
    assert sorted(v.account for v in await store.all_verdicts()) == ["acc-1", "acc-2"]


async def test_node_summaries_count_verdicts_per_node_with_outage_state(store: Store) -> None:
    await store.upsert_targets(
        [target(f"acc-{i}", "N-1") for i in range(5)] + [target("acc-9", "N-2")]
    )
    await store.save_verdicts(
        [
            verdict("acc-0", "area_outage", 10.0),
            verdict("acc-1", "area_outage", 10.0),
            verdict("acc-2", "area_outage", 10.0),
            verdict("acc-3", "ok", 10.0),
            verdict("acc-9", "degraded", 10.0, node="N-2"),
        ]
    )
    await store.save_node_state(NodeState(node="N-1", outage=True, since=10.0))
    await store.save_node_state(NodeState(node="N-2", outage=False))
    summaries = {s.node: s for s in await store.node_summaries()}
    assert set(summaries) == {"N-1", "N-2"}
    n1 = summaries["N-1"]
    assert n1.accounts == 5 and n1.outage and n1.outage_since == 10.0
    assert n1.counts["area_outage"] == 3 and n1.counts["ok"] == 1
    assert n1.counts["unknown"] == 1  # acc-4 has no verdict yet
    assert summaries["N-2"].counts["degraded"] == 1 and not summaries["N-2"].outage
    assert sorted((s.node, s.outage) for s in await store.node_states()) == [
        ("N-1", True),
        ("N-2", False),
    ]
    await store.save_node_state(NodeState(node="N-1", outage=False))
    assert not {s.node: s for s in await store.node_summaries()}["N-1"].outage


async def test_downtime_sums_down_intervals_clipped_to_the_period(store: Store) -> None:
    # ok 1000, line_fault 2000, ok 2500, area_outage 4000, equipment_fault 4200, ok 5000
    for name, since in [
        ("ok", 1000.0),
        ("line_fault", 2000.0),
        ("ok", 2500.0),
        ("area_outage", 4000.0),
        ("equipment_fault", 4200.0),
        ("ok", 5000.0),
    ]:
        await store.save_verdicts([verdict("acc-1", name, since)])
    assert await store.downtime_seconds("acc-1", 0.0, 10_000.0) == 500.0 + 1000.0
    assert await store.downtime_seconds("acc-1", 2100.0, 4100.0) == 400.0 + 100.0
    assert await store.downtime_seconds("acc-1", 2100.0, 2200.0) == 100.0  # inside one fault
    assert await store.downtime_seconds("acc-1", 3000.0, 3500.0) == 0.0
    assert await store.downtime_seconds("nobody", 0.0, 10_000.0) == 0.0
    # an outage still going on counts up to `end`, never beyond now
    await store.save_verdicts([verdict("acc-2", "area_outage", 6000.0)])
    assert await store.downtime_seconds("acc-2", 5000.0, 7000.0) == 1000.0
    now = time.time()
    assert await store.downtime_seconds("acc-2", now - 10, now + 3600) <= 11.0


# --- events, audit, tokens ---------------------------------------------------------------


async def test_events_come_newest_first_and_filter_by_kind(store: Store) -> None:
    await store.add_events(
        [
            Event(account="acc-1", kind="reboot", at=100.0, data={"uptime_s": 12}),
            Event(account="acc-1", kind="note", at=300.0, text="customer called", author="sam"),
            Event(account="acc-1", kind="check", at=200.0),
            Event(account="acc-2", kind="note", at=250.0, text="other"),
        ]
    )
    got = await store.events("acc-1", 0.0, 1000.0)
    assert [e.at for e in got] == [300.0, 200.0, 100.0]
    assert got[0].author == "sam" and got[2].data == {"uptime_s": 12}
    assert [e.kind for e in await store.events("acc-1", 0.0, 1000.0, ["note", "reboot"])] == [
        "note",
        "reboot",
    ]
    assert await store.events("acc-1", 0.0, 1000.0, []) == []
    assert [e.at for e in await store.events("acc-1", 150.0, 250.0)] == [200.0]


async def test_audit_log_newest_first_with_limit(store: Store) -> None:
    for i in range(5):
        await store.add_audit(
            AuditEntry(actor="sam", account="acc-1", action=f"view {i}", at=float(i))
        )
    await store.add_audit(AuditEntry(actor="ivr", account="acc-2", action="precall", at=9.0))
    log = await store.audit_log("acc-1", limit=3)
    assert [e.action for e in log] == ["view 4", "view 3", "view 2"]
    assert log[0] == AuditEntry(actor="sam", account="acc-1", action="view 4", at=4.0)


async def test_tokens_are_found_by_hash_only(store: Store) -> None:
    await store.add_token("ops-1", "admin", "a" * 64, 1.0)
    await store.add_token("ivr-1", "ivr", "b" * 64, 2.0)
    assert await store.role_for_token_hash("a" * 64) == ("ops-1", "admin")
    assert await store.role_for_token_hash("b" * 64) == ("ivr-1", "ivr")
    assert await store.role_for_token_hash("c" * 64) is None


async def test_memory_sqlite_store_works_on_one_connection() -> None:
    s = SqliteStore(":memory:")
    await s.start()
    try:
        await s.upsert_targets([target("acc-1")])
        assert await s.count_targets() == 1
        assert await s.ingest_batch("batch-0001", "a", 1.0, [ping_record("acc-1", 1.0)], [])
        assert set(await s.latest_records("acc-1")) == {"ping"}
    finally:
        await s.stop()


# --- calls (issue 17) ---------------------------------------------------------------------


async def test_calls_are_kept_per_account_newest_first_within_the_window(store: Store) -> None:
    from collector.calls import Call

    for at, channel in ((100.0, "ivr"), (200.0, "agent"), (300.0, "ivr")):
        await store.add_call(Call(
            account="acc-1", at=at, channel=channel, verdict="line_fault",  # type: ignore[arg-type]
            message="påminnelse" if channel == "ivr" else "",
            agent="alice" if channel == "agent" else None,
        ))
    await store.add_call(Call(account="acc-2", at=250.0, channel="ivr", verdict="ok"))
    calls = await store.calls("acc-1", 150.0)
    assert [(c.at, c.channel, c.agent) for c in calls] == [(300.0, "ivr", None),
                                                           (200.0, "agent", "alice")]
    assert calls[0].message == "påminnelse"
    assert len(await store.calls("acc-1", 0.0, limit=2)) == 2
    assert await store.calls("nobody", 0.0) == []


async def test_one_dispatch_per_fault_even_when_asked_concurrently(store: Store) -> None:
    from collector.dispatches import Dispatch

    def made(i: int, fault: str, forced: bool = False) -> Dispatch:
        return Dispatch(id=f"D-{i}", account=f"acc-{i}", node="N", at=100.0 + i,
                        verdict="line_fault", reason="r", fault=fault, requested_by="alice",
                        forced=forced)

    answers = await asyncio.gather(*(store.add_dispatch(made(i, "plant:N:1")) for i in range(6)))
    kept = [a for a in answers if a is None]
    assert len(kept) == 1
    firsts = {a.id for a in answers if a is not None}
    assert len(firsts) == 1
    assert await store.add_dispatch(made(9, "plant:N:1", forced=True)) is None
    group = await store.dispatches(fault="plant:N:1")
    assert len(group) == 2 and group[0].id in firsts and group[1].id == "D-9"
    assert await store.add_dispatch(made(10, "line:acc-10:5")) is None
    mine = await store.dispatches(account="acc-10")
    assert [d.id for d in mine] == ["D-10"]
    assert await store.dispatches(account="acc-10", since=200.0) == []
