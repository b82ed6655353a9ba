"""Dark modems judged from everything known (issue 15): line vs modem vs plant.

Stories from the support floor: a modem whose SNR slid out of spec and then went
dark is a line fault, not a modem to ship; a modem dark with a clean history is
"check the power first", with less confidence; three neighbours dark in the
same minute are one plant fault with one dispatch, never three equipment faults.
"""

from __future__ import annotations

from test_verdict_engine import (
    NO_REPLY,
    POLL,
    REPLY,
    T0,
    TIMEOUT,
    current,
    dark,
    docsis,
    names,
    poll,
    rec,
    targets,
)

from collector.outages import open_outages
from collector.verdicts import Thresholds, VerdictEngine
from collector.verdicts.correlation import evaluate_plant
from collector.verdicts.rules import predark
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    DslLine,
    GponLine,
    SnmpReading,
    UpstreamChannel,
)

TH = Thresholds.default()


def _facts(engine: VerdictEngine, account: str) -> dict[str, object]:
    v = engine.verdict(account)
    assert v is not None
    return {e.fact: e.value for e in v.evidence}


def _detail(engine: VerdictEngine, account: str, fact: str) -> str:
    v = engine.verdict(account)
    assert v is not None
    return next(e.detail or "" for e in v.evidence if e.fact == fact)


def _healthy_node(n: int = 10, node: str = "N-1") -> tuple[VerdictEngine, list[str]]:
    ts = targets(node, n)
    engine = VerdictEngine(TH, ts)
    accts = names(ts)
    for k in range(4):  # 20 minutes of good polls
        engine.observe(poll(accts, T0 + k * POLL), T0 + k * POLL + 5)
    assert set(current(engine, accts).values()) == {"ok"}
    return engine, accts


def test_snr_sliding_then_dark_is_a_line_fault_with_the_trend_in_evidence() -> None:
    engine, accts = _healthy_node()
    victim, others = accts[0], accts[1:]
    start = T0 + 4 * POLL
    for k, snr in enumerate((37.0, 34.0, 31.0, 25.0)):
        at = start + k * POLL
        up = 100_000.0 + (at - T0)
        mine = [rec(victim, at, docsis(uptime=up, snr=snr)), rec(victim, at + 1, REPLY)]
        engine.observe([*mine, *poll(others, at)], at + 5)
    assert engine.verdict(victim).verdict == "line_fault"  # type: ignore[union-attr]
    at = start + 4 * POLL
    engine.observe(dark([victim], at) + poll(others, at), at + 5)
    at += POLL
    engine.observe(dark([victim], at) + poll(others, at), at + 5)
    v = engine.verdict(victim)
    assert v is not None and v.verdict == "line_fault", v
    facts = _facts(engine, victim)
    # The slide from its peak, at most four values: 38 (good polls), 37, 34, 31, 25 -> four.
    assert facts["pre_dark_ds_snr_db"] == "38 -> 37 -> 31 -> 25", facts
    assert _detail(engine, victim, "pre_dark_ds_snr_db").endswith("then no answer")
    assert "ds_snr_db" in facts and facts["snmp_error"] == "timeout"
    assert "Don't ship a modem" in v.action and "line" in v.action
    assert "does not need replacing" in v.customer_message["en"]
    assert "new modem" not in v.customer_message["en"]


def test_out_of_spec_before_the_dark_is_a_line_fault_even_without_a_slide() -> None:
    engine, accts = _healthy_node()
    victim, others = accts[0], accts[1:]
    at = T0 + 4 * POLL
    engine.observe([rec(victim, at, docsis(uptime=200000.0, snr=25.0)), *poll(others, at)], at + 5)
    at += POLL
    engine.observe(dark([victim], at) + poll(others, at), at + 5)
    v = engine.verdict(victim)
    assert v is not None and v.verdict == "line_fault", v
    facts = _facts(engine, victim)
    assert facts["pre_dark_readings_out_of_spec"] >= 1  # type: ignore[operator]
    assert facts["ds_snr_db"] == 25.0


