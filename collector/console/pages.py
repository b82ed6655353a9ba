"""HTML for the console, server-rendered with escaped f-strings (no template engine).

Every value that came from outside (accounts, notes, evidence, messages) goes
through ``escape``. All UI text is English; only the customer message is
shown in the caller's language (marked with ``lang`` for screen readers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from collector.calls import CallSummary
from collector.dispatches import Dispatch
from collector.model import LANGUAGES, AgentStatus, Evidence, NodeSummary, Verdict
from collector.outages import Outage
from collector.routes.types import HeadendLineView, TrendView

LANGUAGE_NAMES = {"en": "English", "sv": "Swedish (svenska)", "pl": "Polish (polski)"}

VERDICT_WORDS = {
    "area_outage": "Area outage",
    "line_fault": "Line fault",
    "equipment_fault": "Modem fault (customer equipment)",
    "customer_side": "Problem is behind the modem (customer side)",
    "degraded": "Degraded: working but below plan",
    "ok": "OK: nothing wrong on our side",
    "unknown": "Unknown: no fresh data",
}
VERDICT_SHORT = {
    "area_outage": "Area outage", "line_fault": "Line fault", "equipment_fault": "Modem fault",
    "customer_side": "Customer side", "degraded": "Degraded", "ok": "OK", "unknown": "Unknown",
}
VERDICT_ORDER = ("area_outage", "line_fault", "equipment_fault", "customer_side",
                 "degraded", "ok", "unknown")

FACT_WORDS = {
    "ds_power_dbmv": "Downstream power",
    "ds_snr_db": "Downstream SNR",
    "us_tx_power_dbmv": "Upstream TX power",
    "uncorrectable_ratio": "Uncorrectable codewords",
    "t3_timeouts": "T3 timeouts (new)",
    "t4_timeouts": "T4 timeouts (new)",
    "cm_status": "Cable modem status",
    "dsl_snr_margin_down_db": "DSL SNR margin (down)",
    "dsl_attenuation_down_db": "DSL attenuation (down)",
    "dsl_crc_per_s": "DSL CRC errors per second",
    "gpon_rx_power_dbm": "Optical receive power",
    "gpon_tx_power_dbm": "Optical transmit power",
    "snmp_error": "Modem management (SNMP)",
    "snmp_reading": "Modem line readings",
    "ping_loss_ratio": "Ping loss",
    "ping_rtt_avg_ms": "Average ping time",
    "unreachable_since": "Unreachable since",
    "reboots_in_window": "Modem restarts in window",
    "lan_oper_up": "LAN port up",
    "throughput_down_ratio": "Download throughput vs plan",
    "last_result": "Last result",
    "last_result_age_s": "Age of last result",
    "node_unreachable_share": "Share of node's modems unreachable",
    "node_unreachable": "Node's modems unreachable",
    "agent_silent_since": "Polling agent silent since",
}


@dataclass(frozen=True)
class TimelineEntry:
    at: float
    kind: str  # "verdict" | "reboot" | "check" | "note"
    text: str
    author: str | None = None


# --- small helpers ------------------------------------------------------------------


def absolute(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def relative(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "never"
    now = time.time() if now is None else now
    delta = now - ts
    future = delta < 0
    delta = abs(delta)
    if delta < 60:
        text = f"{delta:.0f} s"
    elif delta < 3600:
        text = f"{delta // 60:.0f} min"
    elif delta < 86400:
        text = f"{delta // 3600:.0f} h {(delta % 3600) // 60:.0f} min"
    else:
        text = f"{delta // 86400:.0f} days {(delta % 86400) // 3600:.0f} h"
    return f"in {text}" if future else f"{text} ago"


def when(ts: float | None) -> str:
    """``<time>`` with relative and absolute text: '5 min ago (2026-... UTC)'."""
    if ts is None:
        return "never"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    return f'<time datetime="{iso}">{escape(relative(ts))} ({escape(absolute(ts))})</time>'


def account_url(account: str, suffix: str = "") -> str:
    return f"/console/accounts/{quote(account, safe='')}{suffix}"


def _value(ev: Evidence) -> str:
    """The evidence value with its unit, in words a support agent reads aloud."""
    v = ev.value
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if ev.unit == "unix_s" or (ev.fact.endswith("_since") and isinstance(v, float | int)):
        return absolute(float(v))
    unit = "" if ev.unit in (None, "count") else f" {ev.unit}"
    if isinstance(v, float):
        return f"{v:.4g}{unit}"
    return f"{v}{unit}"


# --- layout ---------------------------------------------------------------------------------


def layout(title: str, body: str, *, user: str | None = None, csrf: str | None = None,
           search: str = "") -> str:
    nav = ""
    if user is not None:
        nav = f"""
