"""The latest line readings with the thresholds they are judged against.

``build_readings`` turns an account's latest records (SNMP, ping, throughput)
into ``Readings``: one ``Reading`` per quantity and channel, value and unit
beside its limits, whatever the verdict — ``readings`` of
``GET /v1/accounts/{account}``. ``reading_lines`` makes the rows a person
reads from them (the CLI's ``linewatch status``; the console can render the
same rows): DOCSIS channels worst first, the in-spec rest folded into one
line ("+ 31 more channels within spec"), limits in words in the reader's
language.

The limits are those of the verdict engine (thresholds.toml, each citing
THRESHOLDS.md). Counters (codewords, T3/T4) are totals since the modem
started: the verdict judges their rise between polls, so a total is shown,
not judged (``in_spec`` None), except the uncorrectable share of all
codewords once there are enough of them to tell.
"""

from __future__ import annotations

import gettext as gettext_module
from dataclasses import dataclass

import msgspec

from collector.i18n.words import fact_word, number_text, threshold_text
from collector.verdicts.thresholds import Thresholds
from probes.model import (
    DocsisLine,
    DslLine,
    DslPort,
    GponLine,
    PingResult,
    ProbeRecord,
    SnmpReading,
    Target,
    ThroughputResult,
)

__all__ = ["Reading", "ReadingLine", "Readings", "build_readings", "reading_lines"]


