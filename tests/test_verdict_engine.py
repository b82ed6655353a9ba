"""Verdict engine scenarios: sequences of ProbeRecords in, verdicts/events/node flags out.

Each test tells one story from DESIGN.md ("node N-3 goes dark -> every account
on it is area_outage, none is equipment_fault") with the clock passed in
explicitly, so the outcome depends on the records and thresholds only.
"""

from __future__ import annotations

from collections.abc import Iterable

from collector.model import Verdict
from collector.verdicts import EngineOutput, Thresholds, VerdictEngine
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    DslLine,
    InterfaceStatus,
    PingResult,
    ProbeError,
    ProbeRecord,
    Result,
    SnmpReading,
    Target,
    ThroughputResult,
    UpstreamChannel,
)

POLL = 300.0
T0 = 1_800_000_000.0  # a fixed wall-clock time (2027-01-15)


def targets(node: str, n: int, *, technology: str = "docsis", plan: float = 100.0) -> list[Target]:
    return [
        Target(
            account=f"{node}-A{i:03d}",
            host=f"127.21.0.{i + 1}",
            technology=technology,  # type: ignore[arg-type]
            node=node,
            plan_down_mbps=plan,
            plan_up_mbps=plan / 10,
        )
        for i in range(n)
    ]


def docsis(
    *,
    uptime: float = 100_000.0,
    snr: float = 38.0,
    power: float = 2.0,
    codewords: tuple[int, int, int] = (1_000_000, 10, 0),
    lan_up: bool = True,
) -> SnmpReading:
    unerr, corr, unc = codewords
    return SnmpReading(
        sys_uptime_s=uptime,
        interfaces=[InterfaceStatus(index=1, name="eth0", role="lan", oper_up=lan_up)],
        line=DocsisLine(
            downstream=[
                DownstreamChannel(
                    index=3,
                    power_dbmv=power,
                    snr_db=snr,
                    unerrored=unerr,
                    corrected=corr,
                    uncorrectable=unc,
                ),
                DownstreamChannel(index=4, power_dbmv=power, snr_db=38.5),
            ],
            upstream=[UpstreamChannel(index=2, tx_power_dbmv=44.0)],
            cm_status=12,
            t3_timeouts=0,
            t4_timeouts=0,
        ),
    )


TIMEOUT = ProbeError(kind="timeout", message="no answer after 2 tries")
NO_REPLY = PingResult(sent=5, received=0)
REPLY = PingResult(sent=5, received=5, rtt_avg_ms=9.0)


def rec(account: str, at: float, result: Result, probe: str | None = None) -> ProbeRecord:
    if probe is None:
        probe = {PingResult: "ping", ThroughputResult: "throughput"}.get(type(result), "snmp")
    return ProbeRecord(account=account, probe=probe, started_at=at, duration_s=0.2, result=result)  # type: ignore[arg-type]


def poll(accounts: Iterable[str], at: float, reading: Result | None = None) -> list[ProbeRecord]:
    """One good poll (SNMP reading + ping) of each account at time ``at``."""
    out = []
    for a in accounts:
        up = 100_000.0 + (at - T0)
        out.append(rec(a, at, reading if reading is not None else docsis(uptime=up)))
        out.append(rec(a, at + 1, REPLY))
    return out


def dark(accounts: Iterable[str], at: float) -> list[ProbeRecord]:
    out = []
    for a in accounts:
        out.append(rec(a, at, TIMEOUT))
        out.append(rec(a, at + 1, NO_REPLY))
    return out


def names(ts: list[Target]) -> list[str]:
    return [t.account for t in ts]


def by_account(out: EngineOutput) -> dict[str, Verdict]:
    return {v.account: v for v in out.verdicts}


def current(engine: VerdictEngine, accounts: Iterable[str]) -> dict[str, str]:
    return {a: engine.verdict(a).verdict for a in accounts}  # type: ignore[union-attr]


