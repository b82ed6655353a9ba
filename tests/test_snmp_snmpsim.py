"""SnmpProbe against snmpsim serving recordings: snmpsim's bundled real Linux
walk, DOCSIS/DSL recordings written here (served by the real simulator over
UDP), and every recording in ../shared/snmprec when that folder is present.
Expected values are parsed from the .snmprec text, never from the probe."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import shared_path
from peers import Agent, run_snmpsim, snmpsim_recordings

from probes.model import DocsisLine, DslLine, GponLine, SnmpReading, Target
from probes.snmp.probe import SnmpCredentials, SnmpProbe

DS_POWER = "1.3.6.1.2.1.10.127.1.1.1.1.6."
DS_FREQ = "1.3.6.1.2.1.10.127.1.1.1.1.2."
SIGQ_SNR = "1.3.6.1.2.1.10.127.1.1.4.1.5."
ATUR_SNR = "1.3.6.1.2.1.10.94.1.1.3.1.4."
ATUR_ATN = "1.3.6.1.2.1.10.94.1.1.3.1.5."

DOCSIS_REC = """\
1.3.6.1.2.1.1.1.0|4|Test cable modem DOCSIS 3.0
1.3.6.1.2.1.1.3.0|67|8640000
1.3.6.1.2.1.2.2.1.2.2|4|cable-mac
1.3.6.1.2.1.2.2.1.2.3|4|cable-downstream
1.3.6.1.2.1.2.2.1.2.4|4|cable-upstream
1.3.6.1.2.1.2.2.1.2.5|4|eth0
1.3.6.1.2.1.2.2.1.3.2|2|127
1.3.6.1.2.1.2.2.1.3.3|2|128
1.3.6.1.2.1.2.2.1.3.4|2|129
1.3.6.1.2.1.2.2.1.3.5|2|6
1.3.6.1.2.1.2.2.1.8.2|2|1
1.3.6.1.2.1.2.2.1.8.5|2|2
1.3.6.1.2.1.10.127.1.1.1.1.2.3|2|591000000
1.3.6.1.2.1.10.127.1.1.1.1.2.48|2|597000000
1.3.6.1.2.1.10.127.1.1.1.1.6.3|2|-35
1.3.6.1.2.1.10.127.1.1.1.1.6.48|4|not-a-number
1.3.6.1.2.1.10.127.1.1.2.1.2.4|2|36000000
1.3.6.1.2.1.10.127.1.1.4.1.3.3|65|120
1.3.6.1.2.1.10.127.1.1.4.1.4.3|65|7
1.3.6.1.2.1.10.127.1.1.4.1.5.3|2|385
1.3.6.1.2.1.10.127.1.1.4.1.5.48|2|301
1.3.6.1.2.1.10.127.1.1.4.1.9.3|70|12345678901
1.3.6.1.2.1.10.127.1.1.4.1.10.3|70|18446744073709551615
1.3.6.1.2.1.10.127.1.2.2.1.1.2|2|12
1.3.6.1.2.1.10.127.1.2.2.1.3.2|2|470
1.3.6.1.2.1.10.127.1.2.2.1.12.2|65|3
1.3.6.1.2.1.10.127.1.2.2.1.13.2|65|0
1.3.6.1.4.1.4491.2.1.20.1.2.1.1.4|2|452
"""

DSL_REC = """\
1.3.6.1.2.1.1.1.0|4|Test ADSL2+ router
1.3.6.1.2.1.1.3.0|67|100
1.3.6.1.2.1.2.2.1.2.1|4|dsl0
1.3.6.1.2.1.2.2.1.3.1|2|94
1.3.6.1.2.1.10.94.1.1.2.1.4.1|2|95
1.3.6.1.2.1.10.94.1.1.2.1.5.1|66|121
1.3.6.1.2.1.10.94.1.1.3.1.4.1|2|123
1.3.6.1.2.1.10.94.1.1.3.1.5.1|66|245
1.3.6.1.2.1.10.94.1.1.4.1.2.1|66|1024000
1.3.6.1.2.1.10.94.1.1.5.1.2.1|66|16000000
1.3.6.1.2.1.10.94.1.1.11.1.3.1|65|400
1.3.6.1.2.1.10.94.1.1.11.1.4.1|65|17
"""

GPON_REC = """\
1.3.6.1.2.1.1.1.0|4|Test GPON ONT
1.3.6.1.2.1.1.3.0|67|500
1.3.6.1.2.1.2.2.1.2.1|4|pon0
1.3.6.1.2.1.2.2.1.3.1|2|250
1.3.6.1.2.1.47.1.1.1.1.2.10|4|PON Rx Power
1.3.6.1.2.1.47.1.1.1.1.2.11|4|PON Transmit Power
1.3.6.1.2.1.47.1.1.1.1.2.12|4|Rx laser temperature
1.3.6.1.2.1.99.1.1.1.1.10|2|14
1.3.6.1.2.1.99.1.1.1.1.11|2|14
1.3.6.1.2.1.99.1.1.1.1.12|2|8
1.3.6.1.2.1.99.1.1.1.3.10|2|2
1.3.6.1.2.1.99.1.1.1.3.11|2|1
1.3.6.1.2.1.99.1.1.1.3.12|2|0
1.3.6.1.2.1.99.1.1.1.4.10|2|-1850
1.3.6.1.2.1.99.1.1.1.4.11|2|23
1.3.6.1.2.1.99.1.1.1.4.12|2|41
"""


def parse_snmprec(text: str) -> dict[str, tuple[str, str]]:
    """oid -> (tag, value) from snmpsim's `oid|tag|value` lines."""
    out = {}
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            out[parts[0]] = (parts[1], parts[2])
    return out


