"""`linewatch demo`: the whole system on one machine, with scripted faults.

Starts, as separate processes, the lab fleet (real SNMP on 127.20.x.y, with a
CMTS / DSLAM / OLT per node whose headends CSV is imported too), a collector on
SQLite in a temporary directory and an agent polling modems and headends; then
plays a script of faults and shows the verdicts live. The processes are the same
commands an operator runs (`linewatch lab fleet`, `collector serve`,
`agent run`), so the demo exercises the real paths, not a shortcut.

Ping is off in the demo agent: the kernel answers ICMP for every 127.x.y.z
address, so a simulated dark modem would still "answer ping" and hide the
outage. Reachability comes from SNMP alone here.

The demo also runs a webhook receiver of its own (an aiohttp server on
127.0.0.1 in this process) subscribed to every event, with a secret it
generates and hands the collector through ``secret_env``: each delivery, its
signature checked, is a JSON line in ``webhooks.jsonl``, kept after the demo so
an integrator can see what their ticketing or SMS system would receive.
Once the faults have their verdicts, the script plays the call record: the
line-fault customer calls the IVR three times (the third is a repeat call,
``call.repeat``), support books a technician (``dispatch.requested``), and the
area outage is cleared, so it closes with its credit report
(``outage.closed``) within about half a minute.

`--once` is the foundation-era mode: poll the fleet once in-process and print
a table per modem, no collector.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
from aiohttp import web
from rich.console import Console, Group
from rich.live import Live

from linewatch.liveview import live_view
from linewatch.tables import Col, fit_table
from probes.inventory import format_headends, format_inventory, parse_headends, parse_inventory
from probes.model import Headend, Target

console = Console()

_T = TypeVar("_T", Target, Headend)

DEMO_INTERVAL_S = 10.0  # agent poll interval: short so faults show within a minute
DEMO_CALLS = 3  # the line-fault caller's calls: the third makes a repeat caller
DEMO_OUTAGE_CLEAR_HOLD_S = 15.0
DEMO_HEADEND_INTERVAL_S = 5.0  # the headends: a node outage shows from their poll first
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
HOOK_SECRET_ENV = "LINEWATCH_DEMO_HOOK_SECRET"  # set it to choose the secret; else generated
HOOK_EVENTS = ("outage.opened", "outage.closed", "plant_fault.opened", "plant_fault.closed",
               "dispatch.requested", "call.repeat", "account.verdict_changed")


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


@dataclass
class Child:
    """One child process of the demo, with its log file."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path

    async def stop(self) -> None:
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


@dataclass
class Scenario:
    """Which accounts the script breaks, and what verdict each should reach."""

    outage_node: str
    dead: str
    line: str
    reboot: str
    customer_side: str
    drop_cut: str = ""
    tap_node: str = ""
    mgmt_path: str = ""  # the headend's view: answers its CMTS, not us
    echo: str = ""  # a micro-reflection in the upstream pre-equalizer
    outage_account: str = ""  # one account of outage_node, watched through the outage
    expected: dict[str, str] = field(default_factory=dict)


class HookReceiver:
    """The demo's webhook receiver: what an ISP's system would get, signature
    checked, one JSON line per delivery (the body kept verbatim, so anyone can
    re-check the HMAC). A bad signature is answered 401 and not written."""

    def __init__(self, path: Path, secret: str) -> None:
        self.path = path
        self.secret = secret.encode()
        self.url = ""
        self.counts: dict[str, int] = {}
        self.bad_signatures = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        self.path.touch()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        sent = request.headers.get("X-Linewatch-Signature", "")
        want = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sent, want):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        event = request.headers.get("X-Linewatch-Event", "?")
        line = json.dumps({
            "received_at": time.time(), "event": event,
            "delivery": request.headers.get("X-Linewatch-Delivery", ""),
            "signature": sent, "body": body.decode(),
        }, ensure_ascii=False)
        await asyncio.to_thread(self._append, line)
        self.counts[event] = self.counts.get(event, 0) + 1
        return web.Response(text="ok")

    def _append(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


async def _spawn(name: str, workdir: Path, *argv: str, env: dict[str, str] | None = None) -> Child:
    log = workdir / f"{name}.log"
    handle = log.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linewatch.cli", *argv,
        stdout=handle, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})}, start_new_session=True,
    )
    handle.close()
    return Child(name, proc, log)


