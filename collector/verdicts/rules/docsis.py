"""DOCSIS line rules (DOCS-IF-MIB readings, RFC 4546) and the fast checks that
settle a healthy modem's poll without building evidence. Thresholds: ``[docsis]``
in thresholds.toml (each default cites THRESHOLDS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.model import Evidence
from collector.verdicts.rules.core import Finding, finding, rise, rounded, span
from collector.verdicts.rules.pnm import pre_eq_clean
from collector.verdicts.thresholds import DocsisThresholds, PnmThresholds
from probes.model import DocsisLine


def docsis_ds_power(line: DocsisLine, th: DocsisThresholds) -> Finding | None:
    """Downstream receive power outside -15..+15 dBmV on any channel."""
    ev = [
        Evidence(
            fact="ds_power_dbmv",
            value=rounded(ch.power_dbmv),
            threshold=span(th.ds_power_min_dbmv, th.ds_power_max_dbmv),
            unit="dBmV",
            detail=f"downstream channel {ch.index}",
        )
        for ch in line.downstream
        if ch.power_dbmv is not None
        and not th.ds_power_min_dbmv <= ch.power_dbmv <= th.ds_power_max_dbmv
    ]
    return finding("line", ev)


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
                    value=rounded(ch.snr_db),
                    threshold=f">= {needed:g}",
                    unit="dB",
                    detail=f"downstream channel {ch.index}",
                )
            )
    return finding("line", ev)


def docsis_us_tx_power(line: DocsisLine, th: DocsisThresholds) -> Finding | None:
    """Upstream TX power above the ceiling for the bonded channel count, or too low."""
    channels = [ch for ch in line.upstream if ch.tx_power_dbmv is not None]
    if not channels:
        return None
    hi = th.us_tx_max_for(len(channels))
    ev = [
        Evidence(
            fact="us_tx_power_dbmv",
            value=rounded(ch.tx_power_dbmv),
            threshold=span(th.us_tx_power_min_dbmv, hi),
            unit="dBmV",
            detail=f"upstream channel {ch.index} ({len(channels)} bonded)",
        )
        for ch in channels
        if ch.tx_power_dbmv is not None and not th.us_tx_power_min_dbmv <= ch.tx_power_dbmv <= hi
    ]
    return finding("line", ev)


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
        d_unc = cu - ou if cu >= ou else rise(ou, cu)
        d_ok = co - oo if co >= oo else rise(oo, co)
        if d_unc is None or d_ok is None:
            continue
        d_cor = rise(old.corrected, ch.corrected) or 0
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
    return finding(
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
        d = rise(old, cur)
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
    return finding("line", ev)


def docsis_registration(line: DocsisLine, th: DocsisThresholds) -> Finding | None:
    """docsIfCmStatusValue other than operational(12): not registered with the CMTS."""
    if line.cm_status is None or line.cm_status == th.cm_status_operational:
        return None
    return finding(
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


def docsis_clean(
    line: DocsisLine,
    prev: DocsisLine | None,
    th: DocsisThresholds,
    pnm: PnmThresholds | None = None,
) -> bool:
    """True when no DOCSIS rule above can fire: one pass, no evidence built.

    The common case (a healthy modem, every poll) costs a few comparisons per
    channel instead of six rules. False only means "run the rules": anything
    this cannot settle cheaply (rising uncorrectables, a counter going back,
    channels that do not line up with the previous poll) is left to them.
    """
    if not docsis_levels_clean(line, th, pnm):
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


def docsis_levels_clean(
    line: DocsisLine, th: DocsisThresholds, pnm: PnmThresholds | None = None
) -> bool:
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
    return pnm is None or not line.pre_eq or pre_eq_clean(line, pnm)


def docsis_clean_unchanged(
    line: DocsisLine, th: DocsisThresholds, pnm: PnmThresholds | None = None
) -> bool:
    """``docsis_clean(line, prev, th)`` for a ``prev`` whose downstream channel
    indexes and uncorrectable counters and T3/T4 counters equal ``line``'s:
    a healthy modem's usual poll, decided without the previous reading."""
    if not docsis_levels_clean(line, th, pnm):
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
            d = cur_t - old_t if cur_t >= old_t else rise(old_t, cur_t)
            if d is not None and d > limit:
                return False
    return True
