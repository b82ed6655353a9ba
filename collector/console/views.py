"""Console handlers: sign-in/out, account page, check, notes, operations view.

Handlers stay thin: account status and checks go through the API's own
handlers (``collector.routes.support.get_account`` / ``post_check``) with the
session's principal, so the console audits, times out, counts and records
events exactly like ``GET /v1/accounts/{account}`` and
``POST /v1/accounts/{account}/check``. Redirects are *returned*, never raised:
the collector's error middleware turns raised HTTP exceptions into JSON.
"""

from __future__ import annotations

import datetime as dt
import inspect
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import msgspec
from aiohttp import web
from babel.dates import format_date

from collector.appkeys import AUTH_LIMITER, TOKENS
from collector.auth import Principal
from collector.console import charts, pages
from collector.console.render import Ui, fragment, ui_for
from collector.console.sessions import Session, SessionStore, csrf_ok
from collector.dispatches import (
    DispatchConflict,
    DispatchRequest,
)
from collector.i18n import N_, UI_LANGUAGES
from collector.i18n.words import action_text, event_text
from collector.model import LANGUAGES, Event, NodeSummary, PlantFault
from collector.outages import OutagesAnswer
from collector.routes import outages as outage_routes
from collector.routes import support
from collector.routes.common import ACCOUNT_RE, COLLECTOR, METRICS, PRINCIPAL, ApiError
from collector.routes.types import AccountStatus, CheckAnswer
from collector.service import Collector
from collector.store.base import HistoryPoint
from collector.verdicts import Thresholds

log = logging.getLogger("linewatch.console")

SESSIONS = web.AppKey("console_sessions", SessionStore)
# True: always mark cookies Secure; False: never; None: Secure exactly when the
# request came over HTTPS (see collector.console docstring).
SECURE_COOKIES = web.AppKey("console_secure_cookies", object)

COOKIE = "lw_console"
PRE_COOKIE = "lw_console_pre"
CONSOLE_ROLES = ("support",)  # admin passes too (Principal.allowed)
WEEK_S = 7 * 86400.0
MAX_MATCHES = 20
# A lookup records a call (channel agent) unless the same agent already has one
# on the account this recently: reloads, the language switch and the redirect
# back after a note or check are the same call, not a new one. Shorter than
# any real call-back; counted per agent, so a colleague's lookup is its own call.
CALL_REPEAT_S = 600.0
_WINDOW_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, in the console's zone
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


# --- responses ------------------------------------------------------------------------


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html",
                        charset="utf-8", headers=_SECURITY_HEADERS)


def _ui(request: web.Request, session: Session | None) -> Ui:
    return ui_for(request, session.language if session is not None else None)


def page(request: web.Request, session: Session | None, template: str, status: int = 200,
         *, ui: Ui | None = None, **context: Any) -> web.Response:
    """A console page from its template, for the signed-in agent (or nobody)."""
    ui = ui or _ui(request, session)
    if session is not None:
        context.setdefault("user", session.principal.name)
        context.setdefault("csrf", session.csrf)
    context.setdefault("here", request.path_qs)
    return html(fragment(request, ui, template, **context), status)


def error(request: web.Request, session: Session | None, title: str, message: str,
          status: int) -> web.Response:
    """The error page; ``title`` and ``message`` are already in the reader's language."""
    return page(request, session, "error.html", status, title=title, message=message)


def redirect(location: str, status: int = 303) -> web.Response:
    return web.Response(status=status, headers={**_SECURITY_HEADERS, "Location": location})


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj), status=status,
                        content_type="application/json", headers=_SECURITY_HEADERS)


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # drop the port
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("]")[0]).is_loopback
    except ValueError:
        return name.startswith("::1")


def _secure(request: web.Request) -> bool:
    """Secure on HTTPS and on loopback (a secure context: browsers keep Secure
    cookies there even over http://), unless configured either way."""
    setting = request.app[SECURE_COOKIES]
    if setting is not None:
        return bool(setting)
    return request.secure or _loopback(request.host)


def _set_cookie(request: web.Request, response: web.Response, name: str, value: str,
                max_age: float) -> None:
    response.set_cookie(name, value, path="/console", max_age=int(max_age), httponly=True,
                        samesite="Strict", secure=_secure(request))


