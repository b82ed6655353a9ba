"""The modem fleet simulator, checked with net-snmp's command-line tools as the client.

net-snmp (`snmpget`, `snmpwalk`, `snmpbulkwalk`) is an independent SNMP
implementation: if it reads our values, types, ordering and errors the way
it reads a real agent, so will the linewatch agent. Fleet addresses are
127.22.0.0/16 (tests use 127.2x), ports are ephemeral, every client call has
a 0.5 s timeout and no retries.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from needs import need_binary

from lab.fleet import FaultError, Fleet
from lab.fleet.control import ControlServer
from probes.inventory import parse_inventory

REPO = Path(__file__).resolve().parent.parent
BASE = "127.22.0.0"
# 60 modems on 6 nodes of 10: NODE-01 docsis, 02 dsl, 03 docsis, 04 gpon, 05 docsis, 06 ethernet.
DOCSIS, DOCSIS_NEIGHBOUR, DOCSIS_OTHER_NODE = "127.22.0.1", "127.22.0.2", "127.22.0.21"
DSL, GPON, ETHERNET = "127.22.0.11", "127.22.0.31", "127.22.0.51"

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
DS_TABLE = "1.3.6.1.2.1.10.127.1.1.1.1"
DS_POWER_1 = "1.3.6.1.2.1.10.127.1.1.1.1.6.3"
SNR_1 = "1.3.6.1.2.1.10.127.1.1.4.1.5.3"
UNCORRECTABLES_1 = "1.3.6.1.2.1.10.127.1.1.4.1.4.3"
UNCORRECTABLES_EXT_1 = "1.3.6.1.2.1.10.127.1.1.4.1.10.3"
US_TX_POWER_1 = "1.3.6.1.4.1.4491.2.1.20.1.2.1.1.4"
CM_STATUS = "1.3.6.1.2.1.10.127.1.2.2.1.1.2"
T3 = "1.3.6.1.2.1.10.127.1.2.2.1.12.2"
T4 = "1.3.6.1.2.1.10.127.1.2.2.1.13.2"
LAN_OPER = "1.3.6.1.2.1.2.2.1.8.1"
LAN_HC_IN = "1.3.6.1.2.1.31.1.1.1.6.1"
DSL_MARGIN_DOWN = "1.3.6.1.2.1.10.94.1.1.3.1.4.2"
DSL_ATN_DOWN = "1.3.6.1.2.1.10.94.1.1.3.1.5.2"
DSL_SYNC_DOWN = "1.3.6.1.2.1.10.94.1.1.5.1.2.3"
DSL_CRC = "1.3.6.1.2.1.10.94.1.1.11.1.4.3"
GPON_RX = "1.3.6.1.2.1.99.1.1.1.4.1"
GPON_RX_DESCR = "1.3.6.1.2.1.47.1.1.1.1.2.1"

pytestmark = pytest.mark.usefixtures("net_snmp")


@pytest.fixture
def net_snmp() -> None:
    need_binary("snmpget", "snmpwalk", "snmpbulkwalk")


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    f = Fleet(modems=60, nodes=6, seed=7, port=0, base_address=BASE)
    await f.start()
    try:
        yield f
    finally:
        await f.stop()


class Snmp:
    """Runs a net-snmp tool and parses `-On` output into {oid: (type, value)}."""

    def __init__(self, rc: int, out: str, err: str) -> None:
        self.rc, self.out, self.err = rc, out, err
        self.values: dict[str, tuple[str, str]] = {}
        self.order: list[str] = []
        for line in out.splitlines():
            oid, sep, rest = line.partition(" = ")
            if not sep:
                continue
            kind, _, value = rest.partition(": ")
            if not value:  # "No Such Instance currently exists at this OID"
                kind, value = "", rest
            self.values[oid.lstrip(".")] = (kind, value.strip().strip('"'))
            self.order.append(oid.lstrip("."))

    def int(self, oid: str) -> int:
        kind, value = self.values[oid]
        if kind == "Timeticks":
            return int(re.match(r"\((\d+)\)", value).group(1))  # type: ignore[union-attr]
        return int(value.split()[0])

    def type(self, oid: str) -> str:
        return self.values[oid][0]


async def snmp(tool: str, host: str, port: int, *oids: str, version: str = "2c",
               community: str = "public", extra: tuple[str, ...] = ()) -> Snmp:
    proc = await asyncio.create_subprocess_exec(
        tool, "-m", "", "-On", "-Oe", f"-v{version}", "-c", community, "-t", "0.5", "-r", "0",
        *extra, f"{host}:{port}", *oids,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "MIBS": ""},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return Snmp(proc.returncode or 0, out.decode(), err.decode())


async def get(fleet: Fleet, host: str, *oids: str, **kw: object) -> Snmp:
    return await snmp("snmpget", host, fleet.port, *oids, **kw)  # type: ignore[arg-type]


def oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.split("."))


# --- values at the real OIDs -------------------------------------------------------------


async def test_docsis_modem_serves_levels_in_spec_with_real_types(fleet: Fleet) -> None:
    r = await get(fleet, DOCSIS, SYS_UPTIME, SYS_DESCR, DS_POWER_1, SNR_1, US_TX_POWER_1,
                  CM_STATUS, T3, UNCORRECTABLES_EXT_1)
    assert r.rc == 0, r.err
    assert r.type(SYS_UPTIME) == "Timeticks" and r.int(SYS_UPTIME) > 3600 * 100
    assert r.values[SYS_DESCR][1].startswith("Cable Modem <<")
    assert r.type(DS_POWER_1) == "INTEGER" and -70 <= r.int(DS_POWER_1) <= 70  # TenthdBmV
    assert r.type(SNR_1) == "INTEGER" and 350 <= r.int(SNR_1) <= 400  # TenthdB, 256-QAM
    assert 380 <= r.int(US_TX_POWER_1) <= 480
    assert r.int(CM_STATUS) == 12  # operational
    assert r.type(T3) == "Counter32"
    assert r.type(UNCORRECTABLES_EXT_1) == "Counter64"


async def test_dsl_gpon_and_ethernet_modems_serve_their_own_mibs(fleet: Fleet) -> None:
    dsl = await get(fleet, DSL, DSL_MARGIN_DOWN, DSL_ATN_DOWN, DSL_SYNC_DOWN, DSL_CRC)
    assert dsl.rc == 0, dsl.err
    assert 80 <= dsl.int(DSL_MARGIN_DOWN) <= 140
    assert dsl.type(DSL_ATN_DOWN) == "Gauge32" and 150 <= dsl.int(DSL_ATN_DOWN) <= 460
    spec = fleet.layout.spec(10)
    assert spec.technology == "dsl"
    assert dsl.int(DSL_SYNC_DOWN) == int(spec.plan_down_mbps * 1_070_000)  # sync matches plan
    assert dsl.type(DSL_CRC) == "Counter32"

    gpon = await get(fleet, GPON, GPON_RX, GPON_RX_DESCR)
    assert gpon.rc == 0, gpon.err
    assert -240 <= gpon.int(GPON_RX) <= -180  # tenths of dBm (precision 1)
    assert "receive" in gpon.values[GPON_RX_DESCR][1]

    eth = await get(fleet, ETHERNET, DS_POWER_1, LAN_OPER)
    assert eth.values[DS_POWER_1][1].startswith("No Such Object")
    assert eth.int(LAN_OPER) == 1


async def test_uptime_ticks_and_counters_rise_between_reads(fleet: Fleet) -> None:
    oids = (SYS_UPTIME, LAN_HC_IN, "1.3.6.1.2.1.10.127.1.1.4.1.2.3")
    first = await get(fleet, DOCSIS, *oids)
    await asyncio.sleep(1.1)
    second = await get(fleet, DOCSIS, *oids)
    assert 100 <= second.int(SYS_UPTIME) - first.int(SYS_UPTIME) <= 1000
    for oid in oids[1:]:
        assert second.int(oid) > first.int(oid), oid


async def test_getbulk_walk_of_downstream_table_is_ordered_and_ends_cleanly(fleet: Fleet) -> None:
    channels = fleet.layout.spec(0).ds_channels
    bulk = await snmp("snmpbulkwalk", DOCSIS, fleet.port, DS_TABLE, extra=("-Cr10",))
    assert bulk.rc == 0, bulk.err
    assert len(bulk.order) == 7 * channels  # columns .1-.7, one row per channel
    keys = [oid_key(o) for o in bulk.order]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    walk = await snmp("snmpwalk", DOCSIS, fleet.port, DS_TABLE)  # GETNEXT gives the same rows
    assert walk.order == bulk.order
    # The whole MIB: a bulk walk runs into endOfMibView and stops without error.
    everything = await snmp("snmpbulkwalk", DOCSIS, fleet.port, "1", extra=("-Cr50",))
    assert everything.rc == 0 and "Error" not in everything.err
    keys = [oid_key(o) for o in everything.order]
    template = fleet.templates[fleet.layout.spec(0).template_key]
    # every object once, in order; then net-snmp prints the endOfMibView it stopped at
    assert keys[:-1] == template.oids
    assert everything.values[everything.order[-1]][1].startswith("No more variables left")


async def test_v1_get_works_and_missing_objects_are_no_such_name(fleet: Fleet) -> None:
    ok = await get(fleet, DOCSIS, SYS_UPTIME, DS_POWER_1, version="1")
    assert ok.rc == 0 and ok.type(SYS_UPTIME) == "Timeticks"
    missing = await get(fleet, DOCSIS, SYS_UPTIME, "1.3.6.1.2.1.1.3.5", version="1")
    assert "noSuchName" in missing.err and "1.3.6.1.2.1.1.3.5" in missing.err
    # v1 cannot carry Counter64 (RFC 3584): a v1 walk of ifXTable skips the HC counters.
    walk = await snmp("snmpwalk", DOCSIS, fleet.port, "1.3.6.1.2.1.31.1.1.1", version="1")
    assert walk.order and all(walk.type(o) != "Counter64" for o in walk.order)
    v2 = await get(fleet, DOCSIS, "1.3.6.1.2.1.1.3.5", "1.3.6.1.2.1.1.99.0")
    assert v2.values["1.3.6.1.2.1.1.3.5"][1].startswith("No Such Instance")
    assert v2.values["1.3.6.1.2.1.1.99.0"][1].startswith("No Such Object")


async def test_wrong_community_gets_no_answer(fleet: Fleet) -> None:
    r = await get(fleet, DOCSIS, SYS_UPTIME, community="private")
    assert r.rc != 0 and "Timeout" in r.err
    assert fleet.stats.bad_community == 1


async def test_garbage_datagrams_are_counted_and_the_loop_keeps_answering(fleet: Fleet) -> None:
    payloads = [os.urandom(n) for n in (1, 7, 64, 900)]
    payloads += [b"\x30\x82\xff\xff", b"\x30\x03\x02\x01\x01", bytes(1400)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for p in payloads:
            sock.sendto(p, (DOCSIS, fleet.port))
    r = await get(fleet, DOCSIS, SYS_UPTIME)
    assert r.rc == 0, r.err
    assert fleet.stats.malformed == len(payloads)
    assert fleet.stats.internal_errors == 0


# --- faults, seen from snmpget -------------------------------------------------------------


async def test_node_outage_silences_that_node_only(fleet: Fleet) -> None:
    fleet.inject("node_outage", node="NODE-01")
    down = await get(fleet, DOCSIS, SYS_UPTIME)
    down_too = await get(fleet, "127.22.0.10", SYS_UPTIME)
    up = await get(fleet, DOCSIS_OTHER_NODE, SYS_UPTIME)
    assert "Timeout" in down.err and "Timeout" in down_too.err
    assert up.rc == 0
    fleet.clear()
    assert (await get(fleet, DOCSIS, SYS_UPTIME)).rc == 0


async def test_dead_modem_is_dark_while_its_neighbours_answer(fleet: Fleet) -> None:
    fault = fleet.inject("dead_modem", account="ACC-000001")
    assert "Timeout" in (await get(fleet, DOCSIS, SYS_UPTIME)).err
    assert (await get(fleet, DOCSIS_NEIGHBOUR, SYS_UPTIME)).rc == 0
    fleet.clear(fault.id)
    back = await get(fleet, DOCSIS, SYS_UPTIME)
    assert back.int(SYS_UPTIME) < 1000  # replaced/power-cycled: it has just booted


class ManualClock:
    """The fleet's clock, moved by the test: reboot timing without sleeping or flakiness."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_reboot_loop_resets_uptime_and_goes_silent_after_each_boot() -> None:
    clock = ManualClock(1_800_000_000.0)
    fleet = Fleet(modems=60, nodes=6, seed=7, port=0, base_address=BASE, clock=clock)
    await fleet.start()
    try:
        before = await get(fleet, DOCSIS, SYS_UPTIME)
        assert before.int(SYS_UPTIME) > 3600 * 100
        t0 = clock.t
        fleet.inject("reboot_loop", account="ACC-000001", period_s=60.0, silent_s=5.0)
        assert "Timeout" in (await get(fleet, DOCSIS, SYS_UPTIME)).err  # booting
        clock.t = t0 + 6
        assert (await get(fleet, DOCSIS, SYS_UPTIME)).int(SYS_UPTIME) == 600
        clock.t = t0 + 62  # the next reboot
        assert "Timeout" in (await get(fleet, DOCSIS, SYS_UPTIME)).err
        clock.t = t0 + 70
        assert (await get(fleet, DOCSIS, SYS_UPTIME)).int(SYS_UPTIME) == 1000
        assert (await get(fleet, DOCSIS_NEIGHBOUR, SYS_UPTIME)).int(SYS_UPTIME) > 3600 * 100
        fleet.clear()
        clock.t = t0 + 200  # fixed: no more reboots, uptime runs on from the last boot
        assert (await get(fleet, DOCSIS, SYS_UPTIME)).int(SYS_UPTIME) == 14000
    finally:
        await fleet.stop()


