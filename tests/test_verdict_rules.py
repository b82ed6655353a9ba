"""Each verdict rule, one by one, with concrete values on both sides of its threshold.

Pure functions, no peers needed: the rules see readings, never the network.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from collector.keymetrics import METRICS, history_point
from collector.verdicts import PRIORITY, ThresholdError, Thresholds, rules
from collector.verdicts.correlation import evaluate_degraded, evaluate_outage
from collector.verdicts.messages import ACTIONS, CUSTOMER, customer_message
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    DslLine,
    GponLine,
    InterfaceStatus,
    PingResult,
    ProbeError,
    ProbeRecord,
    SnmpReading,
    ThroughputResult,
    UpstreamChannel,
)

TH = Thresholds.default()
D = TH.docsis


def ds(index: int, power: float = 0.0, snr: float = 38.0, **kw: int) -> DownstreamChannel:
    return DownstreamChannel(index=index, power_dbmv=power, snr_db=snr, **kw)


def us(*powers: float) -> list[UpstreamChannel]:
    return [UpstreamChannel(index=i + 1, tx_power_dbmv=p) for i, p in enumerate(powers)]


# --- thresholds -----------------------------------------------------------------------------


def test_defaults_are_the_documented_values() -> None:
    assert (D.ds_power_min_dbmv, D.ds_power_max_dbmv) == (-15.0, 15.0)
    assert (D.snr_min_db, D.snr_min_db_low_power) == (30.0, 33.0)
    assert [D.us_tx_max_for(n) for n in (1, 2, 3, 4, 8)] == [57.0, 54.0, 51.0, 52.2, 52.2]
    assert TH.freshness.stale_after_s == 3 * TH.freshness.poll_interval_s == 900.0
    assert (TH.outage.min_share, TH.outage.min_count, TH.outage.window_s) == (0.5, 5, 600.0)
    assert (TH.gpon.rx_power_min_dbm, TH.gpon.rx_power_max_dbm) == (-28.0, -8.0)
    assert TH.throughput.customer_side_min_ratio == 0.8


def test_every_default_cites_a_source() -> None:
    text = (Path(rules.__file__).parent.parent / "thresholds.toml").read_text()
    blocks = text.split("\n\n")
    for block in blocks:
        keys = [ln for ln in block.splitlines() if "=" in ln and not ln.startswith("#")]
        if keys:
            assert any(ln.startswith("#") for ln in block.splitlines()), block


def test_file_and_overrides_merge_over_defaults(tmp_path: Path) -> None:
    f = tmp_path / "th.toml"
    f.write_text("[outage]\nmin_count = 10\n[dsl]\nattenuation_max_db = 55.0\n")
    th = Thresholds.load(f, {"outage.window_s": 120.0, "ping": {"loss_ratio_max": 0.1}})
    assert th.outage.min_count == 10
    assert th.outage.window_s == 120.0
    assert th.outage.min_share == 0.5  # untouched default
    assert th.dsl.attenuation_max_db == 55.0
    assert th.ping.loss_ratio_max == 0.1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[outage]\nmin_cont = 3\n", "unknown threshold 'outage.min_cont'"),
        ("[outages]\nmin_count = 3\n", "unknown threshold 'outages'"),
        ("[outage]\nmin_count = 'five'\n", "$.outage.min_count"),
        ("[outage]\nclear_share = 0.9\n", "clear_share must not exceed"),
        ("[outage\n", "not valid TOML"),
    ],
)
def test_bad_thresholds_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "th.toml"
    f.write_text(text)
    with pytest.raises(ThresholdError, match=message.replace("$", r"\$").replace("(", r"\(")):
        Thresholds.load(f)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ThresholdError, match="cannot read thresholds file"):
        Thresholds.load(tmp_path / "absent.toml")


# --- DOCSIS ---------------------------------------------------------------------------------


def test_ds_power_in_and_out_of_range() -> None:
    assert rules.docsis_ds_power(DocsisLine(downstream=[ds(1, 14.9), ds(2, -15.0)]), D) is None
    f = rules.docsis_ds_power(DocsisLine(downstream=[ds(1, 3.0), ds(2, 16.2), ds(3, -17.5)]), D)
    assert f is not None and f.verdict == "line_fault"
    assert [(e.value, e.detail, e.threshold) for e in f.evidence] == [
        (16.2, "downstream channel 2", "-15..15"),
        (-17.5, "downstream channel 3", "-15..15"),
    ]


def test_snr_floor_depends_on_power() -> None:
    # 31 dB is enough at 0 dBmV (>= 30) but not at -8 dBmV (needs >= 33).
    assert rules.docsis_ds_snr(DocsisLine(downstream=[ds(4, 0.0, 31.0)]), D) is None
    f = rules.docsis_ds_snr(DocsisLine(downstream=[ds(4, -8.0, 31.0)]), D)
    assert f is not None
    assert f.evidence[0].fact == "ds_snr_db"
    assert (f.evidence[0].value, f.evidence[0].threshold) == (31.0, ">= 33")
    f = rules.docsis_ds_snr(DocsisLine(downstream=[ds(5, 2.0, 27.4)]), D)
    assert f is not None and (f.evidence[0].value, f.evidence[0].threshold) == (27.4, ">= 30")
    assert f.evidence[0].detail == "downstream channel 5"


def test_us_tx_power_ceiling_by_channel_count() -> None:
    # 53 dBmV is within the ceiling for 1 (57) or 2 (54) channels, above it for 3 (51).
    assert rules.docsis_us_tx_power(DocsisLine(upstream=us(53.0)), D) is None
    assert rules.docsis_us_tx_power(DocsisLine(upstream=us(53.0, 53.0)), D) is None
    f = rules.docsis_us_tx_power(DocsisLine(upstream=us(53.0, 53.0, 50.0)), D)
    assert f is not None and len(f.evidence) == 2
    assert f.evidence[0].threshold == "35..51"
    f = rules.docsis_us_tx_power(DocsisLine(upstream=us(45.0, 45.0, 45.0, 52.5)), D)
    assert f is not None and f.evidence[0].threshold == "35..52.2"
    f = rules.docsis_us_tx_power(DocsisLine(upstream=us(33.0)), D)
    assert f is not None and f.evidence[0].value == 33.0


def _cw(unerr: int, corr: int, unc: int, index: int = 1) -> DocsisLine:
    return DocsisLine(downstream=[ds(index, unerrored=unerr, corrected=corr, uncorrectable=unc)])


def test_uncorrectable_ratio_judged_on_deltas_not_totals() -> None:
    # A huge historic total but a clean interval: fine.
    assert (
        rules.docsis_codewords(_cw(10_000_000, 0, 5_000_000), _cw(9_000_000, 0, 5_000_000), D)
        is None
    )
    # 2 % of this interval's codewords uncorrectable: fault.
    f = rules.docsis_codewords(_cw(1_098_000, 0, 2_000), _cw(1_000_000, 0, 0), D)
    assert f is not None and f.evidence[0].fact == "uncorrectable_ratio"
    assert f.evidence[0].value == 0.02
    assert "downstream channel 1" in (f.evidence[0].detail or "")
    # Exactly 1 % is still in spec (> 1 % degrades).
    assert rules.docsis_codewords(_cw(99_000, 0, 1_000), _cw(0, 0, 0), D) is None


def test_uncorrectable_counter_wrap_is_a_small_delta() -> None:
    top = 2**32
    # uncorrectable wrapped from top-100 to 50 (delta 150), unerrored from top-1000 to 99_000.
    prev = _cw(top - 1_000, 0, top - 100)
    cur = _cw(99_000, 0, 50)
    assert rules.docsis_codewords(cur, prev, D) is None  # 150 of 100_150: 0.15 %
    cur_bad = _cw(99_000, 0, 5_000)  # 5100 of ~105k: 4.9 %
    f = rules.docsis_codewords(cur_bad, prev, D)
    assert f is not None and 0.04 < float(f.evidence[0].value) < 0.05  # type: ignore[arg-type]


def test_counter_reset_is_not_errors() -> None:
    # A modem reset puts counters back near zero: unknown delta, not 4 billion errors.
    prev = _cw(50_000_000, 100, 40_000)
    cur = _cw(10_000, 0, 30)
    assert rules.docsis_codewords(cur, prev, D) is None


def test_too_few_codewords_are_not_judged() -> None:
    assert rules.docsis_codewords(_cw(100, 0, 50), _cw(0, 0, 0), D) is None


def test_t3_t4_rising() -> None:
    prev = DocsisLine(t3_timeouts=10, t4_timeouts=2)
    assert rules.docsis_ranging_timeouts(DocsisLine(t3_timeouts=14, t4_timeouts=2), prev, D) is None
    f = rules.docsis_ranging_timeouts(DocsisLine(t3_timeouts=30, t4_timeouts=3), prev, D)
    assert f is not None
    assert [(e.fact, e.value) for e in f.evidence] == [
        ("t3_timeouts_delta", 20),
        ("t4_timeouts_delta", 1),
    ]
    assert rules.docsis_ranging_timeouts(DocsisLine(t3_timeouts=30), None, D) is None


def test_cm_status_not_operational() -> None:
    assert rules.docsis_registration(DocsisLine(cm_status=12), D) is None
    f = rules.docsis_registration(DocsisLine(cm_status=6), D)
    assert f is not None and f.evidence[0].value == 6 and f.evidence[0].threshold == "== 12"


# --- DSL and GPON ---------------------------------------------------------------------------


def test_dsl_margin_attenuation_crc() -> None:
    assert rules.dsl_snr_margin(DslLine(snr_margin_down_db=6.1), TH.dsl) is None
    f = rules.dsl_snr_margin(DslLine(snr_margin_down_db=6.0), TH.dsl)
    assert f is not None and f.evidence[0].threshold == "> 6"
    assert rules.dsl_attenuation(DslLine(attenuation_down_db=60.0), TH.dsl) is None
    f = rules.dsl_attenuation(DslLine(attenuation_down_db=63.5), TH.dsl)
    assert f is not None and f.evidence[0].value == 63.5
    # 300 s apart: 5000 CRC errors = 16.7/s (fine), 6000 = 20/s (>= 18/s, a SES rate).
    prev = DslLine(crc_errors=1_000)
    assert rules.dsl_crc(DslLine(crc_errors=6_000), prev, 300.0, TH.dsl) is None
    f = rules.dsl_crc(DslLine(crc_errors=7_000), prev, 300.0, TH.dsl)
    assert f is not None and f.evidence[0].value == 20.0
    assert rules.dsl_crc(DslLine(crc_errors=5), prev, 300.0, TH.dsl) is None  # reset


def test_gpon_optical_power_class_b_plus() -> None:
    assert rules.gpon_optical_power(GponLine(rx_power_dbm=-20.0, tx_power_dbm=2.0), TH.gpon) is None
    f = rules.gpon_optical_power(GponLine(rx_power_dbm=-29.3, tx_power_dbm=2.0), TH.gpon)
    assert f is not None and f.evidence[0].fact == "gpon_rx_power_dbm"
    assert f.evidence[0].threshold == "-28..-8"
    f = rules.gpon_optical_power(GponLine(rx_power_dbm=-6.0), TH.gpon)
    assert f is not None


# --- reachability, reboots, LAN ------------------------------------------------------------


def test_unreachable_needs_snmp_silence_and_no_ping_reply() -> None:
    t = ProbeError(kind="timeout")
    assert rules.is_unreachable(t, None)
    assert rules.is_unreachable(t, PingResult(sent=5, received=0))
    assert rules.is_unreachable(t, ProbeError(kind="timeout"))
    assert not rules.is_unreachable(t, PingResult(sent=5, received=1))
    assert not rules.is_unreachable(ProbeError(kind="auth"), None)  # our problem, not theirs
    assert not rules.is_unreachable(SnmpReading(), PingResult(sent=5, received=0))


def test_reboot_detection() -> None:
    # Uptime 1000 s, polled again 300 s later: 1300 expected.
    assert not rules.rebooted(1000.0, 0.0, 1300.0, 300.0)
    assert rules.rebooted(1000.0, 0.0, 120.0, 300.0)  # went backwards
    assert rules.rebooted(10.0, 0.0, 250.0, 3600.0)  # less than the time since the last poll
    # The 32-bit TimeTicks wrap (~497 days) is not a reboot.
    wrap = 2**32 / 100
    assert not rules.rebooted(wrap - 100.0, 0.0, 200.0, 300.0)
    assert not rules.rebooted(None, 0.0, 5.0, 300.0)


def test_reboot_loop_window() -> None:
    r = TH.reboot
    assert rules.reboot_loop([100.0, 1000.0], 2000.0, r) is None
    f = rules.reboot_loop([100.0, 1000.0, 1900.0], 2000.0, r)
    assert f is not None and f.verdict == "equipment_fault" and f.evidence[0].value == 3
    assert rules.reboot_loop([100.0, 1000.0, 1900.0], 3701.0, r) is None  # first left the window


def test_lan_down() -> None:
    up = InterfaceStatus(index=2, name="eth0", role="lan", oper_up=True)
    down = InterfaceStatus(index=3, name="eth1", role="lan", oper_up=False)
    wan = InterfaceStatus(index=1, role="wan", oper_up=False)
    assert rules.lan_down(SnmpReading(interfaces=[up, down])) is None
    assert rules.lan_down(SnmpReading(interfaces=[wan])) is None
    f = rules.lan_down(SnmpReading(interfaces=[wan, down]))
    assert f is not None and f.verdict == "equipment_fault"
    assert f.evidence[0].detail == "interface 3 eth1"


# --- ping, throughput, staleness --------------------------------------------------------------


def test_ping_quality() -> None:
    p = TH.ping
    assert rules.ping_quality(PingResult(sent=20, received=20, rtt_avg_ms=8.0), p) is None
    assert rules.ping_quality(PingResult(sent=20, received=0), p) is None  # reachability's job
    f = rules.ping_quality(PingResult(sent=20, received=17, rtt_avg_ms=180.0), p)
    assert f is not None and f.verdict == "degraded"
    assert [e.fact for e in f.evidence] == ["ping_loss_ratio", "ping_rtt_avg_ms"]
    assert f.evidence[0].value == 0.15


def test_throughput_against_plan() -> None:
    t = TH.throughput
    at_plan = ThroughputResult(down_mbps=92.0)
    f = rules.throughput_vs_plan(at_plan, 1000.0, 100.0, 1100.0, t)
    assert f is not None and f.verdict == "customer_side" and f.evidence[0].value == 0.92
    assert rules.throughput_vs_plan(at_plan, 1000.0, 100.0, 1000.0 + 3601.0, t) is None  # old
    assert rules.throughput_vs_plan(ThroughputResult(down_mbps=70.0), 0, 100.0, 1, t) is None
    f = rules.throughput_vs_plan(ThroughputResult(down_mbps=40.0), 0, 100.0, 1, t)
    assert f is not None and f.verdict == "degraded" and f.cause == "below_plan"


def test_stale_and_never_seen() -> None:
    assert rules.stale(1000.0, 1900.0, 900.0) is None
    f = rules.stale(1000.0, 1900.5, 900.0)
    assert f is not None and f.verdict == "unknown" and f.cause == "stale"
    f = rules.stale(None, 5.0, 900.0)
    assert f is not None and f.cause == "never_seen"


# --- correlation ------------------------------------------------------------------------------


def test_outage_opens_on_share_and_count_within_window() -> None:
    o = TH.outage
    kw = {"outage": False, "since": None, "clear_since": None, "now": 1000.0, "th": o}
    assert not evaluate_outage(accounts=40, dark_since=[900.0] * 19, **kw).outage  # 47.5 %
    d = evaluate_outage(accounts=40, dark_since=[900.0] * 10 + [950.0] * 10, **kw)
    assert d.outage and d.since == 900.0
    # 4 of 6 is 67 % but fewer than min_count 5.
    assert not evaluate_outage(accounts=6, dark_since=[900.0] * 4, **kw).outage
    # 30 dark, but spread over days: not together, so no outage.
    spread = [i * 3600.0 for i in range(30)]
    assert not evaluate_outage(accounts=40, dark_since=spread, **kw).outage


def test_outage_clears_only_after_hysteresis() -> None:
    o = TH.outage
    base = {"accounts": 40, "outage": True, "since": 100.0, "th": o}
    # 25 % still dark (>= 20 % clear share): stays open, no clear timer.
    d = evaluate_outage(dark_since=[100.0] * 10, clear_since=None, now=2000.0, **base)
    assert d == (True, 100.0, None)
    # 5 % dark: clear timer starts, outage still open.
    d = evaluate_outage(dark_since=[100.0] * 2, clear_since=None, now=2000.0, **base)
    assert d == (True, 100.0, 2000.0)
    d = evaluate_outage(dark_since=[100.0] * 2, clear_since=2000.0, now=2599.0, **base)
    assert d.outage
    d = evaluate_outage(dark_since=[100.0] * 2, clear_since=2000.0, now=2600.0, **base)
    assert d == (False, None, None)


def test_degraded_node() -> None:
    g = TH.degraded
    assert not evaluate_degraded([(0.0, 0.3), (0.0, 0.4)], 10.0, g).degraded  # too few tests
    d = evaluate_degraded([(0.0, 0.3), (0.0, 0.4), (0.0, 0.95)], 10.0, g)
    assert d.degraded and (d.tests, d.below) == (3, 2)
    assert not evaluate_degraded([(0.0, 0.3), (0.0, 0.4), (0.0, 0.95)], 3601.0, g).degraded


# --- priority, messages, key metrics ---------------------------------------------------------


def test_priority_order() -> None:
    order = [rules.VERDICT_OF[c] for c in PRIORITY]
    assert order[0] == "area_outage"
    assert PRIORITY.index("dark") < PRIORITY.index("line") < PRIORITY.index("node_degraded")
    assert PRIORITY.index("node_degraded") < PRIORITY.index("lan_down")
    assert PRIORITY.index("lan_down") < PRIORITY.index("customer_side") < PRIORITY.index("ok")


def _all_fields() -> dict[str, object]:
    """Every field any customer template names, filled: no "?" for a missing value."""
    names = {
        field
        for texts in CUSTOMER.values()
        for text in texts.values()
        for _lit, field, _spec, _conv in string.Formatter().parse(text)
        if field
    }
    return dict.fromkeys(names, "x")


def test_every_cause_has_an_action_and_three_languages() -> None:
    for cause in PRIORITY:
        assert ACTIONS[cause]
        msg = customer_message(cause, {"since": "2026-11-24 01:20 UTC"})
        assert set(msg) == {"en", "sv", "pl"}
        assert len({msg["en"], msg["sv"], msg["pl"]}) == 3  # really translated
        # Missing template values render as "?": compare with a render in which
        # every field is filled, so a real question in a text is allowed.
        filled = customer_message(cause, _all_fields())
        assert msg["en"].count("?") == filled["en"].count("?")
    assert (
        "2026-11-24 01:20 UTC"
        in customer_message("outage", {"since": "2026-11-24 01:20 UTC"})["sv"]
    )
    assert "avbrott" in CUSTOMER["outage"]["sv"] and "awaria" in CUSTOMER["outage"]["pl"]


def _rec(result: object, probe: str = "snmp") -> ProbeRecord:
    return ProbeRecord(account="A1", probe=probe, started_at=10.0, duration_s=0.1, result=result)  # type: ignore[arg-type]


def test_history_point_docsis() -> None:
    line = DocsisLine(
        downstream=[
            ds(1, -2.0, 37.0, uncorrectable=5),
            ds(2, 4.5, 35.5, uncorrectable=7),
        ],
        upstream=us(44.0, 47.5),
    )
    hp = history_point(_rec(SnmpReading(line=line)))
    assert hp is not None and hp.at == 10.0
    assert hp.metrics == {
        "reachable": 1.0,
        "ds_power_dbmv_min": -2.0,
        "ds_power_dbmv_max": 4.5,
        "ds_snr_db_min": 35.5,
        "us_tx_power_dbmv_max": 47.5,
        "uncorrectable": 12.0,
    }
    assert set(hp.metrics) <= set(METRICS)


def test_history_point_other_kinds() -> None:
    dsl = SnmpReading(
        line=DslLine(
            snr_margin_down_db=9.5,
            attenuation_down_db=32.0,
            sync_down_kbps=16000,
            sync_up_kbps=1000,
        )
    )
    m = history_point(_rec(dsl))
    assert m is not None and m.metrics["dsl_sync_down_kbps"] == 16000.0
    g = history_point(_rec(SnmpReading(line=GponLine(rx_power_dbm=-19.0, tx_power_dbm=2.1))))
    assert g is not None and g.metrics["gpon_rx_power_dbm"] == -19.0
    dark = history_point(_rec(ProbeError(kind="timeout")))
    assert dark is not None and dark.metrics == {"reachable": 0.0}
    assert history_point(_rec(ProbeError(kind="auth"))) is None
    p = history_point(_rec(PingResult(sent=10, received=9, rtt_avg_ms=12.0), "ping"))
    assert p is not None and p.metrics == {
        "reachable": 1.0,
        "ping_loss_ratio": pytest.approx(0.1),
        "ping_rtt_avg_ms": 12.0,
    }
    t = history_point(_rec(ThroughputResult(down_mbps=95.0, up_mbps=9.0), "throughput"))
    assert t is not None and t.metrics == {"throughput_down_mbps": 95.0, "throughput_up_mbps": 9.0}
    assert history_point(_rec(ProbeError(kind="busy"), "throughput")) is None
