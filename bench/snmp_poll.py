"""SNMP pollers per CPU-second, linewatch against its peers, in one run.

Two workloads, each poller in its own process (CPU per poll = that process's
utime+stime / polls; for snmp_exporter its server process, read from
/proc/PID/stat), against the same responders:

- ``scalar8``: one GET of 8 scalars (SNMPv2-MIB system group + IF-MIB
  ifNumber), served by net-snmp snmpd on 4 loopback addresses AND by the lab
  fleet (lab/fleet) DOCSIS modems;
- ``docsis``: the full DOCSIS profile (probes/snmp/profiles.py "docsis":
  sysDescr/sysUpTime, ifTable/ifXTable, downstream, signal-quality, upstream,
  per-channel TX power, CM status) of 32x8-channel modems, served by the fleet
  only (snmpd has no DOCSIS MIBs).

Contenders: linewatch SnmpProbe (targeted collection: what the agent runs;
its plain full walk of every column is shown too); a naive pysnmp hlapi loop
(the same GET/GETBULK walk, pysnmp underneath); ezsnmp (net-snmp C library,
one synchronous session per target: get + bulk_walk per column); Prometheus
snmp_exporter (Debian package, a hand-written module with the same get/walk
OIDs, driven with bounded concurrent HTTP scrapes). A peer that is not
installed is reported as skipped. The responder's CPU share during each run is
printed next to it, so a saturated responder shows.

    .venv/bin/python -m bench.snmp_poll [--seconds 6] [--modems 500] [--json out.json]

Prints polls/s (wall), polls per CPU-second and CPU-ms per poll of each
poller process, the responder's CPU share, the ratios linewatch/peer and the
issue's targets (>= 10x pysnmp, >= 1.0x snmp_exporter per CPU-second) as met
or missed; writes the same as JSON.

Bounded: every run is at most ``--seconds`` of polling plus start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

SCALAR8 = [f"1.3.6.1.2.1.1.{i}.0" for i in range(1, 8)] + ["1.3.6.1.2.1.2.1.0"]
SNMPD_HOSTS = ["127.0.10.1", "127.0.10.2", "127.0.10.3", "127.0.10.4"]
FLEET_BASE = "127.21.0.0"
CONTENDERS = ("linewatch", "linewatch-fullwalk", "pysnmp", "ezsnmp", "snmp_exporter")
PEERS = ("pysnmp", "ezsnmp", "snmp_exporter")
EXPORTER = "prometheus-snmp-exporter"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def docsis_objects() -> tuple[list[str], list[str]]:
    """(scalar OIDs, column OIDs) of the DOCSIS profile, dotted."""
    from probes.snmp.ber import format_oid
    from probes.snmp.profiles import load_profiles

    profile = load_profiles()["docsis"]
    scalars = [format_oid(c.oid) for c in profile.scalars.values()]
    columns = [format_oid(c.oid) for cols in profile.tables.values() for c in cols.values()]
    return scalars, columns


# --- workers: one process per contender and workload ----------------------------------


class Meter:
    """Counts polls until the deadline; the worker's own CPU from process_time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ok = self.failed = 0
        self.deadline = 0.0
        self.cpu0 = self.wall0 = 0.0

    def start(self) -> None:
        print("started", flush=True)  # the parent samples the responder's CPU now
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.deadline = self.wall0 + self.seconds

    def running(self) -> bool:
        return time.perf_counter() < self.deadline

    def result(self, **extra: Any) -> dict[str, Any]:
        return {"polls": self.ok, "failed": self.failed,
                "wall_s": time.perf_counter() - self.wall0,
                "cpu_s": time.process_time() - self.cpu0, **extra}


async def drive(meter: Meter, targets: list[Any], window: int,
                one: Callable[[Any], Awaitable[bool]]) -> None:
    """``window`` loops in flight, each polling the next target until the deadline."""
    cursor = 0

    async def lane() -> None:
        nonlocal cursor
        while meter.running():
            t = targets[cursor % len(targets)]
            cursor += 1
            try:
                good = await one(t)
            except Exception:  # a peer's failure is a failed poll, not a dead bench
                good = False
            if good:
                meter.ok += 1
            else:
                meter.failed += 1

    await asyncio.gather(*(lane() for _ in range(window)))


