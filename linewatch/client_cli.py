"""Support-floor commands against a running collector: status, check, nodes,
inventory import.

Tables for people, ``--json`` for scripts. Any failure exits non-zero with one
line on stderr saying why (unknown account, bad token, collector unreachable,
bad CSV line). The token comes from the environment variable named by
``--token-env`` so it never shows in ``ps`` or shell history.
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
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
            raise CliError(f"no token: set the environment variable {args.token_env}", 2)
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
            raise CliError(f"cannot reach the collector at {self.base}: {exc}") from None
        except TimeoutError:
            raise CliError(f"the collector at {self.base} did not answer in time") from None
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        if status < 300:
            return body.decode("utf-8", "replace") if raw else decoded
        reason = decoded.get("error") if isinstance(decoded, dict) else None
        if status == 401:
            raise CliError(f"unauthorized: the token in {self.token_env} is missing or invalid")
        if status == 403:
            raise CliError(f"forbidden: {reason or 'this token may not do that'}")
        if status == 404 and what:
            raise CliError(f"unknown {what}")
        raise CliError(f"collector answered {status}: {reason or body[:200]!r}")


def _run(coro: Any) -> int:
    try:
        return asyncio.run(coro)
    except CliError as exc:
        err.print(f"linewatch: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.code


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    seconds = max(0.0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _when(ts: float, now: float) -> str:
    """'today 14:02', 'yesterday 14:02', else 'Thu 3 Dec 14:02' (local time)."""
    t = datetime.datetime.fromtimestamp(ts)
    days = (datetime.datetime.fromtimestamp(now).date() - t.date()).days
    clock = t.strftime("%H:%M")
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"yesterday {clock}"
    return t.strftime("%a %d %b ") + clock


def dispatch_text(d: dict[str, Any], now: float | None = None) -> str:
    """'technician requested yesterday 14:02 by alice, ref FS-1234, window Thu 12-14'."""
    now = time.time() if now is None else now
    text = f"technician requested {_when(d['at'], now)} by {d.get('requested_by') or '?'}"
    if d.get("reference"):
        text += f", ref {d['reference']}"
    start, end = d.get("window_start"), d.get("window_end")
    if start is not None and end is not None:
        a, b = datetime.datetime.fromtimestamp(start), datetime.datetime.fromtimestamp(end)
        whole = a.minute == 0 and b.minute == 0
        span = f"{a.hour}-{b.hour}" if whole else f"{a:%H:%M}-{b:%H:%M}"
        text += f", window {a:%a} {span}"
    if d.get("grouped"):
        text += f" (for {d['fault']}, on {d['account']})"
    return text


def _login_name() -> str | None:
    """Who is at the keyboard (None: the collector records the token's name)."""
    try:
        return getpass.getuser() or None
    except (OSError, KeyError):
        return None


def _verdict_text(name: str) -> str:
    return f"[{VERDICT_STYLE.get(name, '')}]{name}[/]"


# --- status ----------------------------------------------------------------------------


def status(args: argparse.Namespace) -> int:
    return _run(_status(args))


async def _status(args: argparse.Namespace) -> int:
    async with Client(args) as client:
        if getattr(args, "call", False):
            # Recorded before the read, so the status shown counts this call.
            await client.call(
                "POST", f"/v1/accounts/{args.account}/calls",
                json_body={"agent": args.agent or _login_name()}, what=f"account {args.account}",
            )
        data = await client.call(
            "GET", f"/v1/accounts/{args.account}", what=f"account {args.account}"
        )
    if args.json:
        _print_json(data)
        return 0
    v = data["verdict"]
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("account", data["account"])
    summary.add_row("node", data["node"])
    summary.add_row("technology", data["technology"])
    summary.add_row("plan", f"{data['plan_down_mbps']:g}/{data['plan_up_mbps']:g} Mbit/s")
    summary.add_row("verdict", _verdict_text(v["verdict"]))
    summary.add_row("since", _ago(v.get("since")))
    summary.add_row("confidence", f"{v.get('confidence', 0):.0%}")
    summary.add_row("fresh", "yes" if data["fresh"] else "no (run `linewatch check`)")
    summary.add_row("last seen", _ago(data.get("last_seen")))
    if v.get("action"):
        summary.add_row("action", v["action"])
    calls = data.get("calls")
    if calls and calls.get("count"):
        last = calls["calls"][0]
        who = f" ({last['agent']})" if last.get("agent") else ""
        summary.add_row(
            "calls",
            escape(f"{calls['text']}; last {_ago(last['at'])} via {last['channel']}{who}"),
        )
    for d in data.get("dispatches") or []:
        summary.add_row("dispatch", escape(dispatch_text(d)))
    out.print(summary)
    evidence = v.get("evidence") or []
    if evidence:
        table = Table(title="evidence")
        for col in ("fact", "value", "threshold", "detail"):
            table.add_column(col)
        for e in evidence:
            value = e.get("value")
            shown = f"{value} {e['unit']}" if e.get("unit") and value is not None else str(value)
            table.add_row(e["fact"], shown, e.get("threshold") or "", e.get("detail") or "")
        out.print(table)
    _print_headend(data.get("headend"))
    _print_trend(data.get("trend"), data["technology"])
    return 0


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g} {unit}".rstrip() if isinstance(value, int | float) else str(value)