<nav aria-label="Console">
  <form class="search" method="get" action="/console/search" role="search">
    <label for="search-account">Account number</label>
    <input id="search-account" name="account" type="search" value="{escape(search)}"
      autocomplete="off" spellcheck="false" required maxlength="64">
    <button type="submit">Look up</button>
  </form>
  <a href="/console/ops">Operations</a>
  <form class="signout" method="post" action="/console/signout">
    <input type="hidden" name="csrf" value="{escape(csrf or '')}">
    <span class="who">Signed in as <strong>{escape(user)}</strong></span>
    <button type="submit">Sign out</button>
  </form>
</nav>"""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · linewatch support console</title>
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to main content</a>
<header class="top">
  <a class="brand" href="/console/">linewatch support console</a>
  {nav}
</header>
<main id="main" tabindex="-1">
{body}
</main>
</body>
</html>"""


def signin_page(csrf: str, next_path: str, error: str | None = None) -> str:
    err = (f'<p class="error" role="alert" id="signin-error">{escape(error)}</p>'
           if error else "")
    described = ' aria-describedby="signin-error"' if error else ""
    body = f"""
<h1>Sign in</h1>
<p>Sign in with your support token. Agent and IVR tokens cannot use the console.</p>
{err}
<form method="post" action="/console/signin" class="signin">
  <input type="hidden" name="csrf" value="{escape(csrf)}">
  <input type="hidden" name="next" value="{escape(next_path)}">
  <label for="token">Support token</label>
  <input id="token" name="token" type="password" autocomplete="current-password"
    required maxlength="512"{described}>
  <button type="submit">Sign in</button>
</form>"""
    return layout("Sign in", body)


def error_page(title: str, message: str, *, user: str | None = None,
               csrf: str | None = None) -> str:
    body = f'<h1>{escape(title)}</h1><p class="error" role="alert">{escape(message)}</p>' \
           '<p><a href="/console/">Back to account search</a></p>'
    return layout(title, body, user=user, csrf=csrf)


def home_page(user: str, csrf: str) -> str:
    body = """
<h1>Account search</h1>
<p>Enter the caller's account number in the search box above (for example
<code>ACC-000123</code>), or open the <a href="/console/ops">operations view</a>
for outages by node.</p>"""
    return layout("Account search", body, user=user, csrf=csrf)


def search_page(query: str, matches: Sequence[str], user: str, csrf: str) -> str:
    if matches:
        items = "".join(f'<li><a href="{account_url(a)}">{escape(a)}</a></li>' for a in matches)
        result = f"<p>{len(matches)} accounts match.</p><ul class=\"matches\">{items}</ul>"
    else:
        result = f'<p class="error" role="alert">No account matches “{escape(query)}”.</p>'
    body = f"<h1>Search: {escape(query)}</h1>{result}"
    return layout("Search", body, user=user, csrf=csrf, search=query)