def test_clean_history_then_dark_is_equipment_check_the_power_first_lower_confidence() -> None:
    engine, accts = _healthy_node()
    victim, others = accts[0], accts[1:]
    at = T0 + 4 * POLL
    engine.observe(dark([victim], at) + poll(others, at), at + 5)
    at += POLL
    engine.observe(dark([victim], at) + poll(others, at), at + 5)
    v = engine.verdict(victim)
    assert v is not None and v.verdict == "equipment_fault", v
    assert _facts(engine, victim)["pre_dark_history"] == "clean"
    assert v.action.index("power first") < v.action.index("replace / ship")
    assert "has power" in v.customer_message["en"]
    assert v.confidence <= 0.7


def test_dark_with_no_history_says_the_line_cannot_be_judged() -> None:
    ts = targets("N-1", 10)
    engine = VerdictEngine(TH, ts)
    accts = names(ts)
    engine.observe(dark(accts[:1], T0) + poll(accts[1:], T0), T0 + 5)
    v = engine.verdict(accts[0])
    assert v is not None and v.verdict == "equipment_fault"
    assert _facts(engine, accts[0])["pre_dark_history"] == "none"
    assert v.confidence <= 0.4


def test_three_neighbours_dark_together_are_one_plant_fault_not_three_modems() -> None:
    engine, accts = _healthy_node(10)
    gone, others = accts[:3], accts[3:]
    at = T0 + 4 * POLL
    out = engine.observe(dark(gone, at) + poll(others, at), at + 5)
    verdicts = current(engine, accts)
    assert [verdicts[a] for a in gone] == ["line_fault"] * 3, verdicts
    assert "equipment_fault" not in verdicts.values()
    for a in gone:
        facts = _facts(engine, a)
        assert facts["dark_neighbours"] == 2
        neighbours = _detail(engine, a, "dark_neighbours")
        assert all(o in neighbours for o in gone if o != a) and a not in neighbours
        v = engine.verdict(a)
        assert v is not None and "One technician for the plant" in v.action
        assert "technician is needed for the line in your area" in v.customer_message["en"]
    ids = {_facts(engine, a)["plant_fault"] for a in gone}
    assert len(ids) == 1  # one event for the three
    summary = next(s for s in engine.node_summaries() if s.node == "N-1")
    assert not summary.outage
    assert [(p.id, p.accounts) for p in summary.plant_faults] == [(ids.pop(), sorted(gone))]
    assert {e.account for e in out.events if e.kind == "plant_fault"} == set(gone)

    # A fourth goes dark a poll later: it joins the same event.
    at += POLL
    engine.observe(dark(accts[:4], at) + poll(accts[4:], at), at + 5)
    summary = next(s for s in engine.node_summaries() if s.node == "N-1")
    assert len(summary.plant_faults) == 1 and len(summary.plant_faults[0].accounts) == 4

    # Fixed: all answer again; the event clears after its hysteresis, not at once.
    at += POLL
    engine.observe(poll(accts, at), at + 5)
    assert set(current(engine, accts).values()) == {"ok"}
    summary = next(s for s in engine.node_summaries() if s.node == "N-1")
    assert summary.plant_faults == [] or summary.plant_faults[0].clearing


def test_two_dark_in_one_node_but_hours_apart_stay_separate_equipment_faults() -> None:
    engine, accts = _healthy_node(10)
    at = T0 + 4 * POLL
    engine.observe(dark(accts[:1], at) + poll(accts[1:], at), at + 5)
    for k in range(1, 13):  # an hour later the second one goes
        t = at + k * POLL
        engine.observe(dark(accts[:1], t) + poll(accts[1:], t), t + 5)
    t = at + 13 * POLL
    engine.observe(dark(accts[:2], t) + poll(accts[2:], t), t + 5)
    t += POLL
    engine.observe(dark(accts[:2], t) + poll(accts[2:], t), t + 5)
    verdicts = current(engine, accts[:2])
    assert verdicts == {accts[0]: "equipment_fault", accts[1]: "equipment_fault"}
    assert all(not s.plant_faults for s in engine.node_summaries())


def test_half_the_node_dark_is_an_area_outage_not_a_plant_fault() -> None:
    engine, accts = _healthy_node(10)
    at = T0 + 4 * POLL
    engine.observe(dark(accts[:6], at) + poll(accts[6:], at), at + 5)
    assert {current(engine, accts)[a] for a in accts[:6]} == {"area_outage"}
    assert all(not s.plant_faults for s in engine.node_summaries())


