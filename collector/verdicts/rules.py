"""Verdict rules: small pure functions from facts to a ``Finding``.

Each rule looks at one kind of fact (a reading, a pair of readings for
counter deltas, a ping, a throughput test, a list of reboot times) and
returns ``None`` when nothing is wrong, else ``Finding(verdict, cause,
evidence)``. Evidence names the fact, its value, the threshold it was judged
against (thresholds come from ``Thresholds``, never literals) and where
(channel, interface). Combining findings and node correlation live in
``judge.py`` and ``correlation.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, get_args

from collector.model import Evidence, VerdictName
from collector.verdicts.thresholds import (
    DocsisThresholds,
    DslThresholds,
    GponThresholds,
    PingThresholds,
    RebootThresholds,
    ThroughputThresholds,
)
from probes.counters import counter_delta
from probes.model import (
    DocsisLine,
    DslLine,
    GponLine,
    PingResult,
    ProbeError,
    Result,
    SnmpReading,
    ThroughputResult,
)

# Causes, written in priority order: PRIORITY below is derived from this list.
Cause = Literal[
    "outage",
    "stale",
    "never_seen",
    "dark",
    "reboot_loop",
    "line",
    "node_degraded",
    "ping",
    "below_plan",
    "lan_down",
    "no_snmp",
    "customer_side",
    "ok",
]

# Which finding wins when several fire (first wins). Why this order:
# - an area outage explains everything on the node (no troubleshooting, no dispatch);
# - stale data cannot support any per-account claim, so it is unknown;
# - a dark modem or a reboot loop is the modem itself (equipment_fault) and
#   hides its line readings; a line fault is worth a dispatch before anything softer;
# - degraded (congestion, loss, below plan) outranks a LAN port down, because
#   a slow line also explains "internet is slow" while the port is secondary;
# - customer_side needs everything up to the modem proven good, so it is
#   near the bottom, with only plain ok below it.
PRIORITY: tuple[Cause, ...] = get_args(Cause)  # the Literal is written in priority order
RANK: dict[str, int] = {cause: i for i, cause in enumerate(PRIORITY)}

VERDICT_OF: dict[str, VerdictName] = {
    "outage": "area_outage",
    "stale": "unknown",
    "never_seen": "unknown",
    "dark": "equipment_fault",
    "reboot_loop": "equipment_fault",
    "line": "line_fault",
    "node_degraded": "degraded",
    "ping": "degraded",
    "below_plan": "degraded",
    "lan_down": "equipment_fault",
    "no_snmp": "unknown",
    "customer_side": "customer_side",
    "ok": "ok",
}

# SNMP failures that mean "no answer from the modem" (not a config/auth problem).
DARK_ERRORS: frozenset[str] = frozenset({"timeout", "refused", "unreachable"})
# sysUpTime is TimeTicks (hundredths, 32-bit): it wraps after ~497 days.
UPTIME_WRAP_S = 2**32 / 100.0


class Finding(NamedTuple):
    verdict: VerdictName
    cause: Cause
    evidence: list[Evidence]


def _finding(cause: Cause, evidence: list[Evidence]) -> Finding | None:
    return Finding(VERDICT_OF[cause], cause, evidence) if evidence else None


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def _range(lo: float, hi: float) -> str:
    return f"{lo:g}..{hi:g}"


# --- DOCSIS -----------------------------------------------------------------------------


def docsis_ds_power(line: DocsisLine, th: DocsisThresholds) -> Finding | None:
    """Downstream receive power outside -15..+15 dBmV on any channel."""
    ev = [
        Evidence(
            fact="ds_power_dbmv",
            value=_r(ch.power_dbmv),
            threshold=_range(th.ds_power_min_dbmv, th.ds_power_max_dbmv),
            unit="dBmV",
            detail=f"downstream channel {ch.index}",
        )
        for ch in line.downstream
        if ch.power_dbmv is not None
        and not th.ds_power_min_dbmv <= ch.power_dbmv <= th.ds_power_max_dbmv
    ]
    return _finding("line", ev)


def snr_needed_db(power_dbmv: float | None, th: DocsisThresholds) -> float:
    """256-QAM SNR floor: stricter when the channel's power is low (Arris table)."""
    if power_dbmv is not None and power_dbmv < th.snr_low_power_below_dbmv:
        return th.snr_min_db_low_power
    return th.snr_min_db