def verdict_section(verdict: Verdict, language: str, *, fresh: bool,
                    last_seen: float | None) -> str:
    """The verdict banner, evidence, action and customer message (also sent after a check)."""
    name = verdict.verdict
    rows = "".join(
        "<tr>"
        f"<th scope=\"row\">{escape(FACT_WORDS.get(ev.fact, ev.fact.replace('_', ' ')))}</th>"
        f"<td>{escape(_value(ev))}</td>"
        f"<td>{escape(ev.threshold) if ev.threshold else '—'}</td>"
        f"<td>{escape(ev.detail or '')}</td>"
        "</tr>"
        for ev in verdict.evidence
    )
    evidence = (
        '<table class="evidence"><caption>Evidence</caption><thead><tr><th scope="col">Fact'
        '</th><th scope="col">Value</th><th scope="col">Threshold</th><th scope="col">Detail'
        f"</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows else '<p class="evidence-none">No evidence recorded for this verdict.</p>'
    )
    messages = verdict.customer_message
    message = messages.get(language) or messages.get("en") or ""
    shown_lang = language if messages.get(language) else "en"
    freshness = (
        f'<p class="fresh">Data is fresh: last result {when(last_seen)}.</p>' if fresh else
        f'<p class="stale"><strong>Data is not fresh</strong>: last result {when(last_seen)}.'
        " Run a check now.</p>"
    )
    return f"""
<div class="banner verdict-{escape(name)}" data-verdict="{escape(name)}">
  <h2 id="verdict-heading">Verdict:
    <span class="verdict-name">{escape(VERDICT_WORDS.get(name, name))}</span></h2>
  <p>Since {when(verdict.since)} · confidence {verdict.confidence:.0%} ·
    node {escape(verdict.node)}</p>
  {freshness}
</div>
<h3>What to do</h3>
<p class="action">{escape(verdict.action or "No action recorded.")}</p>
{evidence}
<h3>Tell the customer</h3>
<blockquote class="customer-message" lang="{escape(shown_lang)}">{escape(message)}</blockquote>"""


def _language_form(account: str, language: str) -> str:
    options = "".join(
        f'<option value="{code}"{" selected" if code == language else ""}>'
        f"{escape(LANGUAGE_NAMES[code])}</option>"
        for code in LANGUAGES
    )
    return f"""
<form method="get" action="{account_url(account)}" class="language">
  <label for="lang">Caller's language</label>
  <select id="lang" name="lang">{options}</select>
  <button type="submit">Show message</button>
</form>"""


def timeline_section(entries: Sequence[TimelineEntry]) -> str:
    if not entries:
        return '<p>Nothing recorded in the last 7 days.</p>'
    items = []
    for e in entries:
        author = f' by <span class="author">{escape(e.author)}</span>' if e.author else ""
        items.append(
            f'<li class="tl tl-{escape(e.kind)}"><span class="tl-kind">{escape(e.kind.title())}'
            f"</span> {when(e.at)}{author}<p>{escape(e.text)}</p></li>"
        )
    return f'<ol class="timeline" reversed>{"".join(items)}</ol>'


def _num(value: float | None, unit: str = "") -> str:
    """A reading with its unit, or 'not reported' (escaped by the caller)."""
    if value is None:
        return "not reported"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # counters: every digit, not 1.729e+04
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".rstrip()


HEADEND_STATE_WORDS = {
    "operational": "online (operational)",
    "ranging": "ranging: never completes registration",
    "offline": "offline",
}


def headend_rows(view: HeadendLineView) -> list[tuple[str, str]]:
    """(label, value) pairs of what the headend measures for the line, by kind."""
    m, p, o = view.modem, view.port, view.ont
    if m is not None:
        us = f"channel {m.us_channel}" if m.us_channel is not None else "channel not reported"
        return [
            ("MAC address", m.mac),
            ("Upstream receive power (at the CMTS)", _num(m.us_rx_power_dbmv, "dBmV")),
            ("Upstream SNR (at the CMTS)", _num(m.us_snr_db, "dB")),
            ("Upstream channel", us),
            ("Codewords unerrored / corrected / uncorrectable",
             " / ".join(_num(v) for v in (m.unerrored, m.corrected, m.uncorrectable))),
        ]
    if p is not None:
        return [
            ("DSLAM port", p.port),
            ("SNR margin down / up", f"{_num(p.snr_margin_down_db, 'dB')} / "
                                     f"{_num(p.snr_margin_up_db, 'dB')}"),
            ("Attenuation down / up", f"{_num(p.attenuation_down_db, 'dB')} / "
                                      f"{_num(p.attenuation_up_db, 'dB')}"),
            ("Sync rate down / up", f"{_num(p.sync_down_kbps, 'kbit/s')} / "
                                    f"{_num(p.sync_up_kbps, 'kbit/s')}"),
        ]
    if o is not None:
        return [
            ("ONT", f"{o.ont} ({o.serial})" if o.serial else o.ont),
            ("Receive power at the ONT", _num(o.rx_power_dbm, "dBm")),
            ("Transmit power of the ONT", _num(o.tx_power_dbm, "dBm")),
            ("Its light at the OLT", _num(o.olt_rx_power_dbm, "dBm")),
        ]
    return []