# --- area outage vs. one dark modem ------------------------------------------------------------


def test_node_goes_dark_every_account_is_area_outage_then_clears_with_hysteresis() -> None:
    n3, n4 = targets("N-3", 40), targets("N-4", 10)
    engine = VerdictEngine(Thresholds.default(), n3 + n4)
    all_accounts = names(n3) + names(n4)
    out = engine.observe(poll(all_accounts, T0), T0 + 5)
    assert set(current(engine, all_accounts).values()) == {"ok"}
    assert out.node_states == []

    # 30 of the 40 go dark, seen over three batches a minute apart (within the 600 s window).
    going = names(n3)[:30]
    t1 = T0 + POLL
    out1 = engine.observe(dark(going[:10], t1), t1 + 5)
    # 10 of 40 is 25 %: not an outage yet; these look like dark modems on a live node.
    assert not any(s.outage for s in out1.node_states)
    out2 = engine.observe(dark(going[10:20], t1 + 60), t1 + 65)
    # 20 of 40 = 50 % and >= 5 together: the outage opens in this batch.
    assert [(s.node, s.outage, s.since) for s in out2.node_states] == [("N-3", True, t1)]
    assert {v.verdict for v in out2.verdicts} == {"area_outage"}
    assert set(by_account(out2)) == set(names(n3))  # every account of N-3 re-judged
    out3 = engine.observe(dark(going[20:], t1 + 120), t1 + 125)
    assert out3.node_states == []

    verdicts = current(engine, names(n3))
    assert set(verdicts.values()) == {"area_outage"}
    assert "equipment_fault" not in verdicts.values()
    assert set(current(engine, names(n4)).values()) == {"ok"}  # the neighbour node is fine

    v = engine.verdict(going[0])
    assert v is not None
    ev = {e.fact: e for e in v.evidence}
    assert ev["node_unreachable_share"].value == 0.75
    assert ev["node_unreachable_count"].value == 30
    assert ev["outage_since"].value == t1
    assert v.since == t1
    assert v.confidence >= 0.8
    assert "Don't troubleshoot or dispatch" in v.action and "40 customers affected" in v.action
    assert set(v.customer_message) == {"en", "sv", "pl"}
    # A still-reachable neighbour on the same node is area_outage too, with less confidence.
    lit = engine.verdict(names(n3)[35])
    assert lit is not None and lit.verdict == "area_outage" and lit.confidence < v.confidence
    summary = {s.node: s for s in engine.node_summaries()}
    assert summary["N-3"].outage and summary["N-3"].counts == {"area_outage": 40}

    # Power comes back: every modem answers, but the outage holds for clear_hold_s (600 s).
    t2 = t1 + 900
    back = engine.observe(poll(all_accounts, t2), t2 + 5)
    assert back.node_states == []
    assert set(current(engine, names(n3)).values()) == {"area_outage"}
    assert engine.tick(t2 + 5 + 599).node_states == []
    # Keep polling during the hold so nothing goes stale.
    engine.observe(poll(all_accounts, t2 + 300), t2 + 305)
    closed = engine.tick(t2 + 5 + 600)
    assert [(s.node, s.outage) for s in closed.node_states] == [("N-3", False)]
    assert set(current(engine, names(n3)).values()) == {"ok"}
    assert {v.verdict for v in closed.verdicts} == {"ok"}


def test_outage_flapping_share_does_not_clear_early() -> None:
    n = targets("N-7", 20)
    engine = VerdictEngine(Thresholds.default(), n)
    accts = names(n)
    engine.observe(poll(accts, T0), T0)
    out = engine.observe(dark(accts[:15], T0 + 300), T0 + 301)
    assert [s.outage for s in out.node_states] == [True]
    engine.observe(poll(accts[:15], T0 + 600), T0 + 601)  # all back: hold starts
    engine.observe(dark(accts[:6], T0 + 900), T0 + 901)  # 30 % dark again: hold reset
    assert engine.tick(T0 + 1250).node_states == []
    assert engine.node_outage("N-7") is not None and engine.node_outage("N-7").outage  # type: ignore[union-attr]