def _dsl(margin: float) -> SnmpReading:
    return SnmpReading(sys_uptime_s=50_000.0, line=DslLine(snr_margin_down_db=margin,
                                                            attenuation_down_db=20.0,
                                                            crc_errors=0))


def _gpon(rx: float) -> SnmpReading:
    return SnmpReading(sys_uptime_s=50_000.0, line=GponLine(rx_power_dbm=rx, tx_power_dbm=2.0))


def test_dsl_margin_and_gpon_rx_falling_before_the_dark_are_line_faults() -> None:
    for tech, readings, fact in (
        ("dsl", [_dsl(m) for m in (14.0, 12.5, 11.0, 10.0)], "pre_dark_dsl_snr_margin_down_db"),
        ("gpon", [_gpon(r) for r in (-18.0, -19.0, -20.5, -21.0)], "pre_dark_gpon_rx_power_dbm"),
    ):
        ts = targets("N-9", 10, technology=tech)
        engine = VerdictEngine(TH, ts)
        accts = names(ts)
        for k, reading in enumerate(readings):
            at = T0 + k * POLL
            up = 50_000.0 + k * POLL
            r = SnmpReading(sys_uptime_s=up, line=reading.line)
            batch = [rec(a, at, r) for a in accts[:1]] + [rec(a, at, r if a == accts[0] else
                     SnmpReading(sys_uptime_s=up, line=readings[0].line)) for a in accts[1:]]
            engine.observe(batch, at + 5)
        at = T0 + len(readings) * POLL
        engine.observe([rec(accts[0], at, TIMEOUT), rec(accts[0], at + 1, NO_REPLY)], at + 5)
        v = engine.verdict(accts[0])
        assert v is not None and v.verdict == "line_fault", (tech, v)
        assert fact in _facts(engine, accts[0]), (tech, v.evidence)


def test_trend_points_are_bounded_and_counters_restart_cleanly() -> None:
    blob: bytes | None = None
    line = DocsisLine(
        downstream=[DownstreamChannel(index=1, snr_db=38.0, uncorrectable=0)],
        upstream=[UpstreamChannel(index=1, tx_power_dbmv=44.0)],
    )
    steady = predark.point(line, False, TH.docsis)
    assert steady is not None
    for k in range(100):  # a steady modem: one point per third of the window
        blob = predark.push(blob, T0 + k * POLL, steady, TH.trend.window_s)
    assert len(predark.points(blob)) <= 4
    for k in range(100):  # a moving one: a point a poll, but never more than MAX_POINTS
        moving = (38.0 - k, *steady[1:])
        blob = predark.push(blob, T0 + (100 + k) * POLL, moving, TH.trend.window_s)
    pts = predark.points(blob)
    assert len(pts) <= predark.MAX_POINTS
    assert pts[-1].at - pts[0].at <= TH.trend.window_s
    # Uncorrectables 0 -> 5000 -> (modem restarted) 10 -> 30: only 20 since the restart.
    reset = b"".join(
        predark.push(None, T0 + i * POLL, (38.0, 10.0, float(u), 0.0, 16.0), TH.trend.window_s)
        for i, u in enumerate((0, 5000, 10, 30))
    )
    found, pts = predark.before_dark(reset, T0 + 4 * POLL, [], TH)
    assert len(pts) == 4 and found is None


def test_evaluate_plant_is_deterministic_and_needs_a_shared_window() -> None:
    dark_times = {"a": T0, "b": T0 + 100, "c": T0 + 5000}
    d = evaluate_plant(dark=dark_times, members={}, since=None, clear_since=None,
                       outage=False, now=T0 + 5000, th=TH.plant)
    assert d.members == {"a": T0, "b": T0 + 100} and d.since == T0
    # The same inputs in another order give the same event (several collectors).
    d2 = evaluate_plant(dark=dict(reversed(dark_times.items())), members={}, since=None,
                        clear_since=None, outage=False, now=T0 + 5000, th=TH.plant)
    assert d2 == d
    # One modem left dark: clearing, held for clear_hold_s, then closed.
    d3 = evaluate_plant(dark={"a": T0}, members=d.members, since=d.since, clear_since=None,
                        outage=False, now=T0 + 6000, th=TH.plant)
    assert d3.members == {"a": T0} and d3.clear_since == T0 + 6000
    d4 = evaluate_plant(dark={"a": T0}, members=d3.members, since=d3.since,
                        clear_since=d3.clear_since, outage=False,
                        now=T0 + 6000 + TH.plant.clear_hold_s, th=TH.plant)
    assert d4.members == {} and d4.since is None
    # An area outage explains them all: no plant fault beside it.
    d5 = evaluate_plant(dark=dark_times, members={}, since=None, clear_since=None,
                        outage=True, now=T0, th=TH.plant)
    assert d5.members == {}


