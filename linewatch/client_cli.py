"""Support-floor commands against a running collector: status, check, nodes,
outages, credits, inventory import.

Tables for people, ``--json`` for scripts. Any failure exits non-zero with one
line on stderr saying why (unknown account, bad token, collector unreachable,
bad CSV line). The token comes from the environment variable named by
``--token-env`` so it never shows in ``ps`` or shell history.

People read the tables in their own language and time: labels follow
``LANG``/``LC_MESSAGES`` (``--lang`` overrides; the catalogs of
collector/i18n), times are shown in ``TZ``/the host's zone with the zone's
abbreviation and relative ("12 min ago"; ``--tz`` overrides), while
``--json`` keeps UTC epoch seconds. Tables fit the terminal's width
(linewatch/tables.py): columns fold, low-priority ones give way under 80
columns, names are never cut.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from gettext import NullTranslations
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from collector.calls import CallSummary
from collector.dispatches import Dispatch
from collector.i18n import DEFAULT_LANGUAGE, N_, from_environment, phrases, translations
from collector.i18n.clock import ZoneError, local_text, relative_text, zone
from collector.i18n.words import action_text, detail_text, evidence_text, verdict_word
from collector.model import Evidence
from collector.readings_view import Readings, reading_lines
from linewatch.tables import Col, fit_table
from probes.inventory import InventoryError, parse_inventory_document

# Rows per PUT during an inventory import (progress granularity; well under
# the collector's body limit: ~200 bytes a target).
IMPORT_CHUNK = 1000
CHECK_CONCURRENCY = 8
VERDICT_STYLE = {
    "area_outage": "bold red", "line_fault": "red", "equipment_fault": "red",
    "customer_side": "yellow", "degraded": "yellow", "ok": "green", "unknown": "dim",
}

out = Console(soft_wrap=False)
err = Console(stderr=True)


@dataclass
class Ui:
    """The reader's language and zone for one command (set by ``setup``)."""

    language: str = DEFAULT_LANGUAGE
    tz: datetime.tzinfo = datetime.UTC
    tr: NullTranslations = field(default_factory=NullTranslations)


UI = Ui()


def _(message: str) -> str:
    return UI.tr.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return UI.tr.ngettext(singular, plural, n)


def setup(args: argparse.Namespace, environ: dict[str, str] | None = None) -> None:
    """Language (``--lang``, else the environment) and zone (``--tz``, else the host's)."""
    language = getattr(args, "lang", None) or from_environment(environ) or DEFAULT_LANGUAGE
    UI.language = language
    UI.tr = translations(language)
    try:
        UI.tz = zone(getattr(args, "tz", None))
    except ZoneError as exc:
        raise CliError(str(exc), 2) from None


class CliError(Exception):
    """One line for stderr; the command exits with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Client:
    """Thin JSON client; maps HTTP failures to one-line CliErrors."""

    def __init__(self, args: argparse.Namespace, timeout_s: float = 30.0) -> None:
        token = os.environ.get(args.token_env, "")
        if not token:
            raise CliError(_("no token: set the environment variable {name}").format(
                name=args.token_env), 2)
        self.base = args.url.rstrip("/")
        self.token_env = args.token_env
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self, method: str, path: str, *, json_body: Any = None, data: bytes | None = None,
        content_type: str | None = None, what: str = "", timeout_s: float | None = None,
        raw: bool = False,
    ) -> Any:
        assert self._session is not None
        headers = {"Content-Type": content_type} if content_type else None
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s else None
        try:
            async with self._session.request(
                method, self.base + path, json=json_body, data=data, headers=headers,
                timeout=timeout or self._timeout,
            ) as resp:
                body = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectionError as exc:
            raise CliError(_("cannot reach the collector at {url}: {reason}").format(
                url=self.base, reason=exc)) from None
        except TimeoutError:
            raise CliError(_("the collector at {url} did not answer in time").format(
                url=self.base)) from None
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        if status < 300:
            return body.decode("utf-8", "replace") if raw else decoded
        reason = decoded.get("error") if isinstance(decoded, dict) else None
        if status == 401:
            raise CliError(_("unauthorized: the token in {name} is missing or invalid").format(
                name=self.token_env))
        if status == 403:
            raise CliError(_("forbidden: {reason}").format(
                reason=reason or _("this token may not do that")))
        if status == 404 and what:
            raise CliError(what)
        raise CliError(_("collector answered {status}: {reason}").format(
            status=status, reason=reason or repr(body[:200])))


def _run(args: argparse.Namespace,
         command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> int:
    try:
        setup(args)
        return asyncio.run(command(args))
    except CliError as exc:
        err.print(f"linewatch: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.code


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _unknown_account(account: str) -> str:
    return _("unknown account {account}").format(account=account)


# --- times -------------------------------------------------------------------------------


def _ago(ts: float | None, now: float | None = None, width: str = "short") -> str:
    """'12 min ago' in the reader's language; 'never' for no time."""
    if ts is None:
        return _("never")
    now = time.time() if now is None else now
    if now - ts < 1.0:
        return _("just now")
    return relative_text(ts, now, UI.language, width=width)