async def test_snr_drop_and_ds_power_fault_push_levels_out_of_spec(fleet: Fleet) -> None:
    fleet.inject("snr_drop", account="ACC-000001", snr_db=24.0)
    fleet.inject("ds_power", account="ACC-000002", power_dbmv=-17.0)
    snr = await get(fleet, DOCSIS, SNR_1)
    power = await get(fleet, DOCSIS_NEIGHBOUR, DS_POWER_1)
    assert snr.int(SNR_1) < 300  # 256-QAM needs >= 30 dB (THRESHOLDS.md)
    assert power.int(DS_POWER_1) < -150  # spec -15..+15 dBmV
    healthy = await get(fleet, DOCSIS_OTHER_NODE, SNR_1)
    assert healthy.int(SNR_1) >= 350


async def test_uncorrectables_and_t3_t4_rise_fast_under_a_line_fault(fleet: Fleet) -> None:
    fleet.inject("uncorrectables", node="NODE-01", ratio=0.05)
    fleet.inject("t3t4", node="NODE-01", per_minute=120.0)
    oids = (UNCORRECTABLES_1, T3, T4)
    first = await get(fleet, DOCSIS, *oids)
    await asyncio.sleep(1.0)
    second = await get(fleet, DOCSIS, *oids)
    assert second.int(UNCORRECTABLES_1) - first.int(UNCORRECTABLES_1) > 1000  # ~2,400 cw/s
    assert second.int(T3) - first.int(T3) >= 1
    assert second.int(T4) >= first.int(T4)