def target(agent: Agent, community: str, technology: str) -> Target:
    return Target(
        account=f"a-{community}",
        host=agent.host,
        port=agent.port,
        technology=technology,
        node="n1",
        plan_down_mbps=100,  # type: ignore[arg-type]
        plan_up_mbps=10,
        credentials=community,
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[Agent]:
    with tempfile.TemporaryDirectory() as tmp:
        docsis, dsl = Path(tmp, "docsis.snmprec"), Path(tmp, "dsl.snmprec")
        gpon = Path(tmp, "gpon.snmprec")
        docsis.write_text(DOCSIS_REC)
        dsl.write_text(DSL_REC)
        gpon.write_text(GPON_REC)
        recordings = {
            "linux": snmpsim_recordings() / "linux-full-walk.snmprec",
            "docsis": docsis,
            "dsl": dsl,
            "gpon": gpon,
        }
        with run_snmpsim(recordings, ["127.5.9.1"]) as agent:
            yield agent


def probe_for(*communities: str) -> SnmpProbe:
    return SnmpProbe({c: SnmpCredentials(community=c) for c in communities}, timeout_s=2.0)


async def test_linux_recording_values_come_through(sim: Agent) -> None:
    rec = parse_snmprec((snmpsim_recordings() / "linux-full-walk.snmprec").read_text())
    async with probe_for("linux") as probe:
        reading = await probe.run(target(sim, "linux", "ethernet"))
    assert isinstance(reading, SnmpReading), reading
    assert reading.sys_descr == rec["1.3.6.1.2.1.1.1.0"][1]
    assert reading.sys_uptime_s == int(rec["1.3.6.1.2.1.1.3.0"][1]) / 100
    names = {
        k.rsplit(".", 1)[1]: v for k, (_, v) in rec.items() if k.startswith("1.3.6.1.2.1.2.2.1.2.")
    }
    lan = {i for i in names if rec[f"1.3.6.1.2.1.2.2.1.3.{i}"][1] == "6"}  # ethernetCsmacd
    assert lan and len(lan) < len(names)  # the readings keep LAN/WAN interfaces only
    assert {str(i.index): i.name for i in reading.interfaces} == {i: names[i] for i in lan}
    eth0 = next(i for i in reading.interfaces if i.name == "eth0")
    assert eth0.role == "lan"  # ifType 6
    assert eth0.in_octets == int(rec[f"1.3.6.1.2.1.31.1.1.1.6.{eth0.index}"][1])
    assert eth0.oper_up is (rec[f"1.3.6.1.2.1.2.2.1.8.{eth0.index}"][1] == "1")


async def test_docsis_recording_scaled_and_joined(sim: Agent) -> None:
    async with probe_for("docsis") as probe:
        reading = await probe.run(target(sim, "docsis", "docsis"))
    assert isinstance(reading, SnmpReading), reading
    line = reading.line
    assert isinstance(line, DocsisLine)
    ch3, ch48 = line.downstream
    assert (ch3.index, ch3.frequency_hz, ch3.power_dbmv, ch3.snr_db) == (3, 591000000, -3.5, 38.5)
    assert ch3.corrected == 12345678901  # Counter64 Ext column preferred
    assert ch3.uncorrectable == 7  # Ext is 2**64-1 (> 2**63-1): falls back to Counter32
    assert (ch48.power_dbmv, ch48.snr_db) == (None, 30.1)  # wrong type -> missing
    [us] = line.upstream
    assert (us.index, us.frequency_hz, us.tx_power_dbmv) == (4, 36000000, 45.2)
    assert (line.cm_status, line.t3_timeouts, line.t4_timeouts) == (12, 3, 0)
    roles = {i.name: i.role for i in reading.interfaces}
    assert roles == {"cable-mac": "wan", "eth0": "lan"}  # channel interfaces left out
    assert reading.sys_uptime_s == 86400.0
    async with probe_for("docsis") as probe:  # the full walk reads the same
        probe.targeted = False
        assert await probe.run(target(sim, "docsis", "docsis")) == reading


async def test_dsl_recording_scaled(sim: Agent) -> None:
    async with probe_for("dsl") as probe:
        reading = await probe.run(target(sim, "dsl", "dsl"))
    assert isinstance(reading, SnmpReading), reading
    assert reading.line == DslLine(
        snr_margin_down_db=12.3,
        snr_margin_up_db=9.5,
        attenuation_down_db=24.5,
        attenuation_up_db=12.1,
        sync_down_kbps=16000.0,
        sync_up_kbps=1024.0,
        crc_errors=17,
        fec_errors=400,
    )
    assert reading.interfaces[0].role == "wan"


async def test_gpon_levels_from_entity_sensor_dbm_sensors(sim: Agent) -> None:
    async with probe_for("gpon") as probe:
        reading = await probe.run(target(sim, "gpon", "gpon"))
    assert isinstance(reading, SnmpReading), reading
    # dBm(14) sensors only; value x 10**-precision; the celsius sensor is ignored
    assert reading.line == GponLine(rx_power_dbm=-18.5, tx_power_dbm=2.3)
    assert reading.interfaces[0].role == "wan"  # ifType gpon(250)


async def test_every_shared_recording_decodes_with_the_right_scaling() -> None:
    folder = shared_path("snmprec")
    files = sorted(folder.glob("**/*.snmprec"))[:200]
    if not files:
        pytest.skip(f"no .snmprec files in {folder}")
    recordings = {f"rec{i}": path for i, path in enumerate(files)}
    checked = 0
    with run_snmpsim(recordings, ["127.5.9.2"]) as agent:
        async with probe_for(*recordings) as probe:
            for community, path in recordings.items():
                rec = parse_snmprec(path.read_text(errors="replace"))
                docsis = [k for k in rec if k.startswith(DS_POWER) and rec[k][0] == "2"]
                dsl = [k for k in rec if k.startswith(ATUR_SNR) and rec[k][0] == "2"]
                technology = "docsis" if docsis else "dsl" if dsl else "ethernet"
                reading = await probe.run(target(agent, community, technology))
                assert isinstance(reading, SnmpReading), (path, reading)
                if docsis:
                    index = docsis[0][len(DS_POWER) :]
                    [row] = [
                        c
                        for c in reading.line.downstream  # type: ignore[union-attr]
                        if c.index == int(index.split(".")[-1])
                    ]
                    assert row.power_dbmv == pytest.approx(int(rec[docsis[0]][1]) / 10)
                    snr = rec.get(SIGQ_SNR + index)
                    if snr and snr[0] == "2":
                        assert row.snr_db == pytest.approx(int(snr[1]) / 10)
                    checked += 1
                elif dsl:
                    line = reading.line
                    assert isinstance(line, DslLine)
                    assert line.snr_margin_down_db == pytest.approx(int(rec[dsl[0]][1]) / 10)
                    checked += 1
    assert checked or os.environ.get("LINEWATCH_ALLOW_NO_LINE_RECORDINGS"), (
        f"no DOCSIS/DSL recording among {len(files)} files in {folder}"
    )