def fleet_targets(port: int, modems: int, limit: int) -> list[Any]:
    from lab.fleet.layout import DOCSIS_WIDE, Layout

    layout = Layout(modems, max(modems // 250, 1), 1, FLEET_BASE, port, DOCSIS_WIDE)
    return [t for t in (layout.target(i) for i in range(modems))
            if t.technology == "docsis"][:limit]


def worker_targets(args: argparse.Namespace) -> list[Any]:
    from bench.bench_snmp import target

    if args.responder == "snmpd":
        return [target(SNMPD_HOSTS[i % 4], args.port, i) for i in range(4)]
    return fleet_targets(args.port, args.modems, 400)


async def work_linewatch(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    from probes.model import SnmpReading
    from probes.snmp.ber import parse_oid
    from probes.snmp.probe import SnmpCredentials, SnmpProbe

    targets = worker_targets(args)
    oids = [parse_oid(o) for o in SCALAR8]
    async with SnmpProbe({"default": SnmpCredentials(community="public")}) as probe:
        probe.targeted = args.contender == "linewatch"

        async def one(t: Any) -> bool:
            if args.workload == "scalar8":
                got = await probe.get(t, oids)
                return isinstance(got, list) and len(got) == 8
            return isinstance(await probe.run(t), SnmpReading)

        for t in targets[:20]:
            await one(t)  # warm the caches a long-running agent has warm
        gc.collect()
        gc.freeze()  # as the agent does once started (agent/daemon.py)
        meter.start()
        await drive(meter, targets, 200, one)
    return meter.result()


async def work_pysnmp(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    from pysnmp.hlapi.v3arch import asyncio as hl

    from bench.bench_snmp import PysnmpV2Client
    from probes.model import SnmpReading
    from probes.snmp.probe import poll
    from probes.snmp.profiles import load_profiles

    targets = worker_targets(args)
    profile = load_profiles()["docsis"]
    engine = hl.SnmpEngine()
    auth = hl.CommunityData("public", mpModel=1)
    udp = {}
    for t in targets:
        if (t.host, t.port) not in udp:
            udp[(t.host, t.port)] = await hl.UdpTransportTarget.create(
                (t.host, t.port), timeout=2.0, retries=1)
    scalars = [hl.ObjectType(hl.ObjectIdentity(o)) for o in SCALAR8]

    async def one(t: Any) -> bool:
        target = udp[(t.host, t.port)]
        if args.workload == "scalar8":
            ind, status, _, vbs = await hl.get_cmd(engine, auth, target, hl.ContextData(),
                                                   *scalars)
            return not ind and not status and len(vbs) == 8
        client = PysnmpV2Client(engine, target, 25)
        return isinstance(await poll(client, profile), SnmpReading)

    try:
        await one(targets[0])
        meter.start()
        await drive(meter, targets, 20, one)
    finally:
        engine.close_dispatcher()
    return meter.result()


async def work_ezsnmp(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    from ezsnmp import Session

    targets = worker_targets(args)
    scalars, columns = docsis_objects()
    sessions: dict[tuple[str, int], Any] = {}

    def session(t: Any) -> Any:
        s = sessions.get((t.host, t.port))
        if s is None:
            s = sessions[(t.host, t.port)] = Session(
                hostname=t.host, port_number=t.port, version="2c", community="public",
                timeout=2, retries=1, set_max_repeaters_to_num=25,
                print_oids_numerically=True, print_full_oids=True,
                print_enums_numerically=True, print_timeticks_numerically=True)
        return s

    def one(t: Any) -> bool:
        s = session(t)
        if args.workload == "scalar8":
            return len(s.get(SCALAR8)) == 8
        got = len(s.get(scalars))
        for col in columns:  # one subtree per walk, as ezsnmp's bulk_walk does
            got += len(s.bulk_walk([col]))
        return got > len(scalars)

    one(targets[0])
    meter.start()
    i = 0
    while meter.running():  # synchronous: the library blocks per request
        try:
            good = one(targets[i % len(targets)])
        except Exception:
            good = False
        i += 1
        if good:
            meter.ok += 1
        else:
            meter.failed += 1
    return meter.result()


async def work_exporter(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """Drive snmp_exporter over HTTP; the CPU that counts is the exporter's."""
    import aiohttp

    targets = worker_targets(args)
    url = f"http://127.0.0.1:{args.exporter_port}/snmp"
    module = args.workload
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def one(t: Any) -> bool:
            params = {"target": f"{t.host}:{t.port}", "module": module}
            async with http.get(url, params=params) as resp:
                body = await resp.read()
            return resp.status == 200 and b"snmp_scrape_pdus_returned" in body

        if not await one(targets[0]):
            raise RuntimeError("snmp_exporter scrape failed")
        cpu0 = proc_cpu_s(args.exporter_pid)
        meter.start()
        await drive(meter, targets, 32, one)
        exporter_cpu = proc_cpu_s(args.exporter_pid) - cpu0
    own = meter.result()
    return {**own, "cpu_s": exporter_cpu, "driver_cpu_s": own["cpu_s"]}


WORKERS = {"linewatch": work_linewatch, "linewatch-fullwalk": work_linewatch,
           "pysnmp": work_pysnmp, "ezsnmp": work_ezsnmp, "snmp_exporter": work_exporter}


def use_uvloop(coro: Awaitable[Any]) -> Any:
    """The poller's loop: uvloop when installed, unless LINEWATCH_EVENT_LOOP=asyncio
    (the agent's own switch), so both loops can be measured in one command."""
    if os.environ.get("LINEWATCH_EVENT_LOOP") == "asyncio":
        return asyncio.run(coro)  # type: ignore[arg-type]
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def worker_main(args: argparse.Namespace) -> int:
    meter = Meter(args.seconds)
    result = use_uvloop(WORKERS[args.contender](args, meter))
    print("result " + json.dumps(result), flush=True)
    return 0


# --- the responders and snmp_exporter --------------------------------------------------


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def run_fleet(modems: int) -> Iterator[tuple[int, int]]:
    """The fleet on its own process (uvloop when installed): (pid, port)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.fleet", "--modems", str(modems), "--nodes",
         str(max(modems // 250, 1)), "--port", str(free_port(socket.SOCK_DGRAM)), "--wide",
         "--base", FLEET_BASE,
         "--uvloop"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"fleet did not start: {line!r}")
        yield proc.pid, int(line.split()[1])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def exporter_config(path: Path) -> None:
    """snmp.yml in snmp_exporter 0.21's format (auth inside the module): the same objects
    each contender asks for, with max_repetitions 25 like the others."""
    scalars, columns = docsis_objects()
    text = {"1.3.6.1.2.1.1.1", "1.3.6.1.2.1.1.4", "1.3.6.1.2.1.1.5", "1.3.6.1.2.1.1.6",
            "1.3.6.1.2.1.2.2.1.2"}

    def metric(oid: str, indexed: bool) -> dict[str, Any]:
        m: dict[str, Any] = {"name": "o_" + oid.replace(".", "_"), "oid": oid,
                             "type": "DisplayString" if oid in text else "gauge"}
        if oid == "1.3.6.1.2.1.1.2":
            m["type"] = "OctetString"
        if indexed:
            m["indexes"] = [{"labelname": "index", "type": "gauge"}]
        return m

    common = {"version": 2, "max_repetitions": 25, "retries": 1, "timeout": "2s",
              "auth": {"community": "public"}}
    config = {
        "scalar8": {"get": SCALAR8,
                    "metrics": [metric(o.removesuffix(".0"), False) for o in SCALAR8],
                    **common},
        "docsis": {"get": scalars, "walk": columns,
                   "metrics": [*(metric(o.removesuffix(".0"), False) for o in scalars),
                               *(metric(o, True) for o in columns)],
                   **common},
    }
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML


@contextlib.contextmanager
def run_exporter(workdir: Path) -> Iterator[tuple[int, int] | None]:
    binary = shutil.which(EXPORTER)
    if binary is None:
        yield None
        return
    conf = workdir / "snmp.yml"
    exporter_config(conf)
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=error"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"snmp_exporter exited: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(10)


def installed(contender: str) -> str | None:
    """None when the contender can run here, else why it is skipped."""
    if contender == "ezsnmp":
        try:
            import ezsnmp  # noqa: F401
        except ImportError:
            return "ezsnmp not installed (pip install ezsnmp)"
    if contender == "snmp_exporter" and shutil.which(EXPORTER) is None:
        return f"{EXPORTER} not installed (apt-get install {EXPORTER})"
    return None


async def run_one(contender: str, workload: str, responder: str, port: int, responder_pid: int,
                  args: argparse.Namespace, exporter: tuple[int, int] | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.snmp_poll", "--worker", contender, "--workload",
           workload, "--responder", responder, "--port", str(port), "--modems",
           str(args.modems), "--seconds", str(args.seconds)]
    if exporter is not None:
        cmd += ["--exporter-pid", str(exporter[0]), "--exporter-port", str(exporter[1])]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    responder_cpu0 = wall0 = None
    result: dict[str, Any] = {"error": "no result"}
    try:
        async with asyncio.timeout(args.seconds + 90):
            async for raw in proc.stdout:
                line = raw.decode().strip()
                if line == "started":
                    responder_cpu0, wall0 = proc_cpu_s(responder_pid), time.perf_counter()
                elif line.startswith("result "):
                    result = json.loads(line[7:])
                    if responder_cpu0 is not None and wall0 is not None:
                        result["responder_share"] = (
                            (proc_cpu_s(responder_pid) - responder_cpu0)
                            / (time.perf_counter() - wall0))
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        result = {"error": "timed out"}
    if proc.returncode and "polls" not in result:
        err = (await proc.stderr.read()).decode().strip().splitlines()
        result = {"error": err[-1] if err else f"exit {proc.returncode}"}
    return result


def per_cpu_s(r: dict[str, Any]) -> float:
    return r["polls"] / r["cpu_s"] if r.get("polls") and r.get("cpu_s") else 0.0


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    from peers import run_snmpd

    results: dict[str, dict[str, dict[str, Any]]] = {}
    runs = [("scalar8", "snmpd"), ("scalar8", "fleet"), ("docsis", "fleet")]
    contenders = [c for c in CONTENDERS if not args.only or c in args.only]
    workdir = Path(tempfile.mkdtemp(prefix="lw-snmp-poll-"))
    try:
        with contextlib.ExitStack() as stack:
            snmpd = stack.enter_context(run_snmpd(SNMPD_HOSTS)) if shutil.which("snmpd") else None
            fleet_pid, fleet_port = stack.enter_context(run_fleet(args.modems))
            exporter = stack.enter_context(run_exporter(workdir))
            for workload, responder in runs:
                key = f"{workload}@{responder}"
                results[key] = {}
                if responder == "snmpd" and snmpd is None:
                    print(f"  {key:16} skipped: snmpd not installed (apt-get install snmpd)")
                    continue
                pid, port = (snmpd.proc.pid, snmpd.port) if snmpd and responder == "snmpd" else (
                    fleet_pid, fleet_port)
                for contender in contenders:
                    if contender == "linewatch-fullwalk" and workload != "docsis":
                        continue
                    why = installed(contender)
                    if why is not None:
                        results[key][contender] = {"skipped": why}
                        continue
                    r = await run_one(contender, workload, responder, port, pid, args,
                                      exporter if contender == "snmp_exporter" else None)
                    results[key][contender] = r
                    print(f"  {key:16} {contender:19} {line(r)}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def line(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    if "error" in r:
        return f"error: {r['error']}"
    ms = 1000 * r["cpu_s"] / r["polls"] if r["polls"] else float("nan")
    return (f"{per_cpu_s(r):8.0f} polls/CPU-s  {ms:6.3f} CPU-ms/poll  "
            f"{r['polls'] / r['wall_s']:7.0f} polls/s wall  ({r['failed']} failed; "
            f"responder CPU {r.get('responder_share', 0):.0%})")


def report(results: dict[str, Any]) -> dict[str, Any]:
    """Print the table and ratios; return the ratios (linewatch / peer, polls per CPU-s)."""
    ratios: dict[str, dict[str, float | None]] = {}
    print("\nPolls per CPU-second of the poller process (ratio = linewatch / peer):")
    for key, by in results.items():
        print(f"\n{key}:")
        for contender, r in by.items():
            print(f"  {contender:19} {line(r)}")
        ours = per_cpu_s(by.get("linewatch", {}))
        ratios[key] = {}
        for peer in PEERS:
            theirs = per_cpu_s(by.get(peer, {}))
            ratios[key][peer] = round(ours / theirs, 2) if ours and theirs else None
        shown = ", ".join(f"/{p} = {v:.1f}x" if v else f"/{p} = n/a"
                          for p, v in ratios[key].items())
        print(f"  linewatch {shown}")
    print("\nTargets (polls per CPU-second): >= 10x pysnmp hlapi, >= 1.0x snmp_exporter")
    for key, r in ratios.items():
        verdict = []
        for peer, need in (("pysnmp", 10.0), ("snmp_exporter", 1.0)):
            v = r.get(peer)
            if v is None:
                verdict.append(f"{peer} not measured")
            else:
                verdict.append(f"{peer} {v:.1f}x {'met' if v >= need else 'MISSED'}")
        print(f"  {key:16} " + "; ".join(verdict))
    full = ratios.get("docsis@fleet", {}).get("snmp_exporter")
    if full is not None:  # issue 18: the full DOCSIS poll at 10x snmp_exporter
        print(f"  issue 18, docsis@fleet >= 10x snmp_exporter: {full:.1f}x "
              + ("met" if full >= 10 else f"MISSED (needs {10 / full:.2f}x less CPU a poll)"))
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="polling per run")
    parser.add_argument("--modems", type=int, default=500, help="fleet size")
    parser.add_argument("--json", default=str(Path(tempfile.gettempdir()) / "snmp_poll.json"),
                        help="write figures and ratios here (default: %(default)s)")
    parser.add_argument("--only", nargs="*", choices=CONTENDERS, help="a subset of contenders")
    # internal: one contender's process
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=["scalar8", "docsis"], help=argparse.SUPPRESS)
    parser.add_argument("--responder", choices=["snmpd", "fleet"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--exporter-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--exporter-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.contender = args.worker
        return worker_main(args)
    print(f"SNMP pollers, {args.seconds:g} s per run; fleet of {args.modems} modems "
          "(DOCSIS ones 32x8); snmpd serves scalar8 only", flush=True)
    results = asyncio.run(orchestrate(args))
    ratios = report(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "ratios": ratios}, indent=1))
        print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