def _clear_cookie(request: web.Request, response: web.Response, name: str) -> None:
    response.del_cookie(name, path="/console", secure=_secure(request), httponly=True,
                        samesite="Strict")


def _safe_next(path: str | None) -> str:
    """Only console paths: a crafted ``next`` must not redirect off-site."""
    if path and path.startswith("/console/") and not path.startswith("/console//") \
            and "\\" not in path and len(path) < 512:
        return path
    return "/console/"


# --- sessions ----------------------------------------------------------------------------


def _session(request: web.Request) -> Session | None:
    return request.app[SESSIONS].get(request.cookies.get(COOKIE))


def _signin_redirect(request: web.Request) -> web.Response:
    return redirect(f"/console/signin?next={quote(request.path_qs, safe='')}")


async def _csrf_from(request: web.Request) -> str | None:
    sent = request.headers.get("X-CSRF-Token")
    if sent:
        return sent
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


def _forbidden(request: web.Request, session: Session | None, message: str) -> web.Response:
    """403 for a stale or forged form: ``message`` is an msgid, said in the reader's language."""
    ui = _ui(request, session)
    return error(request, session, ui.gettext("Forbidden"), ui.gettext(message), 403)


async def _posting_session(request: web.Request) -> Session | web.Response:
    """The session of a POST with a valid CSRF token, or the answer to send instead."""
    session = _session(request)
    if session is None:
        return _signin_redirect(request) if _wants_html(request) else _json(
            {"error": "signed out; sign in again"}, 401)
    if not csrf_ok(session, await _csrf_from(request)):
        log.warning("console: CSRF token missing or wrong on %s", request.path)
        return _forbidden(request, session, N_("The form was stale or not sent by this "
                                               "console (CSRF check failed). Reload the page "
                                               "and try again."))
    return session


def _wants_html(request: web.Request) -> bool:
    return "application/json" not in request.headers.get("Accept", "")


def _as_principal(request: web.Request, session: Session) -> None:
    request[PRINCIPAL] = session.principal


# --- sign-in / sign-out ----------------------------------------------------------------------


async def signin_form(request: web.Request) -> web.Response:
    if _session(request) is not None:
        return redirect(_safe_next(request.query.get("next")))
    return _signin_answer(request, request.query.get("next"), None, 200)


def _signin_answer(request: web.Request, next_path: str | None, error: str | None,
                   status: int) -> web.Response:
    """The sign-in form (``error`` already in the reader's language)."""
    pre = secrets.token_urlsafe(24)
    token = request.app[SESSIONS].presession_token(pre)
    response = page(request, None, "signin.html", status, csrf=token,
                    next_path=_safe_next(next_path), error=error)
    _set_cookie(request, response, PRE_COOKIE, pre, 3600)
    return response


