"""HeadendProbe against real SNMP agents: snmpsim serving the shared Arris C3
recording (../shared/headend-snmprec) and synthetic CMTS/DSLAM/OLT recordings
written here (2,000 modems), net-snmp snmpd over v3, and hostile answers
(partial tables, wrong types, bad MACs, loops, silence, garbage). Expected
values come from the recordings' text, never from the probe."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from headend_snmprec import DOCS_IF, DOCS_IF3, eq_data, mac_of, snmprec, synthetic_cmts
from needs import need_binary, shared_path
from peers import Agent, run_snmpd, run_snmpsim, snmp_credentials

from agent.headends import HeadendScheduler, line_indexes
from agent.metrics import AgentMetrics
from probes.model import (
    CmtsModem,
    Headend,
    HeadendProblems,
    HeadendReading,
    ProbeError,
    Target,
    decode_record,
    encode,
)
from probes.snmp import ber
from probes.snmp.credentials import SnmpCredentials
from probes.snmp.headend import HeadendProbe, LineIndex

SIGQ = "1.3.6.1.2.1.10.127.1.1.4.1"
HW = "1.3.6.1.4.1.2011.6.128.1.1.2"
ADSL = "1.3.6.1.2.1.10.94.1.1"
XDSL2 = "1.3.6.1.2.1.10.251.1"
SYSTEM = [("1.3.6.1.2.1.1.1.0", "4", "test headend"), ("1.3.6.1.2.1.1.3.0", "67", "4200")]


def parse_snmprec(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            out[parts[0]] = (parts[1], parts[2])
    return out


def headend(agent: Agent, community: str, kind: str = "cmts", **kw: object) -> Headend:
    return Headend(headend=f"{kind}-{community}", host=agent.host, port=agent.port,
                   kind=kind, credentials=community, **kw)  # type: ignore[arg-type]


def probe_for(*communities: str, **kw: object) -> HeadendProbe:
    return HeadendProbe({c: SnmpCredentials(community=c) for c in communities},
                        **kw)  # type: ignore[arg-type]


# --- recordings written here -----------------------------------------------------------

def dslam_rec() -> str:
    rows = [*SYSTEM]
    # port 1001: ADSL2+ line, its interleaved channel 2001 stacked on it (ifStackTable)
    # port 1002: VDSL2 line, channel 2002; port 1003: ADSL, down (no showtime values)
    for i, name, oper in ((1001, "adsl-0/1/1", 1), (1002, "vdsl-0/1/2", 1),
                          (1003, "adsl-0/1/3", 2)):
        rows += [(f"1.3.6.1.2.1.31.1.1.1.1.{i}", "4", name), (f"1.3.6.1.2.1.2.2.1.8.{i}", "2",
                                                                str(oper))]
    rows += [
        ("1.3.6.1.2.1.31.1.2.1.3.2001.1001", "2", "1"),
        ("1.3.6.1.2.1.31.1.2.1.3.2002.1002", "2", "1"),
        (f"{ADSL}.2.1.4.1001", "2", "95"), (f"{ADSL}.2.1.5.1001", "66", "121"),
        (f"{ADSL}.2.1.8.1001", "66", "1100000"),
        (f"{ADSL}.3.1.4.1001", "2", "123"), (f"{ADSL}.3.1.5.1001", "66", "245"),
        (f"{ADSL}.3.1.8.1001", "66", "18000000"),
        (f"{ADSL}.4.1.2.2001", "66", "16000000"), (f"{ADSL}.5.1.2.2001", "66", "1024000"),
        (f"{ADSL}.2.1.4.1003", "2", "2147483647"),  # "no value" while the line is down
        (f"{XDSL2}.1.1.1.20.1002", "66", "80000000"), (f"{XDSL2}.1.1.1.21.1002", "66",
                                                         "30000000"),
        (f"{XDSL2}.1.2.1.2.1002.1", "66", "80"), (f"{XDSL2}.1.2.1.2.1002.2", "66", "150"),
        (f"{XDSL2}.1.2.1.4.1002.1", "2", "71"), (f"{XDSL2}.1.2.1.4.1002.2", "2", "62"),
        (f"{XDSL2}.2.2.1.2.2002.1", "66", "20000000"),  # xtuc: upstream
        (f"{XDSL2}.2.2.1.2.2002.2", "66", "60000000"),  # xtur: downstream
    ]
    return snmprec(rows)


PON = 4194312192  # Huawei encodes frame/slot/port in the PON port's ifIndex


def olt_rec() -> str:
    rows = [*SYSTEM, (f"1.3.6.1.2.1.31.1.1.1.1.{PON}", "4", "GPON 0/1/0"),
            (f"1.3.6.1.2.1.2.2.1.8.{PON}", "2", "1")]
    for ont, serial, state, rx, tx, olt_rx in (
        (0, "48575443" + "1a2b3c4d", 1, -2150, 231, -2300),
        (1, "48575443" + "00000001", 1, -2710, 198, -2655),
        (2, "48575443" + "0000000f", 2, 2147483647, 2147483647, 2147483647),  # dark
    ):
        rows += [
            (f"{HW}.43.1.3.{PON}.{ont}", "4x", serial),
            (f"{HW}.46.1.15.{PON}.{ont}", "2", str(state)),
            (f"{HW}.51.1.3.{PON}.{ont}", "2", str(tx)),
            (f"{HW}.51.1.4.{PON}.{ont}", "2", str(rx)),
            (f"{HW}.51.1.6.{PON}.{ont}", "2", str(olt_rx)),
        ]
    return snmprec(rows)


def hostile_cmts_rec() -> str:
    """Row 1 and 7 good (row 1 with a Counter64 past 2**63-1); row 2 with a text
    RxPower, status 42 and 2,000 octets of equalization data; row 3 without a MAC
    cell; row 4 a 5-octet MAC, row 5 an 8-octet one; row 6 row 1's MAC again. A
    docsIf3 upstream row names a regStatusId no MAC table row has."""
    cm = f"{DOCS_IF}.3.3.1"
    rows = [*SYSTEM]
    for i in (1, 2, 3, 4, 5, 6, 7):
        rows.append((f"{cm}.9.{i}", "2", "8" if i != 2 else "42"))
        rows.append((f"{cm}.6.{i}", "2", "-15") if i != 2 else (f"{cm}.6.{i}", "4", "high"))
    rows += [
        (f"{cm}.2.1", "4x", mac_of(1).replace(":", "")),
        (f"{cm}.2.2", "4x", mac_of(2).replace(":", "")),
        (f"{cm}.2.4", "4x", "0010180000"),
        (f"{cm}.2.5", "4x", "0010180000000099"),
        (f"{cm}.2.6", "4x", mac_of(1).replace(":", "")),
        (f"{cm}.2.7", "4x", mac_of(7).replace(":", "")),
        (f"{cm}.8.2", "4x", "ab" * 2000),
        (f"{cm}.8.7", "4x", eq_data(7).hex()),
        (f"{cm}.15.1", "70", str(2**63 + 5)),
        (f"{cm}.16.1", "70", "3"),
        (f"{DOCS_IF3}.3.1.2.501", "4x", mac_of(7).replace(":", "")),
        (f"{DOCS_IF3}.3.1.6.501", "2", "8"),
        (f"{DOCS_IF3}.4.1.3.501.11", "2", "21"),
        (f"{DOCS_IF3}.4.1.3.999.11", "2", "22"),  # no such regStatusId
    ]
    return snmprec(rows)


@pytest.fixture(scope="module")
def sim() -> Iterator[Agent]:
    with tempfile.TemporaryDirectory() as tmp:
        files = {"dslam": dslam_rec(), "olt": olt_rec(), "hostile": hostile_cmts_rec()}
        recordings = {}
        for name, text in files.items():
            recordings[name] = Path(tmp, f"{name}.snmprec")
            recordings[name].write_text(text)
        with run_snmpsim(recordings, ["127.5.21.1"]) as agent:
            yield agent


# --- the shared recording of a real CMTS -----------------------------------------------

async def test_arris_c3_upstream_quality_read_right_and_per_cm_table_absent() -> None:
    path = shared_path("headend-snmprec", "librenms-arris-c3.snmprec")
    rec = parse_snmprec(path.read_text())
    snr = {int(k.rsplit(".", 1)[1]): int(v) / 10 for k, (t, v) in rec.items()
           if k.startswith(f"{SIGQ}.5.")}
    with run_snmpsim({"c3": path}, ["127.5.21.2"]) as agent:
        async with probe_for("c3") as probe:
            reading = await probe.run(headend(agent, "c3"))
    assert isinstance(reading, HeadendReading), reading
    assert reading.sys_descr == rec["1.3.6.1.2.1.1.1.0"][1]
    assert reading.sys_uptime_s == int(rec["1.3.6.1.2.1.1.3.0"][1]) / 100
    assert {u.index: u.snr_db for u in reading.upstreams} == snr
    active = [u for u in reading.upstreams if u.oper_up]
    assert [(u.index, u.snr_db) for u in active] == [(11, 26.9), (13, 28.1)]
    ch11 = active[0]
    assert ch11.name == rec["1.3.6.1.2.1.31.1.1.1.1.11"][1]
    # Counter64 Ext columns preferred over the 32-bit ones (3814909380 there)
    assert (ch11.unerrored, ch11.corrected, ch11.uncorrectable) == (
        int(rec[f"{SIGQ}.8.11"][1]), int(rec[f"{SIGQ}.9.11"][1]), int(rec[f"{SIGQ}.10.11"][1]))
    # no per-CM tables in this recording: said as such, nothing counted as garbage
    assert reading.modems == []
    assert reading.absent == ["cm_status", "cm_reg_status", "cm_us_status"]
    assert reading.problems == HeadendProblems()
    assert not reading.truncated


# --- a 2,000-modem CMTS ---------------------------------------------------------------

async def test_synthetic_cmts_with_2000_modems_read_right_and_matched_by_mac() -> None:
    synthetic = synthetic_cmts(2000, us_channels=4)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "cmts.snmprec")
        await asyncio.to_thread(data.write_text, synthetic.text)
        with run_snmpsim({"cmts": data}, ["127.5.21.3"]) as agent:
            # every other modem is an inventory line; the rest are someone else's
            lines = LineIndex({mac_of(i): f"ACC-{i}" for i in range(1, 2001, 2)}, {})
            async with probe_for("cmts", max_time_s=120.0) as probe:
                reading = await probe.run(headend(agent, "cmts"), lines)
    assert isinstance(reading, HeadendReading), reading
    assert not reading.truncated and reading.absent == []
    assert reading.upstreams == synthetic.upstreams
    expected = [
        CmtsModem(**{**{f: getattr(m, f) for f in m.__struct_fields__},
                     "account": f"ACC-{i}" if i % 2 else None})
        for i, m in enumerate(synthetic.modems, start=1)
    ]
    assert len(reading.modems) == 2000
    assert reading.modems == expected
    assert reading.modems[49].status == "ranging" and reading.modems[49].reg_status == (
        "initialRanging")
    assert reading.problems == HeadendProblems(unmatched=1000)
    # the record the agent ships decodes on the collector's side
    from probes.model import ProbeRecord

    record = ProbeRecord(account="cmts-1", probe="headend", started_at=1.0, duration_s=1.0,
                         result=reading)
    assert decode_record(encode(record)) == record


# --- DSLAM and OLT ---------------------------------------------------------------------

async def test_dslam_ports_both_ends_from_adsl_and_vdsl2_mibs(sim: Agent) -> None:
    lines = LineIndex({}, {"adsl-0/1/1": "ACC-A", "1002": "ACC-V"})
    async with probe_for("dslam") as probe:
        reading = await probe.run(headend(sim, "dslam", "dslam"), lines)
    assert isinstance(reading, HeadendReading), reading
    ports = {p.if_index: p for p in reading.ports}
    adsl, vdsl, down = ports[1001], ports[1002], ports[1003]
    assert (adsl.port, adsl.account, adsl.state) == ("adsl-0/1/1", "ACC-A", "up")
    assert (adsl.snr_margin_down_db, adsl.snr_margin_up_db) == (12.3, 9.5)
    assert (adsl.attenuation_down_db, adsl.attenuation_up_db) == (24.5, 12.1)
    assert (adsl.sync_down_kbps, adsl.sync_up_kbps) == (16000.0, 1024.0)  # via ifStack
    assert (adsl.attainable_down_kbps, adsl.attainable_up_kbps) == (18000.0, 1100.0)
    assert (vdsl.port, vdsl.account) == ("vdsl-0/1/2", "ACC-V")  # matched by ifIndex
    assert (vdsl.snr_margin_down_db, vdsl.snr_margin_up_db) == (6.2, 7.1)
    assert (vdsl.attenuation_down_db, vdsl.attenuation_up_db) == (15.0, 8.0)
    assert (vdsl.sync_down_kbps, vdsl.sync_up_kbps) == (60000.0, 20000.0)
    assert (vdsl.attainable_down_kbps, vdsl.attainable_up_kbps) == (80000.0, 30000.0)
    assert (down.state, down.snr_margin_up_db, down.account) == ("down", None, None)
    assert reading.problems == HeadendProblems(unmatched=1)  # port 1003: no line
    assert "adsl_atuc_phys" not in reading.absent


async def test_olt_huawei_ont_optics_matched_by_serial_or_ont_id(sim: Agent) -> None:
    lines = LineIndex({}, {"hwtc1a2b3c4d": "ACC-1", "gpon 0/1/0:2": "ACC-3"})
    async with probe_for("olt") as probe:
        reading = await probe.run(headend(sim, "olt", "olt"), lines)
    assert isinstance(reading, HeadendReading), reading
    first, second, dark = reading.onts
    assert (first.ont, first.serial, first.account, first.state) == (
        "GPON 0/1/0:0", "HWTC1A2B3C4D", "ACC-1", "online")
    assert (first.rx_power_dbm, first.tx_power_dbm, first.olt_rx_power_dbm) == (
        -21.5, 2.31, -23.0)
    assert (second.serial, second.account, second.rx_power_dbm) == (
        "HWTC00000001", None, -27.1)
    # a dark ONT reports 2147483647: no value, not garbage
    assert (dark.ont, dark.account, dark.state, dark.rx_power_dbm) == (
        "GPON 0/1/0:2", "ACC-3", "offline", None)
    assert reading.problems == HeadendProblems(unmatched=1)


# --- hostile answers -------------------------------------------------------------------

async def test_partial_tables_wrong_types_and_bad_macs_are_counted_not_fatal(
    sim: Agent,
) -> None:
    async with probe_for("hostile") as probe:
        reading = await probe.run(headend(sim, "hostile"), LineIndex({mac_of(1): "A1"}, {}))
        again = await probe.run(headend(sim, "hostile"), LineIndex({mac_of(1): "A1"}, {}))
    assert isinstance(reading, HeadendReading), reading
    by_mac = {m.mac: m for m in reading.modems}
    assert set(by_mac) == {mac_of(1), mac_of(2), mac_of(7)}
    one, two, seven = by_mac[mac_of(1)], by_mac[mac_of(2)], by_mac[mac_of(7)]
    assert (one.account, one.status, one.us_rx_power_dbmv) == ("A1", "operational", -1.5)
    assert (one.unerrored, one.corrected) == (None, 3)  # 2**63+5 is out of the model's range
    assert (two.status, two.us_rx_power_dbmv, two.equalization) == (None, None, None)
    assert seven.equalization == eq_data(7)
    assert [(u.index, u.rx_power_dbmv) for u in seven.upstream] == [(11, 2.1)]
    assert reading.problems == HeadendProblems(
        bad_key=4,  # rows 3 (no MAC cell), 4 (5 octets), 5 (8 octets); regStatusId 999
        duplicate_key=1,  # row 6: row 1's MAC
        wrong_type=1,  # row 2's RxPower is text
        out_of_range=2,  # row 2's status 42, row 1's Counter64 past 2**63-1
        oversize=1,  # row 2's 2,000 octets of equalization data
        unmatched=2,  # rows 2 and 7: no inventory line has their MAC
    )
    assert again == reading
    assert probe.stats.polls == 2 and probe.stats.problems["oversize"] == 2


class _Hostile(asyncio.DatagramProtocol):
    """Answers like a broken agent: ``mode`` = loop (GETBULK answers that go back to
    the start), mute_after (stops answering after 3 answers) or garbage (bytes)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.answers = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if self.mode == "garbage":
            self.transport.sendto(b"\x30\x82\xff\xff garbage", addr)
            return
        msg = ber.decode_message(data)
        if self.mode == "mute_after" and self.answers >= 3:
            return
        self.answers += 1
        pdu = msg.pdu
        if pdu.tag == ber.GET:
            vbs = [(o, b"hostile" if o[-2] == 1 else ber.TimeTicks(1)) for o, _ in pdu.varbinds]
        else:  # every column: the same two rows, again and again (a loop)
            vbs = []
            for _ in range(2):
                for oid, _ in pdu.varbinds:
                    col = oid[:13] if oid[:9] == (1, 3, 6, 1, 2, 1, 10, 127, 1) else oid[:14]
                    vbs.append(((*col, 1), 7))
        reply = ber.Message(msg.version, msg.community,
                            ber.Pdu(ber.RESPONSE, pdu.request_id, 0, 0, vbs))
        self.transport.sendto(ber.encode_message(reply), addr)


