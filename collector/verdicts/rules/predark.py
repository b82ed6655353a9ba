"""What a modem's own readings said before it went dark.

A modem that stops answering is not always the modem: a drop cut or a failing
tap shows in the readings first — SNR sliding, TX power climbing to its
ceiling, uncorrectables and T3/T4 timeouts piling up, a DSL margin or a GPON
receive level falling — and then the modem goes dark. Judging the dark spell
without that history ships modems to lines that are broken. So the engine
keeps, per account, a few compact points of its recent readings (``push``:
a point only when something moved, bounded in count and age), and
``before_dark`` reads them when the modem goes dark.

Thresholds: ``[trend]`` in thresholds.toml, each citing its source.
"""

from __future__ import annotations

import math
import struct
from typing import NamedTuple

from collector.model import Evidence
from collector.verdicts.rules.core import Finding, rounded
from collector.verdicts.thresholds import DocsisThresholds, Thresholds
from probes.model import DocsisLine, DslLine, GponLine

# One point: reading time, four technology-specific values, flags. 48 bytes.
_POINT = struct.Struct("=6d")
MAX_POINTS = 8
_NAN = math.nan
_OUT_OF_SPEC = 1  # flag: that reading had line findings
_DOCSIS, _DSL, _GPON = 16, 32, 48  # flag bits naming the technology
_TECH_MASK = 48
# A level must move at least this much (dB) to be worth a new point.
_LEVEL_STEP = 0.5


class Point(NamedTuple):
    at: float
    a: float  # DOCSIS: worst downstream SNR; DSL: downstream margin; GPON: rx power
    b: float  # DOCSIS: upstream TX headroom to its ceiling; DSL: CRC counter
    c: float  # DOCSIS: uncorrectable counter total
    d: float  # DOCSIS: T3 + T4 counters
    flags: float


def point(line: object, out_of_spec: bool, docsis: DocsisThresholds) -> tuple[float, ...] | None:
    """The values of one reading worth following (None for a technology without any)."""
    flags = _OUT_OF_SPEC if out_of_spec else 0
    if isinstance(line, DocsisLine):
        snr = _NAN
        unc = 0.0
        any_unc = False
        for ch in line.downstream:
            s = ch.snr_db
            if s is not None and (snr != snr or s < snr):
                snr = s
            u = ch.uncorrectable
            if u is not None:
                unc += u
                any_unc = True
        tx_max = _NAN
        n_tx = 0
        for us in line.upstream:
            t = us.tx_power_dbmv
            if t is not None:
                n_tx += 1
                if tx_max != tx_max or t > tx_max:
                    tx_max = t
        headroom = docsis.us_tx_max_for(n_tx) - tx_max if n_tx else _NAN
        t34 = _NAN
        if line.t3_timeouts is not None or line.t4_timeouts is not None:
            t34 = float((line.t3_timeouts or 0) + (line.t4_timeouts or 0))
        return (snr, headroom, unc if any_unc else _NAN, t34, float(flags | _DOCSIS))
    if isinstance(line, DslLine):
        margin = line.snr_margin_down_db
        crc = line.crc_errors
        return (
            _NAN if margin is None else margin,
            _NAN if crc is None else float(crc),
            _NAN,
            _NAN,
            float(flags | _DSL),
        )
    if isinstance(line, GponLine):
        rx = line.rx_power_dbm
        return (_NAN if rx is None else rx, _NAN, _NAN, _NAN, float(flags | _GPON))
    return None


def _moved(old: float, new: float, step: float) -> bool:
    if old != old or new != new:  # NaN: moved only if one side is known
        return (old == old) != (new == new)
    return abs(new - old) >= step


def push(blob: bytes | None, at: float, values: tuple[float, ...], window_s: float) -> bytes:
    """``blob`` with the new reading's point, if it says something new.

    A steady modem keeps one or two points (one more every third of the
    window, so a trend has a time base); a moving one gets a point a poll.
    Points older than the window before the newest, and past MAX_POINTS, go.
    """
    new = _POINT.pack(at, *values)
    if not blob:
        return new
    last = _POINT.unpack_from(blob, len(blob) - _POINT.size)
    if not (
        at - last[0] >= window_s / 3
        or last[5] != values[4]
        or _moved(last[1], values[0], _LEVEL_STEP)
        or _moved(last[2], values[1], _LEVEL_STEP)
        or _moved(last[3], values[2], 0.5)
        or _moved(last[4], values[3], 0.5)
    ):
        return blob
    size = _POINT.size
    keep = blob[-(MAX_POINTS - 1) * size :] if len(blob) >= MAX_POINTS * size else blob
    start = 0
    while start < len(keep) and _POINT.unpack_from(keep, start)[0] < at - window_s:
        start += size
    return keep[start:] + new