def stamp(ts: float | None, now: float | None = None) -> str:
    """'14:02 CET, 12 min ago' (today) or '2026-03-29 03:15 CEST, 3 days ago'."""
    if ts is None:
        return _("never")
    now = time.time() if now is None else now
    today = (datetime.datetime.fromtimestamp(ts, UI.tz).date()
             == datetime.datetime.fromtimestamp(now, UI.tz).date())
    return f"{local_text(ts, UI.tz, UI.language, date=not today)}, {_ago(ts, now)}"


def dispatch_text(d: dict[str, Any], now: float | None = None,
                  tz: datetime.tzinfo | None = None) -> str:
    """'technician requested yesterday 14:02 CET by alice, ref FS-1234, window Thu 12-14 CET'."""
    # The API's dispatch as one; the words read only when, who, ref, window, group.
    known = {"id": "", "account": "", "node": "", "verdict": "unknown", "reason": "",
             "fault": "", **d}
    return phrases.dispatch_text(msgspec.convert(known, Dispatch),
                                 time.time() if now is None else now,
                                 UI.tz if tz is None else tz, UI.language, _)


def _login_name() -> str | None:
    """Who is at the keyboard (None: the collector records the token's name)."""
    try:
        return getpass.getuser() or None
    except (OSError, KeyError):
        return None


def _verdict_text(name: str) -> str:
    return f"[{VERDICT_STYLE.get(name, '')}]{escape(verdict_word(name, _))}[/]"


def action_words(v: dict[str, Any]) -> str:
    """The verdict's action in the reader's language, times local, facts as words."""
    try:
        evidence = msgspec.convert(v.get("evidence") or [], list[Evidence])
    except msgspec.ValidationError:
        evidence = []
    return action_text(v.get("action", ""), _, stamp, evidence)


def _yes(flag: bool) -> str:
    return _("yes") if flag else _("no")


# --- status ----------------------------------------------------------------------------


def status(args: argparse.Namespace) -> int:
    return _run(args, _status)


def _calls_text(calls: dict[str, Any]) -> str:
    """'3rd call in 48 h; last 12 min ago via ivr (alice)'."""
    head = phrases.calls_head(msgspec.convert(calls, CallSummary), UI.language, ngettext)
    last = calls["calls"][0]
    who = f" ({last['agent']})" if last.get("agent") else ""
    return head + "; " + _("last {when} via {channel}").format(
        when=stamp(last["at"]), channel=last["channel"]) + who