def _print_headend(view: dict[str, Any] | None) -> None:
    """The headend's own view of the line (absent: an older collector)."""
    if view is None:
        return
    if not view.get("headend"):
        out.print("headend: no headend configured for this line", markup=False)
        return
    kind = str(view.get("kind") or "headend").upper()
    fresh = "fresh" if view.get("fresh") else "STALE"
    polled = _ago(view.get("polled_at")) if view.get("polled_at") else "not polled yet"
    table = Table(title=escape(f"headend view: {kind} {view['headend']}, polled {polled} "
                               f"({fresh})"), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    if not view.get("seen"):
        table.add_row("row", "none for this line in its last poll")
    else:
        table.add_row("status", escape(f"{view.get('status')} ({view.get('state')})"))
        m, p, o = view.get("modem"), view.get("port"), view.get("ont")
        rows: list[tuple[str, str]] = []
        if m:
            rows = [
                ("mac", str(m.get("mac"))),
                ("us rx power", _num(m.get("us_rx_power_dbmv"), "dBmV")),
                ("us snr", _num(m.get("us_snr_db"), "dB")),
                ("codewords", " / ".join(_num(m.get(k)) for k in
                                         ("unerrored", "corrected", "uncorrectable"))
                 + " (unerrored / corrected / uncorrectable)"),
            ]
        elif p:
            rows = [
                ("port", str(p.get("port"))),
                ("snr margin", f"down {_num(p.get('snr_margin_down_db'), 'dB')}, "
                               f"up {_num(p.get('snr_margin_up_db'), 'dB')}"),
                ("attenuation", f"down {_num(p.get('attenuation_down_db'), 'dB')}, "
                                f"up {_num(p.get('attenuation_up_db'), 'dB')}"),
            ]
        elif o:
            rows = [
                ("ont", str(o.get("ont"))),
                ("rx power at ONT", _num(o.get("rx_power_dbm"), "dBm")),
                ("its light at OLT", _num(o.get("olt_rx_power_dbm"), "dBm")),
            ]
        for label, value in rows:
            table.add_row(label, escape(value))
    out.print(table)


_TREND_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "docsis": (("ds_snr_db", "ds snr dB"), ("us_tx_headroom_db", "tx headroom dB"),
               ("uncorrectable", "uncorrectable"), ("t3_t4_timeouts", "T3+T4")),
    "dsl": (("dsl_snr_margin_down_db", "margin down dB"), ("dsl_crc_errors", "CRC")),
    "gpon": (("gpon_rx_power_dbm", "rx dBm"),),
}


def _print_trend(trend: dict[str, Any] | None, technology: str) -> None:
    """The readings the pre-dark rule reads, and the verdict's trend lines."""
    if trend is None:
        return
    for line in trend.get("summary") or []:
        out.print(f"trend: {line}", markup=False)
    points = trend.get("points") or []
    if not points:
        return
    dark = trend.get("dark_since")
    title = (f"before it went dark ({_ago(dark)})" if dark is not None
             else f"recent trend (last {trend.get('window_s', 0) / 60:.0f} min)")
    table = Table(title=title)
    table.add_column("reading")
    cols = _TREND_COLUMNS.get(technology, ())
    for _, label in cols:
        table.add_column(label, justify="right")
    table.add_column("line")
    for p in points:
        table.add_row(_ago(p.get("at")), *(_num(p.get(k)) for k, _ in cols),
                      "out of spec" if p.get("out_of_spec") else "in spec")
    out.print(table)


# --- outages and credits ---------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    h, rest = divmod(round(seconds), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


def outages(args: argparse.Namespace) -> int:
    return _run(_outages(args))


async def _outages(args: argparse.Namespace) -> int:
    query = f"?since={args.since}" if args.since is not None else ""
    async with Client(args) as client:
        data = await client.call("GET", f"/v1/outages{query}")
    if args.json:
        _print_json(data)
        return 0
    table = Table(title="outages and plant faults")
    for col in ("id", "kind", "node", "since", "until", "duration", "accounts"):
        table.add_column(col)
    now = time.time()
    for o in data["outages"]:
        until = o.get("until")
        table.add_row(
            escape(o["id"]), o["kind"].replace("_", " "), escape(o["node"]),
            _when(o["since"], now), "[bold red]open[/]" if until is None else _when(until, now),
            _duration((until or now) - o["since"]), str(len(o["accounts"])),
        )
    out.print(table)
    return 0