def points(blob: bytes | None) -> list[Point]:
    if not blob:
        return []
    return [Point(*p) for p in _POINT.iter_unpack(blob)]


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if v == v else "?"


def _series(values: list[float]) -> str:
    """At most four values: first, the turning ones, last ("37 -> 31 -> 25")."""
    if len(values) > 4:
        step = (len(values) - 1) / 3
        values = [values[round(i * step)] for i in range(4)]
    out: list[str] = []
    for v in values:
        text = _fmt(v)
        if not out or out[-1] != text:
            out.append(text)
    return " -> ".join(out)


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


def before_dark(
    blob: bytes | None,
    dark_since: float,
    last_findings: list[Finding],
    th: Thresholds,
) -> tuple[Finding | None, list[Point]]:
    """A ``dark_line`` finding when the readings before ``dark_since`` were out of
    spec or moving out of it; else None, with the points that were looked at
    (none: nothing is known about the line before the dark)."""
    trend = th.trend
    pts = [p for p in points(blob) if dark_since - trend.window_s <= p.at <= dark_since]
    if not pts:
        return None, pts
    span_s = dark_since - pts[0].at
    ev: list[Evidence] = []
    bad = [p for p in pts if int(p.flags) & _OUT_OF_SPEC]
    if bad:
        ev.append(
            Evidence(
                fact="pre_dark_readings_out_of_spec",
                value=len(bad),
                threshold="== 0",
                unit="count",
                detail=f"{len(bad)} of the last {len(pts)} readings before the dark "
                f"(over {_minutes(span_s)}) out of spec",
            )
        )
        if int(pts[-1].flags) & _OUT_OF_SPEC:
            ev.extend(e for f in last_findings for e in f.evidence)
    tech = int(pts[-1].flags) & _TECH_MASK
    a = [p.a for p in pts if p.a == p.a]
    if tech == _DOCSIS:
        if len(a) >= 2 and max(a) - a[-1] >= trend.ds_snr_fall_db:
            ev.append(_fall("pre_dark_ds_snr_db", "downstream SNR", a, "dB",
                            trend.ds_snr_fall_db, span_s))
        b = [p.b for p in pts if p.b == p.b]
        if b and b[-1] <= trend.us_tx_headroom_min_db:
            ev.append(
                Evidence(
                    fact="pre_dark_us_tx_headroom_db",
                    value=rounded(b[-1], 1),
                    threshold=f"> {trend.us_tx_headroom_min_db:g}",
                    unit="dB",
                    detail=f"upstream TX power {_fmt(b[-1])} dB below its ceiling in the last "
                    "reading before the dark: the modem was shouting to be heard",
                )
            )
        ev.extend(_rise("pre_dark_uncorrectable_rise", "uncorrectable codewords",
                        [p.c for p in pts], trend.uncorrectable_rise_min, span_s))
        ev.extend(_rise("pre_dark_t3_t4_rise", "T3/T4 ranging timeouts",
                        [p.d for p in pts], trend.ranging_timeouts_rise_min, span_s))
    elif tech == _DSL:
        if len(a) >= 2 and max(a) - a[-1] >= trend.dsl_margin_fall_db:
            ev.append(_fall("pre_dark_dsl_snr_margin_down_db", "DSL downstream SNR margin",
                            a, "dB", trend.dsl_margin_fall_db, span_s))
    elif tech == _GPON and len(a) >= 2 and max(a) - a[-1] >= trend.gpon_rx_fall_db:
        ev.append(_fall("pre_dark_gpon_rx_power_dbm", "ONT receive power", a, "dBm",
                        trend.gpon_rx_fall_db, span_s))
    if not ev:
        return None, pts
    return Finding("line_fault", "dark_line", ev), pts


def _fall(fact: str, what: str, values: list[float], unit: str, limit: float,
          span_s: float) -> Evidence:
    peak = values.index(max(values))
    seq = _series(values[peak:])
    return Evidence(
        fact=fact,
        value=seq,
        threshold=f"fall < {limit:g} {unit}",
        unit=unit,
        detail=f"{what} {seq} {unit} over {_minutes(span_s)}, then no answer",
    )


def _rise(fact: str, what: str, values: list[float], limit: int,
          span_s: float) -> list[Evidence]:
    known = [v for v in values if v == v]
    if len(known) < 2:
        return []
    # A counter that went back means a restart: count only from there.
    start = 0
    for i in range(1, len(known)):
        if known[i] < known[i - 1]:
            start = i
    rise = known[-1] - known[start]
    if rise < limit:
        return []
    return [
        Evidence(
            fact=fact,
            value=int(rise),
            threshold=f"< {limit}",
            unit="count",
            detail=f"{int(rise)} new {what} over {_minutes(span_s)}, then no answer",
        )
    ]