def headend_section(view: HeadendLineView | None) -> str:
    """The headend's (CMTS, DSLAM, OLT) own view of the line, apart from our polls."""
    head = '<h2 id="headend-heading">Headend view</h2>'
    if view is None or view.headend is None:
        return f'{head}<p class="headend-none">No headend configured for this line.</p>'
    kind = (view.kind or "headend").upper()
    polled = (f"polled {when(view.polled_at)}" if view.polled_at is not None
              else "not polled yet")
    freshness = ('<span class="fresh">fresh</span>' if view.fresh else
                 '<strong class="stale-flag">stale</strong>: it says nothing about now')
    intro = (f'<p>{escape(kind)} <strong class="headend-id">{escape(view.headend)}</strong>, '
             f"{polled} ({freshness}).</p>")
    if not view.seen:
        return (f"{head}{intro}<p class=\"headend-unseen\">Its last poll has no row for "
                "this line (MAC or port not in its tables).</p>")
    state = HEADEND_STATE_WORDS.get(view.state or "", view.state or "unknown")
    rows = [("Status value", f"{view.status} — {state}"), *headend_rows(view)]
    body = "".join(f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>'
                   for k, v in rows)
    return (f'{head}{intro}<table class="headend" data-state="{escape(view.state or "")}">'
            f"<caption>What {escape(kind)} {escape(view.headend)} measures for this line"
            f"</caption><tbody>{body}</tbody></table>")


# Trend columns: (TrendPoint field, label, unit), by technology.
TREND_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "docsis": (("ds_snr_db", "Downstream SNR (worst)", "dB"),
               ("us_tx_headroom_db", "Upstream TX headroom", "dB"),
               ("uncorrectable", "Uncorrectable codewords", ""),
               ("t3_t4_timeouts", "T3+T4 timeouts", "")),
    "dsl": (("dsl_snr_margin_down_db", "SNR margin (down)", "dB"),
            ("dsl_crc_errors", "CRC errors", "")),
    "gpon": (("gpon_rx_power_dbm", "Receive power", "dBm"),),
}


def trend_section(trend: TrendView | None, technology: str, chart: str = "") -> str:
    """The readings the verdict read before the modem went dark, as a table."""
    head = '<h2 id="trend-heading">Before it went dark</h2>'
    if trend is None:
        return f"{head}<p>No trend kept for this line.</p>"
    minutes = f"{trend.window_s / 60:.0f} min"
    if trend.dark_since is not None:
        intro = (f"<p>The modem stopped answering {when(trend.dark_since)}. Its readings in "
                 f"the {escape(minutes)} before (kept when something moved):</p>")
    else:
        intro = (f"<p>The modem answers. Its readings of the last {escape(minutes)} (kept "
                 "when something moved), which the verdict reads if it goes dark:</p>")
    summary = "".join(f"<li>{escape(line)}</li>" for line in trend.summary)
    summary_html = f'<ul class="trend-summary">{summary}</ul>' if summary else ""
    cols = TREND_COLUMNS.get(technology, ())
    if not trend.points:
        return f"{head}{intro}{summary_html}<p>No readings kept in that window.</p>"
    heads = "".join(f'<th scope="col">{escape(label)}{f" ({unit})" if unit else ""}</th>'
                    for _, label, unit in cols)
    rows = []
    for p in trend.points:
        cells = "".join(
            f'<td class="num">{escape(_num(getattr(p, name)))}</td>' for name, _, _ in cols
        )
        spec = '<strong class="oos">out of spec</strong>' if p.out_of_spec else "in spec"
        rows.append(f'<tr><th scope="row">{when(p.at)}</th>{cells}<td>{spec}</td></tr>')
    table = (f'<table class="trend"><caption>Readings before the dark, oldest first</caption>'
             f'<thead><tr><th scope="col">Reading</th>{heads}<th scope="col">Line</th></tr>'
             f'</thead><tbody>{"".join(rows)}</tbody></table>')
    return f"{head}{intro}{summary_html}{table}{chart}"