def docsis_ds_snr(line: DocsisLine, th: DocsisThresholds) -> Finding | None:
    """Downstream SNR below the 256-QAM floor for the channel's power."""
    ev: list[Evidence] = []
    for ch in line.downstream:
        if ch.snr_db is None:
            continue
        needed = snr_needed_db(ch.power_dbmv, th)
        if ch.snr_db < needed:
            ev.append(
                Evidence(
                    fact="ds_snr_db",
                    value=_r(ch.snr_db),
                    threshold=f">= {needed:g}",
                    unit="dB",
                    detail=f"downstream channel {ch.index}",
                )
            )
    return _finding("line", ev)


def docsis_us_tx_power(line: DocsisLine, th: DocsisThresholds) -> Finding | None:
    """Upstream TX power above the ceiling for the bonded channel count, or too low."""
    channels = [ch for ch in line.upstream if ch.tx_power_dbmv is not None]
    if not channels:
        return None
    hi = th.us_tx_max_for(len(channels))
    ev = [
        Evidence(
            fact="us_tx_power_dbmv",
            value=_r(ch.tx_power_dbmv),
            threshold=_range(th.us_tx_power_min_dbmv, hi),
            unit="dBmV",
            detail=f"upstream channel {ch.index} ({len(channels)} bonded)",
        )
        for ch in channels
        if ch.tx_power_dbmv is not None and not th.us_tx_power_min_dbmv <= ch.tx_power_dbmv <= hi
    ]
    return _finding("line", ev)


def _delta(prev: int | None, cur: int | None) -> int | None:
    """Counter increase; Counter32 unless the old value shows it is a Counter64."""
    if prev is None or cur is None:
        return None
    if cur >= prev:  # the common case, without a call
        return cur - prev
    return counter_delta(prev, cur, bits=64 if prev >= 2**32 else 32)


def docsis_codewords(
    line: DocsisLine, prev: DocsisLine | None, th: DocsisThresholds
) -> Finding | None:
    """Uncorrectable codewords > 1 % of all codewords between two polls.

    Judged on deltas, never totals; a counter that went back (device reset)
    gives an unknown delta and the channel is skipped.
    """
    if prev is None:
        return None
    before = {ch.index: ch for ch in prev.downstream}
    total = bad = 0
    worst: tuple[float, int, int, int] | None = None  # ratio, channel, bad, total
    for ch in line.downstream:
        old = before.get(ch.index)
        if old is None:
            continue
        # Hot path (every channel of every poll): the no-wrap case inline.
        cu, ou, co, oo = ch.uncorrectable, old.uncorrectable, ch.unerrored, old.unerrored
        if cu is None or ou is None or co is None or oo is None:
            continue
        d_unc = cu - ou if cu >= ou else _delta(ou, cu)
        d_ok = co - oo if co >= oo else _delta(oo, co)
        if d_unc is None or d_ok is None:
            continue
        d_cor = _delta(old.corrected, ch.corrected) or 0
        ch_total = d_ok + d_cor + d_unc
        total += ch_total
        bad += d_unc
        if ch_total and (worst is None or d_unc / ch_total > worst[0]):
            worst = (d_unc / ch_total, ch.index, d_unc, ch_total)
    if total < th.codewords_min or bad / total <= th.uncorrectable_ratio_max:
        return None
    detail = f"{bad} of {total} codewords uncorrectable since the previous poll"
    if worst is not None:
        detail += f"; worst downstream channel {worst[1]} ({worst[2]} of {worst[3]})"
    return _finding(
        "line",
        [
            Evidence(
                fact="uncorrectable_ratio",
                value=round(bad / total, 4),
                threshold=f"<= {th.uncorrectable_ratio_max:g}",
                unit="ratio",
                detail=detail,
            )
        ],
    )