def credits(args: argparse.Namespace) -> int:
    return _run(_credits(args))


async def _credits(args: argparse.Namespace) -> int:
    path = f"/v1/outages/{quote(args.outage, safe=':')}/credits"
    async with Client(args) as client:
        if args.csv:
            sys.stdout.write(await client.call(
                "GET", path + "?format=csv", raw=True, what=f"outage {args.outage}"))
            return 0
        data = await client.call("GET", path, what=f"outage {args.outage}")
    if args.json:
        _print_json(data)
        return 0
    o = data["outage"]
    state = "open" if o.get("until") is None else "closed"
    table = Table(title=escape(
        f"credits for {o['id']} ({o['kind'].replace('_', ' ')} on {o['node']}, {state}, "
        f"{_duration(data['until'] - data['since'])})"))
    table.add_column("account")
    table.add_column("downtime", justify="right")
    table.add_column("seconds", justify="right")
    for c in data["credits"]:
        table.add_row(escape(c["account"]), _duration(c["downtime_s"]), f"{c['downtime_s']:.0f}")
    out.print(table)
    return 0


# --- nodes -----------------------------------------------------------------------------


def nodes(args: argparse.Namespace) -> int:
    return _run(_nodes(args))


async def _nodes(args: argparse.Namespace) -> int:
    async with Client(args) as client:
        data = await client.call("GET", "/v1/nodes")
    if args.json:
        _print_json(data)
        return 0
    table = Table(title="nodes")
    table.add_column("node")
    table.add_column("accounts", justify="right")
    shown = ("ok", "area_outage", "line_fault", "equipment_fault", "customer_side",
             "degraded", "unknown")
    for name in shown:
        table.add_column(name, justify="right")
    table.add_column("outage / plant fault")
    for node in data["nodes"]:
        counts = node.get("counts", {})
        outage = f"[bold red]since {_ago(node.get('outage_since'))}[/]" if node["outage"] else ""
        for plant in node.get("plant_faults", []):
            outage += (
                f"[red]plant fault {plant['id']}: {len(plant['accounts'])} dark together "
                f"since {_ago(plant.get('since'))} ({', '.join(plant['accounts'][:5])}"
                f"{', ...' if len(plant['accounts']) > 5 else ''})[/]"
            )
        table.add_row(
            node["node"], str(node["accounts"]), *(str(counts.get(n, 0)) for n in shown), outage
        )
    out.print(table)
    agents = data.get("agents", [])
    if agents:
        out.print(_agents_table(agents))
    return 0


def _agents_table(agents: list[dict[str, Any]]) -> Table:
    """Agents under the nodes: last push, interval, silent (its accounts unknown)."""
    table = Table(title="agents")
    table.add_column("agent")
    table.add_column("last push")
    table.add_column("interval", justify="right")
    table.add_column("status")
    for agent in sorted(agents, key=lambda a: (not a["silent"], a["name"])):
        status = (
            f"[bold red]silent since {_ago(agent.get('silent_since'))}: its accounts are unknown[/]"
            if agent["silent"] else "[green]pushing[/]"
        )
        table.add_row(
            escape(agent["name"]), _ago(agent["last_push"]), f"{agent['interval_s']:g} s", status
        )
    return table


# --- check -----------------------------------------------------------------------------


def check(args: argparse.Namespace) -> int:
    return _run(_check(args))


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
                        json_body={"timeout_s": args.timeout}, what=f"account {account}",
                    )
                except CliError as exc:
                    failures[account] = str(exc)

        progress = _progress(len(accounts) > 1 and not args.json)
        with progress:
            task = progress.add_task("checking", total=len(accounts))
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
        table = Table(title="checks")
        for col in ("account", "verdict", "fresh", "since", "action"):
            table.add_column(col)
        for account in accounts:
            if account in results:
                r = results[account]
                v = r["verdict"]
                table.add_row(
                    account, _verdict_text(v["verdict"]),
                    "yes" if r["fresh"] else "no (agent did not answer in time)",
                    _ago(v.get("since")), v.get("action", ""),
                )
        if results:
            out.print(table)
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
    return _run(_inventory_import(args))


def _read_csv(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None


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
            out.print(f"imported {count} headends from {args.file}")
        return 0
    chunks: Sequence[Sequence[Any]] = [
        targets[i : i + IMPORT_CHUNK] for i in range(0, len(targets), IMPORT_CHUNK)
    ]
    written = 0
    async with Client(args) as client:
        with _progress(not args.json) as progress:
            task = progress.add_task("importing", total=len(targets))
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
        out.print(f"imported {written} targets from {args.file}")
    return 0