async def test_dsl_margin_fault_lowers_margin_and_crc_rises(fleet: Fleet) -> None:
    fleet.inject("dsl_margin", account="ACC-000011", margin_db=3.0, crc_per_s=50.0)
    first = await get(fleet, DSL, DSL_MARGIN_DOWN, DSL_CRC)
    await asyncio.sleep(0.5)
    second = await get(fleet, DSL, DSL_CRC)
    assert first.int(DSL_MARGIN_DOWN) <= 60  # <= 6 dB is bad (THRESHOLDS.md)
    assert second.int(DSL_CRC) - first.int(DSL_CRC) >= 10


async def test_lan_down_sets_if_oper_status_2_on_the_lan_port_only(fleet: Fleet) -> None:
    fleet.inject("lan_down", account="ACC-000001")
    r = await get(fleet, DOCSIS, LAN_OPER, "1.3.6.1.2.1.2.2.1.8.2", "1.3.6.1.2.1.2.2.1.3.1")
    assert r.int(LAN_OPER) == 2 and r.int("1.3.6.1.2.1.2.2.1.3.1") == 6  # ethernetCsmacd
    assert r.int("1.3.6.1.2.1.2.2.1.8.2") == 1  # the cable MAC stays up
    assert (await get(fleet, DOCSIS_NEIGHBOUR, LAN_OPER)).int(LAN_OPER) == 1