def docsis_ranging_timeouts(
    line: DocsisLine, prev: DocsisLine | None, th: DocsisThresholds
) -> Finding | None:
    """T3 / T4 timeouts rising between polls (upstream noise, missing station maintenance)."""
    if prev is None:
        return None
    ev: list[Evidence] = []
    for fact, old, cur, limit in (
        ("t3_timeouts_delta", prev.t3_timeouts, line.t3_timeouts, th.t3_rise_max),
        ("t4_timeouts_delta", prev.t4_timeouts, line.t4_timeouts, th.t4_rise_max),
    ):
        d = _delta(old, cur)
        if d is not None and d > limit:
            ev.append(
                Evidence(
                    fact=fact,
                    value=d,
                    threshold=f"<= {limit}",
                    unit="count",
                    detail="new timeouts since the previous poll",
                )
            )
    return _finding("line", ev)


def docsis_registration(line: DocsisLine, th: DocsisThresholds) -> Finding | None:
    """docsIfCmStatusValue other than operational(12): not registered with the CMTS."""
    if line.cm_status is None or line.cm_status == th.cm_status_operational:
        return None
    return _finding(
        "line",
        [
            Evidence(
                fact="cm_status",
                value=line.cm_status,
                threshold=f"== {th.cm_status_operational}",
                detail="modem not registered with the CMTS (RFC 4546 docsIfCmStatusValue)",
            )
        ],
    )


# --- DSL --------------------------------------------------------------------------------


def dsl_snr_margin(line: DslLine, th: DslThresholds) -> Finding | None:
    m = line.snr_margin_down_db
    if m is None or m > th.snr_margin_bad_at_or_below_db:
        return None
    return _finding(
        "line",
        [
            Evidence(
                fact="dsl_snr_margin_down_db",
                value=_r(m),
                threshold=f"> {th.snr_margin_bad_at_or_below_db:g}",
                unit="dB",
            )
        ],
    )


def dsl_attenuation(line: DslLine, th: DslThresholds) -> Finding | None:
    a = line.attenuation_down_db
    if a is None or a <= th.attenuation_max_db:
        return None
    return _finding(
        "line",
        [
            Evidence(
                fact="dsl_attenuation_down_db",
                value=_r(a),
                threshold=f"<= {th.attenuation_max_db:g}",
                unit="dB",
            )
        ],
    )


def dsl_crc(
    line: DslLine, prev: DslLine | None, elapsed_s: float, th: DslThresholds
) -> Finding | None:
    """Mean CRC error rate between polls at or above the SES rate (G.997.1)."""
    if prev is None or elapsed_s <= 0:
        return None
    d = _delta(prev.crc_errors, line.crc_errors)
    if d is None:
        return None
    rate = d / elapsed_s
    if rate < th.crc_per_s_max:
        return None
    return _finding(
        "line",
        [
            Evidence(
                fact="dsl_crc_per_s",
                value=_r(rate),
                threshold=f"< {th.crc_per_s_max:g}",
                unit="1/s",
                detail=f"{d} CRC errors in {elapsed_s:.0f} s",
            )
        ],
    )


# --- GPON -------------------------------------------------------------------------------


def gpon_optical_power(line: GponLine, th: GponThresholds) -> Finding | None:
    """ONT optical levels outside ITU-T G.984.2 class B+."""
    ev: list[Evidence] = []
    if line.rx_power_dbm is not None and not (
        th.rx_power_min_dbm <= line.rx_power_dbm <= th.rx_power_max_dbm
    ):
        ev.append(
            Evidence(
                fact="gpon_rx_power_dbm",
                value=_r(line.rx_power_dbm),
                threshold=_range(th.rx_power_min_dbm, th.rx_power_max_dbm),
                unit="dBm",
            )
        )
    if line.tx_power_dbm is not None and not (
        th.tx_power_min_dbm <= line.tx_power_dbm <= th.tx_power_max_dbm
    ):
        ev.append(
            Evidence(
                fact="gpon_tx_power_dbm",
                value=_r(line.tx_power_dbm),
                threshold=_range(th.tx_power_min_dbm, th.tx_power_max_dbm),
                unit="dBm",
            )
        )
    return _finding("line", ev)


