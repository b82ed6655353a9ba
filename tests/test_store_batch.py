"""One-transaction batch writes and chunked warm-start reads, on both backends.

The collector judges a batch before it commits and writes records, history,
verdicts, events and node states together (`Store.commit_batch`); a warm
start of a million-account store reads it a page at a time
(`latest_record_chunks`, `verdict_chunks`). These tests pin both.
"""

from __future__ import annotations

import asyncio
import time

from test_store import (  # fixtures and builders shared with the main store suite
    make_store,  # noqa: F401  (pytest fixture)
    ping_record,
    snmp_record,
    store,  # noqa: F401  (pytest fixture)
    target,
    verdict,
)

from collector.model import Event
from collector.store.base import BatchWrite, HistoryPoint, NodeState, Store
from probes.model import Batch, decode_batch, encode, record_slices

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