async def _wait_for(predicate_name: str, check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {predicate_name}")


async def _token(workdir: Path, db: str, role: str, name: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linewatch.cli", "token", "create", "--role", role,
        "--name", name, "--db", db,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=workdir,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"token create failed: {err.decode().strip()}")
    return out.decode().strip().splitlines()[-1]


def _pick_scenario(targets: list[Target]) -> Scenario:
    """Choose the scripted accounts from the fleet's own layout."""
    nodes: dict[str, list[Target]] = {}
    for t in targets:
        nodes.setdefault(t.node, []).append(t)
    docsis_nodes = [n for n, ts in sorted(nodes.items()) if ts[0].technology == "docsis"]
    if len(docsis_nodes) < 3:
        raise RuntimeError("the demo needs at least three DOCSIS nodes (use --nodes >= 6)")
    outage, quiet, other = docsis_nodes[0], docsis_nodes[1], docsis_nodes[2]
    q, o = nodes[quiet], nodes[other]
    scenario = Scenario(
        outage_node=outage, dead=q[0].account, line=q[1].account, reboot=o[0].account,
        customer_side=o[1].account,
    )
    scenario.expected = {
        scenario.dead: "equipment_fault",
        scenario.line: "line_fault",
        scenario.reboot: "equipment_fault",
        scenario.customer_side: "customer_side",
        nodes[outage][0].account: "area_outage",
    }
    scenario.outage_account = nodes[outage][0].account
    # Issue 15's stories: a drop cut (SNR slides, then dark) on a node of its own
    # among the scripted faults, and a tap failure (three homes dark together) on a
    # node nothing else touches: one plant fault, not three modems to ship.
    if len(o) >= 3:
        scenario.drop_cut = o[2].account
        scenario.expected[scenario.drop_cut] = "line_fault"
    spare = [n for n, ts in sorted(nodes.items())
             if n not in (outage, quiet, other) and len(ts) >= 4]
    if spare:
        scenario.tap_node = spare[0]
        for t in nodes[spare[0]][:3]:
            scenario.expected[t.account] = "line_fault"
    # The headends' stories (lab/fleet/headends.py) on a DOCSIS node nothing else
    # touches: a broken management path (the CMTS still sees the modem) and an echo.
    fourth = [n for n in docsis_nodes if n not in (outage, quiet, other, scenario.tap_node)]
    if fourth and len(nodes[fourth[0]]) >= 2:
        scenario.mgmt_path, scenario.echo = (t.account for t in nodes[fourth[0]][:2])
        scenario.expected[scenario.mgmt_path] = "unknown"
        scenario.expected[scenario.echo] = "line_fault"
    return scenario


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="linewatch-demo-"))
        self.db = str(self.workdir / "collector.db")
        self.host, self.port = _split(args.listen)
        self.base = f"http://{self.host}:{self.port}"
        self.fleet_port = _free_port(socket.SOCK_DGRAM)
        self.control = f"http://127.0.0.1:{_free_port()}"
        self.iperf_port = _free_port()
        self.children: list[Child] = []
        self.iperf: asyncio.subprocess.Process | None = None
        self.tokens: dict[str, str] = {}
        self.script_log: list[str] = []
        self.reached: dict[str, str] = {}  # scripted account -> verdict last seen
        out = getattr(args, "webhooks_out", None)
        self.hook_file = Path(out).resolve() if out else self.workdir / "webhooks.jsonl"
        self.hook_secret = os.environ.get(HOOK_SECRET_ENV) or secrets.token_hex(32)
        self.receiver = HookReceiver(self.hook_file, self.hook_secret)

    # --- set-up ------------------------------------------------------------------
    async def start(self, http: aiohttp.ClientSession) -> Scenario:
        inventory = self.workdir / "fleet.csv"
        headends = self.workdir / "headends.csv"  # a CMTS / DSLAM / OLT per node
        self.children.append(await _spawn(
            "fleet", self.workdir, "lab", "fleet", "--modems", str(self.args.modems),
            "--nodes", str(self.args.nodes), "--port", str(self.fleet_port),
            "--control", self.control.removeprefix("http://"), "--inventory", str(inventory),
            "--headends", str(headends),
        ))
        await _wait_for(
            "the fleet", lambda: self._up(http, f"{self.control}/fleet"), STARTUP_TIMEOUT_S
        )
        await _wait_for("the fleet inventory", self._file_ready(inventory), STARTUP_TIMEOUT_S)

        for role in ("admin", "support", "agent", "ivr"):
            self.tokens[role] = await _token(self.workdir, self.db, role, f"demo-{role}")
        await self.receiver.start()
        collector_toml = self.workdir / "collector.toml"
        collector_toml.write_text(
            "[[webhooks]]\n"
            f'url = "{self.receiver.url}"\n'
            f'secret_env = "{HOOK_SECRET_ENV}"\n'
            f"events = {json.dumps(list(HOOK_EVENTS))}\n"
            # Short retries: a demo's events should show within seconds.
            "[webhook_delivery]\nbackoff_base_s = 0.5\nbackoff_max_s = 5.0\n"
            "poll_interval_s = 0.5\n"
            # An outage the script ends closes within a minute, not ten.
            f"[outage]\nclear_hold_s = {DEMO_OUTAGE_CLEAR_HOLD_S}\n"
        )
        self.children.append(await _spawn(
            "collector", self.workdir, "collector", "serve", "--config", str(collector_toml),
            "--db", self.db, "--listen", f"{self.host}:{self.port}",
            env={HOOK_SECRET_ENV: self.hook_secret},
        ))
        await _wait_for(
            "the collector", lambda: self._up(http, f"{self.base}/healthz"), STARTUP_TIMEOUT_S
        )

        targets = parse_inventory(inventory.read_text())
        scenario = _pick_scenario(targets)
        if shutil.which("iperf3"):
            self.iperf = await asyncio.create_subprocess_exec(
                "iperf3", "-s", "-B", "127.0.0.1", "-p", str(self.iperf_port),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
        targets = [
            _with(t, agent="demo", iperf_host="127.0.0.1", iperf_port=self.iperf_port)
            if t.account == scenario.customer_side else _with(t, agent="demo")
            for t in targets
        ]
        async with http.put(
            f"{self.base}/v1/inventory", data=format_inventory(targets),
            headers={**self._auth("admin"), "Content-Type": "text/csv"},
        ) as r:
            if r.status != 200:
                raise RuntimeError(f"inventory import failed: {r.status} {await r.text()}")
        heads = [_with(h, agent="demo") for h in parse_headends(headends.read_text())]
        async with http.put(
            f"{self.base}/v1/inventory", data=format_headends(heads),
            headers={**self._auth("admin"), "Content-Type": "text/csv"},
        ) as r:
            if r.status != 200:
                raise RuntimeError(f"headends import failed: {r.status} {await r.text()}")

        agent_toml = self.workdir / "agent.toml"
        agent_toml.write_text(
            "[agent]\n"
            'name = "demo"\n'
            f'collector_url = "{self.base}"\n'
            f"interval_s = {DEMO_INTERVAL_S}\n"
            f'metrics_listen = "127.0.0.1:{_free_port()}"\n'
            'spool_path = "agent-spool.db"\n'
            "push_interval_s = 1.0\n"
            "[ping]\nenabled = false\n"
            "[throughput]\nduration_s = 2.0\n"
            "[snmp]\ntimeout_s = 1.0\nretries = 1\n"
            f"[headend]\ninterval_s = {DEMO_HEADEND_INTERVAL_S}\ntimeout_s = 2.0\n"
        )
        self.children.append(await _spawn(
            "agent", self.workdir, "agent", "run", "--config", str(agent_toml),
            env={"LINEWATCH_AGENT_TOKEN": self.tokens["agent"]},
        ))
        return scenario

    @staticmethod
    async def _up(http: aiohttp.ClientSession, url: str) -> bool:
        try:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    @staticmethod
    def _file_ready(path: Path) -> object:
        async def ready() -> bool:
            size = await asyncio.to_thread(lambda: path.stat().st_size if path.exists() else 0)
            return size > 0

        return ready

    def _auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    # --- the script -----------------------------------------------------------------
    async def inject(self, http: aiohttp.ClientSession, **fault: object) -> None:
        async with http.post(f"{self.control}/faults", json=fault) as r:
            detail = await r.text()
            if r.status != 201:
                raise RuntimeError(f"fault {fault} refused: {detail}")
        self.script_log.append(f"{time.strftime('%H:%M:%S')} injected {fault}")

    async def play(self, http: aiohttp.ClientSession, s: Scenario) -> None:
        await asyncio.sleep(DEMO_INTERVAL_S * 1.5)  # one clean cycle first: everyone ok
        await self.inject(http, kind="node_outage", node=s.outage_node)
        await self.inject(http, kind="dead_modem", account=s.dead)
        await self.inject(http, kind="snr_drop", account=s.line, snr_db=24.0)
        # silent_s=0: the loop shows in sysUpTime alone, never as a dark neighbour.
        await self.inject(http, kind="reboot_loop", account=s.reboot, period_s=15.0, silent_s=0.0)
        if s.drop_cut:
            await self.inject(http, kind="drop_cut", account=s.drop_cut,
                              degrade_s=DEMO_INTERVAL_S * 2)
        if s.tap_node:
            await self.inject(http, kind="tap_failure", node=s.tap_node, count=3)
        if s.mgmt_path:
            await self.inject(http, kind="mgmt_path", account=s.mgmt_path)
            await self.inject(http, kind="micro_reflection", account=s.echo, distance_m=150.0,
                              level_dbc=-15.0)
        async with http.post(
            f"{self.base}/v1/accounts/{s.customer_side}/check",
            json={"probes": ["snmp", "throughput"], "timeout_s": 30},
            headers=self._auth("support"),
        ) as r:
            answer = await r.json()
        fresh = answer.get("fresh")
        verdict = answer.get("verdict", {}).get("verdict")
        self.script_log.append(
            f"{time.strftime('%H:%M:%S')} check {s.customer_side}: fresh={fresh} -> {verdict}"
        )
        await asyncio.sleep(DEMO_INTERVAL_S * 1.5)  # the faults reach their verdicts
        await self.calls_and_dispatch(http, s)
        if await self.clear(http, node=s.outage_node):  # outage.closed, with its credits
            s.expected[s.outage_account] = "ok"

    async def calls_and_dispatch(self, http: aiohttp.ClientSession, s: Scenario) -> None:
        """The line-fault caller rings three times (the third is a repeat call,
        routed to a person: call.repeat), and support books a technician
        (dispatch.requested), as the floor would."""
        for n in range(1, DEMO_CALLS + 1):
            async with http.post(f"{self.base}/v1/precall", json={"account": s.line},
                                 headers=self._auth("ivr")) as r:
                answer = await r.json() if r.status == 200 else {}
            self.script_log.append(
                f"{time.strftime('%H:%M:%S')} IVR call {n} from {s.line}: "
                f"{answer.get('status')}, calls_recent={answer.get('calls_recent')}, "
                f"repeat_caller={answer.get('repeat_caller')}, "
                f"route_to_agent={answer.get('route_to_agent')}"
            )
        start = (time.time() // 3600 + 20) * 3600  # tomorrow-ish, a two-hour window
        async with http.post(
            f"{self.base}/v1/accounts/{s.line}/dispatches",
            json={"window_start": start, "window_end": start + 7200,
                  "reference": "FS-DEMO-1", "requested_by": "demo-support"},
            headers=self._auth("support"),
        ) as r:
            body = await r.json()
        self.script_log.append(
            f"{time.strftime('%H:%M:%S')} dispatch for {s.line}: HTTP {r.status} "
            f"{body.get('dispatch', {}).get('id') or body.get('error', '')}"
        )

    async def clear(self, http: aiohttp.ClientSession, **where: str) -> bool:
        async with http.delete(f"{self.control}/faults", params=where) as r:
            cleared = (await r.json()).get("cleared", []) if r.status == 200 else []
        self.script_log.append(
            f"{time.strftime('%H:%M:%S')} cleared {len(cleared)} fault(s) at {where}"
        )
        return bool(cleared)

    # --- the live view -----------------------------------------------------------------
    async def render(self, http: aiohttp.ClientSession, s: Scenario) -> Group:
        async with http.get(f"{self.base}/v1/nodes", headers=self._auth("support")) as r:
            nodes = (await r.json()).get("nodes", []) if r.status == 200 else []
        accounts = []
        for account, expected in s.expected.items():
            async with http.get(f"{self.base}/v1/accounts/{account}",
                                headers=self._auth("support")) as r:
                body = await r.json() if r.status == 200 else {}
            v = body.get("verdict") or {}
            self.reached[account] = v.get("verdict", "?")
            accounts.append((account, expected, v))
        # Fitted to the terminal (linewatch/liveview.py): names whole at 80 columns.
        return live_view(nodes, accounts, self.script_log[-6:], console.width)

    async def stop(self) -> None:
        for child in reversed(self.children):  # agent first: it drains to the collector
            await child.stop()
        if self.iperf and self.iperf.returncode is None:
            self.iperf.terminate()
            await self.iperf.wait()
        await self.receiver.stop()

    def clean(self) -> None:
        """Remove the logs and database; keep the webhook deliveries file."""
        for entry in self.workdir.iterdir():
            if entry == self.hook_file:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        if self.hook_file.parent != self.workdir:
            self.workdir.rmdir()


def _with(t: _T, **changes: object) -> _T:
    import msgspec

    return msgspec.structs.replace(t, **changes)


async def _run(args: argparse.Namespace) -> int:
    demo = Demo(args)
    ok = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with aiohttp.ClientSession() as http:
        try:
            console.print(f"[bold]linewatch demo[/] — working directory {demo.workdir}")
            scenario = await demo.start(http)
            console.print(f"webhook receiver {demo.receiver.url} (all events, signatures "
                          f"checked) writes each delivery to {demo.hook_file}", soft_wrap=True)
            console.print(
                f"collector {demo.base}  (web console: {demo.base}/console/)\n"
                f"try:  export LINEWATCH_TOKEN={demo.tokens['support']}\n"
                f"      linewatch status {scenario.line}    linewatch check {scenario.dead}\n"
                f"      (IVR token for POST /v1/precall: {demo.tokens['ivr']})"
            )
            script = asyncio.create_task(demo.play(http, scenario))
            deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
            with Live(console=console, refresh_per_second=1) as live:
                while not stop.is_set() and time.monotonic() < deadline:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        live.update(await demo.render(http, scenario))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 2.0)
            if not script.done():
                script.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await script
            final = await demo.render(http, scenario)
            console.print(final)
            hits = sum(demo.reached.get(a) == v for a, v in scenario.expected.items())
            console.print(
                f"scripted accounts at their expected verdict: {hits} of {len(scenario.expected)}"
            )
            got = demo.receiver.counts
            console.print(
                "webhook deliveries received: "
                + ", ".join(f"{e} {got.get(e, 0)}" for e in HOOK_EVENTS)
                + f"; bad signatures {demo.receiver.bad_signatures}; in {demo.hook_file}",
                soft_wrap=True,
            )
            ok = True
            return 0
        except RuntimeError as exc:
            console.print(f"[red]demo failed:[/] {exc} (logs in {demo.workdir})")
            return 1
        finally:
            await demo.stop()
            if ok:  # keep the logs only when something went wrong (the deliveries always)
                await asyncio.to_thread(demo.clean)


# --- --once: the foundation-era poll-and-print ------------------------------------------


async def poll_once(modems: int, nodes: int) -> list[tuple[Target, object]]:
    from lab.fleet import Fleet
    from probes.snmp.probe import SnmpCredentials, SnmpProbe

    fleet = Fleet(modems=modems, nodes=nodes, seed=1, port=0)
    await fleet.start()
    try:
        targets = fleet.targets()
        async with SnmpProbe({"default": SnmpCredentials(version="2c", community="public")},
                             timeout_s=1.0, retries=1) as probe:
            results = await asyncio.gather(*(probe.run(t) for t in targets))
        return list(zip(targets, results, strict=True))
    finally:
        await fleet.stop()


def _summary(result: object) -> list[str]:
    from probes.model import DocsisLine, DslLine, GponLine, ProbeError, SnmpReading

    if isinstance(result, ProbeError):
        return [f"[red]{result.kind}[/]", result.message, "", ""]
    assert isinstance(result, SnmpReading)
    line = result.line
    up = f"{result.sys_uptime_s:.0f} s" if result.sys_uptime_s is not None else "?"
    lan = [i for i in result.interfaces if i.role == "lan"]
    lan_state = "up" if lan and all(i.oper_up for i in lan) else "down" if lan else "-"
    if isinstance(line, DocsisLine):
        powers = [c.power_dbmv for c in line.downstream if c.power_dbmv is not None]
        snrs = [c.snr_db for c in line.downstream if c.snr_db is not None]
        tx = [c.tx_power_dbmv for c in line.upstream if c.tx_power_dbmv is not None]
        detail = (f"{len(line.downstream)} DS ch, power {min(powers):.1f}..{max(powers):.1f} dBmV, "
                  f"SNR min {min(snrs):.1f} dB, US TX max {max(tx):.1f} dBmV"
                  if powers and snrs and tx else "DOCSIS (partial)")
    elif isinstance(line, DslLine):
        detail = (f"margin {line.snr_margin_down_db} dB, atten {line.attenuation_down_db} dB, "
                  f"sync {line.sync_down_kbps}/{line.sync_up_kbps} kbit/s")
    elif isinstance(line, GponLine):
        detail = f"optical RX {line.rx_power_dbm} dBm, TX {line.tx_power_dbm} dBm"
    else:
        detail = "ethernet CPE"
    return ["ok", detail, up, lan_state]


def _once(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    rows = asyncio.run(poll_once(args.modems, args.nodes))
    elapsed = time.perf_counter() - started
    by_node: dict[str, list[tuple[Target, object]]] = {}
    for target, result in rows:
        by_node.setdefault(target.node, []).append((target, result))
    for node, members in sorted(by_node.items()):
        cells = [[target.account, target.host, *_summary(result)] for target, result in members]
        cols = [Col("account", keep=True), Col("host", priority=1), Col("result"),
                Col("line", text=True), Col("uptime", priority=2), Col("LAN", priority=1)]
        console.print(fit_table(f"{node} ({members[0][0].technology}, {len(members)} modems)",
                                cols, cells, console.width))
    ok = sum(1 for _, r in rows if _summary(r)[0] == "ok")
    console.print(f"polled {len(rows)} modems on {len(by_node)} nodes in {elapsed:.2f} s: "
                  f"{ok} answered")
    return 0 if ok == len(rows) else 1


def main(args: argparse.Namespace) -> int:
    if args.once:
        return _once(args)
    return asyncio.run(_run(args))
