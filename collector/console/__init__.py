"""The support web console: server-rendered pages under ``/console/``.

``setup_console(app)`` adds the routes to a collector app built by
``collector.app.build_app`` (before it starts: aiohttp freezes routers then).

Sign-in takes a support (or admin) bearer token once and gives a session
cookie: HttpOnly, SameSite=Strict, Path=/console, and Secure by default when
the request came over HTTPS *or* to a loopback host (127.0.0.0/8, ::1,
localhost). Browsers drop Secure cookies set over plain http:// except on
loopback, which they treat as a secure context: Chromium 156 keeps a Secure
cookie from http://127.0.0.1 and http://localhost (tests/test_console_browser.py
checks the flag on the cookie the browser holds). Over plain HTTP on any
other address a Secure cookie would be dropped and nobody could sign in, so
there the flag is left off (serve the console over HTTPS). Behind a
TLS-terminating proxy, where the request arrives as plain HTTP, pass
``secure_cookies=True``; ``False`` turns the flag off everywhere (the HTTP
tests do that, because aiohttp's client jar never sends Secure cookies over
http://).

Sessions are in memory (see ``collector.console.sessions``): a restart signs
everyone out. Every POST carries a per-session CSRF token.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from collector.console import pages, views
from collector.console.render import UiDefaults, setup_templates
from collector.console.sessions import SessionStore
from collector.console.views import SECURE_COOKIES, SESSIONS
from collector.i18n import phrases
from collector.model import LANGUAGES
from collector.routes.common import CONFIG

# What the templates call (besides ``ui`` and gettext): pages' plain helpers.
TEMPLATE_HELPERS = {
    "account_url": pages.account_url,
    "action_words": pages.action_words,
    "calls_head": phrases.calls_head,
    "credits_url": pages.credits_url,
    "customer_message": pages.customer_message,
    "dispatch_text": pages.dispatch_text,
    "evidence_rows": pages.evidence_rows,
    "headend_rows": pages.headend_rows,
    "num": pages.num,
    "percent": pages.percent,
    "trend_summary": pages.trend_summary,
    "CUSTOMER_LANGUAGES": LANGUAGES,
    "EVIDENCE_SHOWN": 8,  # evidence rows shown before the rest fold into <details>
    "TIMELINE_KINDS": pages.TIMELINE_KINDS,
    "TREND_COLUMNS": pages.TREND_COLUMNS,
    "VERDICT_ORDER": pages.VERDICT_ORDER,
}

STATIC_DIR = Path(__file__).with_name("static")

__all__ = ["STATIC_DIR", "setup_console"]


def setup_console(app: web.Application, *, secure_cookies: bool | None = None,
                  sessions: SessionStore | None = None) -> None:
    """Add the console routes (and ``/`` -> ``/console/``) to the collector app.

    Idempotent: called again (say by a test after ``build_app`` already did),
    it only applies the given settings.
    """
    already = SESSIONS in app
    if sessions is not None or not already:
        app[SESSIONS] = sessions or SessionStore()
    if secure_cookies is not None or not already:
        app[SECURE_COOKIES] = secure_cookies
    if already:
        return
    console = app[CONFIG].console if CONFIG in app else None
    setup_templates(app, UiDefaults(language=console.language, timezone=console.timezone)
                    if console is not None else UiDefaults(), TEMPLATE_HELPERS)
    r = app.router
    r.add_get("/", views.root)
    r.add_get("/console", views.root)
    r.add_get("/console/", views.home)
    r.add_get("/console/signin", views.signin_form)
    r.add_post("/console/signin", views.signin)
    r.add_post("/console/signout", views.signout)
    r.add_post("/console/language", views.set_language)
    r.add_get("/console/search", views.search)
    r.add_get("/console/accounts/{account}", views.account)
    r.add_post("/console/accounts/{account}/check", views.run_check)
    r.add_post("/console/accounts/{account}/notes", views.add_note)
    r.add_post("/console/accounts/{account}/dispatches", views.add_dispatch)
    r.add_get("/console/ops", views.ops)
    r.add_get("/console/ops/nodes", views.ops_nodes)
    r.add_get("/console/outages", views.outages)
    r.add_get("/console/outages/{outage}/credits", views.credits)
    r.add_static("/console/static", STATIC_DIR, append_version=False)