async def _status(args: argparse.Namespace) -> int:
    async with Client(args) as client:
        if getattr(args, "call", False):
            # Recorded before the read, so the status shown counts this call.
            await client.call(
                "POST", f"/v1/accounts/{args.account}/calls",
                json_body={"agent": args.agent or _login_name()},
                what=_unknown_account(args.account),
            )
        data = await client.call(
            "GET", f"/v1/accounts/{args.account}", what=_unknown_account(args.account)
        )
    if args.json:
        _print_json(data)
        return 0
    v = data["verdict"]
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
    summary.add_row(_("account"), escape(data["account"]))
    summary.add_row(_("node"), escape(data["node"]))
    summary.add_row(_("technology"), data["technology"])
    summary.add_row(_("plan"), f"{data['plan_down_mbps']:g}/{data['plan_up_mbps']:g} Mbit/s")
    summary.add_row(_("verdict"), _verdict_text(v["verdict"]))
    summary.add_row(_("since"), stamp(v.get("since")))
    summary.add_row(_("confidence"), f"{v.get('confidence', 0):.0%}")
    summary.add_row(_("fresh"), _yes(True) if data["fresh"]
                    else _("no (run `linewatch check`)"))
    summary.add_row(_("last seen"), stamp(data.get("last_seen")))
    if v.get("action"):
        summary.add_row(_("action"), escape(action_words(v)))
    calls = data.get("calls")
    if calls and calls.get("count"):
        summary.add_row(_("calls"), escape(_calls_text(calls)))
    for d in data.get("dispatches") or []:
        summary.add_row(_("dispatch"), escape(dispatch_text(d)))
    out.print(summary)
    evidence = v.get("evidence") or []
    if evidence:
        out.print("[bold]" + escape(_("evidence")) + "[/]")
        facts = Table.grid(padding=(0, 1))
        facts.add_column(no_wrap=True)
        facts.add_column(overflow="fold")
        for e in evidence[:EVIDENCE_SHOWN]:
            facts.add_row("  -", escape(evidence_text(
                e["fact"], e.get("value"), e.get("threshold"), e.get("unit"), e.get("detail"),
                _, stamp)))
        if len(evidence) > EVIDENCE_SHOWN:  # 32 failing channels read as one line more
            rest = len(evidence) - EVIDENCE_SHOWN
            facts.add_row("  +", escape(ngettext("{count} more fact (all of them: --json)",
                                                 "{count} more facts (all of them: --json)",
                                                 rest).format(count=rest)))
        out.print(facts, highlight=False)
    if data.get("readings"):
        _print_readings(msgspec.convert(data["readings"], Readings))
    _print_headend(data.get("headend"))
    _print_trend(data.get("trend"), data["technology"])
    return 0


# Evidence lines printed before the rest fold into one (worst first: the engine's order).
EVIDENCE_SHOWN = 8

_STATE_TEXT = {"ok": ("green", N_("in spec")), "out": ("bold red", N_("OUT OF SPEC"))}


def _print_readings(readings: Readings) -> None:
    """The latest readings beside their limits (collector/readings_view.py)."""
    lines = reading_lines(readings, UI.tr)
    if not lines:
        out.print(escape(_("readings: none from this line yet")), highlight=False)
        return
    taken = [(label, stamp(at)) for label, at in ((_("line"), readings.line_at),
                                                  (_("ping"), readings.ping_at),
                                                  (_("throughput"), readings.throughput_at))
             if at is not None]
    title = _("latest readings") + " (" + "; ".join(f"{a} {b}" for a, b in taken) + ")"
    rows = []
    for line in lines:
        style, word = _STATE_TEXT.get(line.state, ("", ""))
        state = f"[{style}]{escape(_(word))}[/]" if word and not line.folded else ""
        value = f"[dim]{escape(line.value)}[/]" if line.folded else escape(line.value)
        rows.append([escape(line.label), value, escape(line.limits), state])
    cols = [Col(_("reading"), keep=True), Col(_("value")),
            Col(_("limit"), text=True), Col(_("state"), priority=1)]
    out.print(fit_table(escape(title), cols, rows, out.width))


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g} {unit}".rstrip() if isinstance(value, int | float) else str(value)


