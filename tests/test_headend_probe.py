"""The headend probe against real SNMP agents (issue 15, part 3).

snmpsim serves the real Arris C3 CMTS recording from ../shared/headend-snmprec
(read right: its upstream signal-quality rows; its missing per-modem table is
reported as absent, not as garbage) and a synthetic CMTS of 300 modems whose
expected rows are computed from the same numbers the data file was written
from; the inventory CSV gains mac/headend columns while old CSVs stay valid.
"""

from __future__ import annotations

import asyncio

import pytest
from headend_snmprec import synthetic_cmts
from needs import shared_path
from peers import run_snmpsim

from probes.inventory import InventoryError, parse_headends, parse_inventory_document
from probes.model import Headend, HeadendReading
from probes.snmp.credentials import SnmpCredentials
from probes.snmp.headend import HeadendProbe, LineIndex

HOST = "127.0.0.1"


def _poll(port: int, community: str, lines: LineIndex | None = None) -> object:
    async def main() -> object:
        creds = {"default": SnmpCredentials(community=community)}
        async with HeadendProbe(creds, timeout_s=2.0) as probe:
            return await probe.run(
                Headend(headend="cmts-1", host=HOST, kind="cmts", port=port), lines)

    return asyncio.run(main())


def test_the_real_arris_c3_recording_is_read_right() -> None:
    path = shared_path("headend-snmprec", "librenms-arris-c3.snmprec")
    with run_snmpsim({"arris": path}, [HOST]) as sim:
        reading = _poll(sim.port, "arris")
    assert isinstance(reading, HeadendReading), reading
    snr = {u.index: u.snr_db for u in reading.upstreams if u.snr_db}
    # docsIfSigQSignalNoise 269 / 281 (TenthdB) on the two active logical channels.
    assert sorted(snr.values()) == [26.9, 28.1], snr
    assert len(reading.upstreams) == 6
    assert reading.modems == []  # no docsIfCmtsCmStatusTable in this recording ...
    assert reading.absent, reading  # ... and it says so
    assert "Arris" in (reading.sys_descr or "") or "C3" in (reading.sys_descr or "")


def test_a_synthetic_cmts_of_300_modems_is_read_row_for_row() -> None:
    cmts = synthetic_cmts(300)
    ours = [m.mac for m in cmts.modems][::3]  # 100 of its 300 modems are in our inventory
    lines = LineIndex(macs={mac: f"ACC-{i:05d}" for i, mac in enumerate(ours)}, ports={})
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "cmts.snmprec")
        data.write_text(cmts.text)
        with run_snmpsim({"cmts": data}, [HOST]) as sim:
            reading = _poll(sim.port, "cmts", lines)
    assert isinstance(reading, HeadendReading), reading
    assert not reading.truncated
    got = {m.mac: m for m in reading.modems}
    assert len(got) == 300
    for want in cmts.modems:
        m = got[want.mac]
        assert (m.status, m.reg_status, m.us_rx_power_dbmv, m.us_snr_db) == (
            want.status, want.reg_status, want.us_rx_power_dbmv, want.us_snr_db), want.mac
        assert m.account == lines.macs.get(want.mac)
    assert reading.problems.unmatched == 200  # rows on this CMTS not in our inventory


def test_inventory_csv_grows_mac_and_headend_and_old_csvs_stay_valid() -> None:
    old = ("account,host,technology,node,plan_down_mbps,plan_up_mbps\n"
           "A1,127.0.0.1,docsis,N1,100,10\n")
    doc = parse_inventory_document(old)
    assert [t.account for t in doc.targets] == ["A1"] and doc.targets[0].mac is None
    new = ("account,host,technology,node,plan_down_mbps,plan_up_mbps,mac,headend\n"
           "A1,127.0.0.1,docsis,N1,100,10,00-11-22-AA-BB-CC,cmts-1\n")
    t = parse_inventory_document(new).targets[0]
    assert (t.mac, t.headend) == ("00:11:22:aa:bb:cc", "cmts-1")
    with pytest.raises(InventoryError, match="line 2"):
        parse_inventory_document(new.replace("00-11-22-AA-BB-CC", "not-a-mac"))
    heads = parse_headends("headend,host,kind,nodes\ncmts-1,127.0.0.1,cmts,N1 N2\n")
    assert heads[0].kind == "cmts" and heads[0].nodes == ["N1", "N2"]
