"""POST /v1/ingest: idempotent by batch id, gzip accepted, and garbage of every
kind answered with a 4xx, counted by reason, while the service keeps serving."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import signal
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from collector_harness import (
    Running,
    batch,
    dark,
    docsis_ok,
    ping_ok,
    running_collector,
    target,
)

from collector.store.sqlite import SqliteStore
from probes.model import encode


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_collector(str(tmp_path / "c.db"), max_body_bytes=1024 * 1024,
                                 max_decompressed_bytes=4 * 1024 * 1024) as running:
        await running.put_inventory([target(f"A{i}") for i in range(3)])
        yield running


def _metric(text: str, name: str, **labels: str) -> float:
    label = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(f"{name}{{{label}}}" if label else name) + r" ([0-9.e+]+)"
    found = re.search(pattern, text)
    assert found, f"{name} {labels} not exported"
    return float(found.group(1))


async def _metrics(api: Running) -> str:
    return await (await api.client.get("/metrics")).text()


async def test_same_batch_twice_is_stored_once(api: Running) -> None:
    records = [docsis_ok("A0"), ping_ok("A0")]
    first = await api.ingest(records, batch_id="batch-000001")
    points = len(await api.collector.store.history("A0", 0, 1e10))
    second = await api.ingest(records, batch_id="batch-000001")
    assert first == {"batch_id": "batch-000001", "accepted": 2, "duplicate": False}
    assert second == {"batch_id": "batch-000001", "accepted": 0, "duplicate": True}
    assert points >= 1
    assert len(await api.collector.store.history("A0", 0, 1e10)) == points
    text = await _metrics(api)
    assert _metric(text, "linewatch_ingest_batches_total", outcome="accepted") == 1
    assert _metric(text, "linewatch_ingest_batches_total", outcome="duplicate") == 1
    assert _metric(text, "linewatch_ingest_records_total", probe="snmp") == 1


async def test_gzip_batches_are_accepted(api: Running) -> None:
    answer = await api.ingest([docsis_ok("A1"), ping_ok("A1")], gzipped=True)
    assert answer["accepted"] == 2


def _bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes: ~1000:1."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    parts = [comp.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + comp.flush()


GOOD = encode(batch([ping_ok("A2")]))
CASES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("truncated JSON", GOOD[: len(GOOD) // 2], {}, 400, "json"),
    ("not JSON", b"\xff\xfe garbage", {}, 400, "json"),
    ("empty body", b"", {}, 400, "json"),
    ("wrong types", GOOD.replace(b'"sent":5', b'"sent":"five"'), {}, 422, "schema"),
    ("huge number", GOOD.replace(b'"sent":5', b'"sent":' + b"9" * 400), {}, 422, "schema"),
    ("counter beyond int64", encode(batch([docsis_ok("A2")])).replace(
        b'"unerrored":100000', b'"unerrored":18446744073709551615'), {}, 422, "schema"),
    ("float overflow", GOOD.replace(b'"rtt_avg_ms":8.0', b'"rtt_avg_ms":1e999'), {}, 422,
     "schema"),
    ("newer schema", GOOD.replace(b'"batch_id"', b'"schema":99,"batch_id"'), {}, 422, "schema"),
    ("JSON array", b"[1,2,3]", {}, 422, "schema"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, {}, 422, "schema"),
    ("10 MB body", b'{"pad":"' + b"x" * (10 * 1024 * 1024) + b'"}', {}, 413, "too_large"),
    ("gzip bomb", _bomb(64 << 20), {"Content-Encoding": "gzip"}, 413, "too_large"),
    ("bad gzip", b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}, 400, "json"),
    ("truncated gzip", gzip.compress(GOOD)[:-12], {"Content-Encoding": "gzip"}, 400, "json"),
    ("unknown encoding", GOOD, {"Content-Encoding": "br"}, 415, "json"),
    ("wrong content type", GOOD, {"Content-Type": "text/plain"}, 415, "json"),
]


@pytest.mark.parametrize(("name", "body", "headers", "status", "reason"), CASES,
                         ids=[c[0] for c in CASES])
async def test_garbage_is_refused_counted_and_the_service_keeps_serving(
    api: Running, name: str, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    before = _metric(await _metrics(api), "linewatch_ingest_errors_total", reason=reason)
    resp = await api.client.post(
        "/v1/ingest", data=body,
        headers={**api.auth("agent"), "Content-Type": "application/json", **headers},
    )
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error and "\n" not in error
    after = _metric(await _metrics(api), "linewatch_ingest_errors_total", reason=reason)
    assert after == before + 1
    # ...and the next valid batch goes through.
    assert (await api.ingest([ping_ok("A2")]))["accepted"] == 1


async def test_auth_failures_on_ingest_are_counted(api: Running) -> None:
    await api.client.post("/v1/ingest", data=GOOD)
    await api.client.post("/v1/ingest", data=GOOD, headers=api.auth("support"))
    text = await _metrics(api)
    assert _metric(text, "linewatch_ingest_errors_total", reason="unauthorized") == 1
    assert _metric(text, "linewatch_ingest_errors_total", reason="forbidden") == 1
    assert _metric(text, "linewatch_ingest_batches_total", outcome="rejected") == 2


async def test_http_metrics_use_route_templates_not_raw_paths(api: Running) -> None:
    await api.client.get("/v1/accounts/A0", headers=api.auth("support"))
    await api.client.get("/v1/no/such/thing")
    text = await _metrics(api)
    assert 'route="/v1/accounts/{account}"' in text
    assert 'route="unmatched"' in text
    assert "/v1/accounts/A0" not in text and "/v1/no/such" not in text


async def test_a_failed_commit_is_not_acknowledged_and_the_retry_lands_once(
    api: Running,
) -> None:
    """The store's commit fails once (fault injected by wrapping the real
    SqliteStore.submit_batch: a full disk cannot be made on demand here). The
    batch must not be acknowledged; the agent's retry of the same batch id must
    land exactly once, with the verdict judged from it."""
    store = api.collector.store
    real_submit = store.submit_batch
    failures = []

    def failing_once(write):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(write.batch_id)

            async def boom() -> bool:
                raise OSError(28, "No space left on device")

            return boom()
        return real_submit(write)

    store.submit_batch = failing_once  # type: ignore[method-assign]
    try:
        body = encode(batch(dark("A2"), "retry-000001"))
        headers = {**api.auth("agent"), "Content-Type": "application/json"}
        first = await api.client.post("/v1/ingest", data=body, headers=headers)
        assert first.status >= 500, await first.text()
        assert failures == ["retry-000001"]
        assert not await store.has_batch("retry-000001")

        retry = await api.client.post("/v1/ingest", data=body, headers=headers)
        assert retry.status == 200, await retry.text()
        assert (await retry.json())["duplicate"] is False
        again = await api.client.post("/v1/ingest", data=body, headers=headers)
        assert (await again.json())["duplicate"] is True
    finally:
        store.submit_batch = real_submit  # type: ignore[method-assign]
    snap = await store.account_snapshot("A2")
    assert set(snap.latest) == {"snmp", "ping"}
    # A dark modem while its node has no outage: judged from the retried batch.
    assert snap.verdict is not None and snap.verdict.verdict == "equipment_fault"


async def _restarted(store: SqliteStore, dead: int) -> None:
    for _ in range(200):  # bounded: ~20 s for the restart
        if store.writer_pid not in (None, dead):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the writer process was not restarted")


@pytest.mark.parametrize("when", ["before the push", "with the push in flight"])
async def test_a_dead_writer_process_answers_503_and_the_retry_lands_once(
    api: Running, when: str
) -> None:
    """The SQLite writer process (the default ``sqlite_writer``) dies, found
    dead before the push or while the push's commit is in flight: the push is
    answered 503 with Retry-After (never acknowledged), the collector starts a
    new writer, and the agent's retry lands once, verdict included."""
    store = api.collector.store
    assert isinstance(store, SqliteStore)
    dead = store.writer_pid
    assert dead is not None
    body = gzip.compress(encode(batch([docsis_ok("A1"), ping_ok("A1")], "dead-writer-01")))
    headers = {**api.auth("agent"), "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    if when == "before the push":
        os.kill(dead, signal.SIGKILL)
        for _ in range(100):  # bounded: until the collector has seen it die
            if store.writer_pid is None:
                break
            await asyncio.sleep(0.01)
        first = await api.client.post("/v1/ingest", data=body, headers=headers)
    else:
        os.kill(dead, signal.SIGSTOP)  # the commit cannot finish...
        push = asyncio.ensure_future(api.client.post("/v1/ingest", data=body, headers=headers))
        await asyncio.sleep(0.3)
        assert not push.done()
        os.kill(dead, signal.SIGKILL)  # ...and never will
        first = await asyncio.wait_for(push, 20)
    assert first.status == 503, await first.text()
    assert first.headers["Retry-After"] == "1"
    assert not await store.has_batch("dead-writer-01")
    await _restarted(store, dead)
    retry = await api.client.post("/v1/ingest", data=body, headers=headers)
    assert retry.status == 200 and (await retry.json())["duplicate"] is False
    again = await api.client.post("/v1/ingest", data=body, headers=headers)
    assert (await again.json())["duplicate"] is True
    assert len(await store.history("A1", 0, 1e10)) == 2  # one point a record, not a try
    snap = await store.account_snapshot("A1")
    assert set(snap.latest) == {"snmp", "ping"}
    assert snap.verdict is not None and snap.verdict.verdict == "ok"
    text = await _metrics(api)
    assert _metric(text, "linewatch_ingest_errors_total", reason="store_unavailable") == 1


def test_fresh_count_matches_a_recount() -> None:
    """``_FreshCount`` (kept as data arrives, with the same-second shortcut in
    ``moved``) against counting every account's last-seen time from scratch."""
    import random

    from collector.service import _FreshCount

    rng = random.Random(18)
    staleness = 30.0
    fresh = _FreshCount(staleness)
    last: dict[int, float] = {}
    now = 1_000_000.0
    for _ in range(20_000):
        now += rng.choice([0.0, 0.01, 0.3, 1.0, 7.0])
        account = rng.randrange(200)
        at = now - rng.choice([0.0, 0.2, 0.9, 5.0, 40.0])
        old = last.get(account)
        if old is None or at > old:
            last[account] = at
            fresh.moved(old, at)
        if rng.random() < 0.05:
            cutoff = int(now - staleness)
            assert fresh.count(now) == sum(1 for t in last.values() if int(t) > cutoff)
