"""A silent agent is visible at once (issue 14, deliverable 5), against a real
collector over HTTP on SQLite and PostgreSQL.

Agent "north" (poll interval 1 s) polls node N-1, agent "south" (60 s) node
N-2. North pushes once and stops: three seconds later its accounts read
unknown with "agent north silent since T" as evidence, /metrics and
GET /v1/nodes show it silent, south's accounts keep their verdicts. North
pushes again: its accounts are judged from their readings in the same answer.
The last push survives a restart, and on PostgreSQL a push through one
collector counts on the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from collector_harness import Running, docsis_ok, fresh_db, ping_ok, running_collector, target

from agent.metrics import AgentMetrics
from agent.push import Pusher, batch_body
from agent.spool import Spool, SpoolBatch
from collector.agents import SILENT_AFTER_INTERVALS, AgentWatch
from collector.store.base import AgentPush
from collector.verdicts import Thresholds
from collector.verdicts.judge import AccountFacts, NodeFacts, SilentAgent, judge_account
from probes.model import Batch, ProbeRecord, WireError, decode_batch, encode

REPO = Path(__file__).resolve().parent.parent
NORTH = [f"N{i}" for i in range(3)]
SOUTH = [f"S{i}" for i in range(3)]
NORTH_INTERVAL_S = 1.0
SILENT_AFTER_S = SILENT_AFTER_INTERVALS * NORTH_INTERVAL_S


def readings(accounts: Sequence[str]) -> list[ProbeRecord]:
    now = time.time()
    return [r for a in accounts for r in (docsis_ok(a, now), ping_ok(a, now))]


async def push(
    api: Running, agent: str, interval_s: float | None, records: Sequence[ProbeRecord]
) -> None:
    batch = Batch(batch_id=secrets.token_hex(8), agent=agent, sent_at=time.time(),
                  records=list(records), interval_s=interval_s)
    resp = await api.client.post(
        "/v1/ingest", data=encode(batch),
        headers={**api.auth("agent"), "Content-Type": "application/json"},
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["duplicate"] is False


async def verdict(api: Running, account: str) -> dict[str, Any]:
    resp = await api.client.get(f"/v1/accounts/{account}", headers=api.auth("support"))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["verdict"]


async def agents(api: Running) -> dict[str, dict[str, Any]]:
    resp = await api.client.get("/v1/nodes", headers=api.auth("support"))
    assert resp.status == 200, await resp.text()
    return {a["name"]: a for a in (await resp.json())["agents"]}


async def until(check: Any, timeout_s: float = 5.0) -> None:
    """Poll ``await check()`` until it is truthy (every 0.1 s), else fail."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def judged(api: Running, account: str, name: str) -> bool:
    return (await verdict(api, account))["verdict"] == name


async def north_silent(api: Running) -> bool:
    return await judged(api, "N0", "unknown")


def silent_evidence(v: dict[str, Any]) -> dict[str, Any]:
    [ev] = [e for e in v["evidence"] if e["fact"] == "agent_silent_since"]
    return ev