def account_page(
    *, account: str, node: str, technology: str, plan_down: float, plan_up: float,
    verdict_html: str, language: str, charts: Sequence[str], timeline: Sequence[TimelineEntry],
    user: str, csrf: str, headend_html: str = "", trend_html: str = "",
    calls_html: str = "", dispatch_html: str = "",
) -> str:
    charts_html = "".join(charts) or "<p>No chartable readings.</p>"
    extra = ""
    if calls_html:
        extra += f'<section aria-labelledby="calls-heading" id="calls">{calls_html}</section>'
    if dispatch_html:  # after the check: its form's fields come later in the tab order
        dispatch_html = (f'<section aria-labelledby="dispatch-heading" id="dispatches">'
                         f"{dispatch_html}</section>")
    if headend_html:
        extra += (f'<section aria-labelledby="headend-heading" id="headend">{headend_html}'
                  "</section>")
    if trend_html:
        extra += f'<section aria-labelledby="trend-heading" id="trend">{trend_html}</section>'
    body = f"""
<h1>Account {escape(account)}</h1>
<p class="facts">{escape(technology.upper())} · node {escape(node)} ·
plan {plan_down:g}/{plan_up:g} Mbit/s (down/up)</p>
<section aria-labelledby="verdict-heading" id="verdict" aria-live="polite">
{verdict_html}
</section>
{_language_form(account, language)}
{extra}
<section class="check" aria-labelledby="check-heading">
  <h2 id="check-heading">Check the line now</h2>
  <form id="check-form" method="post" action="{account_url(account, '/check')}">
    <input type="hidden" name="csrf" value="{escape(csrf)}">
    <button type="submit" id="run-check">Run check now</button>
    <span id="check-status" role="status" aria-live="polite"></span>
  </form>
</section>
{dispatch_html}
<section aria-labelledby="timeline-heading" id="timeline">
  <h2 id="timeline-heading">Timeline (newest first)</h2>
  <form method="post" action="{account_url(account, '/notes')}" class="note" id="note-form">
    <input type="hidden" name="csrf" value="{escape(csrf)}">
    <label for="note-text">Add a note (signed as {escape(user)})</label>
    <textarea id="note-text" name="text" rows="3" maxlength="4000" required></textarea>
    <button type="submit">Add note</button>
  </form>
  <div id="timeline-list">{timeline_section(timeline)}</div>
</section>
<section aria-labelledby="charts-heading" id="charts">
  <h2 id="charts-heading">Last 7 days</h2>
  <div class="charts">{charts_html}</div>
</section>"""
    return layout(f"Account {account}", body, user=user, csrf=csrf, search=account)


def node_rows(nodes: Sequence[NodeSummary]) -> str:
    rows = []
    for n in sorted(nodes, key=lambda s: (not s.outage, not s.plant_faults, s.node)):
        counts = "".join(
            f'<td class="num">{n.counts.get(v, 0)}</td>' for v in VERDICT_ORDER
        )
        flag = (f'<strong class="outage-flag">OUTAGE</strong> since {when(n.outage_since)}'
                if n.outage else "no outage")
        if n.plant_faults:  # listed in their own table (plant_rows): one line here
            flag += (f'<div class="plant-note"><a href="#plant-faults">{len(n.plant_faults)} '
                     "plant fault(s)</a>: see Plant faults</div>")
        cls = ' class="outage"' if n.outage else (' class="plant"' if n.plant_faults else "")
        rows.append(
            f'<tr{cls} data-node="{escape(n.node)}"><th scope="row">{escape(n.node)}</th>'
            f'<td class="num">{n.accounts}</td>{counts}<td class="status">{flag}</td></tr>'
        )
    return "".join(rows)


