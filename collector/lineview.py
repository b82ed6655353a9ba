"""The headend's view and the pre-dark trend of one line, for people to read.

The verdict engine keeps, per account, only what it judges from: the headend's
status and levels (``HeadendView``) and compact trend points (``predark``).
Support wants the headend's whole row too (codewords, both DSL ends, the OLT's
optics), which lives in the headend's latest record (account = headend id,
probe "headend"). Decoding a 2,000-modem CMTS reading per account lookup would
put milliseconds on the status hot path, so the rows of each headend's latest
poll are indexed by account once per poll and kept (``RowCache``, bounded).
"""

from __future__ import annotations

import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence

from collector.model import Verdict
from collector.routes.types import HeadendLineView, TrendPoint, TrendView
from collector.service import Collector
from collector.verdicts import Thresholds
from collector.verdicts.rules import headend as headend_rules
from collector.verdicts.rules import predark
from collector.verdicts.rules.headend import HeadendView
from probes.model import (
    HEADEND_KIND_OF,
    CmtsModem,
    DslPort,
    Headend,
    HeadendReading,
    OntOptics,
    Target,
)

Row = CmtsModem | DslPort | OntOptics
_MAX_HEADENDS = 256  # cached polls; one per headend, and a collector has few
# Without the engine's word on a newer poll (a line its headend has no row for),
# a cached poll, and the headends list, are read again after this long.
_REREAD_S = 5.0


class RowCache:
    """Per headend: (poll time, read at, account -> row) of its latest poll read;
    and the headends list, so the status path does not read it per request."""

    def __init__(self) -> None:
        self._polls: OrderedDict[str, tuple[float, float, dict[str, Row]]] = OrderedDict()
        self._headends: tuple[float, list[Headend]] | None = None

    async def headends(self, collector: Collector) -> list[Headend]:
        now = time.monotonic()
        if self._headends is None or now - self._headends[0] > _REREAD_S:
            self._headends = (now, await collector.store.list_headends())
        return self._headends[1]

    async def row(self, collector: Collector, headend: str, at: float | None,
                  account: str) -> tuple[float | None, Row | None]:
        """The line's row of the headend's latest poll; read from the store only
        when the engine has seen a newer poll than the cached one (or none is cached)."""
        cached = self._polls.get(headend)
        now = time.monotonic()
        if cached is None or (at > cached[0] if at is not None else now - cached[1] > _REREAD_S):
            record = (await collector.store.latest_records(headend)).get("headend")
            reading = record.result if record is not None else None
            if not isinstance(reading, HeadendReading) or record is None:
                return None, None
            rows: dict[str, Row] = {}
            for r in (*reading.modems, *reading.ports, *reading.onts):
                if r.account is not None:
                    rows.setdefault(r.account, r)
            cached = (record.started_at, now, rows)
            self._polls[headend] = cached
            while len(self._polls) > _MAX_HEADENDS:
                self._polls.popitem(last=False)
        self._polls.move_to_end(headend)
        return cached[0], cached[2].get(account)


# One cache per collector, without touching the collector's own class.
_CACHES: weakref.WeakKeyDictionary[Collector, RowCache] = weakref.WeakKeyDictionary()


def _cache(collector: Collector) -> RowCache:
    cache = _CACHES.get(collector)
    if cache is None:
        cache = _CACHES[collector] = RowCache()
    return cache


async def _serving_headend(collector: Collector, target: Target,
                           view: HeadendView | None) -> tuple[str | None, str | None]:
    """(headend id, kind) serving the line: the one that last reported it, else
    the inventory's ``headend`` column, else its node's headend of its kind."""
    if view is not None:
        return view.headend, view.kind
    kind = HEADEND_KIND_OF.get(target.technology)
    for h in await _cache(collector).headends(collector):
        if h.headend == target.headend or (
            target.headend is None and h.kind == kind and target.node in h.nodes
        ):
            return h.headend, h.kind
    return None, None


def _state_of(row: Row, at: float, headend: str) -> HeadendView | None:
    if isinstance(row, CmtsModem):
        return headend_rules.view_of_modem(row, at, headend)
    if isinstance(row, DslPort):
        return headend_rules.view_of_port(row, at, headend)
    return headend_rules.view_of_ont(row, at, headend)


async def headend_view(collector: Collector, target: Target, th: Thresholds,
                       now: float | None = None) -> HeadendLineView:
    """The headend's view of ``target`` as the API and console show it."""
    now = time.time() if now is None else now
    engine = collector.engine
    view = engine.line_view(target.account)[0] if engine is not None else None
    headend, kind = await _serving_headend(collector, target, view)
    if headend is None:
        return HeadendLineView(headend=None)
    polled_at, row = await _cache(collector).row(collector, headend, view.at if view else None,
                                     target.account)
    if row is None:
        fresh = polled_at is not None and now - polled_at <= th.headend.fresh_s
        return HeadendLineView(headend=headend, kind=kind,  # type: ignore[arg-type]
                               polled_at=polled_at, fresh=fresh)
    assert polled_at is not None
    state = _state_of(row, polled_at, headend)
    return HeadendLineView(
        headend=headend,
        kind=kind,  # type: ignore[arg-type]
        seen=True,
        state=state.state if state else None,
        status=state.status if state else None,
        polled_at=polled_at,
        fresh=now - polled_at <= th.headend.fresh_s,
        modem=row if isinstance(row, CmtsModem) else None,
        port=row if isinstance(row, DslPort) else None,
        ont=row if isinstance(row, OntOptics) else None,
    )


def _known(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 2)


def _trend_point(p: predark.Point, technology: str) -> TrendPoint:
    oos = bool(int(p.flags) & 1)
    if technology == "docsis":
        return TrendPoint(at=p.at, out_of_spec=oos, ds_snr_db=_known(p.a),
                          us_tx_headroom_db=_known(p.b), uncorrectable=_known(p.c),
                          t3_t4_timeouts=_known(p.d))
    if technology == "dsl":
        return TrendPoint(at=p.at, out_of_spec=oos, dsl_snr_margin_down_db=_known(p.a),
                          dsl_crc_errors=_known(p.b))
    if technology == "gpon":
        return TrendPoint(at=p.at, out_of_spec=oos, gpon_rx_power_dbm=_known(p.a))
    return TrendPoint(at=p.at, out_of_spec=oos)


def trend_view(collector: Collector, target: Target, verdict: Verdict, th: Thresholds,
               now: float | None = None) -> TrendView:
    """The points ``predark.before_dark`` reads for this line (the window before
    its dark spell, else before now) and the trend lines of the verdict."""
    now = time.time() if now is None else now
    engine = collector.engine
    _, blob, dark_since = (engine.line_view(target.account) if engine is not None
                           else (None, None, None))
    end = dark_since if dark_since is not None else now
    window = th.trend.window_s
    pts = [p for p in predark.points(blob) if end - window <= p.at <= end]
    return TrendView(
        window_s=window,
        dark_since=dark_since,
        points=[_trend_point(p, target.technology) for p in pts],
        summary=trend_lines(verdict.evidence),
    )


def trend_lines(evidence: Sequence[object]) -> list[str]:
    """The pre-dark evidence of a verdict as the sentences support reads aloud."""
    out: list[str] = []
    for ev in evidence:
        fact = getattr(ev, "fact", "")
        detail = getattr(ev, "detail", None)
        if fact.startswith("pre_dark_") and detail:
            out.append(str(detail))
    return out