def _print_headend(view: dict[str, Any] | None) -> None:
    """The headend's own view of the line (absent: an older collector)."""
    if view is None:
        return
    if not view.get("headend"):
        out.print(_("headend: no headend configured for this line"), markup=False)
        return
    kind = str(view.get("kind") or "headend").upper()
    fresh = _("fresh") if view.get("fresh") else _("STALE")
    polled = stamp(view.get("polled_at")) if view.get("polled_at") else _("not polled yet")
    title = _("headend view: {kind} {headend}, polled {when} ({fresh})").format(
        kind=kind, headend=view["headend"], when=polled, fresh=fresh)
    rows: list[tuple[str, str]] = []
    if not view.get("seen"):
        rows.append((_("row"), _("none for this line in its last poll")))
    else:
        rows.append((_("status"), f"{view.get('status')} ({view.get('state')})"))
        m, p, o = view.get("modem"), view.get("port"), view.get("ont")
        if m:
            rows += [
                ("mac", str(m.get("mac"))),
                (_("us rx power"), _num(m.get("us_rx_power_dbmv"), "dBmV")),
                (_("us snr"), _num(m.get("us_snr_db"), "dB")),
                (_("codewords"), " / ".join(_num(m.get(k)) for k in
                                            ("unerrored", "corrected", "uncorrectable"))
                 + " " + _("(unerrored / corrected / uncorrectable)")),
            ]
        elif p:
            rows += [
                (_("port"), str(p.get("port"))),
                (_("snr margin"), _("down {down}, up {up}").format(
                    down=_num(p.get("snr_margin_down_db"), "dB"),
                    up=_num(p.get("snr_margin_up_db"), "dB"))),
                (_("attenuation"), _("down {down}, up {up}").format(
                    down=_num(p.get("attenuation_down_db"), "dB"),
                    up=_num(p.get("attenuation_up_db"), "dB"))),
                (_("sync rate"), _("down {down}, up {up}").format(
                    down=_num(p.get("sync_down_kbps"), "kbit/s"),
                    up=_num(p.get("sync_up_kbps"), "kbit/s"))),
                (_("attainable"), _("down {down}, up {up}").format(
                    down=_num(p.get("attainable_down_kbps"), "kbit/s"),
                    up=_num(p.get("attainable_up_kbps"), "kbit/s"))),
            ]
        elif o:
            rows += [
                ("ont", str(o.get("ont"))),
                (_("rx power at ONT"), _num(o.get("rx_power_dbm"), "dBm")),
                (_("its light at OLT"), _num(o.get("olt_rx_power_dbm"), "dBm")),
            ]
    table = fit_table(escape(title), [Col("", keep=True), Col("", text=True)],
                      [[escape(a), escape(b)] for a, b in rows], out.width, show_header=False)
    out.print(table)


def _trend_columns() -> dict[str, tuple[tuple[str, str], ...]]:
    return {
        "docsis": (("ds_snr_db", _("ds snr dB")), ("us_tx_headroom_db", _("tx headroom dB")),
                   ("uncorrectable", _("uncorrectable")), ("t3_t4_timeouts", "T3+T4")),
        "dsl": (("dsl_snr_margin_down_db", _("margin down dB")), ("dsl_crc_errors", "CRC")),
        "gpon": (("gpon_rx_power_dbm", _("rx dBm")),),
    }


def _print_trend(trend: dict[str, Any] | None, technology: str) -> None:
    """The readings the pre-dark rule reads, and the verdict's trend lines."""
    if trend is None:
        return
    for line in trend.get("summary") or []:
        out.print(_("trend: {line}").format(line=detail_text(line, _)), markup=False)
    points = trend.get("points") or []
    if not points:
        return
    dark = trend.get("dark_since")
    title = (_("before it went dark ({when})").format(when=stamp(dark)) if dark is not None
             else _("recent trend (last {minutes} min)").format(
                 minutes=f"{trend.get('window_s', 0) / 60:.0f}"))
    cols = _trend_columns().get(technology, ())
    now = time.time()
    rows = [[stamp(p.get("at"), now), *(_num(p.get(k)) for k, _label in cols),
             _("out of spec") if p.get("out_of_spec") else _("in spec")] for p in points]
    table = fit_table(escape(title), [Col(_("reading")),
                                      *(Col(label, justify="right") for _k, label in cols),
                                      Col(_("line"))], rows, out.width)
    out.print(table)


# --- outages and credits ---------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    h, rest = divmod(round(seconds), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


def _kind(kind: str) -> str:
    return {"node_outage": _("node outage"), "plant_fault": _("plant fault")}.get(
        kind, kind.replace("_", " "))


def outages(args: argparse.Namespace) -> int:
    return _run(args, _outages)


async def _outages(args: argparse.Namespace) -> int:
    query = f"?since={args.since}" if args.since is not None else ""
    async with Client(args) as client:
        data = await client.call("GET", f"/v1/outages{query}")
    if args.json:
        _print_json(data)
        return 0
    now = time.time()
    rows = []
    for o in data["outages"]:
        until = o.get("until")
        rows.append([
            escape(o["id"]), escape(_kind(o["kind"])), escape(o["node"]), stamp(o["since"], now),
            "[bold red]" + escape(_("open")) + "[/]" if until is None else stamp(until, now),
            _duration((until or now) - o["since"]), str(len(o["accounts"])),
        ])
    cols = [Col(_("id"), keep=True), Col(_("kind"), priority=3), Col(_("node"), keep=True),
            Col(_("since"), text=True), Col(_("until"), text=True, priority=1),
            Col(_("duration"), priority=2), Col(_("accounts"), justify="right")]
    out.print(fit_table(escape(_("outages and plant faults")), cols, rows, out.width))
    return 0