class Reading(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One reading and its limits. ``name`` is a fact name (collector.i18n.words)."""

    name: str  # ds_power_dbmv, ds_snr_db, us_tx_power_dbmv, ping_loss_ratio, ...
    value: float | None
    unit: str | None = None
    channel: int | None = None  # DOCSIS channel index (ifIndex)
    # The limits in the evidence's notation (">= 30", "-15..15", "<= 0.01"),
    # and as numbers: in spec is min <= value <= max (DSL margin: above min).
    threshold: str | None = None
    min: float | None = None
    max: float | None = None
    # What it is measured against: the attainable sync rate, the plan.
    reference: float | None = None
    in_spec: bool | None = None  # None: not judged from this reading alone
    counter: bool = False  # a counter total since the modem started


class Readings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The account's latest readings; each ``*_at`` is when that probe ran."""

    technology: str
    line_at: float | None = None  # SNMP reading of the line
    ping_at: float | None = None
    throughput_at: float | None = None
    rows: list[Reading] = []


def _span(lo: float, hi: float) -> str:
    return f"{lo:g}..{hi:g}"


def _level(name: str, value: float | None, unit: str, lo: float | None, hi: float | None,
           channel: int | None = None) -> Reading:
    if lo is not None and hi is not None:
        threshold = _span(lo, hi)
    elif lo is not None:
        threshold = f">= {lo:g}"
    elif hi is not None:
        threshold = f"<= {hi:g}"
    else:
        threshold = None
    in_spec = None if value is None else (
        (lo is None or value >= lo) and (hi is None or value <= hi))
    return Reading(name=name, value=value, unit=unit, channel=channel, threshold=threshold,
                   min=lo, max=hi, in_spec=in_spec)


def _docsis(line: DocsisLine, th: Thresholds) -> list[Reading]:
    d = th.docsis
    rows: list[Reading] = []
    for ch in line.downstream:
        if ch.power_dbmv is not None:
            rows.append(_level("ds_power_dbmv", ch.power_dbmv, "dBmV", d.ds_power_min_dbmv,
                               d.ds_power_max_dbmv, ch.index))
        if ch.snr_db is not None:
            low = ch.power_dbmv is not None and ch.power_dbmv < d.snr_low_power_below_dbmv
            needed = d.snr_min_db_low_power if low else d.snr_min_db
            rows.append(_level("ds_snr_db", ch.snr_db, "dB", needed, None, ch.index))
    upstream = [ch for ch in line.upstream if ch.tx_power_dbmv is not None]
    hi = d.us_tx_max_for(len(upstream)) if upstream else None
    for ch in upstream:
        rows.append(_level("us_tx_power_dbmv", ch.tx_power_dbmv, "dBmV", d.us_tx_power_min_dbmv,
                           hi, ch.index))
    good = corrected = bad = 0
    for ch in line.downstream:
        if ch.unerrored is not None and ch.uncorrectable is not None:
            good += ch.unerrored
            corrected += ch.corrected or 0
            bad += ch.uncorrectable
    total = good + corrected + bad
    if total:
        ratio = bad / total
        rows.append(Reading(
            name="uncorrectable_ratio", value=round(ratio, 6), unit="ratio",
            threshold=f"<= {d.uncorrectable_ratio_max:g}", max=d.uncorrectable_ratio_max,
            in_spec=ratio <= d.uncorrectable_ratio_max if total >= d.codewords_min else None,
            counter=True))
        rows.append(Reading(name="corrected_ratio", value=round(corrected / total, 6),
                            unit="ratio", counter=True))
    for name, value, limit in (("t3_timeouts", line.t3_timeouts, d.t3_rise_max),
                               ("t4_timeouts", line.t4_timeouts, d.t4_rise_max)):
        if value is not None:
            rows.append(Reading(name=name, value=value, unit="count",
                                threshold=f"rise <= {limit}", max=limit, counter=True))
    return rows


def _dsl(line: DslLine, port: DslPort | None, th: Thresholds) -> list[Reading]:
    d = th.dsl
    rows: list[Reading] = []
    for name, value in (("dsl_snr_margin_down_db", line.snr_margin_down_db),
                        ("dsl_snr_margin_up_db", line.snr_margin_up_db)):
        if value is not None:
            limit = d.snr_margin_bad_at_or_below_db
            rows.append(Reading(name=name, value=value, unit="dB", threshold=f"> {limit:g}",
                                min=limit, in_spec=value > limit))
    for name, value in (("dsl_attenuation_down_db", line.attenuation_down_db),
                        ("dsl_attenuation_up_db", line.attenuation_up_db)):
        if value is not None:
            rows.append(_level(name, value, "dB", None, d.attenuation_max_db))
    for name, value, attainable in (
        ("dsl_sync_down_kbps", line.sync_down_kbps, port.attainable_down_kbps if port else None),
        ("dsl_sync_up_kbps", line.sync_up_kbps, port.attainable_up_kbps if port else None),
    ):
        if value is not None:
            rows.append(Reading(name=name, value=value, unit="kbit/s", reference=attainable))
    if line.crc_errors is not None:
        rows.append(Reading(name="dsl_crc_errors", value=line.crc_errors, unit="count",
                            counter=True))
    return rows


def _gpon(line: GponLine, th: Thresholds) -> list[Reading]:
    g = th.gpon
    rows: list[Reading] = []
    if line.rx_power_dbm is not None:
        rows.append(_level("gpon_rx_power_dbm", line.rx_power_dbm, "dBm", g.rx_power_min_dbm,
                           g.rx_power_max_dbm))
    if line.tx_power_dbm is not None:
        rows.append(_level("gpon_tx_power_dbm", line.tx_power_dbm, "dBm", g.tx_power_min_dbm,
                           g.tx_power_max_dbm))
    return rows


def build_readings(target: Target, latest: dict[str, ProbeRecord], th: Thresholds,
                   port: DslPort | None = None) -> Readings:
    """The rows of ``latest`` (probe kind -> record); ``port``: the DSLAM's row
    for a DSL line (attainable rates), when its headend reported one."""
    rows: list[Reading] = []
    line_at = ping_at = throughput_at = None
    snmp = latest.get("snmp")
    if snmp is not None and isinstance(snmp.result, SnmpReading) and snmp.result.line:
        line_at = snmp.started_at
        line = snmp.result.line
        if isinstance(line, DocsisLine):
            rows += _docsis(line, th)
        elif isinstance(line, DslLine):
            rows += _dsl(line, port, th)
        elif isinstance(line, GponLine):
            rows += _gpon(line, th)
    ping = latest.get("ping")
    if ping is not None and isinstance(ping.result, PingResult) and ping.result.sent:
        ping_at = ping.started_at
        p = ping.result
        loss = round(p.loss_ratio, 4)
        rows.append(Reading(name="ping_loss_ratio", value=loss, unit="ratio",
                            threshold=f"<= {th.ping.loss_ratio_max:g}", max=th.ping.loss_ratio_max,
                            in_spec=loss <= th.ping.loss_ratio_max))
        if p.rtt_avg_ms is not None:
            rows.append(_level("ping_rtt_avg_ms", round(p.rtt_avg_ms, 1), "ms", None,
                               th.ping.rtt_avg_max_ms))
    tp = latest.get("throughput")
    if tp is not None and isinstance(tp.result, ThroughputResult):
        throughput_at = tp.started_at
        share = th.throughput.customer_side_min_ratio
        for name, value, plan in (("throughput_down_mbps", tp.result.down_mbps,
                                   target.plan_down_mbps),
                                  ("throughput_up_mbps", tp.result.up_mbps, target.plan_up_mbps)):
            if value is None:
                continue
            lo = round(plan * share, 3) if plan else None
            rows.append(Reading(
                name=name, value=round(value, 1), unit="Mbit/s", reference=plan or None,
                threshold=f">= {lo:g}" if lo is not None else None, min=lo,
                in_spec=value >= lo if lo is not None else None))
    return Readings(technology=target.technology, line_at=line_at, ping_at=ping_at,
                    throughput_at=throughput_at, rows=rows)


# --- rows for people ----------------------------------------------------------------


@dataclass(frozen=True)
class ReadingLine:
    """One row as read: label, value, limits in words, and the state.

    ``state``: "ok" in spec, "out" out of spec, "" not judged; ``folded``: the
    line stands for in-spec channels not shown one by one."""

    label: str
    value: str
    limits: str
    state: str
    folded: bool = False


def _state(*rows: Reading) -> str:
    judged = [r.in_spec for r in rows if r.in_spec is not None]
    if not judged:
        return ""
    return "ok" if all(judged) else "out"


def _margin(r: Reading) -> float:
    """How far inside its limits a reading is (negative: outside)."""
    if r.value is None:
        return float("inf")
    inside = [float("inf")]
    if r.min is not None:
        inside.append(r.value - r.min)
    if r.max is not None:
        inside.append(r.max - r.value)
    return min(inside)


def _limits(r: Reading, tr: gettext_module.NullTranslations) -> str:
    _ = tr.gettext
    if r.threshold is None:
        if r.reference is not None and r.value is not None:
            share = f"{r.value / r.reference:.0%}" if r.reference else "-"
            return _("{share} of attainable {rate}").format(
                share=share, rate=number_text(r.reference, r.unit))
        return ""
    if r.counter and r.threshold.startswith("rise <= "):
        return _("rise at most {limit} between polls").format(limit=r.threshold[8:])
    text = threshold_text(r.value, r.threshold, r.unit, _)
    if r.name.startswith("throughput_") and r.reference:
        text += " " + _("({share:.0%} of plan {plan})").format(
            share=(r.value or 0) / r.reference, plan=number_text(r.reference, r.unit))
    if r.counter:
        text += " " + _("(since modem start)")
    return text


def _value(r: Reading) -> str:
    return "-" if r.value is None else number_text(r.value, r.unit)


def _channel_lines(readings: list[Reading], names: tuple[str, ...], label: str,
                   fold_after: int, tr: gettext_module.NullTranslations) -> list[ReadingLine]:
    by_channel: dict[int, list[Reading]] = {}
    for r in readings:
        if r.name in names and r.channel is not None:
            by_channel.setdefault(r.channel, []).append(r)
    if not by_channel:
        return []
    order = sorted(by_channel.items(),
                   key=lambda kv: (_state(*kv[1]) != "out", min(_margin(r) for r in kv[1]),
                                   kv[0]))
    shown = [kv for kv in order if _state(*kv[1]) == "out"]
    shown += [kv for kv in order if kv not in shown][: max(0, fold_after - len(shown))]
    lines = []
    for channel, rows in shown:
        lines.append(ReadingLine(
            label=label.format(channel=channel),
            value=", ".join(f"SNR {_value(r)}" if r.name == "ds_snr_db" else _value(r)
                            for r in rows),
            # "within -15..15 dBmV; SNR below 30 dB": each limit says what it is about
            limits="; ".join(f"SNR {t}" if r.name == "ds_snr_db" else t
                             for r in rows if (t := _limits(r, tr))),
            state=_state(*rows)))
    rest = len(order) - len(shown)
    if rest:
        lines.append(ReadingLine(
            label="", value=tr.ngettext("+ {count} more channel within spec",
                                        "+ {count} more channels within spec",
                                        rest).format(count=rest),
            limits="", state="ok", folded=True))
    return lines


def reading_lines(readings: Readings, tr: gettext_module.NullTranslations, *,
                  fold_after: int = 1) -> list[ReadingLine]:
    """The rows to print or render, in reading order: downstream channels
    (worst first; out-of-spec ones always shown, at least ``fold_after``),
    upstream channels likewise, then the line's other readings, ping,
    throughput."""
    _ = tr.gettext
    rows = readings.rows
    lines = _channel_lines(rows, ("ds_power_dbmv", "ds_snr_db"), _("downstream ch {channel}"),
                           fold_after, tr)
    lines += _channel_lines(rows, ("us_tx_power_dbmv",), _("upstream ch {channel} TX"),
                            fold_after, tr)
    for r in rows:
        if r.channel is not None:
            continue
        lines.append(ReadingLine(label=fact_word(r.name, _), value=_value(r),
                                 limits=_limits(r, tr), state=_state(r)))
    return lines