async def inventory(api: Running) -> None:
    await api.put_inventory(
        [target(a, "N-1", agent="north") for a in NORTH]
        + [target(a, "N-2", agent="south") for a in SOUTH]
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_db(request.param, tmp_path) as url:
        yield url


async def test_silent_agent_turns_its_accounts_unknown_until_it_pushes_again(db: str) -> None:
    async with running_collector(db) as api:
        await inventory(api)
        await push(api, "south", 60.0, readings(SOUTH))
        await push(api, "north", NORTH_INTERVAL_S, readings(NORTH))
        north_pushed = time.time()
        assert (await verdict(api, "N0"))["verdict"] == "ok"

        # North stops. After three of its intervals its accounts are unknown, saying why.
        await until(lambda: north_silent(api), SILENT_AFTER_S + 3.0)
        assert time.time() - north_pushed > SILENT_AFTER_S
        for account in NORTH:
            v = await verdict(api, account)
            assert v["verdict"] == "unknown" and v["confidence"] == 1.0
            ev = silent_evidence(v)
            assert ev["detail"].startswith("agent north silent since ")
            assert abs(ev["value"] - north_pushed) < 1.0 and ev["unit"] == "unix_s"
            assert ev["threshold"] == "a push every <= 3 s (3 polls of 1 s)"
            assert "agent polling this line (north) is down" in v["action"]
            assert "ops are alerted" in v["action"] and "run a check" in v["action"]
        # South's accounts are unaffected.
        for account in SOUTH:
            assert (await verdict(api, account))["verdict"] == "ok"

        # The IVR hears the customer-safe unknown message: no agent, no node.
        resp = await api.client.post("/v1/precall", json={"account": "N1", "language": "sv"},
                                     headers=api.auth("ivr"))
        pre = await resp.json()
        assert pre["status"] == "unknown" and pre["route_to_agent"] is True
        assert "north" not in pre["message"] and "N-1" not in pre["message"]

        # GET /v1/nodes lists the agents; /metrics has their last push.
        listed = await agents(api)
        assert listed["north"]["silent"] is True
        assert listed["north"]["silent_since"] == listed["north"]["last_push"]
        assert listed["north"]["interval_s"] == NORTH_INTERVAL_S
        assert listed["south"]["silent"] is False and listed["south"]["silent_since"] is None
        assert listed["south"]["interval_s"] == 60.0
        nodes = {n["node"]: n for n in (await (await api.client.get(
            "/v1/nodes", headers=api.auth("support"))).json())["nodes"]}
        assert nodes["N-1"]["counts"] == {"unknown": 3}
        assert nodes["N-2"]["counts"] == {"ok": 3}
        metrics = await (await api.client.get("/metrics")).text()
        last = re.search(
            r'^linewatch_agent_last_push_timestamp_seconds\{agent="north"\} (\S+)$', metrics,
            re.M,
        )
        assert last is not None and float(last.group(1)) == listed["north"]["last_push"]
        assert 'linewatch_agent_interval_seconds{agent="north"} 1.0' in metrics
        assert 'linewatch_agent_interval_seconds{agent="south"} 60.0' in metrics

        # North pushes again, one account only: in the same answer every one of
        # its accounts is judged from its readings again (the others' are seconds old).
        await push(api, "north", NORTH_INTERVAL_S, readings(NORTH[:1]))
        for account in NORTH:
            v = await verdict(api, account)
            assert v["verdict"] == "ok", v
        assert (await agents(api))["north"]["silent"] is False


async def test_the_last_push_survives_a_restart(db: str) -> None:
    async with running_collector(db) as api:
        await inventory(api)
        await push(api, "north", NORTH_INTERVAL_S, readings(NORTH))
        await until(lambda: north_silent(api), SILENT_AFTER_S + 3.0)
        # South pushes after north fell silent: north was silent while the
        # collector still heard others, so a restart does not forgive it.
        await push(api, "south", 60.0, readings(SOUTH))
        before = await agents(api)
    async with running_collector(db) as api:
        after = await agents(api)
        for name in ("north", "south"):
            assert after[name]["last_push"] == before[name]["last_push"]
            assert after[name]["interval_s"] == before[name]["interval_s"]
        assert after["north"]["silent"] is True and after["south"]["silent"] is False
        v = await verdict(api, "N0")
        assert v["verdict"] == "unknown" and silent_evidence(v)["detail"].startswith(
            "agent north silent since ")
        metrics = await (await api.client.get("/metrics")).text()
        assert 'linewatch_agent_last_push_timestamp_seconds{agent="north"}' in metrics
        await shown_to_ops(api)


async def shown_to_ops(api: Running) -> None:
    """`linewatch nodes` (a table under the nodes, and --json) and the console's
    ops view list the agents, north silent."""
    table = await cli(api, "nodes")
    lines = table.splitlines()
    [north] = [line for line in lines if "north" in line]
    [south] = [line for line in lines if "south" in line]
    assert "silent since" in north and "its accounts are unknown" in north
    assert "pushing" in south and "60 s" in south
    assert lines.index(north) > max(i for i, line in enumerate(lines) if "N-2" in line)
    data = json.loads(await cli(api, "nodes", "--json"))
    assert {a["name"]: a["silent"] for a in data["agents"]} == {"north": True, "south": False}

    # The console's cookies are Secure on loopback, which aiohttp's client jar
    # keeps to https: carry them by hand.
    resp = await api.client.get("/console/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text()).group(1)  # type: ignore[union-attr]
    resp = await api.client.post(
        "/console/signin", allow_redirects=False, headers={"Cookie": cookies(resp)},
        data={"csrf": csrf, "token": api.tokens["support"], "next": "/console/ops"},
    )
    assert resp.status in (302, 303), await resp.text()
    signed_in = {"Cookie": cookies(resp)}
    page = await (await api.client.get("/console/ops", headers=signed_in)).text()
    row = re.search(r'<tr class="silent" data-agent="north">.*?</tr>', page, re.S)
    assert row is not None and "SILENT" in row.group(0), page
    assert '<tr data-agent="south">' in page
    polled = await (await api.client.get("/console/ops/nodes", headers=signed_in)).json()
    assert polled["silent_agents"] == ["north"] and 'data-agent="north"' in polled["agents_html"]


def cookies(resp: ClientResponse) -> str:
    return "; ".join(f"{k}={m.value}" for k, m in resp.cookies.items())


async def cli(api: Running, *args: str) -> str:
    """The real `linewatch` command against the running collector (not blocking its loop)."""
    env = {**os.environ, "LINEWATCH_TOKEN": api.tokens["support"], "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linewatch.cli", *args, "--url", api.base_url, env=env,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_rows_without_an_agent_are_unknown_only_when_every_agent_is_silent(
    tmp_path: Path,
) -> None:
    """Unassigned rows are polled by every agent asking (no default_agent)."""
    async with running_collector(str(tmp_path / "c.db")) as api:
        await api.put_inventory(
            [target("U0", "N-3"), target("U1", "N-3"), target("N0", "N-1", agent="north")]
        )
        await push(api, "north", NORTH_INTERVAL_S, readings(["N0", "U0", "U1"]))
        await push(api, "west", 1.5 * NORTH_INTERVAL_S, readings(["U0", "U1"]))
        await until(lambda: north_silent(api), SILENT_AFTER_S + 3.0)
        assert (await verdict(api, "U0"))["verdict"] == "ok"  # west still polls them
        await until(lambda: judged(api, "U0", "unknown"), 3.0)  # west's limit: 4.5 s
        assert silent_evidence(await verdict(api, "U1"))["detail"].startswith(
            "agent west silent since ")  # the one heard from last


async def test_a_push_through_one_collector_counts_on_the_other(tmp_path: Path) -> None:
    async with fresh_db("postgres", tmp_path) as db, running_collector(db) as one, \
            running_collector(db) as two:
        await inventory(one)
        await push(one, "north", NORTH_INTERVAL_S, readings(NORTH))
        await until(lambda: _lists(two, "north"), 3.0)
        await until(lambda: north_silent(two), SILENT_AFTER_S + 3.0)
        assert (await agents(one))["north"]["silent"] is True
        # Back through the other collector: both see it pushing again.
        await push(two, "north", NORTH_INTERVAL_S, readings(NORTH[:1]))
        assert (await verdict(two, "N2"))["verdict"] == "ok"
        await until(lambda: _pushing(one, "north"), 3.0)
        await until(lambda: judged(one, "N0", "ok"), 3.0)


async def _lists(api: Running, agent: str) -> bool:
    return agent in await agents(api)


async def _pushing(api: Running, agent: str) -> bool:
    return (await agents(api))[agent]["silent"] is False


def test_a_restart_gives_agents_heard_until_the_end_their_limit_again() -> None:
    """A collector that was down heard nobody: agents that pushed until it went
    down get three intervals from its start; one silent before that stays so."""
    watch = AgentWatch(default_interval_s=300.0)
    down_at, now = 10_000.0, 20_000.0
    watch.load([
        AgentPush(agent="a", last_push=down_at, interval_s=60.0),
        AgentPush(agent="b", last_push=down_at - 100.0, interval_s=60.0),  # within 180 s
        AgentPush(agent="c", last_push=down_at - 500.0, interval_s=60.0),  # silent already
        AgentPush(agent="old", last_push=down_at - 600.0),  # no interval sent: 300 s
    ], now)
    assert watch.silent(now) == {"c": down_at - 500.0}
    assert watch.silent(now + 181.0).keys() == {"a", "b", "c"}
    assert "old" in watch.silent(now + 901.0)
    watch.pushed(AgentPush(agent="c", last_push=now + 1.0, interval_s=60.0))
    assert "c" not in watch.silent(now + 2.0)


def test_the_agent_sends_its_interval_and_old_batches_stay_valid() -> None:
    """The wire field is optional: a batch without it (an older agent) decodes
    with interval_s None, which the collector reads as the default 300 s."""
    records = [encode(r) for r in readings(["N0"])]
    spooled = SpoolBatch("b" * 16, records, 1, len(records))
    sent = decode_batch(batch_body("north", spooled, time.time(), 60.0))
    assert sent.interval_s == 60.0 and len(sent.records) == 2
    old = decode_batch(batch_body("north", spooled, time.time()))
    assert old.interval_s is None
    watch = AgentWatch(default_interval_s=300.0)
    assert watch.interval(AgentPush(agent="north", last_push=0.0)) == 300.0
    with pytest.raises(WireError):
        decode_batch(batch_body("north", spooled, time.time(), 0.0))


async def test_a_real_agent_pusher_reports_its_interval(tmp_path: Path) -> None:
    """The agent's own push path (gzip, spool, Pusher) carries [agent] interval_s."""
    spool = Spool(str(tmp_path / "spool.db"), 1000)
    await spool.open()
    async with running_collector(str(tmp_path / "c.db")) as api:
        await inventory(api)
        await spool.append([encode(r) for r in readings(NORTH)])
        pusher = Pusher(spool, AgentMetrics(), agent="north", collector_url=api.base_url,
                        token=api.tokens["agent"], interval_s=45.0)
        await pusher.open()
        try:
            result = await pusher.push_once()
        finally:
            await pusher.stop()
            await spool.close()
        assert result is not None and result.outcome == "ok", result
        north = (await agents(api))["north"]
        assert north["interval_s"] == 45.0 and north["silent"] is False
        assert (await verdict(api, "N0"))["verdict"] == "ok"


def test_judge_silent_agent_is_unknown_under_an_area_outage_only() -> None:
    th = Thresholds.default()
    now = 1_800_000_000.0
    ok = docsis_ok("N0", now - 10.0)
    facts = AccountFacts(account="N0", node="N-1", plan_down_mbps=250.0, snmp=ok,
                         last_attempt=ok.started_at, last_seen_ok=ok.started_at,
                         silent_agent=SilentAgent("north", now - 200.0, 60.0, 180.0))
    j = judge_account(facts, NodeFacts(node="N-1", accounts=1), th, now)
    assert (j.verdict, j.cause, j.confidence) == ("unknown", "agent_silent", 1.0)
    [ev] = j.evidence
    assert (ev.fact, ev.value, ev.unit) == ("agent_silent_since", now - 200.0, "unix_s")
    assert ev.threshold == "a push every <= 180 s (3 polls of 60 s)"
    assert ev.detail == "agent north silent since 2027-01-15 07:56 UTC"
    outage = NodeFacts(node="N-1", accounts=10, unreachable=8, outage=True,
                       outage_since=now - 300.0)
    assert judge_account(facts, outage, th, now).verdict == "area_outage"
    facts.silent_agent = None
    assert judge_account(facts, NodeFacts(node="N-1", accounts=1), th, now).cause != "agent_silent"
