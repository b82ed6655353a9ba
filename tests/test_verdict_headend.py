"""The headend's view fused with ours (issue 15, part 3, the verdict side).

The CMTS still sees a modem the management network cannot reach, and sees a
modem that never finishes ranging: each case gets the verdict a technician
would sign, with the headend's word in the evidence; one headend poll showing
most of a node offline opens the area outage at once; a headend that does not
answer, or names lines we do not know, changes nobody's verdict.
"""

from __future__ import annotations

from test_verdict_engine import POLL, T0, current, dark, names, poll, targets

from collector.verdicts import Thresholds, VerdictEngine
from probes.model import (
    CmtsModem,
    DslPort,
    HeadendReading,
    OntOptics,
    ProbeError,
    ProbeRecord,
)

TH = Thresholds.default()


def _mac(i: int) -> str:
    return f"00:11:22:33:44:{i:02x}"


def cmts(at: float, statuses: dict[str, str], headend: str = "cmts-1") -> ProbeRecord:
    modems = [CmtsModem(mac=_mac(i), account=a, status=s, us_rx_power_dbmv=-1.5, us_snr_db=36.2)
              for i, (a, s) in enumerate(sorted(statuses.items()))]
    return ProbeRecord(account=headend, probe="headend", started_at=at, duration_s=0.5,
                       result=HeadendReading(headend=headend, kind="cmts", modems=modems))


def _engine(n: int = 10) -> tuple[VerdictEngine, list[str]]:
    ts = targets("N-7", n)
    engine = VerdictEngine(TH, ts)
    accts = names(ts)
    for k in range(3):
        engine.observe(poll(accts, T0 + k * POLL), T0 + k * POLL + 5)
    return engine, accts


def _facts(engine: VerdictEngine, account: str) -> dict[str, object]:
    v = engine.verdict(account)
    assert v is not None
    return {e.fact: e.value for e in v.evidence}


def test_cmts_operational_while_dark_to_us_is_the_management_path_not_the_modem() -> None:
    engine, accts = _engine()
    at = T0 + 3 * POLL
    engine.observe(dark(accts[:1], at) + poll(accts[1:], at)
                   + [cmts(at + 10, dict.fromkeys(accts, "operational"))], at + 15)
    v = engine.verdict(accts[0])
    assert v is not None and v.verdict == "unknown", v
    facts = _facts(engine, accts[0])
    assert facts["headend_status"] == "operational"
    assert facts["management_path"] == "failing"
    assert facts["headend_us_rx_power_dbmv"] == -1.5
    assert "management path" in v.action and "Don't dispatch or ship" in v.action
    summary = next(s for s in engine.node_summaries() if s.node == "N-7")
    assert summary.counts.get("equipment_fault", 0) == 0 and not summary.plant_faults


def test_cmts_ranging_is_a_line_fault_and_offline_with_clean_history_is_the_modem() -> None:
    engine, accts = _engine()
    at = T0 + 3 * POLL
    statuses = dict.fromkeys(accts, "operational")
    statuses[accts[0]] = "rangingAborted"
    engine.observe(dark(accts[:1], at) + poll(accts[1:], at) + [cmts(at + 10, statuses)], at + 15)
    v = engine.verdict(accts[0])
    assert v is not None and v.verdict == "line_fault", v
    assert _facts(engine, accts[0])["headend_registration"] == "incomplete"
    assert "don't ship a modem" in v.action

    at += POLL
    statuses[accts[0]] = "other"  # gone from the CMTS's view: not registered at all
    engine.observe(dark(accts[:1], at) + poll(accts[1:], at) + [cmts(at + 10, statuses)], at + 15)
    v = engine.verdict(accts[0])
    assert v is not None and v.verdict == "equipment_fault", v
    facts = _facts(engine, accts[0])
    assert facts["headend_status"] == "other" and facts["pre_dark_history"] == "clean"
    assert "power first" in v.action


def test_one_headend_poll_showing_most_of_a_node_offline_opens_the_outage() -> None:
    engine, accts = _engine(10)
    at = T0 + 3 * POLL + 20  # before the next modem poll: only the CMTS knows
    statuses = {a: ("other" if i < 7 else "operational") for i, a in enumerate(accts)}
    out = engine.observe([cmts(at, statuses)], at + 1)
    assert [s.outage for s in out.node_states] == [True]
    assert set(current(engine, accts).values()) == {"area_outage"}


def test_dslam_port_down_and_olt_ont_offline_count_as_dark() -> None:
    for tech, kind, row in (
        ("dsl", "dslam", lambda a: DslPort(port="1/1/1", if_index=101, account=a, state="down",
                                           snr_margin_up_db=3.0)),
        ("gpon", "olt", lambda a: OntOptics(ont="0/1:3", account=a, state="offline")),
    ):
        ts = targets("N-8", 10, technology=tech)
        engine = VerdictEngine(TH, ts)
        accts = names(ts)
        at = T0
        result = HeadendReading(headend="h1", kind=kind,  # type: ignore[arg-type]
                                ports=[row(a) for a in accts[:6]] if kind == "dslam" else [],
                                onts=[row(a) for a in accts[:6]] if kind == "olt" else [])
        engine.observe([ProbeRecord(account="h1", probe="headend", started_at=at,
                                    duration_s=0.1, result=result)], at + 1)
        assert {current(engine, accts)[a] for a in accts} == {"area_outage"}, tech


def test_a_dark_headend_or_unknown_lines_change_no_verdict() -> None:
    engine, accts = _engine()
    before = current(engine, accts)
    at = T0 + 3 * POLL
    err = ProbeRecord(account="cmts-1", probe="headend", started_at=at, duration_s=2.0,
                      result=ProbeError(kind="timeout", message="no answer"))
    ghosts = cmts(at + 1, {"NOT-IN-INVENTORY-1": "other", "NOT-IN-INVENTORY-2": "other"})
    out = engine.observe([err, ghosts], at + 5)
    assert out.verdicts == [] and current(engine, accts) == before
    assert engine.headend_errors == 1 and engine.headend_unmatched == 2