async def test_fault_requests_that_make_no_sense_are_refused(fleet: Fleet) -> None:
    with pytest.raises(FaultError, match="applies to docsis"):
        fleet.inject("snr_drop", node="NODE-02")  # a DSL node
    with pytest.raises(FaultError, match="unknown node"):
        fleet.inject("node_outage", node="NODE-99")
    with pytest.raises(FaultError, match="exactly one"):
        fleet.inject("lan_down")
    with pytest.raises(FaultError, match="no parameter"):
        fleet.inject("snr_drop", account="ACC-000001", snr=3)
    with pytest.raises(FaultError, match="node, not an account"):
        fleet.inject("congestion", account="ACC-000001")


# --- control endpoint ----------------------------------------------------------------------


async def test_http_control_injects_lists_and_clears_faults(fleet: Fleet) -> None:
    control = ControlServer(fleet, "127.0.0.1", 0)
    await control.start()
    try:
        async with aiohttp.ClientSession(base_url=control.url) as http:
            resp = await http.post("/faults", json={"kind": "node_outage", "node": "NODE-01"})
            assert resp.status == 201
            fault = await resp.json()
            resp = await http.post("/faults", json={"kind": "congestion", "node": "NODE-03",
                                                    "available_share": 0.25})
            assert resp.status == 201
            assert "Timeout" in (await get(fleet, DOCSIS, SYS_UPTIME)).err

            faults = await (await http.get("/faults")).json()
            assert [f["kind"] for f in faults["faults"]] == ["node_outage", "congestion"]
            nodes = {n["node"]: n for n in (await (await http.get("/nodes")).json())["nodes"]}
            assert nodes["NODE-01"]["outage"] is True
            assert nodes["NODE-03"]["available_share"] == 0.25
            modems = await (await http.get("/modems", params={"node": "NODE-03"})).json()
            assert modems["total"] == 10
            m = modems["modems"][0]
            assert m["available_mbps"] == m["plan_down_mbps"] * 0.25
            assert fleet.available_mbps(m["account"]) == m["available_mbps"]
            one = await (await http.get("/modems/ACC-000001")).json()
            assert one["answering"] is False and one["faults"] == [fault["id"]]

            assert (await http.post("/faults", data=b"{nope")).status == 400
            bad = await http.post("/faults", json={"kind": "snr_drop", "node": "NODE-02"})
            assert bad.status == 422 and "docsis" in (await bad.json())["error"]
            assert (await http.get("/modems/ACC-999999")).status == 404

            summary = await (await http.get("/fleet")).json()
            assert summary["modems"] == 60 and summary["stats"]["silent"] >= 1

            resp = await http.delete("/faults")
            assert len((await resp.json())["cleared"]) == 2
            assert (await (await http.get("/faults")).json())["faults"] == []
        assert (await get(fleet, DOCSIS, SYS_UPTIME)).rc == 0
    finally:
        await control.stop()