async def signin(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    form = await request.post()
    next_path = form.get("next") if isinstance(form.get("next"), str) else None
    field = form.get("csrf")
    if not sessions.presession_ok(request.cookies.get(PRE_COOKIE),
                                  field if isinstance(field, str) else None):
        return _forbidden(request, None, N_("The sign-in form was stale or not sent by this "
                                            "console (CSRF check failed). Reload the page and "
                                            "sign in again."))
    token = form.get("token")
    who: Principal | None = None
    limiter, client = request.app[AUTH_LIMITER], request.remote or "unknown"
    wait_s = limiter.retry_after(client)
    ui = _ui(request, None)
    if wait_s > 0:
        request.app[METRICS].auth_failures.labels("rate_limited").inc()
        answer = _signin_answer(
            request, next_path if isinstance(next_path, str) else None,
            ui.gettext("Too many failed sign-ins from here. Try again in {seconds} s.")
            .format(seconds=math.ceil(wait_s)), 429)
        answer.headers["Retry-After"] = str(math.ceil(wait_s))
        return answer
    if isinstance(token, str) and token.strip():
        who = await request.app[TOKENS].principal(f"Bearer {token.strip()}")
    if who is None:
        limiter.failed(client)
        request.app[METRICS].auth_failures.labels("invalid").inc()
        log.info("console: sign-in with an unknown token")
        return _signin_answer(request, next_path if isinstance(next_path, str) else None,
                              ui.gettext("That token is not valid. Check it and try again."),
                              401)
    if not who.allowed(CONSOLE_ROLES):
        log.info("console: sign-in refused for %s (role %s)", who.name, who.role)
        return _signin_answer(
            request, next_path if isinstance(next_path, str) else None,
            ui.gettext("A {role} token cannot sign in to the console: use a support token.")
            .format(role=who.role), 403)
    session_id, _ = sessions.create(who)
    log.info("console: %s signed in", who.name)
    response = redirect(_safe_next(next_path if isinstance(next_path, str) else None))
    _set_cookie(request, response, COOKIE, session_id, sessions.absolute_timeout_s)
    _clear_cookie(request, response, PRE_COOKIE)
    return response


async def signout(request: web.Request) -> web.Response:
    session = await _posting_session(request)
    if not isinstance(session, Session):
        return session
    request.app[SESSIONS].drop(request.cookies.get(COOKIE))
    response = redirect("/console/signin")
    _clear_cookie(request, response, COOKIE)
    return response


async def root(request: web.Request) -> web.Response:
    return redirect("/console/", 302)


# --- pages ------------------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    session = _session(request)
    if session is None:
        return _signin_redirect(request)
    return page(request, session, "home.html")


async def set_language(request: web.Request) -> web.Response:
    """The agent's console language, kept with the session, then back to ``next``."""
    session = await _posting_session(request)
    if not isinstance(session, Session):
        return session
    form = await request.post()
    chosen = form.get("language")
    if chosen not in UI_LANGUAGES:
        ui = _ui(request, session)
        return error(request, session, ui.gettext("Language not changed"),
                     ui.gettext("The console speaks {languages}.").format(
                         languages=", ".join(UI_LANGUAGES)), 422)
    session.language = str(chosen)
    next_path = form.get("next")
    return redirect(_safe_next(next_path if isinstance(next_path, str) else None))


async def search(request: web.Request) -> web.Response:
    session = _session(request)
    if session is None:
        return _signin_redirect(request)
    query = request.query.get("account", "").strip()[:64]
    collector = request.app[COLLECTOR]
    if ACCOUNT_RE.match(query) and await collector.store.get_target(query) is not None:
        return redirect(pages.account_url(query))
    needle = query.lower()
    matches = sorted(a for a in collector.targets if needle and needle in a.lower())
    return page(request, session, "search.html", 200 if matches else 404, query=query,
                matches=matches[:MAX_MATCHES], search=query)


def _language(request: web.Request) -> str:
    """The caller's language for the customer message (``?lang=``), not the UI's."""
    lang = request.query.get("lang", "en").lower()
    return lang if lang in LANGUAGES else "en"


async def _status(request: web.Request, session: Session) -> AccountStatus | web.Response:
    """The API's account answer (which also writes the audit entry)."""
    _as_principal(request, session)
    try:
        response = await support.get_account(request)
    except ApiError as exc:
        ui = _ui(request, session)
        if exc.status == 404:
            return error(request, session, ui.gettext("Unknown account"),
                         ui.gettext("No account {account} in the inventory.").format(
                             account=request.match_info.get("account", "")[:64]), 404)
        return error(request, session, ui.gettext("Cannot show this account"), exc.reason,
                     exc.status)
    assert isinstance(response.body, bytes)
    return msgspec.json.decode(response.body, type=AccountStatus)


async def _timeline(collector: Collector, account: str, since: float, until: float,
                    ui: Ui) -> list[pages.TimelineEntry]:
    """Verdict changes, reboots, checks and notes of the window, newest first."""
    store = collector.store
    verdicts = await store.verdict_history(account, since, until)
    events = await store.events(account, since, until)
    timeline = [
        pages.TimelineEntry(
            at=v.since, kind="verdict",
            text=f"{ui.verdict(v.verdict)}. {action_text(v.action, ui.gettext, ui.local)}"
            .strip(),
        )
        for v in verdicts
    ] + [pages.TimelineEntry(at=e.at, kind=e.kind, text=event_text(e.kind, e.text, ui.gettext),
                             author=e.author)
         for e in events]
    timeline.sort(key=lambda e: e.at, reverse=True)
    return timeline


def _day_label(ui: Ui) -> Callable[[float], str]:
    def label(ts: float) -> str:
        return format_date(dt.datetime.fromtimestamp(ts, ui.tz).date(), "d MMM",
                           locale=ui.language)
    return label


async def account(request: web.Request) -> web.Response:
    session = _session(request)
    if session is None:
        return _signin_redirect(request)
    await _record_call(request, session)
    status = await _status(request, session)
    if isinstance(status, web.Response):
        return status
    ui = _ui(request, session)
    collector = request.app[COLLECTOR]
    store = collector.store
    name = status.account
    until = time.time()
    since = until - WEEK_S
    points = await store.history(name, since, until)
    timeline = await _timeline(collector, name, since, until, ui)
    us_channels = 4
    snmp = status.latest.get("snmp")
    line = getattr(getattr(snmp, "result", None), "line", None)
    if line is not None and getattr(line, "upstream", None):
        us_channels = len(line.upstream)
    th = _thresholds(collector)
    specs = charts.chart_specs(status.technology, th, status.plan_down_mbps,
                               status.plan_up_mbps, us_channels, ui.gettext)
    drawn = [charts.render_chart(spec, points, since, until, f"chart-{i}", ui.gettext,
                                 _day_label(ui))
             for i, spec in enumerate(specs)]
    return page(
        request, session, "account.html", ui=ui, search=name,
        account=name, node=status.node, technology=status.technology,
        plan_down=status.plan_down_mbps, plan_up=status.plan_up_mbps,
        verdict=status.verdict, language=_language(request), fresh=status.fresh,
        last_seen=status.last_seen, charts=drawn, timeline=timeline,
        headend=status.headend, trend=status.trend, chart=_trend_chart(status, th, ui),
        lines=pages.readings_lines(status.readings, ui), calls=status.calls,
        dispatches=status.dispatches,
        form=pages.DispatchForm(reason=pages.dispatch_reason(status.verdict, ui)[:200]),
    )


async def _record_call(request: web.Request, session: Session) -> None:
    """The lookup is a call taken by this agent: through the API's own handler
    (``POST /v1/accounts/{account}/calls``: repeat count, audit, webhook),
    once per agent and account within ``CALL_REPEAT_S``."""
    name = request.match_info["account"]
    collector = request.app[COLLECTOR]
    if not ACCOUNT_RE.match(name):
        return  # _status answers the error page
    agent = session.principal.name
    recent = await collector.store.calls(name, time.time() - CALL_REPEAT_S)
    if any(c.channel == "agent" and c.agent == agent for c in recent):
        return
    _as_principal(request, session)
    try:
        await support.post_call(request)
    except ApiError:
        pass  # unknown account: _status answers the error page


def _trend_chart(status: AccountStatus, th: Thresholds, ui: Ui) -> str:
    """The pre-dark points on the existing chart helper, with the line's floor."""
    trend = status.trend
    # Only for a dark modem: a live one has the same readings in the 7-day charts.
    if trend is None or trend.dark_since is None or len(trend.points) < 2:
        return ""
    _ = ui.gettext
    field, title, unit, floor = {
        "docsis": ("ds_snr_db", _("Downstream SNR before the dark"), "dB",
                   th.docsis.snr_min_db),
        "dsl": ("dsl_snr_margin_down_db", _("SNR margin before the dark"), "dB",
                th.dsl.snr_margin_bad_at_or_below_db),
        "gpon": ("gpon_rx_power_dbm", _("Receive power before the dark"), "dBm",
                 th.gpon.rx_power_min_dbm),
    }.get(status.technology, ("", "", "", 0.0))
    if not field:
        return ""
    points = [
        HistoryPoint(account=status.account, at=p.at, metrics={field: v})
        for p in trend.points if (v := getattr(p, field)) is not None
    ]
    spec = charts.ChartSpec(title, unit, (charts.Series(field, _("reading")),),
                            (charts.Line(floor, _("limit {value}").format(value=f"{floor:g}")),))
    return charts.render_chart(spec, points, trend.points[0].at, trend.points[-1].at,
                               "chart-trend", ui.gettext, _day_label(ui))


def _thresholds(collector: Collector) -> Thresholds:
    engine = collector.engine
    return engine.th if engine is not None else Thresholds.default()


async def run_check(request: web.Request) -> web.Response:
    """The API's check (same broker, timeout, event, audit and metrics) for the console.

    JavaScript calls it with ``Accept: application/json`` and gets the fresh
    verdict as HTML; without JavaScript the form posts and is redirected back.
    """
    session = await _posting_session(request)
    if not isinstance(session, Session):
        return session
    _as_principal(request, session)
    ui = _ui(request, session)
    try:
        response = await support.post_check(request)
    except ApiError as exc:
        if _wants_html(request):
            return error(request, session, ui.gettext("Check failed"), exc.reason, exc.status)
        return _json({"error": exc.reason}, exc.status)
    assert isinstance(response.body, bytes)
    answer = msgspec.json.decode(response.body, type=CheckAnswer)
    if _wants_html(request):
        return redirect(pages.account_url(answer.account))
    collector = request.app[COLLECTOR]
    now = time.time()
    fresh_now = collector.is_fresh(answer.account, now)
    timeline = await _timeline(collector, answer.account, now - WEEK_S, now + 1, ui)
    return _json({
        "timeline": fragment(request, ui, "_timeline.html", entries=timeline),
        "account": answer.account,
        "fresh": answer.fresh,
        "verdict": answer.verdict.verdict,
        "html": fragment(request, ui, "_verdict.html", verdict=answer.verdict,
                         language=_language(request), fresh=fresh_now,
                         last_seen=collector.last_seen(answer.account)),
    })


async def add_note(request: web.Request) -> web.Response:
    session = await _posting_session(request)
    if not isinstance(session, Session):
        return session
    collector = request.app[COLLECTOR]
    name = request.match_info["account"]
    form = await request.post()
    text = form.get("text")
    text = text.strip() if isinstance(text, str) else ""
    ui = _ui(request, session)
    problem = None
    if not ACCOUNT_RE.match(name) or await collector.store.get_target(name) is None:
        problem, status = ui.gettext("No account {account} in the inventory.").format(
            account=name[:64]), 404
    elif not 1 <= len(text) <= 4000:
        problem, status = ui.gettext("A note needs 1 to 4000 characters."), 422
    if problem is not None:
        return error(request, session, ui.gettext("Note not saved"), problem, status)
    await collector.add_events([Event(account=name, kind="note", at=time.time(), text=text,
                                      author=session.principal.name)])
    return redirect(pages.account_url(name, "#timeline"))


def _window(value: str, ui: Ui) -> float | None:
    """A datetime-local field (the console's zone) as unix seconds; '' is no window."""
    if not value:
        return None
    try:
        naive = dt.datetime.strptime(value[:16], _WINDOW_FORMAT)
    except ValueError as exc:
        raise ValueError(ui.gettext("not a date and time: {value}").format(
            value=value[:32])) from exc
    return naive.replace(tzinfo=ui.tz).timestamp()


async def add_dispatch(request: web.Request) -> web.Response:
    """The dispatch form, through the API's own dispatch (refusal, event,
    audit, webhook); a 409 sends the form back with the first dispatch named
    and a 'force' checkbox."""
    session = await _posting_session(request)
    if not isinstance(session, Session):
        return session
    name = request.match_info["account"]
    ui = _ui(request, session)
    title = ui.gettext("Technician not requested")
    form = await request.post()
    fields = {k: v.strip() if isinstance(v := form.get(k), str) else ""
              for k in ("reason", "window_start", "window_end", "reference")}
    try:
        req = msgspec.convert({
            "reason": fields["reason"] or None, "reference": fields["reference"] or None,
            "window_start": _window(fields["window_start"], ui),
            "window_end": _window(fields["window_end"], ui),
            "force": form.get("force") == "1",
        }, DispatchRequest)
    except (ValueError, msgspec.ValidationError) as exc:
        return error(request, session, title, str(exc), 422)
    _as_principal(request, session)
    try:
        response = await support.request_dispatch(request, name, req)
    except ApiError as exc:
        return error(request, session, title, exc.reason, exc.status)
    assert isinstance(response.body, bytes)
    if response.status == 409:
        conflict = msgspec.json.decode(response.body, type=DispatchConflict)
        again = pages.DispatchForm(**fields, conflict=True)  # the page's alert names the first
        return page(request, session, "dispatch_conflict.html", 409, ui=ui, account=name,
                    first=conflict.first, form=again)
    return redirect(pages.account_url(name, "#dispatches"))


async def outages(request: web.Request) -> web.Response:
    """Open and closed outages with their accounts (``GET /v1/outages``'s list)."""
    session = _session(request)
    if session is None:
        return _signin_redirect(request)
    _as_principal(request, session)
    response = await outage_routes.get_outages(request)
    assert isinstance(response.body, bytes)
    listed = msgspec.json.decode(response.body, type=OutagesAnswer).outages
    listed = sorted(listed, key=lambda o: (o.until is not None, -o.since))
    return page(request, session, "outages.html", outages=listed)


async def credits(request: web.Request) -> web.Response:
    """One outage's credit report as a download, JSON or CSV: the API's own
    ``GET /v1/outages/{id}/credits``."""
    session = _session(request)
    if session is None:
        return _signin_redirect(request)
    _as_principal(request, session)
    try:
        response = await outage_routes.get_credits(request)
    except ApiError as exc:
        ui = _ui(request, session)
        return error(request, session, ui.gettext("No credit report"), exc.reason, exc.status)
    fmt = "csv" if request.query.get("format") == "csv" else "json"
    response.headers.update({k: v for k, v in _SECURITY_HEADERS.items()
                             if k != "Content-Security-Policy"})
    response.headers["Content-Disposition"] = f'attachment; filename="credits.{fmt}"'
    return response


async def _node_summaries(request: web.Request) -> list[NodeSummary]:
    """The collector's node summaries, outages first, then plant faults, by name."""
    result: Any = request.app[COLLECTOR].node_summaries()
    if inspect.isawaitable(result):
        result = await result
    return sorted(result, key=lambda s: (not s.outage, not s.plant_faults, s.node))


def _ops_rows(request: web.Request, nodes: list[NodeSummary]) -> dict[str, Any]:
    """What the ops page and its poll render: nodes, plant faults, agents."""
    faults: list[PlantFault] = sorted((p for n in nodes for p in n.plant_faults),
                                      key=lambda p: (p.clearing, p.node, p.id))
    agents = sorted(request.app[COLLECTOR].agent_statuses(), key=lambda s: (not s.silent, s.name))
    return {"nodes": nodes, "faults": faults, "agents": agents}


def _updated(ui: Ui) -> str:
    return ui.gettext("Last update {time}.").format(time=ui.local(ui.now, seconds=True))


async def ops(request: web.Request) -> web.Response:
    session = _session(request)
    if session is None:
        return _signin_redirect(request)
    ui = _ui(request, session)
    rows = _ops_rows(request, await _node_summaries(request))
    return page(request, session, "ops.html", ui=ui, updated=_updated(ui), **rows)


def _ops_alert(ui: Ui, outages: list[str], plants: list[str], silent: list[str]) -> str:
    """What the ops view announces when outages, plant faults or silent agents change."""
    parts = [ui.gettext("Outage on node {nodes}.").format(nodes=", ".join(outages))
             if outages else ui.gettext("No node has an outage now.")]
    if plants:
        parts.append(ui.gettext("Plant fault {faults}.").format(faults=", ".join(plants)))
    if silent:
        parts.append(ui.gettext("Agent {agents} silent: its accounts are unknown.").format(
            agents=", ".join(silent)))
    return " ".join(parts)


async def ops_nodes(request: web.Request) -> web.Response:
    """Polled by the operations view every few seconds: table rows, outages,
    plant faults and silent agents."""
    session = _session(request)
    if session is None:
        return _json({"error": "signed out; sign in again"}, 401)
    ui = _ui(request, session)
    rows = _ops_rows(request, await _node_summaries(request))
    outages = sorted(n.node for n in rows["nodes"] if n.outage)
    plants = sorted(p.id for p in rows["faults"])
    silent = sorted(a.name for a in rows["agents"] if a.silent)
    return _json({
        "html": fragment(request, ui, "_node_rows.html", **rows),
        "agents_html": fragment(request, ui, "_agent_rows.html", **rows),
        "plant_html": fragment(request, ui, "_plant_rows.html", **rows),
        "silent_agents": silent,
        "outages": outages,
        "plant_faults": plants,
        "updated": _updated(ui),
        "alert": _ops_alert(ui, outages, plants, silent),
    })