@pytest.fixture
async def hostile_agent(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Hostile(request.param), local_addr=("127.5.21.9", 0))
    try:
        yield "127.5.21.9", transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@pytest.mark.parametrize("hostile_agent", ["loop"], indirect=True)
async def test_an_answer_that_loops_ends_the_walk(hostile_agent: tuple[str, int]) -> None:
    host, port = hostile_agent
    h = Headend(headend="loop", host=host, port=port, kind="cmts", credentials="x")
    async with probe_for("x", timeout_s=0.5, retries=0, max_time_s=10.0) as probe:
        reading = await asyncio.wait_for(probe.run(h), 15)
    assert isinstance(reading, HeadendReading), reading
    assert not reading.truncated  # stopped by the loop check, not by the time budget
    assert reading.problems.bad_key >= 1  # row ".1" of cm_status: 7 is no MAC


@pytest.mark.parametrize("hostile_agent", ["mute_after"], indirect=True)
async def test_an_agent_that_goes_silent_mid_walk_keeps_what_came(
    hostile_agent: tuple[str, int],
) -> None:
    host, port = hostile_agent
    h = Headend(headend="mute", host=host, port=port, kind="cmts", credentials="x")
    async with probe_for("x", timeout_s=0.3, retries=0, max_time_s=10.0) as probe:
        reading = await asyncio.wait_for(probe.run(h), 15)
    assert isinstance(reading, HeadendReading), reading
    assert reading.problems.walk_errors >= 1
    assert reading.sys_descr == "hostile"


