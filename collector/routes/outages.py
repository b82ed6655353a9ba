"""Outages and credits for billing (issue 17, part 3): node outages and plant
faults, open and closed, with their accounts, and each account's downtime in
one outage (JSON, or CSV with ``?format=csv``)."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from collector.outages import OutagesAnswer, credit_report
from collector.routes.common import COLLECTOR, ApiError, Route, answer, time_range

SUPPORT = ("support",)
MAX_OUTAGES = 1000


async def get_outages(request: web.Request) -> web.Response:
    """Open outages and those closed within ``since..until`` (default 30 days)."""
    since, _ = time_range(request, default_span_s=30 * 86400.0)
    outages = await request.app[COLLECTOR].store.outages(since=since, limit=MAX_OUTAGES)
    return answer(OutagesAnswer(outages=outages))


async def get_credits(request: web.Request) -> web.Response:
    collector = request.app[COLLECTOR]
    outage_id = request.match_info["outage"]
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(400, "format must be json or csv")
    outage = await collector.store.get_outage(outage_id)
    if outage is None:
        raise ApiError(404, f"unknown outage {outage_id}")
    report = await credit_report(collector, outage)
    if fmt == "json":
        return answer(report)
    until, credits = report.until, report.credits
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["outage", "kind", "node", "account", "since", "until", "downtime_s"])
    for c in credits:
        out.writerow([outage.id, outage.kind, outage.node, c.account, f"{outage.since:.0f}",
                      f"{until:.0f}", f"{c.downtime_s:.0f}"])
    return web.Response(
        text=buf.getvalue(), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="credits.csv"'},
    )


ROUTES = [
    Route("GET", "/v1/outages", get_outages, SUPPORT),
    Route("GET", "/v1/outages/{outage}/credits", get_credits, SUPPORT),
]
