"""Outage history and credits (issue 17, part 3) against a real server and a
real store (SQLite and PostgreSQL): a node outage opens, its accounts are
listed, it closes after the clear hold, and each account's credit is the
downtime GET /downtime gives for the outage's period; CSV for billing."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from collector_harness import Running, dark, docsis_ok, fresh_db, ping_ok, running_collector, target

from probes.model import ProbeRecord


@pytest.fixture(params=["sqlite", "postgres"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    # Outages close 1 s after the node is back (instead of 600 s), so the test sees the close.
    async with fresh_db(request.param, tmp_path) as db, running_collector(
        db, outage={"clear_hold_s": 1.0}
    ) as running:
        await running.put_inventory(
            [target(f"A{i}", "N-1") for i in range(8)] + [target(f"B{i}", "N-2") for i in range(5)]
        )
        yield running


async def _outages(api: Running, want: int, closed: bool = False) -> list[dict[str, Any]]:
    for _ in range(100):  # bounded: the watch follows every tick (0.2 s)
        resp = await api.client.get("/v1/outages", headers=api.auth("support"))
        assert resp.status == 200
        found = (await resp.json())["outages"]
        if len(found) >= want and all((o.get("until") is not None) == closed for o in found):
            return list(found)
        await asyncio.sleep(0.1)
    raise AssertionError(f"outages not as wanted: {found}")


async def test_a_node_outage_is_kept_with_its_accounts_and_credited_per_account(
    api: Running,
) -> None:
    def healthy() -> list[ProbeRecord]:  # fresh readings, newer than the dark ones
        return [r for i in range(8) for r in (docsis_ok(f"A{i}"), ping_ok(f"A{i}"))]

    await api.ingest(healthy())
    await api.ingest([r for i in range(6) for r in dark(f"A{i}")])  # 6 of 8: outage
    [opened] = await _outages(api, 1)
    assert opened["kind"] == "node_outage" and opened["node"] == "N-1"
    assert opened["id"].startswith("outage:N-1:") and opened.get("until") is None
    assert opened["accounts"] == [f"A{i}" for i in range(8)]
    await asyncio.sleep(1.0)
    await api.ingest(healthy())  # back; closes after the 1 s hold
    await asyncio.sleep(1.2)
    await api.ingest(healthy())
    [closed] = await _outages(api, 1, closed=True)
    assert closed["id"] == opened["id"] and closed["until"] > closed["since"]

    resp = await api.client.get(f"/v1/outages/{closed['id']}/credits",
                                headers=api.auth("support"))
    assert resp.status == 200
    report = await resp.json()
    assert report["since"] == closed["since"] and report["until"] == closed["until"]
    credits = {c["account"]: c["downtime_s"] for c in report["credits"]}
    assert set(credits) == set(closed["accounts"])
    for account, seconds in credits.items():
        resp = await api.client.get(
            f"/v1/accounts/{account}/downtime?since={report['since']}&until={report['until']}",
            headers=api.auth("support"),
        )
        assert (await resp.json())["downtime_s"] == seconds, account
    assert credits["A0"] > 0.5, "the dark accounts were down"
    resp = await api.client.get(f"/v1/outages/{closed['id']}/credits?format=csv",
                                headers=api.auth("support"))
    assert resp.status == 200 and resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["account"] for r in rows] == sorted(credits)
    assert all(r["outage"] == closed["id"] and r["node"] == "N-1" for r in rows)
    assert {r["account"]: float(r["downtime_s"]) for r in rows} == {
        a: float(round(s)) for a, s in credits.items()}


async def test_outage_routes_refuse_what_they_should(api: Running) -> None:
    resp = await api.client.get("/v1/outages/outage:nope:1/credits", headers=api.auth("support"))
    assert resp.status == 404
    resp = await api.client.get("/v1/outages", headers=api.auth("ivr"))
    assert resp.status == 403
    resp = await api.client.get("/v1/outages?since=abc", headers=api.auth("support"))
    assert resp.status == 400
    resp = await api.client.get("/v1/outages", headers=api.auth("support"))
    assert await resp.json() == {"outages": []}


async def test_store_keeps_outage_accounts_and_the_first_close(api: Running) -> None:
    from collector.outages import Outage

    store = api.collector.store
    one = Outage(id="plant-N-2-100", kind="plant_fault", node="N-2", since=100.0,
                 accounts=["B1", "B2"])
    assert (await store.record_outage(one)).accounts == ["B1", "B2"]
    grown = await store.record_outage(Outage(id=one.id, kind="plant_fault", node="N-2",
                                             since=100.0, accounts=["B3", "B1"]))
    assert grown.accounts == ["B1", "B2", "B3"]
    assert [o.id for o in await store.outages(open_only=True)] == [one.id]
    await store.close_outage(one.id, 200.0)
    await store.close_outage(one.id, 300.0)
    got = await store.get_outage(one.id)
    assert got is not None and got.until == 200.0 and got.accounts == ["B1", "B2", "B3"]
    assert await store.outages(open_only=True) == []
    assert [o.id for o in await store.outages(since=150.0)] == [one.id]
    assert await store.outages(since=250.0) == []


def test_plant_faults_are_their_own_group_for_outages_and_dispatches() -> None:
    from collector.dispatches import fault_of
    from collector.model import NodeSummary, PlantFault, Verdict
    from collector.outages import open_outages

    plant = PlantFault(id="plant-N-3-500", node="N-3", since=500.0, accounts=["C2", "C1"])
    node = NodeSummary(node="N-3", accounts=9, counts={}, outage=False, plant_faults=[plant])
    [found] = open_outages([node], {})
    assert (found.id, found.kind, found.accounts) == ("plant-N-3-500", "plant_fault", ["C1", "C2"])
    inside = Verdict(account="C1", node="N-3", verdict="line_fault", since=510.0, confidence=0.9)
    outside = Verdict(account="C7", node="N-3", verdict="line_fault", since=520.0, confidence=0.9)
    assert fault_of(inside, node) == ("plant-N-3-500", True)
    assert fault_of(outside, node) == ("line:C7:520", False)
    down = NodeSummary(node="N-4", accounts=9, counts={}, outage=True, outage_since=700.0)
    area = Verdict(account="D1", node="N-4", verdict="area_outage", since=705.0, confidence=0.9)
    assert fault_of(area, down) == ("outage:N-4:700", True)
    [o] = open_outages([down], {"N-4": ["D2", "D1"]})
    assert (o.id, o.kind, o.accounts) == ("outage:N-4:700", "node_outage", ["D1", "D2"])