@pytest.mark.parametrize("hostile_agent", ["garbage"], indirect=True)
async def test_garbage_answers_are_a_probe_error(hostile_agent: tuple[str, int]) -> None:
    host, port = hostile_agent
    h = Headend(headend="junk", host=host, port=port, kind="olt", credentials="x")
    async with probe_for("x", timeout_s=0.3, retries=0) as probe:
        result = await probe.run(h)
    assert isinstance(result, ProbeError) and result.kind == "decode", result


# --- v3, and the agent's side ----------------------------------------------------------

async def test_v3_authpriv_over_pysnmp_reads_the_scalars_and_says_tables_absent() -> None:
    need_binary("snmpd")
    with run_snmpd(["127.5.21.20"]) as agent:
        async with HeadendProbe(snmp_credentials()) as probe:
            h = Headend(headend="v3", host=agent.host, port=agent.port, kind="dslam",
                        credentials="v3")
            reading = await probe.run(h)
            wrong = await probe.run(Headend(
                headend="v3w", host=agent.host, port=agent.port, kind="dslam",
                credentials="v3-wrong-key"))
    assert isinstance(reading, HeadendReading), reading
    assert reading.sys_descr == "linewatch test snmpd"
    assert reading.ports == [] and "vdsl2_band" in reading.absent
    assert isinstance(wrong, ProbeError) and wrong.kind == "auth", wrong