# --- line dispatch ------------------------------------------------------------------------


def docsis_clean(line: DocsisLine, prev: DocsisLine | None, th: DocsisThresholds) -> bool:
    """True when no DOCSIS rule above can fire: one pass, no evidence built.

    The common case (a healthy modem, every poll) costs a few comparisons per
    channel instead of six rules. False only means "run the rules": anything
    this cannot settle cheaply (rising uncorrectables, a counter going back,
    channels that do not line up with the previous poll) is left to them.
    """
    if not docsis_levels_clean(line, th):
        return False
    if prev is None:
        return True
    return docsis_counters_clean(
        line,
        [ch.index for ch in prev.downstream],
        [ch.uncorrectable for ch in prev.downstream],
        prev.t3_timeouts,
        prev.t4_timeouts,
        th,
    )


def docsis_levels_clean(line: DocsisLine, th: DocsisThresholds) -> bool:
    """The part of ``docsis_clean`` that needs this reading only."""
    if line.cm_status is not None and line.cm_status != th.cm_status_operational:
        return False
    lo, hi = th.ds_power_min_dbmv, th.ds_power_max_dbmv
    low_below = th.snr_low_power_below_dbmv
    snr_min, snr_low = th.snr_min_db, th.snr_min_db_low_power
    for ch in line.downstream:
        p, s = ch.power_dbmv, ch.snr_db
        if p is not None:
            if not lo <= p <= hi:
                return False
            if s is not None and not s >= (snr_low if p < low_below else snr_min):
                return False
        elif s is not None and not s >= snr_min:
            return False
    tx = [ch.tx_power_dbmv for ch in line.upstream if ch.tx_power_dbmv is not None]
    if tx:
        bottom, top = th.us_tx_power_min_dbmv, th.us_tx_max_for(len(tx))
        for t in tx:
            if not bottom <= t <= top:
                return False
    return True


def docsis_clean_unchanged(line: DocsisLine, th: DocsisThresholds) -> bool:
    """``docsis_clean(line, prev, th)`` for a ``prev`` whose downstream channel
    indexes and uncorrectable counters and T3/T4 counters equal ``line``'s:
    a healthy modem's usual poll, decided without the previous reading."""
    if not docsis_levels_clean(line, th):
        return False
    if th.codewords_min <= 0 or th.uncorrectable_ratio_max < 0:
        return False
    # Equal counters rose by 0, which fails only a negative limit.
    if line.t3_timeouts is not None and th.t3_rise_max < 0:
        return False
    return not (line.t4_timeouts is not None and th.t4_rise_max < 0)


def docsis_counters_clean(
    line: DocsisLine,
    prev_index: Sequence[int],
    prev_uncorrectable: Sequence[int | None],
    prev_t3: int | None,
    prev_t4: int | None,
    th: DocsisThresholds,
) -> bool:
    """The part of ``docsis_clean`` that compares with the previous reading,
    given as its downstream channel indexes, uncorrectable counters and T3/T4
    counters (what the engine keeps of a previous reading)."""
    # Codewords: no uncorrectable added on any channel -> ratio 0, never a finding.
    if th.codewords_min <= 0 or th.uncorrectable_ratio_max < 0:
        return False
    if len(prev_index) != len(line.downstream):
        return False
    for ch, old_index, ou in zip(line.downstream, prev_index, prev_uncorrectable, strict=True):
        if ch.index != old_index:
            return False
        cu = ch.uncorrectable
        if cu is not None and ou is not None and cu != ou:
            return False
    for old_t, cur_t, limit in (
        (prev_t3, line.t3_timeouts, th.t3_rise_max),
        (prev_t4, line.t4_timeouts, th.t4_rise_max),
    ):
        if old_t is not None and cur_t is not None:
            d = cur_t - old_t if cur_t >= old_t else _delta(old_t, cur_t)
            if d is not None and d > limit:
                return False
    return True


