"""The lab fleet's headends, read by the real headend probe over SNMP (in process).

Each node's CMTS / DSLAM / OLT must be read by probes/snmp/headend.py unchanged,
every row matched to its inventory line (MAC, DSLAM port, ONT serial), its
levels consistent with the modem's own, and each fault told the way a headend
tells it: offline, ranging, operational while we cannot reach the modem, an
echo in the pre-equalizer at the injected distance, and no answer at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.headends import line_indexes
from lab.fleet import Fleet
from lab.fleet.equalizer import tap_metres
from lab.fleet.headends import us_rx_tenth_dbmv
from probes.inventory import parse_headends, parse_inventory
from probes.model import HeadendReading, ProbeError, SnmpReading
from probes.snmp.headend import HeadendProbe
from probes.snmp.probe import SnmpCredentials, SnmpProbe

CREDS = {"default": SnmpCredentials(version="2c", community="public")}


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    f = Fleet(modems=70, nodes=7, port=0, base_address="127.27.0.0")
    await f.start()
    try:
        yield f
    finally:
        await f.stop()


async def _poll(fleet: Fleet, headend: str) -> HeadendReading | ProbeError:
    heads = {h.headend: h for h in fleet.headend_inventory()}
    lines = line_indexes(heads.values(), fleet.targets())
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=0) as snmp:
        probe = HeadendProbe(snmp, timeout_s=0.5, retries=0)
        return await probe.run(heads[headend], lines[headend])


async def test_inventory_carries_macs_and_a_headend_per_node(fleet: Fleet) -> None:
    targets = parse_inventory(fleet.inventory_csv())
    assert all(t.mac for t in targets)
    assert len({t.mac for t in targets}) == len(targets)
    heads = parse_headends(fleet.headends_csv())
    assert [(h.headend, h.kind) for h in heads] == [
        ("CMTS-NODE-01", "cmts"), ("DSLAM-NODE-02", "dslam"), ("CMTS-NODE-03", "cmts"),
        ("OLT-NODE-04", "olt"), ("CMTS-NODE-05", "cmts"), ("CMTS-NODE-07", "cmts"),
    ]  # NODE-06 is Ethernet: no headend
    hosts = {t.host for t in targets}
    assert not hosts & {h.host for h in heads}  # past the last modem: never a modem


async def test_every_kind_is_read_and_matched(fleet: Fleet) -> None:
    for headend, rows in (("CMTS-NODE-01", "modems"), ("DSLAM-NODE-02", "ports"),
                          ("OLT-NODE-04", "onts")):
        reading = await _poll(fleet, headend)
        assert isinstance(reading, HeadendReading), reading
        found = getattr(reading, rows)
        assert len(found) == 10 and all(r.account for r in found), found
        assert reading.problems.unmatched == 0 and reading.problems.bad_key == 0
    cmts = await _poll(fleet, "CMTS-NODE-01")
    assert isinstance(cmts, HeadendReading)
    assert {m.reg_status for m in cmts.modems} == {"operational"}
    assert len(cmts.upstreams) == 4 and all(u.snr_db for u in cmts.upstreams)
    # The level the CMTS receives is the modem's TX minus its plant loss: near 0 dBmV.
    first = cmts.modems[0]
    assert first.us_rx_power_dbmv is not None and -4.0 <= first.us_rx_power_dbmv <= 4.0
    view = fleet.view(0)
    assert abs(first.us_rx_power_dbmv - us_rx_tenth_dbmv(view, 0) / 10) <= 0.3


async def test_faults_as_the_headend_tells_them(fleet: Fleet) -> None:
    fleet.inject("power_off", account="ACC-000002")
    fleet.inject("mgmt_path", account="ACC-000003")
    fleet.inject("drop_cut", account="ACC-000004", degrade_s=300.0)
    fleet.inject("micro_reflection", account="ACC-000005", distance_m=150.0)
    fleet.inject("power_off", account="ACC-000012")
    fleet.inject("power_off", account="ACC-000032")
    cmts = await _poll(fleet, "CMTS-NODE-01")
    assert isinstance(cmts, HeadendReading)
    by = {m.account: m for m in cmts.modems}
    assert (by["ACC-000002"].status, by["ACC-000002"].reg_status) == ("other", "other")
    assert by["ACC-000002"].us_rx_power_dbmv is None
    assert by["ACC-000003"].reg_status == "operational"  # we cannot reach it; the CMTS can
    assert by["ACC-000004"].status == "ranging"
    dsl = await _poll(fleet, "DSLAM-NODE-02")
    assert isinstance(dsl, HeadendReading)
    assert {p.account: p.state for p in dsl.ports}["ACC-000012"] == "down"
    olt = await _poll(fleet, "OLT-NODE-04")
    assert isinstance(olt, HeadendReading)
    assert {o.account: o.state for o in olt.onts}["ACC-000032"] == "offline"
    # The echo: the modem's own pre-equalizer and the CMTS's copy of it.
    target = next(t for t in fleet.targets() if t.account == "ACC-000005")
    async with SnmpProbe(CREDS, timeout_s=1.0, retries=0) as snmp:
        reading = await snmp.run(target)
    assert isinstance(reading, SnmpReading)
    pre_eq = reading.line.pre_eq  # type: ignore[union-attr]
    assert pre_eq and all(abs(p.echo_distance_m - 150.0) <= tap_metres() / 2  # type: ignore[operator]
                          for p in pre_eq)
    assert by["ACC-000005"].equalization is not None
    assert by["ACC-000005"].equalization != by["ACC-000006"].equalization

    fleet.inject("headend_dark", node="NODE-01")
    assert isinstance(await _poll(fleet, "CMTS-NODE-01"), ProbeError)
    assert isinstance(await _poll(fleet, "CMTS-NODE-03"), HeadendReading)


async def test_node_outage_shows_at_the_headend(fleet: Fleet) -> None:
    fleet.inject("node_outage", node="NODE-03")
    cmts = await _poll(fleet, "CMTS-NODE-03")
    assert isinstance(cmts, HeadendReading)
    assert {m.reg_status for m in cmts.modems} == {"other"}