def credits(args: argparse.Namespace) -> int:
    return _run(args, _credits)


async def _credits(args: argparse.Namespace) -> int:
    path = f"/v1/outages/{quote(args.outage, safe=':')}/credits"
    unknown = _("unknown outage {outage}").format(outage=args.outage)
    async with Client(args) as client:
        if args.csv:
            sys.stdout.write(await client.call(
                "GET", path + "?format=csv", raw=True, what=unknown))
            return 0
        data = await client.call("GET", path, what=unknown)
    if args.json:
        _print_json(data)
        return 0
    o = data["outage"]
    state = _("open") if o.get("until") is None else _("closed")
    title = _("credits for {id} ({kind} on {node}, {state}, {duration})").format(
        id=o["id"], kind=_kind(o["kind"]), node=o["node"], state=state,
        duration=_duration(data["until"] - data["since"]))
    rows = [[escape(c["account"]), _duration(c["downtime_s"]), f"{c['downtime_s']:.0f}"]
            for c in data["credits"]]
    cols = [Col(_("account"), keep=True), Col(_("downtime"), justify="right"),
            Col(_("seconds"), justify="right", priority=1)]
    out.print(fit_table(escape(title), cols, rows, out.width))
    return 0


# --- nodes -----------------------------------------------------------------------------

# Verdict columns of the nodes table and the priority each keeps under width.
NODE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("ok", 0), ("area_outage", 0), ("line_fault", 0), ("equipment_fault", 1),
    ("customer_side", 2), ("degraded", 2), ("unknown", 1),
)


def nodes(args: argparse.Namespace) -> int:
    return _run(args, _nodes)


async def _nodes(args: argparse.Namespace) -> int:
    async with Client(args) as client:
        data = await client.call("GET", "/v1/nodes")
    if args.json:
        _print_json(data)
        return 0
    out.print(nodes_table(data["nodes"], out.width))
    agents = data.get("agents", [])
    if agents:
        out.print(_agents_table(agents))
    return 0


def nodes_table(node_rows: list[dict[str, Any]], width: int) -> Table:
    """Nodes with counts per verdict and their outage / plant faults."""
    rows = []
    for node in node_rows:
        counts = node.get("counts", {})
        since = _("since {when}").format(when=stamp(node.get("outage_since")))
        outage = f"[bold red]{escape(since)}[/]" if node["outage"] else ""
        for plant in node.get("plant_faults", []):
            members = ", ".join(plant["accounts"][:5]) + (", ..." if len(plant["accounts"]) > 5
                                                          else "")
            outage += "[red]" + escape(ngettext(
                "plant fault {id}: {count} dark together since {when} ({accounts})",
                "plant fault {id}: {count} dark together since {when} ({accounts})",
                len(plant["accounts"])).format(
                    id=plant["id"], count=len(plant["accounts"]),
                    when=stamp(plant.get("since")), accounts=members)) + "[/]"
        rows.append([escape(node["node"]), str(node["accounts"]),
                     *(str(counts.get(n, 0)) for n, _p in NODE_COLUMNS), outage])
    cols = [Col(_("node"), keep=True), Col(_("accounts"), justify="right"),
            *(Col(verdict_word(n, _), priority=p, justify="right") for n, p in NODE_COLUMNS),
            Col(_("outage / plant fault"), text=True)]
    return fit_table(escape(_("nodes")), cols, rows, width)


def _agents_table(agents: list[dict[str, Any]]) -> Table:
    """Agents under the nodes: last push, interval, silent (its accounts unknown)."""
    rows = []
    for agent in sorted(agents, key=lambda a: (not a["silent"], a["name"])):
        state = (
            "[bold red]" + escape(_("silent since {when}: its accounts are unknown").format(
                when=stamp(agent.get("silent_since")))) + "[/]"
            if agent["silent"] else "[green]" + escape(_("pushing")) + "[/]"
        )
        rows.append([escape(agent["name"]), stamp(agent["last_push"]),
                     f"{agent['interval_s']:g} s", state])
    cols = [Col(_("agent"), keep=True), Col(_("last push"), text=True),
            Col(_("interval"), justify="right", priority=1), Col(_("status"), text=True)]
    return fit_table(escape(_("agents")), cols, rows, out.width)