def test_one_dark_modem_on_a_healthy_node_is_equipment_fault_not_outage() -> None:
    n = targets("N-1", 40)
    engine = VerdictEngine(Thresholds.default(), n)
    accts = names(n)
    engine.observe(poll(accts, T0), T0 + 5)
    t1 = T0 + POLL
    batch = dark(accts[:1], t1) + poll(accts[1:], t1)
    out = engine.observe(batch, t1 + 5)
    assert out.node_states == []
    assert [(v.account, v.verdict) for v in out.verdicts] == [(accts[0], "equipment_fault")]
    v = out.verdicts[0]
    ev = {e.fact: e for e in v.evidence}
    assert ev["snmp_error"].value == "timeout"
    assert ev["ping_loss_ratio"].value == 1.0
    assert ev["node_unreachable_share"].value == 0.025
    assert ev["unreachable_since"].value == t1
    assert "replace / ship a modem" in v.action
    assert v.since == t1
    assert set(current(engine, accts[1:]).values()) == {"ok"}
    # Still dark a poll later: same verdict, same since, more confidence.
    out = engine.observe(dark(accts[:1], t1 + POLL), t1 + POLL + 5)
    assert engine.verdict(accts[0]).since == t1  # type: ignore[union-attr]


def test_snmp_silent_but_ping_answering_is_not_dark() -> None:
    n = targets("N-1", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    out = engine.observe([rec(a, T0, TIMEOUT), rec(a, T0 + 1, REPLY)], T0 + 2)
    v = by_account(out)[a]
    assert v.verdict == "unknown"
    assert {e.fact: e.value for e in v.evidence}["snmp_error"] == "timeout"


# --- reboots ----------------------------------------------------------------------------------


def test_reboot_events_and_reboot_loop() -> None:
    n = targets("N-2", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    engine.observe([rec(a, T0, docsis(uptime=5_000.0))], T0)
    events = []
    verdicts = []
    # Restarts seen at three polls in a row: uptime 100, 50, 80 s.
    for i, up in enumerate((100.0, 50.0, 80.0), start=1):
        out = engine.observe([rec(a, T0 + i * POLL, docsis(uptime=up))], T0 + i * POLL)
        events += out.events
        verdicts += out.verdicts
    assert [(e.kind, e.at, e.data) for e in events] == [
        ("reboot", T0 + 200.0, {"uptime_s": 100.0}),
        ("reboot", T0 + 550.0, {"uptime_s": 50.0}),
        ("reboot", T0 + 820.0, {"uptime_s": 80.0}),
    ]
    v = engine.verdict(a)
    assert v is not None and v.verdict == "equipment_fault"
    assert v.evidence[0].fact == "reboots_in_window" and v.evidence[0].value == 3
    assert "reboot loop" in v.action
    # It stops restarting; once the first reboot leaves the 1 h window the loop is over.
    up = 80.0
    t = T0 + 3 * POLL
    while t < T0 + 200.0 + 3600.0:
        t += POLL
        up += POLL
        out = engine.observe([rec(a, t, docsis(uptime=up))], t)
        assert out.events == []
    assert engine.verdict(a).verdict == "ok"  # type: ignore[union-attr]


def test_uptime_growing_normally_is_no_reboot() -> None:
    n = targets("N-2", 5)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    for i in range(5):
        out = engine.observe([rec(a, T0 + i * POLL, docsis(uptime=1000 + i * POLL))], T0 + i * POLL)
        assert out.events == []


# --- line faults -------------------------------------------------------------------------------


def test_snr_drop_is_line_fault_naming_channel_value_threshold() -> None:
    n = targets("N-5", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    engine.observe(poll([a], T0), T0)
    out = engine.observe([rec(a, T0 + POLL, docsis(uptime=100_300.0, snr=27.2))], T0 + POLL)
    v = by_account(out)[a]
    assert v.verdict == "line_fault"
    assert [(e.fact, e.value, e.threshold, e.detail) for e in v.evidence] == [
        ("ds_snr_db", 27.2, ">= 30", "downstream channel 3")
    ]
    assert "dispatch a technician" in v.action and "ds_snr_db 27.2" in v.action
    since = v.since
    # Worse a poll later: evidence changes, verdict and since stay.
    out = engine.observe([rec(a, T0 + 2 * POLL, docsis(uptime=100_600.0, snr=25.0))], T0 + 2 * POLL)
    v2 = by_account(out)[a]
    assert v2.verdict == "line_fault" and v2.since == since and v2.evidence[0].value == 25.0
    # Unchanged evidence: nothing to report.
    out = engine.observe([rec(a, T0 + 3 * POLL, docsis(uptime=100_900.0, snr=25.0))], T0 + 3 * POLL)
    assert out.verdicts == []


def test_uncorrectables_rising_across_a_counter_wrap() -> None:
    n = targets("N-6", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    bad, good = names(n)[:2]
    top = 2**32
    engine.observe(
        [
            rec(bad, T0, docsis(uptime=1e5, codewords=(top - 500_000, 0, top - 1_000))),
            rec(good, T0, docsis(uptime=1e5, codewords=(top - 500_000, 0, top - 1_000))),
        ],
        T0,
    )
    t = T0 + POLL
    out = engine.observe(
        [
            # Both wrapped. bad: 20_000 new uncorrectables of ~520_000 (3.8 %).
            rec(bad, t, docsis(uptime=1e5 + POLL, codewords=(19_000, 0, 19_000))),
            # good: 100 of ~500_100 (0.02 %).
            rec(good, t, docsis(uptime=1e5 + POLL, codewords=(2_000, 0, top - 900))),
        ],
        t,
    )
    got = by_account(out)
    assert got[bad].verdict == "line_fault"
    e = got[bad].evidence[0]
    assert e.fact == "uncorrectable_ratio" and 0.03 < float(e.value) < 0.05  # type: ignore[arg-type]
    assert "downstream channel 3" in (e.detail or "")
    assert engine.verdict(good).verdict == "ok"  # type: ignore[union-attr]


def test_counter_reset_is_not_mistaken_for_errors() -> None:
    n = targets("N-6", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    cleared, rebooted = names(n)[:2]
    big = (900_000_000, 5_000, 700_000)
    engine.observe(
        [
            rec(cleared, T0, docsis(uptime=1e6, codewords=big)),
            rec(rebooted, T0, docsis(uptime=1e6, codewords=big)),
        ],
        T0,
    )
    t = T0 + POLL
    out = engine.observe(
        [
            # Counters cleared without a restart (went back far: a discontinuity).
            rec(cleared, t, docsis(uptime=1e6 + POLL, codewords=(10_000, 0, 900))),
            # The modem restarted: counters restarted with it.
            rec(rebooted, t, docsis(uptime=120.0, codewords=(10_000, 0, 900))),
        ],
        t,
    )
    assert [e.account for e in out.events] == [rebooted]
    assert current(engine, [cleared, rebooted]) == {cleared: "ok", rebooted: "ok"}


def test_dsl_margin_low_is_line_fault() -> None:
    n = targets("D-1", 10, technology="dsl", plan=20.0)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    reading = SnmpReading(
        sys_uptime_s=5e4,
        line=DslLine(snr_margin_down_db=4.5, attenuation_down_db=41.0, crc_errors=10),
    )
    out = engine.observe([rec(a, T0, reading)], T0)
    v = by_account(out)[a]
    assert v.verdict == "line_fault"
    assert [(e.fact, e.value, e.threshold) for e in v.evidence] == [
        ("dsl_snr_margin_down_db", 4.5, "> 6")
    ]


def test_lan_port_down_with_good_line_is_equipment_fault() -> None:
    n = targets("N-8", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    out = engine.observe([rec(a, T0, docsis(lan_up=False)), rec(a, T0 + 1, REPLY)], T0 + 2)
    v = by_account(out)[a]
    assert v.verdict == "equipment_fault"
    assert [(e.fact, e.value) for e in v.evidence] == [("lan_oper_up", False)]
    assert "LAN port is down" in v.action


def test_line_fault_outranks_lan_down() -> None:
    n = targets("N-8", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    out = engine.observe([rec(a, T0, docsis(lan_up=False, power=-18.0))], T0)
    assert by_account(out)[a].verdict == "line_fault"


# --- throughput: customer side and degraded -----------------------------------------------------


def test_throughput_at_plan_with_good_line_is_customer_side_until_the_test_ages() -> None:
    n = targets("N-9", 10, plan=250.0)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    engine.observe(poll([a], T0), T0 + 2)
    out = engine.observe(
        [rec(a, T0 + 10, ThroughputResult(down_mbps=241.0, up_mbps=24.0))], T0 + 30
    )
    v = by_account(out)[a]
    assert v.verdict == "customer_side"
    assert v.evidence[0].fact == "throughput_down_ratio" and v.evidence[0].value == 0.964
    assert "behind the modem" in v.action
    assert "router" in v.customer_message["en"] and "routerze" in v.customer_message["pl"]
    # Keep polling the line; an hour after the test, customer_side falls back to ok.
    t = T0
    while t < T0 + 3600:
        t += POLL
        engine.observe(poll([a], t), t + 2)
    engine.tick(T0 + 10 + 3601)
    assert engine.verdict(a).verdict == "ok"  # type: ignore[union-attr]


def test_customer_side_needs_the_line_in_spec() -> None:
    n = targets("N-9", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    a = names(n)[0]
    engine.observe(
        [rec(a, T0, docsis(snr=28.0)), rec(a, T0 + 5, ThroughputResult(down_mbps=99.0))], T0 + 10
    )
    assert engine.verdict(a).verdict == "line_fault"  # type: ignore[union-attr]


def test_node_wide_throughput_shortfall_is_degraded() -> None:
    n = targets("N-10", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    accts = names(n)
    engine.observe(poll(accts, T0), T0 + 2)
    speeds = [35.0, 41.0, 52.0, 95.0]  # three of four under 60 % of the 100 Mbit/s plan
    tests = [
        rec(a, T0 + 20 + i, ThroughputResult(down_mbps=s))
        for i, (a, s) in enumerate(zip(accts, speeds, strict=False))
    ]
    out = engine.observe(tests, T0 + 30)
    assert set(by_account(out)) == set(accts)  # the whole node re-judged
    assert set(current(engine, accts).values()) == {"degraded"}
    v = engine.verdict(accts[9])
    assert v is not None
    assert v.evidence[0].fact == "node_tests_below_plan_share" and v.evidence[0].value == 0.75
    assert "capacity issue known to ops" in v.action
    # The tests age out of the 1 h window -> the node is no longer degraded.
    t = T0
    while t < T0 + 3600:
        t += POLL
        engine.observe(poll(accts, t), t + 2)
    engine.tick(T0 + 23 + 3601)
    assert set(current(engine, accts).values()) == {"ok"}


# --- time: staleness and incrementality -------------------------------------------------------


def test_stale_becomes_unknown_on_tick_and_tick_is_incremental() -> None:
    n = targets("N-11", 1000)
    engine = VerdictEngine(Thresholds.default(), n)
    accts = names(n)
    engine.observe(poll(accts, T0), T0 + 2)
    engine.observe(poll(accts[1:], T0 + 600), T0 + 602)  # accts[0] stops reporting
    assert engine.tick(T0 + 1 + 899).verdicts == []
    out = engine.tick(T0 + 1 + 901)
    assert [(v.account, v.verdict) for v in out.verdicts] == [(accts[0], "unknown")]
    assert out.judged == 1  # only the due account, not all 1000
    v = out.verdicts[0]
    assert v.evidence[0].fact == "last_result_age_s" and v.evidence[0].threshold == "<= 900"
    assert "run a check now" in v.action
    assert engine.tick(T0 + 1 + 902).judged == 0


def test_observe_rejudges_only_touched_accounts() -> None:
    n = targets("N-12", 500)
    engine = VerdictEngine(Thresholds.default(), n)
    accts = names(n)
    engine.observe(poll(accts, T0), T0 + 2)
    out = engine.observe(poll(accts[:3], T0 + POLL), T0 + POLL + 2)
    assert out.judged == 3
    assert out.verdicts == []  # still ok, same evidence


def test_never_seen_is_unknown_and_unknown_accounts_are_counted() -> None:
    n = targets("N-13", 3)
    engine = VerdictEngine(Thresholds.default(), n)
    v = engine.verdict(names(n)[0], now=T0)
    assert v is not None and v.verdict == "unknown" and v.evidence[0].fact == "last_result"
    out = engine.observe(poll(["NOT-IN-INVENTORY"], T0), T0)
    assert out.verdicts == [] and engine.ignored_records == 2
    assert engine.counts() == {"unknown": 3}


def test_warm_start_keeps_verdicts_and_outage() -> None:
    n = targets("N-14", 20)
    accts = names(n)
    first = VerdictEngine(Thresholds.default(), n)
    first.observe(poll(accts, T0), T0)
    records = dark(accts[:12], T0 + POLL) + poll(accts[12:], T0 + POLL)
    out = first.observe(records, T0 + POLL + 2)
    assert [s.outage for s in out.node_states] == [True]
    saved = [first.verdict(a) for a in accts]

    # A restarted collector: latest records, current verdicts and node flags from the store.
    second = VerdictEngine(Thresholds.default(), n)
    latest = {(r.account, r.probe): r for r in poll(accts, T0) + records}
    reloaded = second.load(
        list(latest.values()),
        [v for v in saved if v],
        [first.node_outage("N-14")],
        now=T0 + POLL + 3,  # type: ignore[list-item]
    )
    assert reloaded.node_states == []
    assert reloaded.verdicts == []  # nothing changed
    for a in accts:
        assert second.verdict(a) == first.verdict(a)


def test_set_targets_moves_and_removes_accounts() -> None:
    n = targets("N-15", 10)
    engine = VerdictEngine(Thresholds.default(), n)
    engine.observe(poll(names(n), T0), T0)
    moved = [msgspec_replace(t, node="N-16") if i < 2 else t for i, t in enumerate(n[:8])]
    out = engine.set_targets(moved, now=T0 + 1)
    assert {v.account: v.node for v in out.verdicts} == {n[0].account: "N-16", n[1].account: "N-16"}
    summary = {s.node: s.accounts for s in engine.node_summaries()}
    assert summary == {"N-15": 6, "N-16": 2}
    assert engine.verdict(n[9].account) is None


def msgspec_replace(t: Target, **changes: object) -> Target:
    import msgspec

    return msgspec.structs.replace(t, **changes)


# --- end to end with the fleet simulator, read by the real SNMP probe ---------------------------


class ManualClock:
    """The fleet's clock, moved by the test: reboot timing without sleeping."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_fleet_faults_polled_over_snmp_get_the_right_verdicts() -> None:
    """60 simulated modems on 6 nodes (docsis, dsl, docsis, gpon, docsis, ethernet),
    polled over real UDP SNMP by probes/snmp with faults injected; no ping records,
    so a silent modem counts as unreachable."""
    import asyncio

    from lab.fleet import Fleet
    from probes.snmp.credentials import SnmpCredentials
    from probes.snmp.probe import SnmpProbe

    clock = ManualClock(T0)
    fleet = Fleet(modems=60, nodes=6, seed=7, port=0, base_address="127.24.0.0", clock=clock)
    await fleet.start()
    try:
        targets = fleet.targets()
        by_node: dict[str, list[str]] = {}
        for t in targets:
            by_node.setdefault(t.node, []).append(t.account)
        tech = {t.node: t.technology for t in targets}
        assert [tech[n] for n in sorted(tech)] == [
            "docsis",
            "dsl",
            "docsis",
            "gpon",
            "docsis",
            "ethernet",
        ]
        engine = VerdictEngine(Thresholds.default(), targets)
        creds = {"default": SnmpCredentials(version="2c", community="public")}
        async with SnmpProbe(creds, timeout_s=0.3, retries=0) as probe:

            async def poll_all() -> EngineOutput:
                at = clock.t
                results = await asyncio.gather(*(probe.run(t) for t in targets))
                records = [
                    ProbeRecord(
                        account=t.account, probe="snmp", started_at=at, duration_s=0.0, result=r
                    )
                    for t, r in zip(targets, results, strict=True)
                ]
                return engine.observe(records, at + 1)

            first = await poll_all()
            healthy = {v.account: v.verdict for v in first.verdicts}
            assert set(healthy.values()) == {"ok"}, {
                v.account: v.evidence for v in first.verdicts if v.verdict != "ok"
            }

            n1, n2, n3, n4, n5 = (by_node[f"NODE-0{i}"] for i in range(1, 6))
            fleet.inject("node_outage", node="NODE-05")
            fleet.inject("snr_drop", account=n1[0], snr_db=24.0)
            fleet.inject("dead_modem", account=n1[1])
            fleet.inject("dsl_margin", account=n2[0])
            fleet.inject("uncorrectables", account=n3[0], ratio=0.05)
            fleet.inject("reboot_loop", account=n3[1], period_s=60.0, silent_s=5.0)
            fleet.inject("t3t4", account=n3[2])
            fleet.inject("ds_power", account=n1[2], power_dbmv=-17.0)
            fleet.inject("lan_down", account=n4[0])
            fleet.inject("gpon_rx_low", account=n4[1])

            events = []
            node_states = []
            for k in (1, 2, 3):  # three polls, 10 s after a reboot-loop boot each time
                clock.t = T0 + k * 300 + 10
                out = await poll_all()
                events += out.events
                node_states += out.node_states
        verdicts = current(engine, [t.account for t in targets])
    finally:
        await fleet.stop()

    assert [(s.node, s.outage) for s in node_states] == [("NODE-05", True)]
    assert {verdicts[a] for a in n5} == {"area_outage"}
    faulty = {
        n1[0]: "line_fault",
        n1[1]: "equipment_fault",
        n2[0]: "line_fault",
        n3[0]: "line_fault",
        n3[1]: "equipment_fault",
        n3[2]: "line_fault",
        n1[2]: "line_fault",
        n4[0]: "equipment_fault",
        n4[1]: "line_fault",
    }
    for account, expected in faulty.items():
        assert verdicts[account] == expected, (account, engine.verdict(account))
    rest = {a: v for a, v in verdicts.items() if a not in faulty and a not in n5}
    assert set(rest.values()) == {"ok"}, rest

    def facts(account: str) -> set[str]:
        return {e.fact for e in engine.verdict(account).evidence}  # type: ignore[union-attr]

    assert "ds_snr_db" in facts(n1[0])
    assert "snmp_error" in facts(n1[1])
    assert "dsl_snr_margin_down_db" in facts(n2[0])
    assert "uncorrectable_ratio" in facts(n3[0])
    assert "reboots_in_window" in facts(n3[1])
    assert {"t3_timeouts_delta", "t4_timeouts_delta"} <= facts(n3[2])
    assert "ds_power_dbmv" in facts(n1[2])
    assert "lan_oper_up" in facts(n4[0])
    assert "gpon_rx_power_dbm" in facts(n4[1])
    assert [e.account for e in events] == [n3[1]] * 3
