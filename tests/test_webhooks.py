"""Signed webhooks from the durable outbox (issue 17, part 4), against a real
aiohttp receiver on 127.0.0.1 and a real collector on SQLite and PostgreSQL:
a receiver that answers 500 and then recovers gets every event, under the same
delivery id, with valid signatures; a full outbox drops and counts; a hanging
receiver does not slow ingest; two collectors on one PostgreSQL send once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from collector_harness import dark, docsis_ok, fresh_db, ping_ok, running_collector, target

from collector.webhooks import WEBHOOKS
from probes.model import ProbeRecord

SECRET = "s3cret-hook-key"
EVENTS = ["outage.opened", "outage.closed", "plant_fault.opened", "plant_fault.closed",
          "dispatch.requested", "call.repeat", "account.verdict_changed"]


@dataclass
class Receiver:
    url: str = ""
    fail_first: int = 0  # answer 500 to this many POSTs, then 200
    hang_s: float = 0.0
    seen: list[dict[str, Any]] = field(default_factory=list)  # every POST, in order
    bad_signatures: int = 0

    def ok(self, event: str) -> list[dict[str, Any]]:
        return [s for s in self.seen if s["event"] == event and s["status"] == 200]


@asynccontextmanager
async def receiver(**kw: Any) -> AsyncIterator[Receiver]:
    got = Receiver(**kw)

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Linewatch-Signature", ""), want):
            got.bad_signatures += 1
        if got.hang_s:
            await asyncio.sleep(got.hang_s)
        status = 500 if len(got.seen) < got.fail_first else 200
        got.seen.append({
            "event": request.headers["X-Linewatch-Event"],
            "delivery": request.headers["X-Linewatch-Delivery"],
            "status": status, "body": json.loads(body),
        })
        return web.Response(status=status, text="nope" if status == 500 else "ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    got.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield got
    finally:
        await runner.cleanup()


def _config(url: str, **delivery: Any) -> dict[str, Any]:
    return {
        "webhooks": [{"url": url, "secret_env": "LW_TEST_HOOK_SECRET", "events": EVENTS}],
        "webhook_delivery": {"backoff_base_s": 0.05, "backoff_max_s": 0.2,
                             "poll_interval_s": 0.05, **delivery},
        "outage": {"clear_hold_s": 1.0},
    }


async def _wait(cond: Any, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():  # bounded by the deadline
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _healthy(n: int) -> list[ProbeRecord]:
    return [r for i in range(n) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))]


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LW_TEST_HOOK_SECRET", SECRET)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_failing_receiver_gets_every_event_after_it_recovers(
    backend: str, tmp_path: Path
) -> None:
    async with receiver(fail_first=3) as rx, fresh_db(backend, tmp_path) as db, \
            running_collector(db, **_config(rx.url)) as api:
        await api.put_inventory([target(f"A{i}", "N-1") for i in range(8)])
        await api.ingest(_healthy(8))
        await api.ingest([r for i in range(6) for r in dark(f"A{i}")])
        await _wait(lambda: rx.ok("outage.opened"), "outage.opened delivered")
        opened = rx.ok("outage.opened")[0]
        tries = [s for s in rx.seen if s["event"] == "outage.opened"]
        assert [s["status"] for s in tries] == [500, 500, 500, 200]
        assert {s["delivery"] for s in tries} == {opened["delivery"]}, "same id on retry"
        assert opened["body"]["data"]["node"] == "N-1"
        assert opened["body"]["data"]["accounts"] == [f"A{i}" for i in range(8)]

        resp = await api.client.post("/v1/accounts/A1/dispatches", json={"reference": "FS-1"},
                                     headers=api.auth("support"))
        assert resp.status == 201
        for _ in range(3):
            await api.client.post("/v1/precall", json={"account": "A2"}, headers=api.auth("ivr"))
        await _wait(lambda: rx.ok("dispatch.requested") and rx.ok("call.repeat"), "dispatch+call")
        assert rx.ok("dispatch.requested")[0]["body"]["data"]["reference"] == "FS-1"
        assert rx.ok("call.repeat")[0]["body"]["data"]["calls_recent"] == 3

        await asyncio.sleep(1.0)
        await api.ingest(_healthy(8))
        await asyncio.sleep(1.2)
        await api.ingest(_healthy(8))
        await _wait(lambda: rx.ok("outage.closed"), "outage.closed delivered")
        report = rx.ok("outage.closed")[0]["body"]["data"]
        assert report["outage"]["id"] == opened["body"]["id"]
        for credit in report["credits"]:
            resp = await api.client.get(
                f"/v1/accounts/{credit['account']}/downtime"
                f"?since={report['since']}&until={report['until']}",
                headers=api.auth("support"))
            assert (await resp.json())["downtime_s"] == credit["downtime_s"]
        assert rx.bad_signatures == 0
        await asyncio.sleep(0.5)
        assert len(rx.ok("outage.opened")) == 1 and len(rx.ok("outage.closed")) == 1
        metrics = await (await api.client.get("/metrics")).text()
        assert ('linewatch_webhook_deliveries_total{event="outage.opened",outcome="http_error"}'
                ' 3.0') in metrics
        assert 'linewatch_webhook_deliveries_total{event="outage.opened",outcome="ok"} 1.0' \
            in metrics
        assert "linewatch_webhook_outbox_depth 0.0" in metrics
        assert SECRET not in metrics


async def test_a_hanging_receiver_never_slows_ingest_and_a_full_outbox_counts_drops(
    tmp_path: Path,
) -> None:
    async with receiver(hang_s=30.0) as rx, fresh_db("sqlite", tmp_path) as db, \
            running_collector(db, **_config(rx.url, max_outbox=2, timeout_s=20.0)) as api:
        await api.put_inventory([target(f"A{i}", f"N-{i}") for i in range(4)])
        for i in range(3):  # three separate faults: three dispatches, room for two
            resp = await api.client.post(f"/v1/accounts/A{i}/dispatches", json={},
                                         headers=api.auth("support"))
            assert resp.status == 201
        started = time.perf_counter()
        for _ in range(5):
            await api.ingest(_healthy(4))
        assert time.perf_counter() - started < 2.0, "ingest waits for no receiver"
        metrics = await (await api.client.get("/metrics")).text()
        assert 'linewatch_webhook_dropped_total{event="dispatch.requested"} 1.0' in metrics
        for _ in range(40):  # bounded: the gauges refresh every 0.5 s
            metrics = await (await api.client.get("/metrics")).text()
            if "linewatch_webhook_outbox_depth 2.0" in metrics:
                break
            await asyncio.sleep(0.1)
        assert "linewatch_webhook_outbox_depth 2.0" in metrics
        assert "linewatch_webhook_outbox_oldest_age_seconds 0.0" not in metrics


async def test_two_collectors_on_one_postgresql_send_each_event_once(tmp_path: Path) -> None:
    async with receiver() as rx, fresh_db("postgres", tmp_path) as db, \
            running_collector(db, **_config(rx.url)) as one, \
            running_collector(db, **_config(rx.url)) as two:
        await one.put_inventory([target(f"A{i}", "N-1") for i in range(8)])
        healthy = _healthy(8)
        await one.ingest(healthy)
        await two.ingest(healthy)
        gone = [r for i in range(6) for r in dark(f"A{i}")]
        # Both collectors judge the dark polls (two agents' batches, say): both open
        # the outage, one claims it and the other adopts it, both watches offer it.
        await asyncio.gather(one.ingest(gone), two.ingest(gone))
        await _wait(lambda: rx.ok("outage.opened"), "outage.opened delivered")
        opened = rx.ok("outage.opened")[0]["body"]
        # Offered again by both, after delivery, and a new event by both at once:
        # the delivery id is the event's, the store keeps one row, one sender claims it.
        hooks = [api.app[WEBHOOKS] for api in (one, two)]
        for h in hooks:
            await h.emit("outage.opened", opened["id"], opened["data"])
        await asyncio.gather(*(h.emit("dispatch.requested", "D-both", {"x": 1}) for h in hooks))
        await _wait(lambda: rx.ok("dispatch.requested"), "dispatch delivered")
        await asyncio.sleep(1.5)  # several watch and send rounds on both
        assert len(rx.ok("outage.opened")) == 1 and len(rx.ok("dispatch.requested")) == 1
        assert len({s["delivery"] for s in rx.seen}) == len(rx.seen)


async def test_verdict_changes_are_sent_only_for_accounts_that_called(tmp_path: Path) -> None:
    async with receiver() as rx, fresh_db("sqlite", tmp_path) as db, \
            running_collector(db, **_config(rx.url)) as api:
        await api.put_inventory([target(f"A{i}", "N-1") for i in range(8)])
        await api.ingest(_healthy(8))
        resp = await api.client.post("/v1/precall", json={"account": "A3"},
                                     headers=api.auth("ivr"))
        assert resp.status == 200
        await asyncio.sleep(0.6)  # the caller watch has seen A3's verdict
        # A3 (a caller) and A4 (no call) go dark alone on a healthy node.
        await api.ingest([*dark("A3"), *dark("A4"),
                          *[r for i in (0, 1, 2, 5, 6, 7) for r in (docsis_ok(f"A{i}"),
                                                                    ping_ok(f"A{i}"))]])
        await _wait(lambda: rx.ok("account.verdict_changed"), "verdict change sent")
        await asyncio.sleep(0.6)
        sent = [s["body"]["data"] for s in rx.ok("account.verdict_changed")]
        assert [d["account"] for d in sent] == ["A3"]
        assert sent[0]["verdict"]["verdict"] != sent[0]["from"]
        assert rx.bad_signatures == 0
