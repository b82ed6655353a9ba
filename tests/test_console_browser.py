"""The support console in a real browser (Debian chromium, headless, via Playwright).

The stack is real processes: the fleet simulator (`linewatch lab fleet`)
answering SNMP on loopback, the collector with the console
(`python -m collector.console`, i.e. ``build_app`` + ``setup_console``) on a
SQLite store, and a real agent (`linewatch agent run`) polling the fleet,
pushing batches and answering on-demand checks through the job API.

The story: a support agent signs in (also keyboard-only), looks up a caller,
reads the verdict and evidence in the caller's language, runs a check and
sees the fresh verdict, leaves a note that shows in the timeline, and the
operations view flags a node live (no reload) after an outage is injected.
The console is also read in Swedish and Polish (browser language, then the
nav's language form), with no English left on the page. Screenshots of each
page go to test-artifacts/console/ (path printed). The
fleet's headends (a CMTS / DSLAM / OLT per node) are polled too: a drop cut
shows on the account page as the CMTS's view and the readings before the dark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from needs import need_binary

from collector.auth import create_token
from collector.store.sqlite import SqliteStore
from probes.inventory import parse_inventory

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "console"
PY = sys.executable
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 800}
OUTAGE_NODE = "NODE-03"  # DOCSIS (lab.fleet.layout.TECH_PATTERN); 10 modems on it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, token: str | None = None, body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, object]:
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Proc:
    """A child process logging to a file; stopped by its own pid only."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                                         env={**os.environ, **(env or {})})
        self.log = log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _wait(what: str, ok: object, timeout_s: float, procs: list[Proc]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.log.name} exited: {p.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError, ValueError):
            if ok():  # type: ignore[operator]
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _tokens(db: str) -> dict[str, str]:
    store = SqliteStore(db)
    await store.start()
    try:
        return {role: (await create_token(store, role, name))[1]
                for role, name in (("support", "alice"), ("admin", "ops-admin"),
                                   ("agent", "agent-1"))}
    finally:
        await store.stop()


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """A line in the test output whether or not output is captured (-s)."""
    plugins = request.config.pluginmanager
    capture = plugins.get_plugin("capturemanager")
    reporter = plugins.get_plugin("terminalreporter")
    if reporter is None:
        print(line)
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write("\n")
        reporter.write_line(line)