def line(account: str, node: str, technology: str, **kw: object) -> Target:
    return Target(account=account, host="10.0.0.1", technology=technology,  # type: ignore[arg-type]
                  node=node, plan_down_mbps=100, plan_up_mbps=10, **kw)  # type: ignore[arg-type]


def test_lines_are_matched_to_the_headend_of_their_node_and_technology() -> None:
    cmts = Headend(headend="cmts-1", host="h", kind="cmts", nodes=["N1", "N2"])
    dslam = Headend(headend="dslam-1", host="h", kind="dslam", nodes=["N1"])
    other = Headend(headend="cmts-9", host="h", kind="cmts", nodes=[])
    lines = [
        line("A", "N1", "docsis", mac="00:00:00:00:00:0a"),
        line("B", "N2", "docsis", mac="00:00:00:00:00:0b"),
        line("C", "N1", "dsl", headend_port="ADSL-0/1/5"),
        line("D", "N3", "docsis", mac="00:00:00:00:00:0d", headend="cmts-9"),
        line("E", "N1", "gpon", mac="00:00:00:00:00:0e"),  # no OLT on N1
    ]
    index = line_indexes([cmts, dslam, other], lines)
    assert index["cmts-1"].macs == {"00:00:00:00:00:0a": "A", "00:00:00:00:00:0b": "B"}
    assert index["dslam-1"].ports == {"adsl-0/1/5": "C"}
    assert index["cmts-9"].macs == {"00:00:00:00:00:0d": "D"}


