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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

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
    _: Callable[[str], str] = str,
) -> list[ChartSpec]:
    """The charts for one account's technology, thresholds from the collector's config,
    titles and legends in the reader's language (``_``: its gettext)."""
    d = th.docsis
    specs: list[ChartSpec] = []

    def _at(label: str, value: float) -> Line:
        return Line(value, label.format(value=f"{value:g}"))

    if technology == "docsis":
        specs += [
            ChartSpec(
                _("Downstream power"), "dBmV",
                (Series("ds_power_dbmv_min", _("lowest channel")),
                 Series("ds_power_dbmv_max", _("highest channel"))),
                (_at(_("min {value}"), d.ds_power_min_dbmv),
                 _at(_("max {value}"), d.ds_power_max_dbmv)),
            ),
            ChartSpec(
                _("Downstream SNR"), "dB",
                (Series("ds_snr_db_min", _("worst channel")),),
                (_at(_("min {value}"), d.snr_min_db),),
            ),
            ChartSpec(
                _("Upstream TX power"), "dBmV",
                (Series("us_tx_power_dbmv_max", _("highest channel")),),
                (_at(_("max {value}"), d.us_tx_max_for(us_channels)),
                 _at(_("min {value}"), d.us_tx_power_min_dbmv)),
            ),
        ]
    elif technology == "dsl":
        margin = th.dsl.snr_margin_bad_at_or_below_db
        specs += [
            ChartSpec(
                _("SNR margin (downstream)"), "dB",
                (Series("dsl_snr_margin_down_db", _("margin")),),
                (_at(_("bad at or below {value}"), margin),),
            ),
            ChartSpec(
                _("Sync rate"), "Mbit/s",
                (Series("dsl_sync_down_kbps", _("down"), 0.001),
                 Series("dsl_sync_up_kbps", _("up"), 0.001)),
                (_at(_("plan down {value}"), plan_down_mbps),
                 _at(_("plan up {value}"), plan_up_mbps)),
            ),
        ]
    elif technology == "gpon":
        g = th.gpon
        specs.append(
            ChartSpec(
                _("Optical power"), "dBm",
                (Series("gpon_rx_power_dbm", _("receive")),
                 Series("gpon_tx_power_dbm", _("transmit"))),
                (_at(_("RX min {value}"), g.rx_power_min_dbm),
                 _at(_("RX max {value}"), g.rx_power_max_dbm),
                 _at(_("TX max {value}"), g.tx_power_max_dbm)),
            )
        )
    p = th.ping
    below = th.throughput.below_plan_ratio * plan_down_mbps
    specs += [
        ChartSpec(
            _("Ping loss"), "%", (Series("ping_loss_ratio", _("loss"), 100.0),),
            (_at(_("max {value}"), p.loss_ratio_max * 100.0),),
        ),
        ChartSpec(
            _("Latency"), "ms", (Series("ping_rtt_avg_ms", _("average RTT")),),
            (_at(_("max {value}"), p.rtt_avg_max_ms),),
        ),
        ChartSpec(
            _("Throughput against plan"), "Mbit/s",
            (Series("throughput_down_mbps", _("down")), Series("throughput_up_mbps", _("up"))),
            (_at(_("plan {value}"), plan_down_mbps),
             _at(_("below plan {value}"), below)),
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
    spec: ChartSpec, points: Sequence[HistoryPoint], since: float, until: float, chart_id: str,
    _: Callable[[str], str] = str, day_label: Callable[[float], str] | None = None,
) -> Markup:
    """One ``<figure>`` with an inline SVG chart and a text summary for screen readers;
    words by ``_`` (gettext), day ticks by ``day_label`` (default: '03 Dec', UTC)."""
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

    def threshold_of(ln: Line) -> str:
        return _("threshold: {limit}").format(limit=f"{ln.label} {spec.unit}")

    def latest_of(label: str, value: float) -> str:
        return _("{series}: latest {value}").format(series=label,
                                                    value=f"{_fmt(value)} {spec.unit}")

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
        label = escape(day_label(t) if day_label else time.strftime("%d %b", time.gmtime(t)))
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
            f"<title>{escape(threshold_of(ln))}</title></line>"
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
                       f'fill="{colour}"><title>{escape(latest_of(s.label, pv))}</title></circle>')
    out.append("</svg>")
    summary: list[str] = []
    for i, (s, pts) in enumerate(data):
        colour = _COLOURS[i % len(_COLOURS)]
        if pts:
            vals = [v for _, v in pts]
            text = escape(_("{series}: latest {latest}, min {low}, max {high} {unit}").format(
                series=s.label, latest=_fmt(vals[-1]), low=_fmt(min(vals)),
                high=_fmt(max(vals)), unit=spec.unit))
        else:
            text = escape(_("{series}: no readings in the last 7 days").format(series=s.label))
        summary.append(f'<li><span class="swatch" data-colour="{i}" aria-hidden="true">'
                       f'<svg width="18" height="4"><line x1="0" x2="18" y1="2" y2="2" '
                       f'stroke="{colour}" stroke-width="3"/></svg></span> {text}</li>')
    if spec.lines:
        limits = ", ".join(ln.label for ln in spec.lines)
        said = _("Thresholds (dashed red): {limits} {unit}").format(limits=limits, unit=spec.unit)
        summary.append(f'<li class="limits">{escape(said)}</li>')
    out.append(f'<ul class="chart-summary" id="{chart_id}-sum">{"".join(summary)}</ul>')
    out.append("</figure>")
    return Markup("".join(out))  # built from escaped parts above