@dataclass
class Stack:
    url: str
    control: str
    tokens: dict[str, str]
    accounts: dict[str, list[str]]  # node -> accounts
    procs: list[Proc] = field(default_factory=list)
    shots: list[str] = field(default_factory=list)

    def fault(self, **body: object) -> None:
        status, answer = _http("POST", f"http://{self.control}/faults",
                               body=json.dumps(body).encode())
        assert status == 201, answer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[Stack]:
    need_binary("chromium")
    tmp = tmp_path_factory.mktemp("console")
    db = str(tmp / "collector.db")
    tokens = asyncio.run(_tokens(db))
    port, fleet_port, control = free_port(), free_port(), f"127.0.0.1:{free_port()}"
    url = f"http://127.0.0.1:{port}"
    inventory = tmp / "inventory.csv"
    headends = tmp / "headends.csv"  # a CMTS / DSLAM / OLT per node (issue 15)
    procs: list[Proc] = []
    try:
        # TZ=UTC: the console says times in the host's zone, and the labels
        # asserted below ("Visit window start (UTC)") must not follow the user's.
        procs.append(Proc([PY, "-m", "collector.console", "--db", db,
                           "--listen", f"127.0.0.1:{port}"], tmp / "collector.log",
                          env={"TZ": "UTC"}))
        procs.append(Proc([PY, "-m", "linewatch.cli", "lab", "fleet", "--modems", "30",
                           "--nodes", "3", "--port", str(fleet_port), "--control", control,
                           "--inventory", str(inventory), "--headends", str(headends)],
                          tmp / "fleet.log"))
        _wait("fleet inventory", lambda: inventory.stat().st_size > 0, 30, procs)
        _wait("collector", lambda: _http("GET", f"{url}/healthz")[0] == 200, 30, procs)
        csv = inventory.read_text()
        status, answer = _http("PUT", f"{url}/v1/inventory", tokens["admin"], csv.encode(),
                               "text/csv")
        assert status == 200, answer
        status, answer = _http("PUT", f"{url}/v1/inventory", tokens["admin"],
                               headends.read_bytes(), "text/csv")
        assert status == 200 and answer["headends"] == 3, answer  # type: ignore[index]
        accounts: dict[str, list[str]] = {}
        for t in parse_inventory(csv):
            accounts.setdefault(t.node, []).append(t.account)
        (tmp / "agent.toml").write_text(f"""
[agent]
name = "agent-1"
collector_url = "{url}"
interval_s = 2.0
jitter_s = 0.2
probe_deadline_s = 3.0
metrics_listen = "127.0.0.1:{free_port()}"
spool_path = "{tmp / 'spool.db'}"
push_interval_s = 0.5
push_backoff_max_s = 2.0
job_wait_s = 5.0
shutdown_grace_s = 3.0
final_push_s = 2.0

[snmp]
timeout_s = 1.0
retries = 0

[headend]
interval_s = 1.0
timeout_s = 1.0
retries = 0

[ping]
# The fleet fakes SNMP only: the kernel answers ICMP for any 127.x address.
enabled = false
""")
        procs.append(Proc([PY, "-m", "linewatch.cli", "agent", "run", "--config",
                           str(tmp / "agent.toml")], tmp / "agent.log",
                          env={"LINEWATCH_AGENT_TOKEN": tokens["agent"]}))

        def all_judged() -> bool:
            status, body = _http("GET", f"{url}/v1/nodes", tokens["support"])
            nodes = body["nodes"]  # type: ignore[index]
            return status == 200 and sum(n["counts"].get("ok", 0) for n in nodes) >= 30

        _wait("every modem judged ok", all_judged, 30, procs)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        s = Stack(url=url, control=control, tokens=tokens, accounts=accounts, procs=procs)
        yield s
        (ARTIFACTS / "index.txt").write_text("\n".join(s.shots) + "\n")
        _report(request, f"console screenshots: {ARTIFACTS} ({len(s.shots)} pages, index.txt)")
    finally:
        for p in reversed(procs):
            p.stop()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: object, stack: Stack) -> Iterator[object]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def shot(stack: Stack, page: object, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    stack.shots.append(f"{path.name}\t{page.url}")  # type: ignore[attr-defined]


def sign_in(page: object, stack: Stack) -> None:
    page.goto(f"{stack.url}/")  # type: ignore[attr-defined]
    page.get_by_label("Support token").fill(stack.tokens["support"])  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{stack.url}/console/")  # type: ignore[attr-defined]


def _focused(page: object) -> str:
    return page.evaluate(  # type: ignore[attr-defined]
        "() => document.activeElement.id || document.activeElement.className || "
        "document.activeElement.tagName")


def tab_to(page: object, element_id: str, limit: int = 12) -> list[str]:
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
        seen.append(_focused(page))
        if seen[-1] == element_id:
            return seen
    raise AssertionError(f"Tab never reached #{element_id}: {seen}")


def test_keyboard_only_sign_in_and_search(page: object, stack: Stack) -> None:
    p = page
    p.goto(f"{stack.url}/")  # type: ignore[attr-defined]
    assert p.url.startswith(f"{stack.url}/console/signin")  # type: ignore[attr-defined]
    shot(stack, p, "01-sign-in")
    order = tab_to(p, "token")
    assert order[0] == "skip"  # the skip link is the first stop
    outline = p.evaluate(  # type: ignore[attr-defined]
        "() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # a visible focus style
    p.keyboard.type("wrong-token")  # type: ignore[attr-defined]
    p.keyboard.press("Enter")  # type: ignore[attr-defined]
    p.wait_for_load_state()  # type: ignore[attr-defined]
    assert "That token is not valid" in p.inner_text("[role=alert]")  # type: ignore[attr-defined]
    shot(stack, p, "02-sign-in-error")
    tab_to(p, "token")
    p.keyboard.type(stack.tokens["support"])  # type: ignore[attr-defined]
    p.keyboard.press("Enter")  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/")  # type: ignore[attr-defined]
    account = stack.accounts["NODE-01"][1]
    tab_to(p, "search-account")
    p.keyboard.type(account)  # type: ignore[attr-defined]
    p.keyboard.press("Enter")  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/accounts/{account}")  # type: ignore[attr-defined]
    assert p.inner_text("h1") == f"Account {account}"  # type: ignore[attr-defined]
    # keyboard only, all the way to the check button
    tab_to(p, "run-check", limit=40)


def test_support_story_verdict_check_note(page: object, stack: Stack) -> None:
    p = page
    sign_in(p, stack)
    cookie = next(c for c in p.context.cookies() if c["name"] == "lw_console")  # type: ignore[attr-defined]
    # loopback over http: Chromium keeps the Secure cookie (see collector.console docstring)
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert p.evaluate("() => document.cookie") == ""  # type: ignore[attr-defined]
    shot(stack, p, "03-search")
    account = stack.accounts["NODE-01"][0]
    p.get_by_label("Account number").fill(account)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Look up").click()  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/accounts/{account}")  # type: ignore[attr-defined]
    banner = p.locator(".banner")  # type: ignore[attr-defined]
    assert banner.get_attribute("data-verdict") == "ok"
    assert "OK: nothing wrong on our side" in banner.inner_text()
    assert "ago (" in banner.inner_text()  # since: relative and absolute
    assert "Nothing wrong on our side" in p.inner_text(".action")  # type: ignore[attr-defined]
    assert p.locator("figure.chart").count() == 6  # type: ignore[attr-defined]
    assert p.locator("figure.chart polyline.series").count() >= 3  # type: ignore[attr-defined]
    assert p.locator("line.threshold").count() >= 8  # type: ignore[attr-defined]
    # the caller speaks Swedish
    p.get_by_label("Caller's language").select_option("sv")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Show message").click()  # type: ignore[attr-defined]
    p.wait_for_url("**lang=sv")  # type: ignore[attr-defined]
    assert p.locator("blockquote.customer-message").get_attribute("lang") == "sv"  # type: ignore[attr-defined]
    shot(stack, p, "04-account")

    # run a check: the real agent takes the job and pushes fresh readings
    # Progress is recorded by a MutationObserver: a fast check can replace the
    # "N s elapsed" text before a poll from the test would ever see it.
    p.evaluate(  # type: ignore[attr-defined]
        """() => { window.__stay = 1; window.__sawProgress = false;
        const el = document.getElementById('check-status');
        new MutationObserver(() => {
          if (el.textContent.includes('elapsed')) window.__sawProgress = true;
        }).observe(el, {childList: true, characterData: true, subtree: true}); }""")
    p.get_by_role("button", name="Run check now").click()  # type: ignore[attr-defined]
    status = p.locator("#check-status")  # type: ignore[attr-defined]
    p.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('check-status').dataset.done", timeout=30_000)
    assert p.evaluate("() => window.__sawProgress") is True  # progress was shown  # type: ignore[attr-defined]
    assert status.get_attribute("data-done") == "fresh", status.inner_text()
    assert "fresh result" in status.inner_text()
    assert p.evaluate("() => window.__stay") == 1  # updated in place  # type: ignore[attr-defined]
    assert p.locator(".banner").get_attribute("data-verdict") == "ok"  # type: ignore[attr-defined]
    # the timeline already shows the check, before any reload
    assert "check by alice: fresh" in p.inner_text("#timeline-list li.tl-check")  # type: ignore[attr-defined]
    shot(stack, p, "05-after-check")

    # a note, then the timeline answers "has anyone already done X?"
    p.get_by_label("Add a note").fill("Customer restarted the modem twice; no change.")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Add note").click()  # type: ignore[attr-defined]
    p.wait_for_url(f"**/console/accounts/{account}#timeline")  # type: ignore[attr-defined]
    first = p.locator("ol.timeline li").first  # type: ignore[attr-defined]
    assert "Customer restarted the modem twice" in first.inner_text()
    assert "alice" in first.inner_text()
    checks = p.locator("ol.timeline li.tl-check")  # type: ignore[attr-defined]
    assert checks.count() >= 1 and "check by alice: fresh" in checks.first.inner_text()
    shot(stack, p, "06-timeline")


def test_operations_view_flags_an_outage_live(page: object, stack: Stack) -> None:
    p = page
    sign_in(p, stack)
    p.get_by_role("link", name="Operations", exact=True).click()  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/ops")  # type: ignore[attr-defined]
    row = p.locator(f'tr[data-node="{OUTAGE_NODE}"]')  # type: ignore[attr-defined]
    assert "no outage" in row.inner_text()
    shot(stack, p, "07-ops")
    p.evaluate("() => { window.__stay = 1; }")  # type: ignore[attr-defined]
    stack.fault(kind="node_outage", node=OUTAGE_NODE)
    p.locator(f'tr.outage[data-node="{OUTAGE_NODE}"]').wait_for(timeout=40_000)  # type: ignore[attr-defined]
    assert p.evaluate("() => window.__stay") == 1  # no reload: updated live  # type: ignore[attr-defined]
    assert "OUTAGE" in p.locator(f'tr[data-node="{OUTAGE_NODE}"]').inner_text()  # type: ignore[attr-defined]
    assert OUTAGE_NODE in p.inner_text("#ops-alert")  # type: ignore[attr-defined]
    assert "no outage" in p.locator('tr[data-node="NODE-01"]').inner_text()  # type: ignore[attr-defined]
    shot(stack, p, "08-ops-outage")
    # the account page of a customer there says so, in plain words
    account = stack.accounts[OUTAGE_NODE][0]
    p.goto(f"{stack.url}/console/accounts/{account}")  # type: ignore[attr-defined]
    assert p.locator(".banner").get_attribute("data-verdict") == "area_outage"  # type: ignore[attr-defined]
    assert "Don't troubleshoot or dispatch" in p.inner_text(".action")  # type: ignore[attr-defined]
    shot(stack, p, "09-account-outage")


def test_account_page_shows_the_headend_view_and_the_trend_before_a_drop_cut(
    page: object, stack: Stack
) -> None:
    """A drop cut: SNR slides, the CMTS sees the modem ranging, then it goes dark.
    The account page shows what the CMTS measures and the readings before the dark."""
    p = page
    account = stack.accounts["NODE-01"][-1]  # DOCSIS; the other tests use [0] and [1]
    sign_in(p, stack)
    p.goto(f"{stack.url}/console/accounts/{account}")  # type: ignore[attr-defined]
    head = p.locator("#headend")  # type: ignore[attr-defined]
    assert "CMTS-NODE-01" in head.inner_text() and "fresh" in head.inner_text()
    assert head.locator("table.headend").get_attribute("data-state") == "operational"
    assert "Upstream receive power (at the CMTS)" in head.inner_text()
    assert "The modem answers" in p.inner_text("#trend")  # type: ignore[attr-defined]
    stack.fault(kind="drop_cut", account=account, degrade_s=12)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status, body = _http("GET", f"{stack.url}/v1/accounts/{account}",
                             stack.tokens["support"])
        assert status == 200, body
        trend = body["trend"]  # type: ignore[index]
        if trend["dark_since"] is not None and trend["summary"] \
                and body["headend"]["state"] == "offline":  # type: ignore[index]
            break
        time.sleep(1.0)
    else:
        raise AssertionError(f"no dark line with a trend for {account}: {body}")
    assert body["verdict"]["verdict"] == "line_fault", body  # type: ignore[index]
    p.goto(f"{stack.url}/console/accounts/{account}")  # type: ignore[attr-defined]
    head_text = p.inner_text("#headend")  # type: ignore[attr-defined]
    assert "CMTS-NODE-01" in head_text and "offline" in head_text
    trend_text = p.inner_text("#trend")  # type: ignore[attr-defined]
    assert "stopped answering" in trend_text and "downstream SNR" in trend_text
    assert "then no answer" in trend_text
    rows = p.locator("#trend table.trend tbody tr").count()  # type: ignore[attr-defined]
    assert rows >= 2
    assert p.locator("#trend figure#chart-trend").count() == 1  # type: ignore[attr-defined]
    # keyboard: the sections are reachable landmarks with headings, nothing traps focus
    assert p.locator("section[aria-labelledby=headend-heading] h2").inner_text() == \
        "Headend view"  # type: ignore[attr-defined]
    shot(stack, p, "10-account-headend-view")
    # The ops view has plant faults in their own table, apart from the nodes table
    p.goto(f"{stack.url}/console/ops")  # type: ignore[attr-defined]
    assert "Plant faults" in p.inner_text("#plant-faults caption")  # type: ignore[attr-defined]
    status, answer = _http("DELETE", f"http://{stack.control}/faults?account={account}")
    assert status in (200, 204), answer


def test_calls_dispatch_form_and_outages_page(page: object, stack: Stack) -> None:
    """The lookup is a recorded call; a technician is requested from the form
    (labels, keyboard), a second request is refused naming the first with a
    'force' checkbox; the ops view links to outages with credit downloads."""
    p = page
    account = stack.accounts["NODE-02"][0]
    sign_in(p, stack)
    p.get_by_label("Account number").fill(account)  # type: ignore[attr-defined]
    p.get_by_role("button", name="Look up").click()  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/accounts/{account}")  # type: ignore[attr-defined]
    calls = p.inner_text("#calls")  # type: ignore[attr-defined]
    assert "1st call in 48 h" in calls and "agent alice" in calls
    p.reload()  # type: ignore[attr-defined]
    assert "1st call in 48 h" in p.inner_text("#calls")  # a reload is the same call  # type: ignore[attr-defined]
    reason = p.get_by_label("Reason")  # type: ignore[attr-defined]
    assert reason.input_value().startswith("OK: nothing wrong")  # prefilled from the verdict
    reason.fill("No sync since Monday <again>")
    p.get_by_label("Visit window start (UTC)").fill("2026-12-10T12:00")  # type: ignore[attr-defined]
    p.get_by_label("Visit window end (UTC)").fill("2026-12-10T14:00")  # type: ignore[attr-defined]
    p.get_by_label("Field-service reference").focus()  # type: ignore[attr-defined]
    p.keyboard.type("FS-1234")  # type: ignore[attr-defined]
    p.keyboard.press("Enter")  # keyboard submit  # type: ignore[attr-defined]
    p.wait_for_url(f"**/console/accounts/{account}#dispatches")  # type: ignore[attr-defined]
    listed = p.inner_text("ul.dispatches")  # type: ignore[attr-defined]
    assert "technician requested today" in listed and "by alice, ref FS-1234" in listed
    assert "window Thu 12-14" in listed
    assert "No sync since Monday <again>" in p.inner_text("#timeline-list")  # type: ignore[attr-defined]
    shot(stack, p, "11-account-calls-dispatch")
    # a second request for the same open fault: refused, the first named, force offered
    p.get_by_label("Field-service reference").fill("FS-9")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Request technician").click()  # type: ignore[attr-defined]
    p.wait_for_load_state()  # type: ignore[attr-defined]
    alert = p.locator("p.error[role=alert]").first.inner_text()  # type: ignore[attr-defined]
    assert "already requested" in alert and "by alice, ref FS-1234" in alert
    force = p.get_by_label("Force: request another technician for the same fault anyway")  # type: ignore[attr-defined]
    assert not force.is_checked()
    assert p.get_by_label("Field-service reference").input_value() == "FS-9"  # type: ignore[attr-defined]
    shot(stack, p, "12-dispatch-409-force")
    force.focus()
    p.keyboard.press("Space")  # type: ignore[attr-defined]
    assert force.is_checked()
    p.get_by_role("button", name="Request technician").click()  # type: ignore[attr-defined]
    p.wait_for_url(f"**/console/accounts/{account}#dispatches")  # type: ignore[attr-defined]
    assert p.locator("ul.dispatches li").count() == 2  # type: ignore[attr-defined]
    # the ops view links to outages; each has its credit report to download
    p.get_by_role("link", name="Operations", exact=True).click()  # type: ignore[attr-defined]
    p.get_by_role("link", name="Outages and credits").click()  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/outages")  # type: ignore[attr-defined]
    assert "Node outages and plant faults" in p.inner_text("#outages caption")  # type: ignore[attr-defined]
    rows = p.locator(f'#outages tr[data-outage^="outage:{OUTAGE_NODE}:"]')  # type: ignore[attr-defined]
    if rows.count():  # the outage test ran first (module order): its outage is listed
        assert stack.accounts[OUTAGE_NODE][0] in rows.first.inner_text()
        with p.expect_download() as got:  # type: ignore[attr-defined]
            rows.first.get_by_role("link", name="CSV").click()
        path = got.value.path()
        assert Path(path).read_text().startswith("outage,kind,node,account,")
    shot(stack, p, "13-outages")


CATALOGS = REPO / "collector" / "i18n" / "locale"
# Page parts that hold data, not UI: the customer's message (in the caller's
# language, not the console's), the agent's own notes and dispatch reasons,
# account ids, and engine-written evidence detail (free text the catalog does
# not cover; its fact names are translated).
DATA_PARTS = ("blockquote.customer-message", ".tl-note .tl-text", "td.detail", "code")
PLACEHOLDER = re.compile(r"\{[^}]*\}|%\([a-z_]+\)s|<[^>]+>")


def english_left(lang: str) -> list[re.Pattern[str]]:
    """A pattern per English UI text the `lang` catalog translates differently.

    Whole messages of four or more characters match as words; a message
    with placeholders or markup matches by its literal runs of 12 or more
    characters ("No fresh result after", "s (no agent answered); showing...").
    """
    with open(CATALOGS / lang / "LC_MESSAGES" / "linewatch.po", "rb") as fh:
        catalog = read_po(fh, locale=lang)
    patterns: set[str] = set()
    for m in catalog:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for msgid in ids:
            if msgid in strings:
                continue  # said the same in both ("Agent", "ONT", "ping")
            runs = [r.strip(" .,:;()·") for r in PLACEHOLDER.split(msgid)]
            if len(runs) == 1 and len(runs[0]) >= 4 and re.search("[a-z]", runs[0]):
                patterns.add(runs[0])
            else:
                patterns.update(r for r in runs if len(r) >= 12 and " " in r)
    return [re.compile(rf"(?<![\w-]){re.escape(t)}(?![\w-])") for t in sorted(patterns)]


def ui_text(page: object) -> str:
    """The page's visible text without its data parts (see DATA_PARTS)."""
    return page.evaluate(  # type: ignore[attr-defined]
        """(parts) => { const body = document.body.cloneNode(true);
        body.querySelectorAll(parts.join(',') + ',script,style,template')
            .forEach((el) => el.remove());
        // placeholders are UI text a reader sees too
        body.querySelectorAll('[placeholder]')
            .forEach((el) => body.append(' ' + el.placeholder + ' '));
        return body.textContent; }""", list(DATA_PARTS))


def assert_no_english(page: object, lang: str, patterns: list[re.Pattern[str]]) -> None:
    assert page.evaluate("() => document.documentElement.lang") == lang  # type: ignore[attr-defined]
    text = ui_text(page)
    left = sorted({m.group(0) for p in patterns for m in p.finditer(text)})
    assert not left, f"English left on {page.url} in {lang}: {left}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["sv", "pl"])
def test_the_console_in_swedish_and_polish(browser: object, stack: Stack, lang: str) -> None:
    """A support floor in Stockholm or Warsaw: the browser asks for the language
    (Accept-Language), every page answers in it with `<html lang>` set, and
    no English UI text is left (checked against the catalog's own msgids)."""
    patterns = english_left(lang)
    assert len(patterns) > 150, "too few catalog messages to check against"
    context = browser.new_context(viewport=VIEWPORT, locale=lang)  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    p = context.new_page()
    try:
        p.goto(f"{stack.url}/")
        assert_no_english(p, lang, patterns)
        shot(stack, p, f"{lang}-01-sign-in")
        p.fill("#token", "not-a-token")
        p.locator("#token").press("Enter")
        p.wait_for_load_state()
        assert_no_english(p, lang, patterns)
        p.fill("#token", stack.tokens["support"])
        p.locator("#token").press("Enter")
        p.wait_for_url(f"{stack.url}/console/")
        assert_no_english(p, lang, patterns)
        shot(stack, p, f"{lang}-02-search")
        account = stack.accounts["NODE-02"][1]
        p.fill("#search-account", account)
        p.locator("#search-account").press("Enter")
        p.wait_for_url(f"{stack.url}/console/accounts/{account}")
        assert_no_english(p, lang, patterns)
        assert p.locator("figure.chart").count() >= 1  # the charts are there, in lang
        reason = p.input_value("#dispatch-reason")  # prefilled from the verdict, in lang
        assert reason and not [m.group(0) for pat in patterns for m in pat.finditer(reason)]
        shot(stack, p, f"{lang}-03-account")
        p.goto(f"{stack.url}/console/search?account=ACC-0000")
        assert_no_english(p, lang, patterns)
        p.goto(f"{stack.url}/console/outages")
        assert_no_english(p, lang, patterns)
        shot(stack, p, f"{lang}-04-outages")
        p.goto(f"{stack.url}/console/ops")
        assert_no_english(p, lang, patterns)
        # the ops page updates itself (console.js): its live text is in lang too
        first = p.inner_text("#ops-updated")
        p.wait_for_function(
            "(first) => document.getElementById('ops-updated').textContent !== first", arg=first)
        assert_no_english(p, lang, patterns)
        shot(stack, p, f"{lang}-05-ops")
    finally:
        context.close()


def test_the_language_form_switches_the_console_and_it_stays(page: object,
                                                            stack: Stack) -> None:
    """An English browser, an agent who reads Polish: the nav's language form
    switches the console and the choice holds on every page of the session,
    over what the browser asks for."""
    p = page
    sign_in(p, stack)
    patterns = english_left("pl")
    with pytest.raises(AssertionError, match="English left"):  # the check can fail
        assert_no_english(p, "en", patterns)
    p.select_option("#ui-language", "pl")  # type: ignore[attr-defined]
    p.locator("#ui-language-form button[type=submit]").click()  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/")  # type: ignore[attr-defined]
    assert_no_english(p, "pl", patterns)
    account = stack.accounts["NODE-02"][1]
    p.goto(f"{stack.url}/console/accounts/{account}")  # type: ignore[attr-defined]
    assert_no_english(p, "pl", patterns)
    p.goto(f"{stack.url}/console/ops")  # type: ignore[attr-defined]
    assert_no_english(p, "pl", patterns)
    assert p.locator("#ui-language").input_value() == "pl"  # type: ignore[attr-defined]
    # and back: English again, from the same form
    p.select_option("#ui-language", "en")  # type: ignore[attr-defined]
    p.locator("#ui-language-form button[type=submit]").click()  # type: ignore[attr-defined]
    p.wait_for_url(f"{stack.url}/console/ops")  # type: ignore[attr-defined]
    assert p.evaluate("() => document.documentElement.lang") == "en"  # type: ignore[attr-defined]
    assert "Operations: nodes" in p.inner_text("h1")  # type: ignore[attr-defined]