async def test_scheduler_poll_ships_one_record_per_headend_with_rows_counted(
    sim: Agent,
) -> None:
    metrics = AgentMetrics()
    async with probe_for("dslam") as probe:
        sched = HeadendScheduler(probe, lambda records: asyncio.sleep(0), metrics,
                                 interval_s=60.0)
        h = headend(sim, "dslam", "dslam", nodes=["N1"])
        sched.set([h], [line("A", "N1", "dsl", headend_port="adsl-0/1/1")])
        record = await sched.poll(h)
    assert (record.account, record.probe) == ("dslam-dslam", "headend")
    assert isinstance(record.result, HeadendReading)
    page = metrics.exposition().decode()
    assert 'linewatch_agent_headend_rows_total{kind="dslam",outcome="matched"} 1.0' in page
    assert 'linewatch_agent_headend_rows_total{kind="dslam",outcome="unmatched"} 2.0' in page
    assert 'linewatch_agent_probes_total{outcome="ok",probe="headend"} 1.0' in page
    assert metrics.headends._value.get() == 1


async def test_the_agent_polls_its_headends_on_their_interval_and_spools_the_reading(
    sim: Agent, tmp_path: Path,
) -> None:
    """AgentDaemon with a local inventory and headends CSV (no collector): the DSLAM
    is polled on its own [headend] interval and its reading lands in the spool as
    a ProbeRecord like any other."""
    from agent.config import parse_config
    from agent.daemon import AgentDaemon
    from probes.model import ProbeRecord

    (tmp_path / "lines.csv").write_text(
        "account,host,technology,node,plan_down_mbps,plan_up_mbps,headend_port\n"
        "L1,127.0.0.1,dsl,N1,20,1,adsl-0/1/1\n")
    (tmp_path / "headends.csv").write_text(
        f"headend,host,kind,nodes,snmp_port,credentials\n"
        f"dslam-1,{sim.host},dslam,N1,{sim.port},dslam\n")
    config = parse_config({
        "agent": {"name": "a1", "collector_url": "http://127.0.0.1:9", "inventory": "lines.csv",
                  "interval_s": 3600, "metrics_listen": "", "spool_path": "spool.db"},
        "snmp": {"timeout_s": 0.5, "retries": 0},
        "ping": {"enabled": False},
        "headend": {"interval_s": 1.0, "inventory": "headends.csv"},
        "credentials": {"dslam": {"community": "dslam"}},
    }, base_dir=tmp_path)
    daemon = AgentDaemon(config)
    await daemon.start()
    try:
        for _ in range(100):  # bounded: up to 10 s for the first poll
            batch = await daemon.spool.next_batch(100)
            bodies = batch.bodies if batch else []
            records = [decode_record(b) for b in bodies]
            found = [r for r in records if r.probe == "headend"]
            if found:
                break
            await asyncio.sleep(0.1)
    finally:
        await daemon.stop()
    assert found, records
    record: ProbeRecord = found[0]
    assert record.account == "dslam-1"
    assert isinstance(record.result, HeadendReading)
    ports = {p.port: p.account for p in record.result.ports}
    assert ports["adsl-0/1/1"] == "L1"