def plant_rows(nodes: Sequence[NodeSummary]) -> str:
    """Plant faults apart from node outages: one row per event, one dispatch each."""
    faults = sorted((p for n in nodes for p in n.plant_faults),
                    key=lambda p: (p.clearing, p.node, p.id))
    rows = []
    for p in faults:
        accounts = ", ".join(f'<a href="{account_url(a)}">{escape(a)}</a>' for a in p.accounts)
        state = "clearing" if p.clearing else '<strong class="plant-flag">PLANT FAULT</strong>'
        rows.append(
            f'<tr class="plant" data-plant="{escape(p.id)}" data-node="{escape(p.node)}">'
            f'<th scope="row">{escape(p.id)}</th><td>{escape(p.node)}</td>'
            f'<td>{when(p.since)}</td><td class="num">{len(p.accounts)}</td>'
            f"<td>{state}: dark together, one dispatch for the plant</td><td>{accounts}</td></tr>"
        )
    return "".join(rows) or '<tr><td colspan="6">No plant fault open.</td></tr>'


def agent_rows(agents: Sequence[AgentStatus]) -> str:
    """One row per agent heard from, silent ones first."""
    rows = []
    for a in sorted(agents, key=lambda s: (not s.silent, s.name)):
        if a.silent:
            status = (f'<strong class="silent-flag">SILENT</strong> since {when(a.silent_since)}:'
                      " its accounts are unknown")
        else:
            status = "pushing"
        cls = ' class="silent"' if a.silent else ""
        rows.append(
            f'<tr{cls} data-agent="{escape(a.name)}"><th scope="row">{escape(a.name)}</th>'
            f"<td>{when(a.last_push)}</td><td class=\"num\">{a.interval_s:g} s</td>"
            f'<td class="status">{status}</td></tr>'
        )
    return "".join(rows) or '<tr><td colspan="4">No agent has pushed yet.</td></tr>'


def ops_page(
    nodes: Sequence[NodeSummary], user: str, csrf: str, agents: Sequence[AgentStatus] = ()
) -> str:
    heads = "".join(f'<th scope="col">{escape(VERDICT_SHORT[v])}</th>' for v in VERDICT_ORDER)
    body = f"""
<h1>Operations: nodes</h1>
<p><a href="/console/outages">Outages and credits</a>: open and closed node outages and
plant faults, with each one's credit report for billing.</p>
<p>Updates every few seconds without reloading. <span id="ops-updated" role="status"
aria-live="polite">Last update {escape(absolute(time.time()))}.</span></p>
<p id="ops-alert" class="alert" role="alert"></p>
<table class="nodes" id="nodes" data-poll="/console/ops/nodes">
<caption>Accounts per verdict and area outages, per node</caption>
<thead><tr><th scope="col">Node</th><th scope="col">Accounts</th>{heads}
<th scope="col">Area outage</th></tr></thead>
<tbody>{node_rows(nodes)}</tbody>
</table>
<table class="plants" id="plant-faults">
<caption>Plant faults: a few modems of one node dark together (a tap, an amplifier, a
shared drop), short of an area outage. One event, one technician each.</caption>
<thead><tr><th scope="col">Event</th><th scope="col">Node</th><th scope="col">Since</th>
<th scope="col">Modems</th><th scope="col">State</th><th scope="col">Accounts</th></tr></thead>
<tbody>{plant_rows(nodes)}</tbody>
</table>
<table class="agents" id="agents">
<caption>Agents: last push, poll interval, and whether they went silent
(no push for three intervals)</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Last push</th>
<th scope="col">Interval</th><th scope="col">Status</th></tr></thead>
<tbody>{agent_rows(agents)}</tbody>
</table>"""
    return layout("Operations", body, user=user, csrf=csrf)


# --- calls, dispatches, outages (issue 17) -----------------------------------------------


