"""Verdicts from recordings of devices: snmpsim serves each .snmprec over real
UDP, SnmpProbe polls it twice, the verdict engine judges the sequence.

The recordings written here tell fixed stories (good line, LAN port down, SNR
drop, low DSL margin). Every recording in ../shared/snmprec (real devices;
beside the project, never in it) is judged too, when that folder is present:
the expected verdict there comes from the recording's own text read against
the default thresholds, never from the probe or the engine.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import shared_path
from peers import Agent, run_snmpsim
from test_snmp_snmpsim import (
    ATUR_ATN,
    ATUR_SNR,
    DOCSIS_REC,
    DS_POWER,
    DSL_REC,
    GPON_REC,
    SIGQ_SNR,
    parse_snmprec,
    probe_for,
)

from collector.model import Verdict
from collector.verdicts import Thresholds, VerdictEngine
from collector.verdicts.rules import snr_needed_db
from probes.model import ProbeRecord, Target

T0 = 1_800_000_000.0
IF_OPER = "1.3.6.1.2.1.2.2.1.8.5"  # eth0's ifOperStatus in DOCSIS_REC

# Each story: recording text, technology, expected verdict, facts its evidence must name.
STORIES: dict[str, tuple[str, str, str, set[str]]] = {
    "docsis-good": (DOCSIS_REC.replace(f"{IF_OPER}|2|2", f"{IF_OPER}|2|1"), "docsis", "ok", set()),
    "docsis-lan-down": (DOCSIS_REC, "docsis", "equipment_fault", {"lan_oper_up"}),
    "docsis-snr-drop": (
        DOCSIS_REC.replace(f"{SIGQ_SNR}3|2|385", f"{SIGQ_SNR}3|2|250"),
        "docsis",
        "line_fault",
        {"ds_snr_db"},
    ),
    "dsl-good": (DSL_REC, "dsl", "ok", set()),
    "dsl-low-margin": (
        DSL_REC.replace(f"{ATUR_SNR}1|2|123", f"{ATUR_SNR}1|2|45"),
        "dsl",
        "line_fault",
        {"dsl_snr_margin_down_db"},
    ),
    "gpon-good": (GPON_REC, "gpon", "ok", set()),
}


def target(agent: Agent, community: str, technology: str, node: str = "N1") -> Target:
    return Target(
        account=community,
        host=agent.host,
        port=agent.port,
        technology=technology,  # type: ignore[arg-type]
        node=node,
        plan_down_mbps=100,
        plan_up_mbps=10,
        credentials=community,
    )


async def judge(agent: Agent, targets: list[Target]) -> dict[str, Verdict]:
    """Two polls one second apart (counter rules need a previous reading)."""
    engine = VerdictEngine(Thresholds.default(), targets)
    async with probe_for(*(t.credentials for t in targets if t.credentials)) as probe:
        for k in range(2):
            at = T0 + k
            records = [
                ProbeRecord(
                    account=t.account,
                    probe="snmp",
                    started_at=at,
                    duration_s=0.0,
                    result=await probe.run(t),
                )
                for t in targets
            ]
            engine.observe(records, at + 0.5)
    out = {}
    for t in targets:
        verdict = engine.verdict(t.account)
        assert verdict is not None, t.account
        out[t.account] = verdict
    return out


@pytest.fixture(scope="module")
def stories() -> Iterator[Agent]:
    with tempfile.TemporaryDirectory() as tmp:
        recordings = {}
        for name, (text, *_rest) in STORIES.items():
            recordings[name] = Path(tmp, f"{name}.snmprec")
            recordings[name].write_text(text)
        with run_snmpsim(recordings, ["127.5.9.3"]) as agent:
            yield agent


async def test_recorded_devices_get_the_verdict_their_story_says(stories: Agent) -> None:
    targets = [target(stories, name, tech) for name, (_, tech, _, _) in STORIES.items()]
    verdicts = await judge(stories, targets)
    for name, (_, _, expected, facts) in STORIES.items():
        v = verdicts[name]
        assert v.verdict == expected, (name, v.evidence)
        assert facts <= {e.fact for e in v.evidence}, (name, v.evidence)
        assert v.action and v.customer_message, name
    [snr] = [e for e in verdicts["docsis-snr-drop"].evidence if e.fact == "ds_snr_db"]
    assert (snr.value, snr.threshold, snr.detail) == (25.0, ">= 30", "downstream channel 3")


def out_of_spec(rec: dict[str, tuple[str, str]], th: Thresholds) -> set[str]:
    """Facts the recording's own values put outside the default thresholds."""
    facts = set()
    d, s = th.docsis, th.dsl
    for oid, (tag, value) in rec.items():
        if tag != "2":  # Integer32 only; other tags are not levels
            continue
        if oid.startswith(DS_POWER):
            power = int(value) / 10
            if not d.ds_power_min_dbmv <= power <= d.ds_power_max_dbmv:
                facts.add("ds_power_dbmv")
        elif oid.startswith(SIGQ_SNR):
            power_rec = rec.get(DS_POWER + oid[len(SIGQ_SNR) :])
            power = int(power_rec[1]) / 10 if power_rec and power_rec[0] == "2" else None
            if int(value) / 10 < snr_needed_db(power, d):
                facts.add("ds_snr_db")
        elif oid.startswith(ATUR_SNR) and int(value) / 10 <= s.snr_margin_bad_at_or_below_db:
            facts.add("dsl_snr_margin_down_db")
    for oid, (tag, value) in rec.items():
        attenuation = oid.startswith(ATUR_ATN) and tag in ("2", "66")
        if attenuation and int(value) / 10 > s.attenuation_max_db:
            facts.add("dsl_attenuation_down_db")
    return facts


async def test_every_shared_recording_is_judged_from_its_own_levels() -> None:
    """A real device alone on its node: never an outage, never unknown; levels
    the recording puts out of spec make it a line fault naming them."""
    folder = shared_path("snmprec")
    files = sorted(folder.glob("**/*.snmprec"))[:200]
    if not files:
        pytest.skip(f"no .snmprec files in {folder}")
    th = Thresholds.default()
    recordings = {f"rec{i}": path for i, path in enumerate(files)}
    texts = {c: parse_snmprec(p.read_text(errors="replace")) for c, p in recordings.items()}
    with run_snmpsim(recordings, ["127.5.9.4"]) as agent:
        targets = []
        for i, (community, rec) in enumerate(texts.items()):
            docsis = any(k.startswith(DS_POWER) for k in rec)
            dsl = any(k.startswith(ATUR_SNR) for k in rec)
            tech = "docsis" if docsis else "dsl" if dsl else "ethernet"
            # one node per recording: each device alone cannot make an outage
            targets.append(target(agent, community, tech, node=f"N{i}"))
        verdicts = await judge(agent, targets)
    for community, v in verdicts.items():
        where = (recordings[community], v.verdict, v.evidence)
        assert v.verdict not in ("area_outage", "unknown", "degraded"), where
        expected = out_of_spec(texts[community], th)
        if expected:
            assert v.verdict == "line_fault", where
            assert expected <= {e.fact for e in v.evidence}, where
