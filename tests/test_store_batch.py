"""One-transaction batch writes and chunked warm-start reads, on both backends.

The collector judges a batch before it commits and writes records, history,
verdicts, events and node states together (`Store.commit_batch`); a warm
start of a million-account store reads it a page at a time
(`latest_record_chunks`, `verdict_chunks`). These tests pin both.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_store import (  # fixtures and builders shared with the main store suite
    make_store,  # noqa: F401  (pytest fixture)
    ping_record,
    snmp_record,
    store,  # noqa: F401  (pytest fixture)
    target,
    verdict,
)

from collector.model import Event, Verdict
from collector.store.base import BatchWrite, HistoryPoint, NodeState, Store
from collector.store.sqlite import SqliteStore
from probes.model import Batch, ProbeRecord, decode_batch, encode, record_slices

NOW = time.time()


def _write(batch_id: str, accounts: list[str], *, at: float = NOW,
           verdict_name: str = "ok") -> BatchWrite:
    records = [snmp_record(a, at) for a in accounts] + [ping_record(a, at) for a in accounts]
    return BatchWrite(
        batch_id=batch_id,
        agent="agent-a",
        received_at=at,
        records=records,
        history=[HistoryPoint(account=a, at=at, metrics={"reachable": 1.0}) for a in accounts],
        verdicts=[verdict(a, verdict_name, at) for a in accounts],
        events=[Event(account=accounts[0], kind="reboot", at=at, data={"uptime_s": 12.0})],
        node_states=[NodeState(node="N-1", outage=False, since=None)],
    )


async def test_commit_batch_writes_everything_and_refuses_a_repeat(store: Store) -> None:  # noqa: F811
    accounts = [f"B-{i}" for i in range(5)]
    await store.upsert_targets([target(a) for a in accounts])
    assert not await store.has_batch("batch-0001")

    assert await store.commit_batch(_write("batch-0001", accounts)) is True
    assert await store.has_batch("batch-0001")
    snap = await store.account_snapshot("B-3")
    assert set(snap.latest) == {"snmp", "ping"}
    assert snap.verdict is not None and snap.verdict.verdict == "ok"
    assert len(await store.history("B-3", NOW - 1, NOW + 1)) == 1
    assert [e.kind for e in await store.events("B-0", NOW - 1, NOW + 1)] == ["reboot"]

    # The same batch id again (an agent's retry) adds nothing, not even events.
    repeat = _write("batch-0001", accounts, at=NOW + 60, verdict_name="line_fault")
    assert await store.commit_batch(repeat) is False
    assert (await store.get_verdict("B-3")).verdict == "ok"  # type: ignore[union-attr]
    assert len(await store.history("B-3", NOW - 1, NOW + 120)) == 1
    assert len(await store.events("B-0", NOW - 1, NOW + 120)) == 1


async def test_submitted_batches_commit_in_submission_order(store: Store) -> None:  # noqa: F811
    await store.upsert_targets([target("ORD-1")])
    real_commit = store.commit_batch

    async def first_commit_slow(write: BatchWrite) -> bool:
        # Where submit_batch goes through commit_batch (PostgreSQL), the first
        # write would lose any race it is allowed to run (CI once saw it lose).
        if write.batch_id == "order-0001":
            await asyncio.sleep(0.3)
        return await real_commit(write)

    store.commit_batch = first_commit_slow  # type: ignore[method-assign]
    # Submitted back to back, awaited in reverse: the later write must win.
    first = store.submit_batch(_write("order-0001", ["ORD-1"], at=NOW, verdict_name="ok"))
    second = store.submit_batch(
        _write("order-0002", ["ORD-1"], at=NOW + 1, verdict_name="line_fault")
    )
    assert await second is True
    assert await first is True
    assert (await store.get_verdict("ORD-1")).verdict == "line_fault"  # type: ignore[union-attr]
    changes = await store.verdict_history("ORD-1", NOW - 1, NOW + 10)
    assert [v.verdict for v in changes] == ["ok", "line_fault"]


async def test_the_same_batch_submitted_twice_at_once_is_written_once(store: Store) -> None:  # noqa: F811
    await store.upsert_targets([target("TWICE-1")])
    results = await asyncio.gather(
        store.submit_batch(_write("twice-0001", ["TWICE-1"])),
        store.submit_batch(_write("twice-0001", ["TWICE-1"])),
    )
    assert sorted(results) == [False, True]
    assert len(await store.history("TWICE-1", NOW - 1, NOW + 1)) == 1


async def test_chunks_cover_every_account_once_and_keep_an_account_together(
    store: Store,  # noqa: F811
) -> None:
    accounts = [f"CH-{i:03d}" for i in range(23)]
    await store.upsert_targets([target(a) for a in accounts])
    assert await store.commit_batch(_write("chunks-0001", accounts))

    seen: list[str] = []
    sizes = []
    async for chunk in store.latest_record_chunks(size=7):
        sizes.append(len(chunk))
        by_account: dict[str, set[str]] = {}
        for r in chunk:
            by_account.setdefault(r.account, set()).add(r.probe)
        # both probes of an account arrive in the same page
        assert all(probes == {"snmp", "ping"} for probes in by_account.values())
        seen.extend(by_account)
    assert sorted(seen) == accounts  # each once
    assert len(sizes) > 1  # really paged (a default single-chunk answer would not be)

    verdict_accounts: list[str] = []
    pages = 0
    async for vchunk in store.verdict_chunks(size=5):
        pages += 1
        verdict_accounts.extend(v.account for v in vchunk)
    assert sorted(verdict_accounts) == accounts
    assert pages >= 5


async def test_records_kept_as_sent_and_the_newer_of_two_in_one_batch_wins(
    store: Store,  # noqa: F811
) -> None:
    """The collector stores each record's JSON as the agent sent it
    (`record_slices`); two readings of one account in one batch, the older
    one second, must leave the newer as latest."""
    await store.upsert_targets([target("RAW-1")])
    newer, older = snmp_record("RAW-1", NOW + 5, power=2.5), snmp_record("RAW-1", NOW, power=-3.0)
    body = encode(Batch(batch_id="raw-00000001", agent="agent-a", sent_at=NOW,
                        records=[newer, older]))
    decode_batch(body)  # validated first, as the ingest route does
    slices = record_slices(body)
    write = BatchWrite(batch_id="raw-00000001", agent="agent-a", received_at=NOW,
                       records=[newer, older], history=[], record_json=slices)
    assert await store.commit_batch(write)
    latest = (await store.latest_records("RAW-1"))["snmp"]
    assert latest == newer
    assert await store.all_latest_records() == [newer]


# --- SQLite's writer process (sqlite_writer = "process") -----------------------------


@pytest.fixture
async def proc_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "proc.db"), writer="process")
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def _body_write(batch_id: str, records: list[ProbeRecord], verdicts: list[Verdict],
                *, gzipped: bool) -> BatchWrite:
    """What the ingest route hands on: the body as sent, no history (derived)."""
    body = encode(Batch(batch_id=batch_id, agent="agent-a", sent_at=NOW, records=records))
    decode_batch(body)  # validated first, as the ingest route does
    return BatchWrite(
        batch_id=batch_id, agent="agent-a", received_at=NOW, records=records, history=[],
        verdicts=verdicts, body=gzip.compress(body) if gzipped else body,
        body_encoding="gzip" if gzipped else "identity",
    )


async def test_writer_process_derives_history_keeps_records_as_sent_and_keeps_order(
    proc_store: SqliteStore,
) -> None:
    ws = proc_store
    assert ws.derives_history and ws.writer_pid not in (None, os.getpid())
    await ws.upsert_targets([target("WP-1"), target("WP-2")])
    newer, older = snmp_record("WP-1", NOW + 5, power=2.5), snmp_record("WP-1", NOW, power=-3.0)
    first = ws.submit_batch(_body_write(
        "wproc-0001", [newer, older, ping_record("WP-2", NOW)], [verdict("WP-1", "ok", NOW)],
        gzipped=True))
    second = ws.submit_batch(_body_write(
        "wproc-0002", [ping_record("WP-2", NOW + 1)], [verdict("WP-1", "line_fault", NOW + 1)],
        gzipped=False))
    # A write of the collector's own (tick) made after them lands after them.
    await ws.save_verdicts([verdict("WP-1", "unknown", NOW + 2)])
    assert first.done() and second.done()
    assert await first is True and await second is True
    assert (await ws.latest_records("WP-1"))["snmp"] == newer
    # History points made by the writer process from the body's two readings.
    assert len(await ws.history("WP-1", NOW - 1, NOW + 10)) == 2
    changes = await ws.verdict_history("WP-1", NOW - 1, NOW + 10)
    assert [v.verdict for v in changes] == ["ok", "line_fault", "unknown"]
    # Batches without a body (records only, explicit history) go the same way.
    assert await ws.commit_batch(_write("wproc-0003", ["WP-2"])) is True
    assert await ws.commit_batch(_write("wproc-0003", ["WP-2"])) is False
    assert await ws.ingest_batch("wproc-0004", "a", NOW, [ping_record("WP-2", NOW)], [])
    assert not await ws.ingest_batch("wproc-0004", "a", NOW, [ping_record("WP-2", NOW)], [])


async def test_a_dead_writer_process_is_unavailable_then_restarted_and_the_retry_lands_once(
    proc_store: SqliteStore,
) -> None:
    ws = proc_store
    await ws.upsert_targets([target("DEAD-1")])
    dead = ws.writer_pid
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    write = _body_write("dead-0001", [ping_record("DEAD-1", NOW)], [], gzipped=True)
    with pytest.raises(Exception) as failed:  # whatever it is, it must mean 503
        await ws.submit_batch(write)
    assert ws.unavailable(failed.value)
    for _ in range(200):  # bounded: ~20 s for the restart
        if ws.writer_pid not in (None, dead):
            break
        await asyncio.sleep(0.1)
    assert ws.writer_pid not in (None, dead)
    assert not await ws.has_batch("dead-0001")  # not lost: never acknowledged
    assert await ws.submit_batch(write) is True  # the agent's retry
    assert await ws.submit_batch(write) is False
    assert len(await ws.history("DEAD-1", NOW - 1, NOW + 1)) == 1