def day_clock(ts: float, now: float | None = None) -> str:
    """'today 14:02', 'yesterday 14:02', else 'Thu 03 Dec 14:02' (UTC, as the console)."""
    now = time.time() if now is None else now
    t = time.gmtime(ts)
    days = int(now // 86400) - int(ts // 86400)
    clock = time.strftime("%H:%M", t)
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"yesterday {clock}"
    return time.strftime("%a %d %b ", t) + clock


def window_text(start: float, end: float) -> str:
    """'Thu 12-14' (whole hours) or 'Thu 12:30-14:00', UTC."""
    a, b = time.gmtime(start), time.gmtime(end)
    if a.tm_min == 0 and b.tm_min == 0:
        span = f"{a.tm_hour}-{b.tm_hour}"
    else:
        span = f"{time.strftime('%H:%M', a)}-{time.strftime('%H:%M', b)}"
    return f"{time.strftime('%a', a)} {span}"


def dispatch_text(d: Dispatch, now: float | None = None) -> str:
    """'technician requested yesterday 14:02 by alice, ref FS-1234, window Thu 12-14'
    (the words of ``linewatch status``), plain text: escaped by the caller."""
    text = f"technician requested {day_clock(d.at, now)} UTC by {d.requested_by or '?'}"
    if d.reference:
        text += f", ref {d.reference}"
    if d.window_start is not None and d.window_end is not None:
        text += f", window {window_text(d.window_start, d.window_end)}"
    if d.grouped:
        text += f" (for {d.fault}, on {d.account})"
    if d.forced:
        text += " (forced: a further dispatch for the same fault)"
    return text


def calls_section(calls: CallSummary | None) -> str:
    """'3rd call in 48 h' and the calls, newest first."""
    head = '<h2 id="calls-heading">Calls</h2>'
    if calls is None:
        return f"{head}<p>No calls recorded.</p>"
    repeat = " repeat" if any(c.repeat for c in calls.calls[:1]) else ""
    summary = f'<p class="calls-summary{repeat}"><strong>{escape(calls.text)}</strong></p>'
    if not calls.calls:
        return head + summary
    rows = []
    for c in calls.calls:
        who = f"agent {c.agent}" if c.channel == "agent" and c.agent else c.channel.upper()
        told = f"{VERDICT_SHORT.get(c.verdict, c.verdict)}"
        message = f": {c.message}" if c.message else ""
        flag = ' <strong class="repeat-flag">repeat</strong>' if c.repeat else ""
        rows.append(f'<tr><th scope="row">{when(c.at)}</th><td>{escape(who)}</td>'
                    f"<td>{escape(told + message)}{flag}</td></tr>")
    return (f'{head}{summary}<table class="calls"><caption>Recent calls, newest first'
            '</caption><thead><tr><th scope="col">When</th><th scope="col">Taken by</th>'
            f'<th scope="col">Verdict given</th></tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table>")


@dataclass(frozen=True)
class DispatchForm:
    """The dispatch form's values (prefilled, or as posted when sent back)."""

    reason: str = ""
    window_start: str = ""  # datetime-local value, UTC
    window_end: str = ""
    reference: str = ""
    error: str = ""
    conflict: bool = False  # a 409: offer 'force'


def dispatch_form(account: str, csrf: str, form: DispatchForm) -> str:
    """Technician request form; after a 409 it names the first and offers 'force'."""
    err = (f'<p class="error" role="alert" id="dispatch-error">{escape(form.error)}</p>'
           if form.error else "")
    described = ' aria-describedby="dispatch-error"' if form.error else ""
    force = ""
    if form.conflict:
        force = ('<div class="force"><input type="checkbox" id="dispatch-force" name="force" '
                 'value="1"><label for="dispatch-force">Force: request another technician '
                 "for the same fault anyway</label></div>")
    return f"""{err}
<form method="post" action="{account_url(account, '/dispatches')}" class="dispatch"
  id="dispatch-form">
  <input type="hidden" name="csrf" value="{escape(csrf)}">
  <label for="dispatch-reason">Reason</label>
  <input id="dispatch-reason" name="reason" type="text" maxlength="200" required
    value="{escape(form.reason)}"{described}>
  <label for="dispatch-start">Visit window start (UTC)</label>
  <input id="dispatch-start" name="window_start" type="datetime-local"
    value="{escape(form.window_start)}">
  <label for="dispatch-end">Visit window end (UTC)</label>
  <input id="dispatch-end" name="window_end" type="datetime-local"
    value="{escape(form.window_end)}">
  <label for="dispatch-reference">Field-service reference</label>
  <input id="dispatch-reference" name="reference" type="text" maxlength="200"
    placeholder="FS-1234" value="{escape(form.reference)}">
  {force}
  <button type="submit">Request technician</button>
</form>"""


def dispatch_section(account: str, dispatches: Sequence[Dispatch], csrf: str,
                     form: DispatchForm) -> str:
    head = '<h2 id="dispatch-heading">Technician</h2>'
    if dispatches:
        items = "".join(f'<li data-dispatch="{escape(d.id)}">{escape(dispatch_text(d))}</li>'
                        for d in dispatches)
        listed = f'<ul class="dispatches">{items}</ul>'
    else:
        listed = "<p>No technician requested in the last 30 days.</p>"
    return f"{head}{listed}<h3>Request a technician</h3>{dispatch_form(account, csrf, form)}"


def dispatch_conflict_page(account: str, first: Dispatch, form: DispatchForm, user: str,
                           csrf: str) -> str:
    """409: the fault already has a technician; the form again, with 'force'."""
    body = f"""
<h1>Technician already requested: {escape(account)}</h1>
<p class="error" role="alert">A technician was already requested for this fault:
<strong class="first-dispatch">{escape(first.id)}</strong>,
{escape(dispatch_text(first))}.</p>
<p>Tick <em>Force</em> to request another one anyway, or go
<a href="{account_url(account, '#dispatches')}">back to the account</a>.</p>
<section aria-labelledby="dispatch-heading" id="dispatches">
<h2 id="dispatch-heading">Request a technician</h2>
{dispatch_form(account, csrf, form)}
</section>"""
    return layout(f"Technician already requested: {account}", body, user=user, csrf=csrf)


def credits_url(outage_id: str, fmt: str) -> str:
    return f"/console/outages/{quote(outage_id, safe='')}/credits?format={fmt}"


def outages_page(outages: Sequence[Outage], user: str, csrf: str) -> str:
    """Node outages and plant faults, open first, each with its credit report."""
    rows = []
    for o in sorted(outages, key=lambda o: (o.until is not None, -o.since)):
        kind = "Node outage" if o.kind == "node_outage" else "Plant fault"
        state = ('<strong class="outage-flag">OPEN</strong>' if o.until is None
                 else f"closed {when(o.until)}")
        accounts = ", ".join(f'<a href="{account_url(a)}">{escape(a)}</a>' for a in o.accounts)
        label = escape(o.id)
        rows.append(
            f'<tr data-outage="{label}"><th scope="row">{label}</th><td>{kind}</td>'
            f"<td>{escape(o.node)}</td><td>{when(o.since)}</td><td>{state}</td>"
            f'<td class="num">{len(o.accounts)}</td><td>{accounts or "none"}</td>'
            f'<td><a href="{credits_url(o.id, "json")}" download '
            f'aria-label="Credit report for {label}, JSON">JSON</a> · '
            f'<a href="{credits_url(o.id, "csv")}" download '
            f'aria-label="Credit report for {label}, CSV">CSV</a></td></tr>'
        )
    body_rows = "".join(rows) or '<tr><td colspan="8">No outage in the last 30 days.</td></tr>'
    body = f"""
<h1>Outages and credits</h1>
<p>Node outages and plant faults open now or closed in the last 30 days, newest first.
A credit report gives each affected account's downtime within the outage (what
<code>/downtime</code> answers for it), for billing.</p>
<table class="outages" id="outages">
<caption>Node outages and plant faults, open ones first</caption>
<thead><tr><th scope="col">Outage</th><th scope="col">Kind</th><th scope="col">Node</th>
<th scope="col">Since</th><th scope="col">State</th><th scope="col">Accounts</th>
<th scope="col">Affected</th><th scope="col">Credit report</th></tr></thead>
<tbody>{body_rows}</tbody>
</table>
<p><a href="/console/ops">Back to operations</a></p>"""
    return layout("Outages and credits", body, user=user, csrf=csrf)
