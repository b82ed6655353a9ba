"""The DOCSIS profile collects the modem's pre-equalizer and the reading carries
its decoded summary (``DocsisLine.pre_eq``): from raw walked values, and over
real SNMP from snmpsim serving the shared Thomson recording and a DOCSIS 3.0
modem written here. Expected figures are worked out in tests/test_pnm.py."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import shared_path
from peers import Agent, run_snmpsim

from probes.model import DocsisLine, SnmpReading, Target
from probes.snmp.probe import SnmpCredentials, SnmpProbe
from probes.snmp.profiles import load_profiles
from probes.snmp.reading import build_reading

CM_EQ = "1.3.6.1.2.1.10.127.1.2.2.1.17"  # docsIfCmStatusEqualizationData
US_EQ = "1.3.6.1.4.1.4491.2.1.20.1.2.1.6"  # docsIf3CmStatusUsEqData
US_WIDTH = "1.3.6.1.2.1.10.127.1.1.2.1.3"  # docsIfUpChannelWidth


def blob(taps: list[tuple[int, int]], main: int) -> bytes:
    return bytes([main, 1, len(taps), 0]) + b"".join(struct.pack(">hh", *t) for t in taps)


# Main tap 8 = (2000, 0), echo 3 taps later (200, 0): -20 dBc, 585.9375 ns at
# 5.12 Msym/s (76.41 m at velocity factor 0.87); see tests/test_pnm.py.
ECHO = blob([(0, 0)] * 7 + [(2000, 0), (0, 0), (0, 0), (200, 0)] + [(0, 0)] * 13, 8)
UNITY = blob([(0, 0)] * 7 + [(2047, 0)] + [(0, 0)] * 16, 8)


# --- from walked values ------------------------------------------------------------------


def test_per_channel_pre_eq_with_the_channel_width() -> None:
    profile = load_profiles()["docsis"]
    raw = {
        "upstream": {"width_hz": {(4,): 6_400_000, (5,): 3_200_000}},
        "us_tx_power": {
            "tx_power_dbmv": {(4,): 452, (5,): 455},
            "eq_data": {(4,): ECHO, (5,): ECHO, (6,): b"\x08\x01"},
        },
        "cm_status": {"eq_data": {(2,): UNITY}},  # ignored: per-channel data is there
    }
    line = build_reading(profile, {}, raw).line
    assert isinstance(line, DocsisLine) and line.pre_eq is not None
    ch4, ch5, ch6 = line.pre_eq
    assert (ch4.index, ch4.source, ch4.echo_dbc, ch4.echo_delay_ns) == (4, "us", -20.0, 585.938)
    assert (ch4.symbol_rate_sps, ch4.symbol_rate_assumed) == (5.12e6, False)
    # 3.2 MHz -> 2.56 Msym/s: the same 3 taps are twice the delay and distance.
    assert (ch5.symbol_rate_sps, ch5.echo_delay_ns, ch5.echo_distance_m) == (
        2.56e6, 1171.875, 152.824
    )
    assert (ch6.index, ch6.error, ch6.mtr_db) == (6, "short", None)


def test_docsis_2_modem_wide_pre_eq_on_its_one_upstream() -> None:
    profile = load_profiles()["docsis"]
    one = {
        "upstream": {"frequency_hz": {(4,): 36_000_000}},  # width not published
        "cm_status": {"eq_data": {(2,): ECHO}},
    }
    line = build_reading(profile, {}, one).line
    assert isinstance(line, DocsisLine) and line.pre_eq is not None
    [s] = line.pre_eq
    assert (s.index, s.source, s.echo_dbc, s.symbol_rate_assumed) == (4, "cm", -20.0, True)
    # no upstream table at all (the recordings): index 0, "the modem's one upstream"
    bare = build_reading(profile, {}, {"cm_status": {"eq_data": {(2,): UNITY}}}).line
    assert isinstance(bare, DocsisLine) and bare.pre_eq is not None
    assert (bare.pre_eq[0].index, bare.pre_eq[0].mtr_db) == (0, 100.0)
    # a modem without equalizer data: the field stays absent
    none = build_reading(profile, {}, {"cm_status": {"cm_status": {(2,): 12}}}).line
    assert isinstance(none, DocsisLine) and none.pre_eq is None
    # a value of the wrong SNMP type is a missing value, not a crash
    odd = build_reading(profile, {}, {"cm_status": {"eq_data": {(2,): 42}}}).line
    assert isinstance(odd, DocsisLine) and odd.pre_eq is None


# --- over SNMP, from snmpsim -------------------------------------------------------------

DOCSIS30_REC = f"""\
1.3.6.1.2.1.1.1.0|4|Test cable modem DOCSIS 3.0 with pre-equalization
1.3.6.1.2.1.1.3.0|67|100
1.3.6.1.2.1.2.2.1.2.2|4|cable-mac
1.3.6.1.2.1.2.2.1.3.2|2|127
1.3.6.1.2.1.10.127.1.1.2.1.2.4|2|36000000
1.3.6.1.2.1.10.127.1.1.2.1.2.5|2|29400000
{US_WIDTH}.4|2|6400000
{US_WIDTH}.5|2|3200000
1.3.6.1.2.1.10.127.1.2.2.1.1.2|2|12
1.3.6.1.4.1.4491.2.1.20.1.2.1.1.4|2|452
1.3.6.1.4.1.4491.2.1.20.1.2.1.1.5|2|455
{US_EQ}.4|4x|{ECHO.hex()}
{US_EQ}.5|4x|{UNITY.hex()}
"""


def repaired(text: str) -> str:
    """The recording with its docsIfCmStatusEqualizationData as the modem sent it:
    the hex-dump text after its first 16 octets parsed back (tests/test_pnm.py)."""
    out = []
    for line in text.splitlines():
        oid, tag, value = line.split("|", 2)
        if oid == f"{CM_EQ}.2":
            raw = bytes.fromhex(value)
            value = (raw[:16] + bytes.fromhex(raw[16:].decode("ascii"))).hex()
        out.append(f"{oid}|{tag}|{value}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def sim() -> Iterator[Agent]:
    thomson = shared_path("snmprec", "librenms-thomson-cm.snmprec")
    with tempfile.TemporaryDirectory() as tmp:
        fixed, d30 = Path(tmp, "fixed.snmprec"), Path(tmp, "d30.snmprec")
        fixed.write_text(repaired(thomson.read_text()))
        d30.write_text(DOCSIS30_REC)
        recordings = {"thomson": thomson, "fixed": fixed, "d30": d30}
        with run_snmpsim(recordings, ["127.5.9.15"]) as agent:
            yield agent


async def poll_both_ways(agent: Agent, community: str) -> DocsisLine:
    """The targeted collection (what the agent runs) and the plain walk agree."""
    target = Target(
        account=f"a-{community}", host=agent.host, port=agent.port, technology="docsis",
        node="n1", plan_down_mbps=100.0, plan_up_mbps=10.0, credentials=community,
    )
    readings = []
    for targeted in (True, False):
        async with SnmpProbe({community: SnmpCredentials(community=community)}) as probe:
            probe.targeted = targeted
            readings.append(await probe.run(target))
    assert isinstance(readings[0], SnmpReading), readings[0]
    assert readings[0] == readings[1]
    line = readings[0].line
    assert isinstance(line, DocsisLine)
    return line


async def test_thomson_recording_as_served_reports_why_it_cannot_be_decoded(sim: Agent) -> None:
    line = await poll_both_ways(sim, "thomson")
    # No upstream table in the recording: the modem-wide value, index 0.
    assert line.pre_eq is not None
    [s] = line.pre_eq
    assert (s.index, s.source, s.error) == (0, "cm", "length")
    assert s.error_detail is not None and "100 octets" in s.error_detail
    assert "273" in s.error_detail
    assert line.upstream[0].tx_power_dbmv == 31.2  # the rest of the reading is unchanged


async def test_thomson_recording_repaired_carries_the_decoded_summary(sim: Agent) -> None:
    line = await poll_both_ways(sim, "fixed")
    assert line.pre_eq is not None
    [s] = line.pre_eq
    # 24 taps, main tap 1 = (2047, 0), all others 0: no non-main energy, no echo.
    assert (s.index, s.source, s.error, s.taps, s.main_tap) == (0, "cm", None, 24, 1)
    assert (s.mtr_db, s.nmter_db, s.mtc_db, s.echo_dbc) == (100.0, -100.0, 0.0, None)
    assert (s.symbol_rate_sps, s.symbol_rate_assumed, s.velocity_factor) == (5.12e6, True, 0.87)


async def test_docsis30_modem_pre_eq_per_upstream_channel(sim: Agent) -> None:
    line = await poll_both_ways(sim, "d30")
    assert line.pre_eq is not None
    ch4, ch5 = line.pre_eq
    assert (ch4.index, ch4.source, ch4.echo_offset, ch4.echo_dbc) == (4, "us", 3, -20.0)
    assert (ch4.echo_delay_ns, ch4.echo_distance_m, ch4.symbol_rate_assumed) == (
        585.938, 76.412, False
    )
    assert (ch5.index, ch5.mtr_db, ch5.echo_dbc, ch5.symbol_rate_sps) == (5, 100.0, None, 2.56e6)
    assert [u.tx_power_dbmv for u in line.upstream] == [45.2, 45.5]