def test_a_neighbours_blip_does_not_keep_a_dead_modem_in_a_plant_fault() -> None:
    """A rebooting neighbour misses one poll while another modem is dead: for that
    moment they look like one plant fault; once the neighbour answers, the dead
    one is judged on its own (clean history: equipment), while the event clears."""
    engine, accts = _healthy_node(10)
    dead_one, blip = accts[0], accts[1]
    at = T0 + 4 * POLL
    engine.observe(dark([dead_one, blip], at) + poll(accts[2:], at), at + 5)
    assert current(engine, [dead_one, blip]) == {dead_one: "line_fault", blip: "line_fault"}
    at += POLL
    engine.observe(dark([dead_one], at) + poll(accts[1:], at), at + 5)
    assert current(engine, [dead_one, blip]) == {dead_one: "equipment_fault", blip: "ok"}
    summary = next(s for s in engine.node_summaries() if s.node == "N-1")
    assert summary.plant_faults and summary.plant_faults[0].clearing


def _announced(engine: VerdictEngine) -> list[tuple[str, str]]:
    """What the outage history and webhooks would get: (kind, id) of each."""
    return [(o.kind, o.id) for o in open_outages(engine.node_summaries(), {})]


def test_an_area_outage_seen_a_few_modems_at_a_time_is_never_announced_as_a_plant_fault() -> None:
    """A node's polls spread over the poll cycle: its first two dark modems look
    like a plant fault while the rest are not polled yet. Until the rest answer
    (or confirm_s), that is not announced: the area outage it becomes is."""
    engine, accts = _healthy_node(10)
    at = T0 + 4 * POLL
    engine.observe(dark(accts[:2], at), at + 1)  # the others were last heard at T0 + 3 POLL
    [plant] = next(s for s in engine.node_summaries() if s.node == "N-1").plant_faults
    assert plant.accounts == sorted(accts[:2]) and not plant.confirmed
    assert _announced(engine) == []
    engine.tick(at + 30)
    assert _announced(engine) == []
    engine.observe(dark(accts[2:4], at + 40), at + 41)
    assert _announced(engine) == []
    engine.observe(dark(accts[4:7], at + 80), at + 81)  # 7 of 10: the area outage
    summary = next(s for s in engine.node_summaries() if s.node == "N-1")
    assert summary.outage and summary.plant_faults == []
    assert [kind for kind, _id in _announced(engine)] == ["node_outage"]
    assert {current(engine, accts)[a] for a in accts[:7]} == {"area_outage"}


def test_a_plant_fault_is_announced_once_the_rest_of_the_node_answers() -> None:
    engine, accts = _healthy_node(10)
    at = T0 + 4 * POLL
    engine.observe(dark(accts[:2], at), at + 1)
    assert _announced(engine) == []
    # The verdicts already say plant fault: the wait is only about announcing it.
    assert {current(engine, accts)[a] for a in accts[:2]} == {"line_fault"}
    engine.observe(poll(accts[2:6], at + 60), at + 61)
    assert _announced(engine) == []  # four of eight heard since: not yet
    engine.observe(poll(accts[6:], at + 120), at + 121)
    [(kind, _id)] = _announced(engine)
    assert kind == "plant_fault"
    engine.observe(dark(accts[:2], at + POLL) + poll(accts[2:], at + POLL), at + POLL + 1)
    assert [k for k, _i in _announced(engine)] == ["plant_fault"]  # stays confirmed


def test_a_plant_fault_whose_neighbours_stay_silent_is_announced_after_confirm_s() -> None:
    engine, accts = _healthy_node(10)
    at = T0 + 4 * POLL
    engine.observe(dark(accts[:3], at), at + 1)
    engine.tick(at + TH.plant.confirm_s - 1)
    assert _announced(engine) == []
    engine.tick(at + TH.plant.confirm_s)
    assert [k for k, _i in _announced(engine)] == ["plant_fault"]