def line_findings(
    reading: SnmpReading,
    prev: SnmpReading | None,
    elapsed_s: float,
    docsis: DocsisThresholds,
    dsl: DslThresholds,
    gpon: GponThresholds,
) -> list[Finding]:
    """Every line rule for the reading's technology. ``prev`` is the previous
    reading of the same modem without a reboot in between (None otherwise)."""
    line = reading.line
    out: list[Finding | None] = []
    if isinstance(line, DocsisLine):
        p = prev.line if prev is not None and isinstance(prev.line, DocsisLine) else None
        if docsis_clean(line, p, docsis):
            return []
        out = [
            docsis_registration(line, docsis),
            docsis_ds_power(line, docsis),
            docsis_ds_snr(line, docsis),
            docsis_us_tx_power(line, docsis),
            docsis_codewords(line, p, docsis),
            docsis_ranging_timeouts(line, p, docsis),
        ]
    elif isinstance(line, DslLine):
        p2 = prev.line if prev is not None and isinstance(prev.line, DslLine) else None
        out = [
            dsl_snr_margin(line, dsl),
            dsl_attenuation(line, dsl),
            dsl_crc(line, p2, elapsed_s, dsl),
        ]
    elif isinstance(line, GponLine):
        out = [gpon_optical_power(line, gpon)]
    return [f for f in out if f is not None]


# --- reachability, reboots, LAN ---------------------------------------------------------


def is_unreachable(snmp: Result | None, ping: Result | None) -> bool:
    """No answer: SNMP timed out / refused / unreachable and ping (if any) lost everything."""
    if not isinstance(snmp, ProbeError) or snmp.kind not in DARK_ERRORS:
        return False
    if isinstance(ping, PingResult):
        return ping.received == 0
    return True


def modem_dark(
    snmp: Result | None, ping: Result | None, dark_since: float | None
) -> Finding | None:
    """The modem does not answer at all (node correlation decides outage vs. equipment)."""
    if not is_unreachable(snmp, ping):
        return None
    assert isinstance(snmp, ProbeError)
    ev = [Evidence(fact="snmp_error", value=snmp.kind, detail="modem does not answer SNMP")]
    if isinstance(ping, PingResult):
        ev.append(Evidence(fact="ping_loss_ratio", value=_r(ping.loss_ratio, 3), unit="ratio"))
    if dark_since is not None:
        # The start time, not the duration: evidence stays stable between polls.
        ev.append(
            Evidence(
                fact="unreachable_since",
                value=dark_since,
                unit="unix_s",
                detail="first unanswered poll of this dark spell",
            )
        )
    return _finding("dark", ev)


def rebooted(
    prev_uptime_s: float | None, prev_at: float, uptime_s: float | None, at: float
) -> bool:
    """sysUpTime went backwards, or is shorter than the time since the last answer.

    A backwards step at the 32-bit TimeTicks wrap (~497 days) is not a reboot.
    """
    if uptime_s is None or prev_uptime_s is None:
        return False
    elapsed = at - prev_at
    if elapsed <= 0:
        return False
    if uptime_s < prev_uptime_s:
        expected = (prev_uptime_s + elapsed) % UPTIME_WRAP_S
        wrapped = prev_uptime_s + elapsed >= UPTIME_WRAP_S and abs(uptime_s - expected) < 60.0
        return not wrapped
    # Slack of one second: uptime and poll time come from different clocks.
    return uptime_s + 1.0 < elapsed


def reboot_loop(reboots: Sequence[float], now: float, th: RebootThresholds) -> Finding | None:
    """Restarting on its own: >= loop_count reboots within loop_window_s."""
    recent = [t for t in reboots if now - th.loop_window_s <= t <= now]
    if len(recent) < th.loop_count:
        return None
    return _finding(
        "reboot_loop",
        [
            Evidence(
                fact="reboots_in_window",
                value=len(recent),
                threshold=f"< {th.loop_count}",
                unit="count",
                detail=f"within {th.loop_window_s:.0f} s; last at {max(recent):.0f}",
            )
        ],
    )


