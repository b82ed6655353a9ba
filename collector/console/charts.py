"""Server-side SVG line charts with threshold lines; no chart library, no JS.

A chart is data (``ChartSpec``: which history metrics, which threshold lines)
drawn into inline SVG. Colours use presentation attributes and CSS classes, so
a strict Content-Security-Policy (no inline styles) still renders them.
Series colours are the Okabe-Ito palette (distinguishable with colour-vision
deficiencies) and every line also differs in dash pattern.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from collector.store.base import HistoryPoint
from collector.verdicts import Thresholds

WIDTH, HEIGHT = 600, 190
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 12, 12, 28
MAX_POINTS = 400  # per series: more than the plot has pixels for is wasted bytes
_COLOURS = ("#0072B2", "#009E73", "#CC79A7", "#E69F00")
_DASHES = ("", "6 3", "2 2", "8 2 2 2")


@dataclass(frozen=True)
class Series:
    metric: str  # a collector.keymetrics name
    label: str
    scale: float = 1.0  # e.g. 100 for a ratio shown in %


@dataclass(frozen=True)
class Line:
    """A horizontal threshold line."""

    value: float
    label: str


@dataclass(frozen=True)
class ChartSpec:
    title: str
    unit: str
    series: tuple[Series, ...]
    lines: tuple[Line, ...] = field(default=())


def chart_specs(
    technology: str,
    th: Thresholds,
    plan_down_mbps: float,
    plan_up_mbps: float,
    us_channels: int = 4,
) -> list[ChartSpec]:
    """The charts for one account's technology, thresholds from the collector's config."""
    d = th.docsis
    specs: list[ChartSpec] = []
    if technology == "docsis":
        specs += [
            ChartSpec(
                "Downstream power", "dBmV",
                (Series("ds_power_dbmv_min", "lowest channel"),
                 Series("ds_power_dbmv_max", "highest channel")),
                (Line(d.ds_power_min_dbmv, f"min {d.ds_power_min_dbmv:g}"),
                 Line(d.ds_power_max_dbmv, f"max {d.ds_power_max_dbmv:g}")),
            ),
            ChartSpec(
                "Downstream SNR", "dB",
                (Series("ds_snr_db_min", "worst channel"),),
                (Line(d.snr_min_db, f"min {d.snr_min_db:g}"),),
            ),
            ChartSpec(
                "Upstream TX power", "dBmV",
                (Series("us_tx_power_dbmv_max", "highest channel"),),
                (Line(d.us_tx_max_for(us_channels), f"max {d.us_tx_max_for(us_channels):g}"),
                 Line(d.us_tx_power_min_dbmv, f"min {d.us_tx_power_min_dbmv:g}")),
            ),
        ]
    elif technology == "dsl":
        margin = th.dsl.snr_margin_bad_at_or_below_db
        specs += [
            ChartSpec(
                "SNR margin (downstream)", "dB",
                (Series("dsl_snr_margin_down_db", "margin"),),
                (Line(margin, f"bad at or below {margin:g}"),),
            ),
            ChartSpec(
                "Sync rate", "Mbit/s",
                (Series("dsl_sync_down_kbps", "down", 0.001),
                 Series("dsl_sync_up_kbps", "up", 0.001)),
                (Line(plan_down_mbps, f"plan down {plan_down_mbps:g}"),
                 Line(plan_up_mbps, f"plan up {plan_up_mbps:g}")),
            ),
        ]
    elif technology == "gpon":
        g = th.gpon
        specs.append(
            ChartSpec(
                "Optical power", "dBm",
                (Series("gpon_rx_power_dbm", "receive"), Series("gpon_tx_power_dbm", "transmit")),
                (Line(g.rx_power_min_dbm, f"RX min {g.rx_power_min_dbm:g}"),
                 Line(g.rx_power_max_dbm, f"RX max {g.rx_power_max_dbm:g}"),
                 Line(g.tx_power_max_dbm, f"TX max {g.tx_power_max_dbm:g}")),
            )
        )
    p = th.ping
    below = th.throughput.below_plan_ratio * plan_down_mbps
    specs += [
        ChartSpec(
            "Ping loss", "%", (Series("ping_loss_ratio", "loss", 100.0),),
            (Line(p.loss_ratio_max * 100.0, f"max {p.loss_ratio_max * 100:g}"),),
        ),
        ChartSpec(
            "Latency", "ms", (Series("ping_rtt_avg_ms", "average RTT"),),
            (Line(p.rtt_avg_max_ms, f"max {p.rtt_avg_max_ms:g}"),),
        ),
        ChartSpec(
            "Throughput against plan", "Mbit/s",
            (Series("throughput_down_mbps", "down"), Series("throughput_up_mbps", "up")),
            (Line(plan_down_mbps, f"plan {plan_down_mbps:g}"),
             Line(below, f"below plan {below:g}")),
        ),
    ]
    return specs


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / MAX_POINTS
    return [points[int(i * step)] for i in range(MAX_POINTS)] + [points[-1]]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def render_chart(
    spec: ChartSpec, points: Sequence[HistoryPoint], since: float, until: float, chart_id: str
) -> str:
    """One ``<figure>`` with an inline SVG chart and a text summary for screen readers."""
    data: list[tuple[Series, list[tuple[float, float]]]] = []
    for s in spec.series:
        pts = [
            (p.at, p.metrics[s.metric] * s.scale)
            for p in points
            if s.metric in p.metrics and since <= p.at <= until
            and math.isfinite(p.metrics[s.metric])
        ]
        data.append((s, _thin(pts)))
    values = [v for _, pts in data for _, v in pts] + [ln.value for ln in spec.lines]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    margin = (hi - lo) * 0.08
    lo, hi = lo - margin, hi + margin
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    span = max(until - since, 1.0)

    def x(t: float) -> float:
        return PAD_LEFT + (t - since) / span * plot_w

    def y(v: float) -> float:
        return PAD_TOP + (hi - v) / (hi - lo) * plot_h

    title_id = f"{chart_id}-title"
    out = [
        f'<figure class="chart" id="{chart_id}">',
        f'<figcaption id="{title_id}">{escape(spec.title)} ({escape(spec.unit)})</figcaption>',
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {chart_id}-sum" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" '
        'class="plot" fill="#ffffff" stroke="#6b6b6b"/>',
    ]
    step = (hi - lo) / 4
    decimals = max(0, min(3, 1 - math.floor(math.log10(step)))) if step > 0 else 1
    for i in range(5):  # y grid with labels
        v = lo + step * i
        yy = y(v)
        out.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   'stroke="#e2e2e2"/>')
        out.append(f'<text x="{PAD_LEFT - 4}" y="{yy + 4:.1f}" text-anchor="end" '
                   f'font-size="11" fill="#333">{v:.{decimals}f}</text>')
    day = 86400.0
    first_day = math.ceil(since / day) * day
    t = first_day
    while t <= until and t - first_day < 40 * day:  # bounded: at most 40 day ticks
        xx = x(t)
        label = time.strftime("%d %b", time.gmtime(t))
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{PAD_TOP}" '
                   f'y2="{HEIGHT - PAD_BOTTOM}" stroke="#eeeeee"/>')
        out.append(f'<text x="{xx:.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="11" '
                   f'fill="#333">{label}</text>')
        t += day
    for ln in spec.lines:
        yy = y(ln.value)
        out.append(
            f'<line class="threshold" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{yy:.1f}" '
            f'y2="{yy:.1f}" stroke="#B00020" stroke-width="1.5" stroke-dasharray="5 4">'
            f'<title>threshold: {escape(ln.label)} {escape(spec.unit)}</title></line>'
        )
        out.append(f'<text x="{WIDTH - PAD_RIGHT - 4}" y="{yy - 3:.1f}" text-anchor="end" '
                   f'font-size="11" fill="#B00020">{escape(ln.label)}</text>')
    for i, (s, pts) in enumerate(data):
        colour, dash = _COLOURS[i % len(_COLOURS)], _DASHES[i % len(_DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        if len(pts) > 1:
            coords = " ".join(f"{x(px):.1f},{y(pv):.1f}" for px, pv in pts)
            out.append(f'<polyline class="series" points="{coords}" fill="none" '
                       f'stroke="{colour}" stroke-width="2"{dash_attr}>'
                       f'<title>{escape(s.label)}</title></polyline>')
        if pts:  # the latest reading stays visible even when it is all at the right edge
            px, pv = pts[-1]
            out.append(f'<circle class="latest" cx="{x(px):.1f}" cy="{y(pv):.1f}" r="3.5" '
                       f'fill="{colour}"><title>{escape(s.label)}: latest {_fmt(pv)} '
                       f'{escape(spec.unit)}</title></circle>')
    out.append("</svg>")
    summary: list[str] = []
    for i, (s, pts) in enumerate(data):
        colour = _COLOURS[i % len(_COLOURS)]
        if pts:
            vals = [v for _, v in pts]
            text = (f"{escape(s.label)}: latest {_fmt(vals[-1])}, min {_fmt(min(vals))}, "
                    f"max {_fmt(max(vals))} {escape(spec.unit)}")
        else:
            text = f"{escape(s.label)}: no readings in the last 7 days"
        summary.append(f'<li><span class="swatch" data-colour="{i}" aria-hidden="true">'
                       f'<svg width="18" height="4"><line x1="0" x2="18" y1="2" y2="2" '
                       f'stroke="{colour}" stroke-width="3"/></svg></span> {text}</li>')
    if spec.lines:
        limits = ", ".join(escape(ln.label) for ln in spec.lines)
        summary.append(f'<li class="limits">Thresholds (dashed red): {limits} '
                       f'{escape(spec.unit)}</li>')
    out.append(f'<ul class="chart-summary" id="{chart_id}-sum">{"".join(summary)}</ul>')
    out.append("</figure>")
    return "".join(out)
