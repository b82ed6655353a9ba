"""The support console over HTTP (aiohttp test client, real SQLite store).

Sign-in, sessions, cookie flags, CSRF, roles, notes in the timeline, the
audit entry of a page view, charts with thresholds, and a console check
answered by a test-side agent over the real job API.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime
import re
import time
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from collector_harness import batch, collector_config, docsis_ok, ping_ok, target

from collector.app import build_app
from collector.auth import create_token
from collector.console import setup_console
from collector.model import ROLES
from collector.routes.common import COLLECTOR
from collector.store.base import Store
from probes.model import JobList, encode

ACCOUNT = "ACC-1"


@dataclass
class Console:
    client: TestClient
    tokens: dict[str, str]

    @property
    def store(self) -> Store:
        return self.client.app[COLLECTOR].store

    async def signin_form(self) -> str:
        resp = await self.client.get("/console/signin")
        assert resp.status == 200
        page = await resp.text()
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    async def sign_in(
        self, role: str = "support", token: str | None = None
    ) -> ClientResponse:
        csrf = await self.signin_form()
        return await self.client.post(
            "/console/signin", allow_redirects=False,
            data={"csrf": csrf, "token": token or self.tokens[role], "next": "/console/"},
        )

    async def page_csrf(self, path: str = "/console/") -> tuple[str, str]:
        resp = await self.client.get(path)
        assert resp.status == 200, await resp.text()
        page = await resp.text()
        return page, re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def _console(tmp_path: Path, config: dict[str, object] | None = None,
                   **kw: object) -> AsyncIterator[Console]:
    app = build_app(collector_config(str(tmp_path / "collector.db"), **(config or {})))
    setup_console(app, **kw)  # type: ignore[arg-type]
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    try:
        collector = app[COLLECTOR]
        tokens = {}
        for role in ROLES:
            _, tokens[role] = await create_token(collector.store, role, f"{role}-test")
        await collector.import_inventory([target(ACCOUNT), target("ACC-2")])
        yield Console(client=client, tokens=tokens)
    finally:
        await client.close()


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    # Secure off: aiohttp's client jar never sends Secure cookies over http://
    # UTC: the times these tests type and read do not depend on the host's zone.
    async for c in _console(tmp_path, {"console": {"timezone": "UTC"}}, secure_cookies=False):
        yield c


async def test_root_redirects_and_pages_need_a_session(console: Console) -> None:
    resp = await console.client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/console/"
    for path in ("/console/", f"/console/accounts/{ACCOUNT}", "/console/ops"):
        resp = await console.client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/console/signin?next=")
    resp = await console.client.get("/console/ops/nodes")
    assert resp.status == 401
    # no audit entry was written for an anonymous request
    assert await console.store.audit_log(ACCOUNT) == []


async def test_wrong_token_gets_an_error_page_and_no_session(console: Console) -> None:
    resp = await console.sign_in(token="not-a-real-token")
    assert resp.status == 401
    assert "text/html" in resp.headers["Content-Type"]
    assert "That token is not valid" in await resp.text()
    assert "lw_console=" not in resp.headers.get("Set-Cookie", "").replace("lw_console_pre", "")
    resp = await console.client.get("/console/", allow_redirects=False)
    assert resp.status == 303


@pytest.mark.parametrize("role", ["ivr", "agent"])
async def test_ivr_and_agent_tokens_cannot_sign_in(console: Console, role: str) -> None:
    resp = await console.sign_in(role)
    assert resp.status == 403
    assert f"A {role} token cannot sign in" in await resp.text()
    resp = await console.client.get("/console/", allow_redirects=False)
    assert resp.status == 303


async def test_session_cookie_flags_on_plain_http(console: Console) -> None:
    resp = await console.sign_in("support")
    assert resp.status == 303 and resp.headers["Location"] == "/console/"
    cookies = resp.headers.getall("Set-Cookie")
    session = next(c for c in cookies if c.startswith("lw_console="))
    flags = {f.strip().split("=")[0].lower() for f in session.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "SameSite=Strict" in session and "Path=/console" in session
    assert "secure" not in flags  # secure_cookies=False
    # the pre-session cookie is cleared once signed in
    assert any(c.startswith("lw_console_pre=") and "Max-Age=0" in c for c in cookies)
    page, _ = await console.page_csrf()
    assert "Signed in as <strong>support-test</strong>" in page
    # an admin token signs in too (a fresh browser: no cookies)
    console.client.session.cookie_jar.clear()
    resp = await console.sign_in("admin")
    assert resp.status == 303


@pytest.mark.parametrize("setting", [None, True])
async def test_secure_flag_on_loopback_by_default_and_when_configured(
    tmp_path: Path, setting: bool | None
) -> None:
    async for c in _console(tmp_path, secure_cookies=setting):
        resp = await c.client.get("/console/signin")
        pre = resp.headers["Set-Cookie"]
        assert pre.startswith("lw_console_pre=") and "Secure" in pre
        csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text()).group(1)  # type: ignore[union-attr]
        # the client jar keeps Secure cookies off plain http, so send it by hand
        resp = await c.client.post(
            "/console/signin", allow_redirects=False,
            data={"csrf": csrf, "token": c.tokens["support"]},
            headers={"Cookie": pre.split(";", 1)[0]},
        )
        assert resp.status == 303
        session = next(x for x in resp.headers.getall("Set-Cookie")
                       if x.startswith("lw_console="))
        assert "Secure" in session and "HttpOnly" in session and "SameSite=Strict" in session


async def test_csrf_missing_or_wrong_is_403(console: Console) -> None:
    # sign-in itself: no pre-session field -> 403
    resp = await console.client.post("/console/signin", allow_redirects=False,
                                      data={"token": console.tokens["support"]})
    assert resp.status == 403
    assert (await console.sign_in()).status == 303
    _, csrf = await console.page_csrf()
    for path in (f"/console/accounts/{ACCOUNT}/notes", f"/console/accounts/{ACCOUNT}/check",
                 "/console/signout"):
        resp = await console.client.post(path, data={"text": "x"}, allow_redirects=False)
        assert resp.status == 403, path
        resp = await console.client.post(path, data={"text": "x", "csrf": csrf + "x"},
                                         allow_redirects=False)
        assert resp.status == 403, path
        resp = await console.client.post(path, headers={"X-CSRF-Token": "wrong"},
                                         allow_redirects=False)
        assert resp.status == 403, path
    assert await console.store.events(ACCOUNT, 0, time.time() + 1) == []
    # still signed in; a correct token signs out and the cookie no longer works
    resp = await console.client.post("/console/signout", data={"csrf": csrf},
                                      allow_redirects=False)
    assert resp.status == 303
    resp = await console.client.get("/console/", allow_redirects=False)
    assert resp.status == 303


async def test_notes_appear_in_the_timeline_with_author_and_views_are_audited(
    console: Console,
) -> None:
    assert (await console.sign_in()).status == 303
    _, csrf = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    resp = await console.client.post(
        f"/console/accounts/{ACCOUNT}/notes", allow_redirects=False,
        data={"csrf": csrf, "text": "Customer restarted <b>modem</b> twice"},
    )
    assert resp.status == 303
    assert resp.headers["Location"] == f"/console/accounts/{ACCOUNT}#timeline"
    page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    timeline = page.split('id="timeline"', 1)[1]
    assert "Customer restarted &lt;b&gt;modem&lt;/b&gt; twice" in timeline  # escaped
    assert '<span class="author">support-test</span>' in timeline
    events = await console.store.events(ACCOUNT, 0, time.time() + 1)
    assert [(e.kind, e.author) for e in events] == [("note", "support-test")]
    audit = await console.store.audit_log(ACCOUNT)
    # two views (status each) and the one call the first view recorded
    assert sorted(a.action for a in audit) == ["call", "status", "status"]
    assert {a.actor for a in audit} == {"support-test"}
    # an empty note is refused, nothing stored
    resp = await console.client.post(f"/console/accounts/{ACCOUNT}/notes",
                                     data={"csrf": csrf, "text": "   "})
    assert resp.status == 422
    assert len(await console.store.events(ACCOUNT, 0, time.time() + 1)) == 1


async def test_account_page_shows_verdict_evidence_message_and_charts(console: Console) -> None:
    now = time.time()
    collector = console.client.app[COLLECTOR]
    for i in range(6):
        at = now - 120 * (6 - i)  # the last one 2 min ago: fresh
        await collector.ingest(batch([docsis_ok(ACCOUNT, at), ping_ok(ACCOUNT, at)]))
    assert (await console.sign_in()).status == 303
    page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}?lang=sv")
    assert 'data-verdict="ok"' in page
    assert "OK: nothing wrong on our side" in page
    assert '<blockquote class="customer-message" lang="sv">' in page
    # DOCSIS: DS power, SNR, US TX; then ping loss, RTT, throughput
    assert page.count('class="chart"') == 6
    assert page.count('class="threshold"') >= 8
    assert "min -15" in page and "max 15" in page and "min 30" in page
    assert "<polyline" in page  # the points were drawn
    resp = await console.client.get("/console/accounts/NOPE-9")
    assert resp.status == 404 and "Unknown account" in await resp.text()
    resp = await console.client.get("/console/search?account=ACC", allow_redirects=False)
    assert resp.status == 200 and "2 accounts match" in await resp.text()
    resp = await console.client.get(f"/console/search?account={ACCOUNT}",
                                    allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/console/accounts/{ACCOUNT}"


async def test_next_parameter_cannot_redirect_off_site(console: Console) -> None:
    csrf = await console.signin_form()
    resp = await console.client.post(
        "/console/signin", allow_redirects=False,
        data={"csrf": csrf, "token": console.tokens["support"], "next": "//evil.example/"},
    )
    assert resp.status == 303 and resp.headers["Location"] == "/console/"


async def test_console_check_runs_through_the_job_api(console: Console) -> None:
    """A test-side agent long-polls the real job endpoint and ingests the results."""
    assert (await console.sign_in()).status == 303
    _, csrf = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    agent_headers = {"Authorization": f"Bearer {console.tokens['agent']}"}

    async def agent_once() -> int:
        for _ in range(10):  # bounded: the job shows up within a few polls
            resp = await console.client.get("/v1/agents/default/jobs?wait=2",
                                            headers=agent_headers)
            assert resp.status == 200
            jobs = msgspec.json.decode(await resp.read(), type=JobList).jobs
            if jobs:
                job = jobs[0]
                records = [docsis_ok(job.account, job_id=job.job_id),
                           ping_ok(job.account, job_id=job.job_id)]
                resp = await console.client.post(
                    "/v1/ingest", data=encode(batch(records)),
                    headers={**agent_headers, "Content-Type": "application/json"})
                assert resp.status == 200
                return len(jobs)
        return 0

    agent = asyncio.create_task(agent_once())
    await asyncio.sleep(0.1)  # the agent is polling, so the job is routed to it
    resp = await console.client.post(
        f"/console/accounts/{ACCOUNT}/check",
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert await agent == 1
    assert body["fresh"] is True and body["verdict"] == "ok"
    assert 'data-verdict="ok"' in body["html"]
    assert "check by support-test: fresh" in body["timeline"]
    events = await console.store.events(ACCOUNT, 0, time.time() + 1)
    assert [e.kind for e in events] == ["check"] and events[0].author == "support-test"
    assert "check" in {a.action for a in await console.store.audit_log(ACCOUNT)}


async def test_secure_flag_off_for_plain_http_to_a_non_loopback_host(tmp_path: Path) -> None:
    """A browser would drop a Secure cookie there; HTTPS or the flag fixes that."""
    async for c in _console(tmp_path):
        resp = await c.client.get("/console/signin", headers={"Host": "console.example:8470"})
        assert "Secure" not in resp.headers["Set-Cookie"]
        resp = await c.client.get("/console/signin", headers={"Host": "[::1]:8470"})
        assert "Secure" in resp.headers["Set-Cookie"]


async def test_operations_view_and_its_poll_answer(console: Console) -> None:
    assert (await console.sign_in()).status == 303
    page, _ = await console.page_csrf("/console/ops")
    assert '<tr data-node="N-1">' in page and "no outage" in page
    resp = await console.client.get("/console/ops/nodes")
    assert resp.status == 200
    body = await resp.json()
    assert body["outages"] == [] and 'data-node="N-1"' in body["html"]


async def test_setup_console_twice_only_applies_settings(tmp_path: Path) -> None:
    app = build_app(collector_config(str(tmp_path / "c.db")))
    setup_console(app)
    routes = len(app.router.routes())
    setup_console(app, secure_cookies=False)
    assert len(app.router.routes()) == routes


def test_sessions_expire_when_idle_and_after_the_absolute_limit() -> None:
    from collector.auth import Principal
    from collector.console.sessions import SessionStore, csrf_ok

    store = SessionStore(idle_timeout_s=60, absolute_timeout_s=300)
    who = Principal(name="alice", role="support")
    sid, session = store.create(who, now=1000.0)
    assert store.get(sid, now=1050.0) is session  # touched: idle timer restarts
    assert store.get(sid, now=1100.0) is session
    assert store.get(sid, now=1161.0) is None  # idle > 60 s
    sid, _ = store.create(who, now=2000.0)
    for t in range(2050, 2300, 50):
        assert store.get(sid, now=float(t)) is not None
    assert store.get(sid, now=2301.0) is None  # absolute limit, however busy
    sid, session = store.create(who, now=3000.0)
    assert sid not in repr(store._sessions)  # keyed by hash, never the cookie value
    assert csrf_ok(session, session.csrf) and not csrf_ok(session, "") \
        and not csrf_ok(session, None)
    assert store.get("not-a-session") is None and store.get("x" * 500) is None


def test_chart_draws_thresholds_where_the_values_are() -> None:
    from collector.console.charts import ChartSpec, Line, Series, render_chart
    from collector.store.base import HistoryPoint

    spec = ChartSpec("SNR", "dB", (Series("ds_snr_db_min", "worst"),), (Line(30.0, "min 30"),))
    pts = [HistoryPoint(account="a", at=float(t), metrics={"ds_snr_db_min": v})
           for t, v in ((100, 40.0), (200, 20.0), (300, float("nan")))]
    svg = render_chart(spec, pts, 0.0, 400.0, "c")
    ys = {}
    for tag, key in (("line class=\"threshold\"", "thr"), ("circle class=\"latest\"", "dot")):
        frag = svg.split(tag, 1)[1]
        ys[key] = float(re.search(r'(?:y1|cy)="([-0-9.]+)"', frag).group(1))  # type: ignore[union-attr]
    poly = re.search(r'<polyline class="series" points="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    (x1, y40), (x2, y20) = (tuple(map(float, p.split(","))) for p in poly.split())
    assert x1 < x2 and y40 < ys["thr"] < y20  # 40 above the 30 line, 20 below (SVG y grows down)
    assert ys["dot"] == y20  # the latest point is marked; NaN was skipped
    assert "latest 20, min 20, max 40 dB" in svg


async def test_check_without_javascript_posts_the_form_and_comes_back(tmp_path: Path) -> None:
    """No agent polls: the check times out as no_agent and the timeline says so."""
    async for c in _console(tmp_path, {"check_timeout_s": 0.3}, secure_cookies=False):
        assert (await c.sign_in()).status == 303
        _, csrf = await c.page_csrf(f"/console/accounts/{ACCOUNT}")
        resp = await c.client.post(f"/console/accounts/{ACCOUNT}/check", data={"csrf": csrf},
                                   allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == f"/console/accounts/{ACCOUNT}"
        page, _ = await c.page_csrf(f"/console/accounts/{ACCOUNT}")
        assert "check by support-test: no agent took it" in page.split('id="timeline"', 1)[1]


async def test_account_page_shows_the_headend_view_and_the_trend_before_the_dark(
    console: Console,
) -> None:
    import headend_view_data as story

    collector = console.client.app[COLLECTOR]
    await collector.import_inventory(story.targets())
    await collector.import_headends(story.headends())
    for records in story.story():
        await collector.ingest(batch(records))
    assert (await console.sign_in()).status == 303
    page, _ = await console.page_csrf(f"/console/accounts/{story.DARK}")
    assert 'data-verdict="line_fault"' in page
    head = page[page.index('id="headend"'):page.index('id="trend"')]
    assert "Headend view" in head and story.HEADEND in head
    assert 'data-state="offline"' in head and "other — offline" in head
    assert "-4.5 dBmV" in head and "24.8 dB" in head and "123456 / 789 / 4321" in head
    assert '<span class="fresh">fresh</span>' in head
    trend = page[page.index('id="trend"'):page.index('id="check-heading"')]
    assert "Before it went dark" in trend and "stopped answering" in trend
    assert "downstream SNR 37 -&gt; 31 -&gt; 25 dB over" in trend  # escaped
    assert trend.count("<tr><th scope=\"row\">") == 3 and "out of spec" in trend
    assert 'id="chart-trend"' in trend and "limit 30" in trend
    # same CMTS, no row for the line; a node without a headend
    page, _ = await console.page_csrf(f"/console/accounts/{story.UNSEEN}")
    assert "no row for this line" in page and "The modem answers" in page
    page, _ = await console.page_csrf(f"/console/accounts/{story.BARE}")
    assert "No headend configured for this line." in page
    # every value escaped: a hostile row value from a headend is text, not markup
    from collector.console import render
    from collector.routes.types import HeadendLineView
    from probes.model import CmtsModem

    hostile = render.template_env(console.client.app).get_template("_headend.html").render(
        ui=render.Ui(language="en", tz=datetime.UTC), view=HeadendLineView(
            headend="<script>h</script>", kind="cmts", seen=True, state="offline",
            status="<img src=x>", polled_at=time.time(), fresh=False,
            modem=CmtsModem(mac=story.MAC, status="other")))
    assert "<script>" not in hostile and "<img" not in hostile
    assert "&lt;script&gt;h&lt;/script&gt;" in hostile and "stale" in hostile
    # the CSP still forbids inline script and style on this page
    resp = await console.client.get(f"/console/accounts/{story.DARK}")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "<script>" not in await resp.text() and "style=" not in await resp.text()


async def test_operations_view_lists_plant_faults_apart_from_node_outages(
    console: Console,
) -> None:
    from collector_harness import dark, docsis_ok, ping_ok, target

    collector = console.client.app[COLLECTOR]
    accounts = [f"P-{i}" for i in range(10)]
    await collector.import_inventory([target(a, node="N-P") for a in accounts])
    now = time.time()
    await collector.ingest(batch([r for a in accounts
                                  for r in (docsis_ok(a, now - 300), ping_ok(a, now - 300))]))
    await collector.ingest(batch([r for a in accounts[:3] for r in dark(a, now - 5)]))
    assert (await console.sign_in()).status == 303
    page, _ = await console.page_csrf("/console/ops")
    nodes = page[page.index('id="nodes"'):page.index('id="plant-faults"')]
    plants = page[page.index('id="plant-faults"'):page.index('id="agents"')]
    assert "data-plant=" not in nodes and 'href="#plant-faults">1 plant fault</a>' in nodes
    assert 'data-plant="plant-N-P-' in plants and 'data-node="N-P"' in plants
    assert all(a in plants for a in accounts[:3]) and accounts[3] not in plants
    assert "one dispatch for the plant" in plants
    body = await (await console.client.get("/console/ops/nodes")).json()
    assert 'data-plant="plant-N-P-' in body["plant_html"]
    assert "data-plant=" not in body["html"] and body["outages"] == []


async def test_a_lookup_records_one_agent_call_and_the_page_lists_the_calls(
    console: Console,
) -> None:
    """The account page records a call (channel agent, the console user) like
    ``linewatch status --call``; a reload within CALL_REPEAT_S is the same call."""
    from collector.calls import Call

    collector = console.client.app[COLLECTOR]
    now = time.time()
    await collector.store.add_call(Call(account=ACCOUNT, at=now - 3600, channel="ivr",
                                        verdict="line_fault", message="We <know>."))
    assert (await console.sign_in()).status == 303
    page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    calls = await collector.store.calls(ACCOUNT, 0)
    assert [(c.channel, c.agent) for c in calls] == [("agent", "support-test"), ("ivr", None)]
    section = page[page.index('id="calls"'):page.index('id="dispatches"')]
    assert "2nd call in 48 h" in section
    assert "agent support-test" in section and "We &lt;know&gt;." in section  # escaped
    page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}?lang=sv")  # reload
    assert len(await collector.store.calls(ACCOUNT, 0)) == 2
    assert "2nd call in 48 h" in page
    # another agent's lookup is a call of its own
    console.client.session.cookie_jar.clear()
    assert (await console.sign_in("admin")).status == 303
    page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    assert "3rd call in 48 h" in page and "agent admin-test" in page


async def test_dispatch_form_posts_with_csrf_and_a_second_one_is_409_with_force(
    console: Console,
) -> None:
    collector = console.client.app[COLLECTOR]
    assert (await console.sign_in()).status == 303
    page, csrf = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    form = page[page.index('id="dispatch-form"'):]
    form = form[:form.index("</form>")]
    assert 'name="csrf"' in form and 'for="dispatch-reason"' in form
    assert 'id="dispatch-reason" name="reason"' in form and 'value="Unknown' in form  # prefilled
    assert 'name="force"' not in form
    fields = {"reason": "no sync <since> Monday", "window_start": "2026-12-10T12:00",
              "window_end": "2026-12-10T14:00", "reference": "FS-1234"}
    # without the token: refused, nothing stored
    resp = await console.client.post(f"/console/accounts/{ACCOUNT}/dispatches", data=fields)
    assert resp.status == 403
    assert await collector.store.dispatches(account=ACCOUNT) == []
    resp = await console.client.post(f"/console/accounts/{ACCOUNT}/dispatches",
                                     data={**fields, "csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/console/accounts/{ACCOUNT}#dispatches"
    [first] = await collector.store.dispatches(account=ACCOUNT)
    assert (first.requested_by, first.reference, first.reason) == \
        ("support-test", "FS-1234", "no sync <since> Monday")
    start = calendar.timegm((2026, 12, 10, 12, 0, 0, 0, 0, 0))  # the form's times are UTC
    assert first.window_start == start and first.window_end == start + 7200
    page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    listed = page[page.index('id="dispatches"'):page.index('id="dispatch-form"')]
    assert "by support-test, ref FS-1234, window Thu 12-14" in listed
    timeline = page.split('id="timeline"', 1)[1]
    assert "no sync &lt;since&gt; Monday" in timeline  # the API's dispatch event, escaped
    # a second one for the same open fault: 409, the first named, 'force' offered
    resp = await console.client.post(f"/console/accounts/{ACCOUNT}/dispatches",
                                     data={**fields, "reference": "FS-9", "csrf": csrf})
    assert resp.status == 409
    text = await resp.text()
    assert first.id in text and "by support-test" in text
    assert 'type="checkbox" id="dispatch-force" name="force"' in text
    assert 'for="dispatch-force"' in text and 'value="FS-9"' in text  # kept as typed
    assert "<script>" not in text
    assert len(await collector.store.dispatches(account=ACCOUNT)) == 1
    resp = await console.client.post(f"/console/accounts/{ACCOUNT}/dispatches",
                                     data={**fields, "force": "1", "csrf": csrf},
                                     allow_redirects=False)
    assert resp.status == 303
    assert len(await collector.store.dispatches(account=ACCOUNT)) == 2
    # a window ending before it starts is the API's 422
    resp = await console.client.post(
        f"/console/accounts/{ACCOUNT}/dispatches",
        data={**fields, "window_end": "2026-12-10T11:00", "force": "1", "csrf": csrf})
    assert resp.status == 422 and "start before end" in await resp.text()


async def test_outages_page_lists_outages_with_their_credit_reports(console: Console) -> None:
    from collector.outages import Outage

    store = console.store
    now = time.time()
    closed = Outage(id=f"outage:N-1:{now - 7200:.0f}", kind="node_outage", node="N-1",
                    since=now - 7200, accounts=[ACCOUNT, "ACC-2"])
    plant = Outage(id="plant-N-2-<x>", kind="plant_fault", node="N-2", since=now - 600,
                   accounts=["ACC-2"])
    await store.record_outage(closed)
    await store.close_outage(closed.id, now - 3600)
    await store.record_outage(plant)
    assert (await console.sign_in()).status == 303
    page, _ = await console.page_csrf("/console/ops")
    assert 'href="/console/outages"' in page
    page, _ = await console.page_csrf("/console/outages")
    rows = page[page.index('id="outages"'):]
    assert rows.index("plant-N-2-&lt;x&gt;") < rows.index(closed.id)  # open first, escaped
    assert "<x>" not in rows and "OPEN" in rows and "closed <time" in rows
    assert f'href="/console/accounts/{ACCOUNT}"' in rows
    quoted = closed.id.replace(":", "%3A")
    assert f'href="/console/outages/{quoted}/credits?format=csv" download' in rows
    resp = await console.client.get(f"/console/outages/{quoted}/credits?format=json")
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    report = await resp.json(content_type=None)
    assert report["outage"]["id"] == closed.id
    assert sorted(c["account"] for c in report["credits"]) == ["ACC-1", "ACC-2"]
    resp = await console.client.get(f"/console/outages/{quoted}/credits?format=csv")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert (await resp.text()).splitlines()[0] == "outage,kind,node,account,since,until,downtime_s"
    resp = await console.client.get("/console/outages/nope/credits")
    assert resp.status == 404
    console.client.session.cookie_jar.clear()
    resp = await console.client.get(f"/console/outages/{quoted}/credits",
                                    allow_redirects=False)
    assert resp.status == 303  # signed out: no report


# --- the agent's language and zone (issue 19) ---------------------------------------


def _said(language: str, message: str) -> str:
    from collector.i18n import translations

    said = translations(language).gettext(message)
    assert said != message, f"{message!r} has no {language} translation"
    return said


def _lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)">', page).group(1)  # type: ignore[union-attr]


async def test_console_language_follows_session_then_browser_then_config(
    tmp_path: Path,
) -> None:
    consoles = _console(tmp_path, {"console": {"language": "pl", "timezone": "UTC"}},
                        secure_cookies=False)
    async with contextlib.aclosing(consoles):
        console = await anext(consoles)
        client = console.client
        # no choice and a browser asking for nothing served: the collector's default
        resp = await client.get("/console/signin", headers={"Accept-Language": "de, fr;q=0.5"})
        page = await resp.text()
        assert _lang(page) == "pl" and _said("pl", "Sign in") in page
        # the browser's language (q-values honoured), before config
        resp = await client.get("/console/signin",
                                headers={"Accept-Language": "de, sv;q=0.8, pl;q=0.3"})
        page = await resp.text()
        assert _lang(page) == "sv" and _said("sv", "Support token") in page
        assert "Support token" not in page
        # an error on sign-in in the browser's language
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        resp = await client.post("/console/signin", headers={"Accept-Language": "sv"},
                                 data={"csrf": csrf, "token": "wrong", "next": "/console/"})
        assert resp.status == 401
        assert _said("sv", "That token is not valid. Check it and try again.") \
            in await resp.text()
        assert (await console.sign_in()).status == 303
        home, csrf = await console.page_csrf("/console/")
        assert _lang(home) == "pl" and 'id="ui-language-form"' in home
        # the agent's choice, kept with the session, beats the browser's
        resp = await client.post("/console/language", allow_redirects=False,
                                 data={"csrf": csrf, "language": "sv", "next": "/console/ops"})
        assert resp.status == 303 and resp.headers["Location"] == "/console/ops"
        resp = await client.get("/console/ops", headers={"Accept-Language": "en"})
        ops = await resp.text()
        assert _lang(ops) == "sv" and _said("sv", "Operations: nodes") in ops
        assert '<option value="sv" lang="sv" selected>' in ops
        polled = await (await client.get("/console/ops/nodes")).json()
        assert polled["updated"].startswith(_said("sv", "Last update {time}.").split("{")[0])
        assert polled["alert"] == _said("sv", "No node has an outage now.")
        account, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
        assert _lang(account) == "sv" and _said("sv", "Check the line now") in account
        assert _said("sv", "Checking the line… {seconds} s elapsed") in account  # for the JS
        # refused: a language it does not speak, a missing token, an off-site next
        resp = await client.post("/console/language", data={"csrf": csrf, "language": "de"})
        assert resp.status == 422
        resp = await client.post("/console/language", data={"language": "en"})
        assert resp.status == 403
        resp = await client.post("/console/language", allow_redirects=False,
                                 data={"csrf": csrf, "language": "en", "next": "//evil/"})
        assert resp.headers["Location"] == "/console/"
        page, _ = await console.page_csrf("/console/")
        assert _lang(page) == "en" and "Account search" in page


@pytest.mark.parametrize("zone_name", ["Europe/Stockholm", "Europe/Warsaw"])
async def test_console_times_in_the_site_zone_across_dst(tmp_path: Path, zone_name: str) -> None:
    """The dispatch window is typed and shown in the site's zone: on the spring
    change night 01:30 is CET (UTC+1) and 04:00 is CEST (UTC+2)."""
    consoles = _console(tmp_path, {"console": {"timezone": zone_name}}, secure_cookies=False)
    async with contextlib.aclosing(consoles):
        console = await anext(consoles)
        collector = console.client.app[COLLECTOR]
        now = time.time()
        await collector.ingest(batch([docsis_ok(ACCOUNT, now - 60), ping_ok(ACCOUNT, now - 60)]))
        assert (await console.sign_in()).status == 303
        page, csrf = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
        assert f"Times in {zone_name}; hover a time for UTC." in page
        assert f"Visit window start ({zone_name})" in page
        # every time: local text with the zone's abbreviation, UTC on hover
        stamps = re.findall(r'<time datetime="([^"]+)Z" title="([^"]+)">([^<]+)</time>', page)
        assert stamps
        for iso, utc, text in stamps:
            assert utc.endswith(" UTC") and utc[:10] == iso[:10]
            local = datetime.datetime.fromisoformat(iso + "+00:00").astimezone(
                zoneinfo.ZoneInfo(zone_name))
            assert f"{local:%Y-%m-%d %H:%M} {local.tzname()}" in text, text
        resp = await console.client.post(
            f"/console/accounts/{ACCOUNT}/dispatches", allow_redirects=False,
            data={"csrf": csrf, "reason": "no sync", "window_start": "2026-03-29T01:30",
                  "window_end": "2026-03-29T04:00"})
        assert resp.status == 303
        [d] = await collector.store.dispatches(account=ACCOUNT)
        assert d.window_start == calendar.timegm((2026, 3, 29, 0, 30, 0, 0, 0, 0))
        assert d.window_end == calendar.timegm((2026, 3, 29, 2, 0, 0, 0, 0, 0))
        page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
        listed = page[page.index('id="dispatches"'):page.index('id="dispatch-form"')]
        assert "window Sun 01:30-04:00 CEST" in listed, listed


async def test_many_failing_channels_fold_into_details(console: Console) -> None:
    """32 channels below the SNR floor: eight evidence rows say it, the rest one
    click away in <details>, and the readings list every failing channel."""
    from probes.model import DownstreamChannel

    collector = console.client.app[COLLECTOR]
    now = time.time()
    record = docsis_ok(ACCOUNT, now - 30)
    line = record.result.line  # type: ignore[union-attr]
    line.downstream[:] = [  # type: ignore[union-attr]
        DownstreamChannel(index=i, frequency_hz=300_000_000 + i * 8_000_000, power_dbmv=1.5,
                          snr_db=24.0, unerrored=100_000 * i, corrected=i, uncorrectable=0)
        for i in range(1, 33)]
    await collector.ingest(batch([record, ping_ok(ACCOUNT, now - 30)]))
    assert (await console.sign_in()).status == 303
    page, _ = await console.page_csrf(f"/console/accounts/{ACCOUNT}")
    verdict = page[page.index('id="verdict"'):page.index('class="customer-message"')]
    shown, _, folded = verdict.partition('<details class="evidence-more">')
    assert folded, "no <details> for the evidence past the first eight rows"
    assert shown.count('<tr><th scope="row">') == 8
    more = int(re.search(r"<summary>(\d+) more facts</summary>", folded).group(1))  # type: ignore[union-attr]
    assert more == folded.count('<tr><th scope="row">') and more >= 24
    readings = page[page.index('id="readings"'):page.index('id="calls"')]
    assert readings.count('class="reading oos"') == 32  # every failing channel is listed
    assert "SNR below 30 dB" in readings