# --- inventory, scale, CLI -------------------------------------------------------------------


async def test_inventory_lists_every_modem_with_mixed_technologies(fleet: Fleet) -> None:
    targets = parse_inventory(fleet.inventory_csv())
    assert len(targets) == 60 and targets == fleet.targets()
    assert {t.technology for t in targets} == {"docsis", "dsl", "gpon", "ethernet"}
    assert sum(t.technology == "docsis" for t in targets) == 30
    assert len({t.host for t in targets}) == 60 and all(t.port == fleet.port for t in targets)
    assert targets[0].account == "ACC-000001" and targets[0].node == "NODE-01"


async def test_an_all_docsis_wide_fleet_serves_32x8_modems_on_every_node() -> None:
    """The agent benchmark's full DOCSIS profile: every node cable, every modem 32x8."""
    from lab.fleet.layout import DOCSIS_WIDE

    wide = Fleet(modems=20, nodes=4, seed=3, port=0, base_address="127.23.128.0",
                 docsis_channels=DOCSIS_WIDE, technologies=("docsis",))
    await wide.start()
    try:
        targets = wide.targets()
        assert {t.technology for t in targets} == {"docsis"}
        assert {(wide.layout.spec(i).ds_channels, wide.layout.spec(i).us_channels)
                for i in range(20)} == {DOCSIS_WIDE}
        r = await get(wide, targets[-1].host, SYS_UPTIME, LAN_OPER)
        assert r.rc == 0 and r.int(LAN_OPER) == 1
    finally:
        await wide.stop()
    with pytest.raises(ValueError, match="technologies"):
        Fleet(modems=4, nodes=1, port=0, technologies=("cable",))


