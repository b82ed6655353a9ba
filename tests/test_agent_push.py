"""The agent's pusher against the real collector (`linewatch collector serve` subprocess).

Checks: batches arrive gzip-compressed and in order, a re-sent batch id is a
duplicate (exactly-once in effect), a batch the collector refuses for good is
dropped and counted, and a collector that is away is retried until it is back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from stack import CollectorProcess, create_token, free_port, need_collector

from agent.metrics import AgentMetrics
from agent.push import Pusher
from agent.spool import Spool
from probes.model import PingResult, ProbeRecord, encode


@pytest.fixture
def collector_proc(tmp_path: Path) -> Iterator[tuple[CollectorProcess, str]]:
    need_collector()
    db = str(tmp_path / "collector.db")
    token = create_token(db, "agent")
    proc = CollectorProcess(db, tmp_path / "collector.log")
    proc.start()
    try:
        yield proc, token
    finally:
        proc.stop()


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    s = Spool(str(tmp_path / "agent-spool.db"), max_records=100_000)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def ping_record(i: int, account: str = "ACC-1") -> bytes:
    return encode(
        ProbeRecord(
            account=account, probe="ping", started_at=1_700_000_000.0 + i, duration_s=0.01,
            result=PingResult(sent=3, received=3, rtt_avg_ms=1.0 + i % 7),
        )
    )


def pusher_for(spool: Spool, url: str, token: str | None, **kw: float) -> Pusher:
    return Pusher(
        spool, AgentMetrics(), agent="agent-test", collector_url=url, token=token,
        batch_max_records=int(kw.pop("batch", 50)), push_interval_s=0.2,
        backoff_initial_s=0.1, backoff_max_s=0.5, timeout_s=10, **kw,
    )


def pushes(p: Pusher, outcome: str) -> float:
    value = p.metrics.registry.get_sample_value(
        "linewatch_agent_pushes_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_batches_are_delivered_once_and_a_resend_is_a_duplicate(
    collector_proc: tuple[CollectorProcess, str], spool: Spool
) -> None:
    proc, token = collector_proc
    await spool.append([ping_record(i) for i in range(120)])
    pusher = pusher_for(spool, proc.url, token)
    await pusher.open()
    try:
        batch = await spool.next_batch(50)
        assert batch is not None
        first = await pusher._send(batch)
        again = await pusher._send(batch)  # e.g. the answer was lost: same id again
        assert (first.outcome, again.outcome) == ("ok", "duplicate")
        while (result := await pusher.push_once()) is not None:
            assert result.outcome in ("ok", "duplicate")
    finally:
        await pusher.stop()
    ledger = await spool.ledger()
    assert [n for _, n, _ in ledger] == [50, 50, 20]
    assert {b for b, _, _ in ledger} == proc.batch_ids()
    assert spool.count == 0


async def test_refused_batch_is_dropped_and_counted_not_retried_forever(
    collector_proc: tuple[CollectorProcess, str], spool: Spool
) -> None:
    proc, token = collector_proc
    bad = ping_record(1).replace(b'"ACC-1"', b'"not an account!"')
    await spool.append([bad])
    await spool.append([ping_record(2)])
    pusher = pusher_for(spool, proc.url, token, batch=1)
    await pusher.open()
    try:
        first = await pusher.push_once()
        second = await pusher.push_once()
    finally:
        await pusher.stop()
    assert first is not None and first.outcome == "rejected" and "422" in first.detail
    assert second is not None and second.outcome == "ok"
    assert pushes(pusher, "rejected") == 1 and pusher.rejected_records == 1
    assert spool.count == 0


async def test_wrong_token_is_retried_not_dropped(
    collector_proc: tuple[CollectorProcess, str], spool: Spool
) -> None:
    proc, _ = collector_proc
    await spool.append([ping_record(i) for i in range(3)])
    pusher = pusher_for(spool, proc.url, "not-a-token")
    await pusher.open()
    try:
        result = await pusher.push_once()
    finally:
        await pusher.stop()
    assert result is not None and result.outcome == "failed" and "401" in result.detail
    assert spool.count == 3  # an operator's mistake must not cost data


async def test_spool_drains_in_order_when_the_collector_comes_back(
    tmp_path: Path, spool: Spool
) -> None:
    need_collector()
    db = str(tmp_path / "late.db")
    token = create_token(db, "agent")
    proc = CollectorProcess(db, tmp_path / "late.log")
    await spool.append([ping_record(i) for i in range(30)])
    pusher = pusher_for(spool, proc.url, token, batch=10)
    await pusher.start()  # nothing listens yet
    try:
        await asyncio.sleep(1.0)
        assert pushes(pusher, "failed") >= 2
        assert spool.count == 30
        await asyncio.to_thread(proc.start)
        for _ in range(200):  # up to 20 s
            if not spool.count:
                break
            await asyncio.sleep(0.1)
    finally:
        await pusher.stop()
        await asyncio.to_thread(proc.stop)
    ledger = await spool.ledger()
    assert [n for _, n, o in ledger if o == "ok"] == [10, 10, 10]
    assert {b for b, _, _ in ledger} == proc.batch_ids()


async def test_push_body_is_gzip(spool: Spool) -> None:
    """The wire format itself, seen by a bare aiohttp server: gzip JSON Batch, bearer."""
    from aiohttp import web

    seen: list[tuple[str, str, bytes]] = []

    async def ingest(request: web.Request) -> web.Response:
        raw = await request.read()
        seen.append(
            (request.headers.get("Content-Encoding", ""),
             request.headers.get("Authorization", ""), raw)
        )
        return web.json_response({"batch_id": "x", "accepted": 1, "duplicate": False})

    app = web.Application()
    app.router.add_post("/v1/ingest", ingest)
    runner = web.AppRunner(app, auto_decompress=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await spool.append([ping_record(1)])
        pusher = pusher_for(spool, f"http://127.0.0.1:{port}", "secret-token")
        await pusher.open()
        try:
            assert (await pusher.push_once()) is not None
        finally:
            await pusher.stop()
    finally:
        await runner.cleanup()
    import gzip

    from probes.model import decode_batch

    encoding, auth, raw = seen[0]
    assert encoding == "gzip" and auth == "Bearer secret-token"
    batch = decode_batch(gzip.decompress(raw))
    assert batch.agent == "agent-test" and len(batch.records) == 1
    assert "secret" not in repr(pusher)


if os.environ.get("LINEWATCH_DEBUG_PUSH"):  # pragma: no cover
    import logging

    logging.basicConfig(level=logging.DEBUG)
