"""Webhooks from a real outage (issue 17, Tests): lab fleet, collector and agent
as processes, and a real aiohttp receiver of the test's own that checks every
signature. A node_outage in the fleet gives exactly one ``outage.opened`` and,
once the fault clears, exactly one ``outage.closed`` whose credits are what
``GET /v1/outages/{id}/credits`` and ``/downtime`` answer per account. The
receiver answers 500 for a full minute from the fault on, then recovers: both
events still arrive, every retry under the event's one delivery id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from stack import Stack, http_json

from collector.config import WEBHOOK_EVENTS

SECRET = "fleet-hook-key"
SECRET_ENV = "LW_FLEET_HOOK_SECRET"
FAIL_S = 60.0  # the receiver's outage: a full minute of 500s


class Receiver:
    """An aiohttp receiver on a thread and loop of its own: the Stack helpers
    block (urllib, sleep), and the receiver must keep answering meanwhile."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []  # every POST, in order
        self.bad_signatures = 0
        self.fail_until = 0.0  # time.monotonic() before which it answers 500
        self.url = ""
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(request.headers.get("X-Linewatch-Signature", ""), want)
        now = time.monotonic()
        status = 500 if now < self.fail_until else 200
        with self._lock:
            self.bad_signatures += not signed
            self.seen.append({
                "event": request.headers["X-Linewatch-Event"],
                "delivery": request.headers["X-Linewatch-Delivery"],
                "status": status, "at": now, "body": json.loads(body),
            })
        return web.Response(status=status, text="nope" if status == 500 else "ok")

    def tries(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.seen if s["event"] == event]

    def ok(self, event: str) -> list[dict[str, Any]]:
        return [s for s in self.tries(event) if s["status"] == 200]


def _wait(cond: Any, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():  # bounded by the deadline
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def _outage(stack: Stack, outage_id: str) -> dict[str, Any] | None:
    status, answer = http_json("GET", f"{stack.collector.url}/v1/outages", stack.support_token)
    assert status == 200, answer
    return next((o for o in answer["outages"] if o["id"] == outage_id), None)


def _clear_faults(stack: Stack, node: str) -> None:
    req = urllib.request.Request(f"http://{stack.control}/faults?node={node}", method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["cleared"]


def test_a_fleet_outage_sends_one_opened_and_one_closed_through_a_minute_of_500s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the collector process inherits it
    rx = Receiver()
    rx.start()
    config = tmp_path / "collector.toml"
    config.write_text(
        "[[webhooks]]\n"
        f'url = "{rx.url}"\n'
        f'secret_env = "{SECRET_ENV}"\n'
        f"events = {json.dumps(list(WEBHOOK_EVENTS))}\n"
        # Short retries: a minute of 500s is a dozen attempts, and recovery shows in seconds.
        "[webhook_delivery]\nbackoff_base_s = 0.5\nbackoff_max_s = 4.0\npoll_interval_s = 0.2\n"
        # The outage closes a few seconds after the node answers again (default 10 min).
        "[outage]\nclear_hold_s = 3.0\n"
    )
    # Ping off: the kernel answers ICMP for every 127.x address, so a dark node
    # would still "answer ping" (as in the demo).
    stack = Stack(tmp_path, modems=40, nodes=4, ping=False, interval_s=3.0,
                  collector_args=["--config", str(config)])
    try:
        node = next(t.node for t in stack.targets if t.technology == "docsis")
        accounts = sorted(t.account for t in stack.targets if t.node == node)
        stack.start_agent()
        stack.wait_metric('linewatch_agent_pushes_total{outcome="ok"}', 1, timeout_s=30)
        time.sleep(7.0)  # a few clean polls of everyone first
        rx.fail_until = time.monotonic() + FAIL_S
        stack.fault(kind="node_outage", node=node)

        _wait(lambda: rx.tries("outage.opened"), "outage.opened offered", 40)
        outage_id = rx.tries("outage.opened")[0]["body"]["id"]
        stored = _outage(stack, outage_id)
        assert stored is not None and stored["until"] is None, stored
        _clear_faults(stack, node)
        _wait(lambda: (_outage(stack, outage_id) or {}).get("until") is not None,
              "the outage closed", 40)
        _wait(lambda: rx.ok("outage.opened") and rx.ok("outage.closed"),
              f"both delivered after the receiver recovered: {rx.seen[-3:]}",
              rx.fail_until - time.monotonic() + 30)
        time.sleep(3.0)  # more watch and send rounds: nothing more may come

        assert rx.bad_signatures == 0
        for event in ("outage.opened", "outage.closed"):
            tries = rx.tries(event)
            assert len(rx.ok(event)) == 1, tries
            assert len({s["delivery"] for s in tries}) == 1, f"{event}: one id on every retry"
            assert [s["status"] for s in tries][-1] == 200
            assert all(s["at"] < rx.fail_until for s in tries if s["status"] == 500)
            assert rx.ok(event)[0]["at"] >= rx.fail_until
        assert len([s for s in rx.tries("outage.opened") if s["status"] == 500]) >= 3
        assert not rx.tries("plant_fault.opened") and not rx.tries("plant_fault.closed")

        opened = rx.ok("outage.opened")[0]["body"]
        assert opened["id"] == outage_id and opened["data"]["node"] == node
        assert opened["data"]["accounts"] == accounts
        assert [n["account"] for n in opened["data"]["notices"]] == accounts
        report = rx.ok("outage.closed")[0]["body"]["data"]
        assert report["outage"]["id"] == outage_id and report["until"] is not None
        status, credits = http_json(
            "GET", f"{stack.collector.url}/v1/outages/{urllib.parse.quote(outage_id)}/credits",
            stack.support_token)
        assert status == 200, credits
        assert credits["credits"] == report["credits"]
        assert (credits["since"], credits["until"]) == (report["since"], report["until"])
        assert [c["account"] for c in report["credits"]] == accounts
        assert any(c["downtime_s"] > 0 for c in report["credits"]), report["credits"]
        for credit in report["credits"]:
            query = urllib.parse.urlencode({"since": report["since"], "until": report["until"]})
            status, downtime = http_json(
                "GET", f"{stack.collector.url}/v1/accounts/{credit['account']}/downtime?{query}",
                stack.support_token)
            assert status == 200, downtime
            assert downtime["downtime_s"] == credit["downtime_s"], (credit, downtime)
        print(f"outage.opened: {len(rx.tries('outage.opened'))} tries, outage.closed: "
              f"{len(rx.tries('outage.closed'))} tries; credits {report['credits'][:2]}")
        assert stack.stop_agent() == 0
    finally:
        stack.close()
        rx.stop()