async def test_a_fleet_of_100k_modems_answers_on_its_last_address() -> None:
    big = Fleet(modems=100_000, nodes=400, seed=3, port=0, base_address="127.23.0.0")
    await big.start()
    try:
        last = big.layout.address(99_999)
        r = await get(big, last, SYS_UPTIME, LAN_OPER)
        assert r.rc == 0 and r.int(LAN_OPER) == 1
        assert big.layout.spec(99_999).account == "ACC-100000"
    finally:
        await big.stop()


async def test_cli_runs_the_fleet_writes_inventory_and_stops_on_sigterm(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        control_port = s.getsockname()[1]
    inventory = tmp_path / "fleet.csv"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linewatch.cli", "lab", "fleet", "--modems", "40", "--nodes", "4",
        "--port", str(port), "--control", f"127.0.0.1:{control_port}",
        "--inventory", str(inventory),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"40 modems on 4 nodes" in line, line
        targets = parse_inventory(inventory.read_text())
        assert len(targets) == 40
        r = await snmp("snmpget", targets[5].host, port, SYS_UPTIME)
        assert r.rc == 0, r.err
        async with aiohttp.ClientSession() as http:
            resp = await http.get(f"http://127.0.0.1:{control_port}/fleet")
            assert (await resp.json())["modems"] == 40
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# --- the linewatch SNMP probe reads the fleet into the wire model -------------------------------


async def test_snmp_probe_reads_every_technology_into_the_wire_model(fleet: Fleet) -> None:
    from probes.model import DocsisLine, DslLine, GponLine, SnmpReading
    from probes.snmp.credentials import SnmpCredentials
    from probes.snmp.probe import SnmpProbe

    fleet.inject("snr_drop", account="ACC-000001", snr_db=24.0)
    fleet.inject("lan_down", account="ACC-000031")
    targets = {t.account: t for t in fleet.targets()}
    creds = {"default": SnmpCredentials(version="2c", community="public")}
    async with SnmpProbe(creds, timeout_s=1.0, retries=0) as probe:
        docsis, dsl, gpon = [await probe.run(targets[a])
                             for a in ("ACC-000001", "ACC-000011", "ACC-000031")]
    assert isinstance(docsis, SnmpReading) and isinstance(docsis.line, DocsisLine)
    assert len(docsis.line.downstream) == fleet.layout.spec(0).ds_channels
    assert len(docsis.line.upstream) == 4 and docsis.line.cm_status == 12
    assert all(ch.snr_db is not None and ch.snr_db < 30 for ch in docsis.line.downstream)
    assert all(-7 <= ch.power_dbmv <= 7 for ch in docsis.line.downstream)  # type: ignore[operator]
    assert isinstance(dsl, SnmpReading) and isinstance(dsl.line, DslLine)
    assert 8 <= dsl.line.snr_margin_down_db <= 14  # type: ignore[operator]
    assert dsl.line.sync_down_kbps == pytest.approx(fleet.layout.spec(10).plan_down_mbps * 1070)
    assert isinstance(gpon, SnmpReading) and isinstance(gpon.line, GponLine)
    assert -24 <= gpon.line.rx_power_dbm <= -18  # type: ignore[operator]
    lan = [i for i in gpon.interfaces if i.role == "lan"]
    assert lan and lan[0].oper_up is False


async def test_targeted_and_full_probe_collection_read_the_same_from_every_template() -> None:
    """The agent's targeted v2c poll (few varbinds) and the plain full walk give the
    same SnmpReading from every modem shape; the clock is frozen so values agree."""
    from probes.model import SnmpReading
    from probes.snmp.probe import SnmpCredentials, SnmpProbe

    f = Fleet(modems=40, nodes=10, seed=3, port=0, base_address=BASE, clock=lambda: 1.8e9)
    await f.start()
    try:
        async with SnmpProbe({"default": SnmpCredentials(community="public")}) as probe:
            seen = set()
            for t in f.targets():
                probe.targeted = True
                targeted = await probe.run(t)
                probe.targeted = False
                full = await probe.run(t)
                assert isinstance(targeted, SnmpReading), targeted
                assert targeted == full, t
                assert {i.role for i in targeted.interfaces} <= {"lan", "wan"}
                seen.add(f.layout.spec(f.targets().index(t)).template_key)
            assert {"dsl", "gpon", "ethernet"} < seen and any(k.startswith("docsis") for k in seen)
            assert probe.transport.stats.timeouts == 0
    finally:
        await f.stop()