def lan_down(reading: SnmpReading) -> Finding | None:
    """Every LAN port of the modem reports down (and at least one reports at all)."""
    lan = [i for i in reading.interfaces if i.role == "lan" and i.oper_up is not None]
    if not lan or any(i.oper_up for i in lan):
        return None
    return _finding(
        "lan_down",
        [
            Evidence(
                fact="lan_oper_up",
                value=False,
                threshold="== true",
                detail=f"interface {i.index} {i.name}".rstrip(),
            )
            for i in lan
        ],
    )


# --- ping and throughput ------------------------------------------------------------------


def ping_quality(ping: PingResult, th: PingThresholds) -> Finding | None:
    """Loss or latency to an answering modem. 100 % loss is left to reachability."""
    if ping.received == 0:
        return None
    ev: list[Evidence] = []
    if ping.loss_ratio > th.loss_ratio_max:
        ev.append(
            Evidence(
                fact="ping_loss_ratio",
                value=_r(ping.loss_ratio, 3),
                threshold=f"<= {th.loss_ratio_max:g}",
                unit="ratio",
                detail=f"{ping.received} of {ping.sent} replies",
            )
        )
    if ping.rtt_avg_ms is not None and ping.rtt_avg_ms > th.rtt_avg_max_ms:
        ev.append(
            Evidence(
                fact="ping_rtt_avg_ms",
                value=_r(ping.rtt_avg_ms, 1),
                threshold=f"<= {th.rtt_avg_max_ms:g}",
                unit="ms",
            )
        )
    return _finding("ping", ev)


def throughput_ratio(result: ThroughputResult, plan_down_mbps: float) -> float | None:
    if result.down_mbps is None or plan_down_mbps <= 0:
        return None
    return result.down_mbps / plan_down_mbps


def throughput_vs_plan(
    result: ThroughputResult, at: float, plan_down_mbps: float, now: float, th: ThroughputThresholds
) -> Finding | None:
    """A fresh test to the modem: at plan -> customer_side candidate; well below -> below_plan."""
    if now - at > th.fresh_s:
        return None
    ratio = throughput_ratio(result, plan_down_mbps)
    if ratio is None:
        return None
    assert result.down_mbps is not None
    if ratio >= th.customer_side_min_ratio:
        cause: Cause = "customer_side"
        threshold = f">= {th.customer_side_min_ratio:g} of plan"
    elif ratio < th.below_plan_ratio:
        cause = "below_plan"
        threshold = f">= {th.below_plan_ratio:g} of plan"
    else:
        return None
    return _finding(
        cause,
        [
            Evidence(
                fact="throughput_down_ratio",
                value=round(ratio, 3),
                threshold=threshold,
                unit="ratio",
                detail=f"{result.down_mbps:.1f} of {plan_down_mbps:g} Mbit/s plan at {at:.0f}",
            )
        ],
    )


def stale(last_attempt: float | None, now: float, stale_after_s: float) -> Finding | None:
    """No record for longer than the staleness limit, or none ever."""
    if last_attempt is None:
        return Finding("unknown", "never_seen", [Evidence(fact="last_result", value=None)])
    age = now - last_attempt
    if age <= stale_after_s:
        return None
    return Finding(
        "unknown",
        "stale",
        [
            Evidence(
                fact="last_result_age_s",
                value=_r(age, 0),
                threshold=f"<= {stale_after_s:g}",
                unit="s",
                detail=f"last result at {last_attempt:.0f}",
            )
        ],
    )


def snmp_unusable(snmp: Result | None) -> Finding | None:
    """No usable SNMP reading although the modem is not dark (ping answers, or our
    own auth/decode/config problem): the line cannot be judged."""
    if isinstance(snmp, ProbeError):
        detail = snmp.message[:200] or "SNMP probe failed"
        return _finding("no_snmp", [Evidence(fact="snmp_error", value=snmp.kind, detail=detail)])
    if snmp is None:
        return _finding("no_snmp", [Evidence(fact="snmp_reading", value=None)])
    return None