# --- check -----------------------------------------------------------------------------


def check(args: argparse.Namespace) -> int:
    return _run(args, _check)


async def _check(args: argparse.Namespace) -> int:
    accounts: list[str] = list(dict.fromkeys(args.accounts))
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    limit = asyncio.Semaphore(CHECK_CONCURRENCY)
    async with Client(args, timeout_s=args.timeout + 15) as client:

        async def one(account: str) -> None:
            async with limit:
                try:
                    results[account] = await client.call(
                        "POST", f"/v1/accounts/{account}/check",
                        json_body={"timeout_s": args.timeout}, what=_unknown_account(account),
                    )
                except CliError as exc:
                    failures[account] = str(exc)

        progress = _progress(len(accounts) > 1 and not args.json)
        with progress:
            task = progress.add_task(_("checking"), total=len(accounts))
            pending = [asyncio.create_task(one(a)) for a in accounts]
            for done in asyncio.as_completed(pending):
                await done
                progress.advance(task)
    if len(accounts) == 1 and failures:
        raise CliError(failures[accounts[0]])
    if args.json:
        _print_json({"results": [results[a] for a in accounts if a in results],
                     "errors": failures})
    else:
        rows = []
        for account in accounts:
            if account in results:
                r = results[account]
                v = r["verdict"]
                rows.append([
                    escape(account), _verdict_text(v["verdict"]),
                    _yes(True) if r["fresh"] else _("no (agent did not answer in time)"),
                    stamp(v.get("since")), escape(action_words(v)),
                ])
        cols = [Col(_("account"), keep=True), Col(_("verdict")), Col(_("fresh"), text=True),
                Col(_("since"), text=True, priority=2), Col(_("action"), text=True, priority=1)]
        if results:
            out.print(fit_table(escape(_("checks")), cols, rows, out.width))
    for account, reason in failures.items():
        err.print(f"linewatch: {account}: {reason}", markup=False, highlight=False)
    return 1 if failures else 0


def _progress(visible: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, disable=not visible, transient=True,
    )


# --- inventory import ---------------------------------------------------------------------


def inventory_import(args: argparse.Namespace) -> int:
    return _run(args, _inventory_import)


def _read_csv(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(_("cannot read {path}: {reason}").format(path=path, reason=exc)) from None


async def _inventory_import(args: argparse.Namespace) -> int:
    try:
        targets, headends = parse_inventory_document(_read_csv(args.file))
    except InventoryError as exc:  # checked here first: the line number is local
        raise CliError(f"{args.file}: {exc}") from None
    if headends:  # the headends CSV (its header says so): few rows, one PUT
        async with Client(args) as client:
            answer = await client.call(
                "PUT", "/v1/inventory", data=msgspec.json.encode({"headends": headends}),
                content_type="application/json",
            )
        count = int(answer.get("headends", 0))
        if args.json:
            _print_json({"headends": count, "file": args.file})
        else:
            out.print(ngettext("imported {count} headend from {file}",
                               "imported {count} headends from {file}", count).format(
                count=count, file=args.file), markup=False, highlight=False)
        return 0
    chunks: Sequence[Sequence[Any]] = [
        targets[i : i + IMPORT_CHUNK] for i in range(0, len(targets), IMPORT_CHUNK)
    ]
    written = 0
    async with Client(args) as client:
        with _progress(not args.json) as progress:
            task = progress.add_task(_("importing"), total=len(targets))
            for chunk in chunks:
                answer = await client.call(
                    "PUT", "/v1/inventory", data=msgspec.json.encode(list(chunk)),
                    content_type="application/json",
                )
                written += int(answer["targets"])
                progress.advance(task, len(chunk))
    if args.json:
        _print_json({"targets": written, "file": args.file})
    else:
        out.print(ngettext("imported {count} target from {file}",
                           "imported {count} targets from {file}", written).format(
            count=written, file=args.file), markup=False, highlight=False)
    return 0
