"""How many full modem polls per second SnmpProbe does, next to its peers.

A "poll" is what the agent does per modem: the profile's scalars (one GET)
and a GETBULK walk of all its table columns (the DOCSIS profile: ifTable/
ifXTable, downstream, signal quality, upstream, per-channel TX power, CM
status). Measured in the same run:

- SnmpProbe (fast BER codec, one shared socket) vs pysnmp's asyncio hlapi
  doing the same GET + GETBULK requests (same walk code, pysnmp underneath),
  against net-snmp snmpd on 4 loopback addresses;
- net-snmp's own CLI (`snmpget` + `snmpbulkwalk` per modem) against snmpd;
- SnmpProbe vs pysnmp against the fleet simulator (lab/fleet, DOCSIS modems
  with real channel tables), when it is present;
- the BER codec alone vs pyasn1/pysnmp encoding + decoding a response.

    .venv/bin/python -m bench.bench_snmp [--polls 600] [--window 200] [--modems 2000]

Bounded: fixed numbers of polls, each phase at most 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.hlapi.v3arch import asyncio as hl
from pysnmp.proto import api

from probes.model import ProbeError, SnmpReading, Target
from probes.snmp import ber
from probes.snmp.ber import OID, Value
from probes.snmp.probe import SnmpCredentials, SnmpProbe, poll
from probes.snmp.profiles import load_profiles
from probes.snmp.transport import SnmpRequestError
from probes.snmp.v3 import to_value

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from peers import run_snmpd  # noqa: E402 - tests/peers.py starts the real snmpd

PHASE_LIMIT_S = 60.0
LAST_CPU: list[float] = []  # this process's CPU share during each phase (1.0 = one core)
SNMPD_HOSTS = ["127.0.10.1", "127.0.10.2", "127.0.10.3", "127.0.10.4"]


def target(host: str, port: int, i: int, technology: str = "docsis") -> Target:
    return Target(
        account=f"bench-{i}",
        host=host,
        port=port,
        technology=technology,  # type: ignore[arg-type]
        node="bench",
        plan_down_mbps=100,
        plan_up_mbps=10,
    )


class PysnmpV2Client:
    """The library peer: the same GET/GETBULK requests through pysnmp's hlapi."""

    def __init__(self, engine: hl.SnmpEngine, udp: Any, max_rep: int) -> None:
        self.engine, self.udp, self.max_rep = engine, udp, max_rep
        self.auth = hl.CommunityData("public", mpModel=1)

    async def get(self, oids: list[OID]) -> list[tuple[OID, Value]]:
        ind, _status, _, vbs = await hl.get_cmd(
            self.engine,
            self.auth,
            self.udp,
            hl.ContextData(),
            *(hl.ObjectType(hl.ObjectIdentity(o)) for o in oids),
        )
        if ind:
            raise SnmpRequestError("timeout", str(ind))
        return [(tuple(o), to_value(v)) for o, v in vbs]

    async def next_rows(self, oids: list[OID]) -> list[list[tuple[OID, Value]]]:
        n = len(oids)
        ind, _status, _, vbs = await hl.bulk_cmd(
            self.engine,
            self.auth,
            self.udp,
            hl.ContextData(),
            0,
            max(1, min(self.max_rep, 240 // n)),
            *(hl.ObjectType(hl.ObjectIdentity(o)) for o in oids),
        )
        if ind:
            raise SnmpRequestError("timeout", str(ind))
        per_col: list[list[tuple[OID, Value]]] = [[] for _ in range(n)]
        for i, (o, v) in enumerate(vbs):
            per_col[i % n].append((tuple(o), to_value(v)))
        return per_col


async def run_window(
    jobs: list[Callable[[], Awaitable[object]]], window: int
) -> tuple[float, int, int]:
    """Run jobs with at most ``window`` in flight; return (seconds, ok, failed)."""
    sem = asyncio.Semaphore(window)
    ok = failed = 0

    async def one(job: Callable[[], Awaitable[object]]) -> None:
        nonlocal ok, failed
        async with sem:
            try:
                result = await job()
            except SnmpRequestError:
                result = None
            if isinstance(result, SnmpReading):
                ok += 1
            else:
                failed += 1

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.wait_for(asyncio.gather(*(one(j) for j in jobs)), PHASE_LIMIT_S)
    wall = time.perf_counter() - start
    LAST_CPU.append((time.process_time() - cpu) / wall)
    return wall, ok, failed


async def bench_probe(
    targets: list[Target], window: int, targeted: bool = True
) -> tuple[float, int, int]:
    """targeted=False: the plain full walk of every column (what v1/v3 and the pysnmp
    peer do), to show the targeted v2c collection apart from the codec."""
    async with SnmpProbe(
        {"default": SnmpCredentials(community="public")}, timeout_s=2.0, retries=1
    ) as probe:
        probe.targeted = targeted
        await probe.run(targets[0])  # warm caches
        return await run_window([lambda t=t: probe.run(t) for t in targets], window)


async def bench_pysnmp(targets: list[Target], window: int) -> tuple[float, int, int]:
    engine = hl.SnmpEngine()
    profiles = load_profiles()
    udp: dict[tuple[str, int], Any] = {}
    for t in targets:
        if (t.host, t.port) not in udp:
            udp[(t.host, t.port)] = await hl.UdpTransportTarget.create(
                (t.host, t.port), timeout=2.0, retries=1
            )

    def job(t: Target) -> Callable[[], Awaitable[object]]:
        client = PysnmpV2Client(engine, udp[(t.host, t.port)], 25)
        return lambda: poll(client, profiles[t.technology])

    try:
        return await run_window([job(t) for t in targets], window)
    finally:
        engine.close_dispatcher()


async def bench_cli(targets: list[Target], window: int) -> tuple[float, int, int] | None:
    if not (shutil.which("snmpget") and shutil.which("snmpbulkwalk")):
        return None
    profile = load_profiles()["docsis"]
    scalars = [ber.format_oid(c.oid) for c in profile.scalars.values()]
    # one bulk walk per table subtree (the CLI walks one subtree per process)
    subtrees = sorted(
        {ber.format_oid(next(iter(cols.values())).oid[:-1]) for cols in profile.tables.values()}
    )

    async def one(t: Target) -> object:
        addr = f"{t.host}:{t.port}"
        cmds = [["snmpget", "-v2c", "-c", "public", "-m", "", "-On", addr, *scalars]]
        cmds += [
            ["snmpbulkwalk", "-v2c", "-c", "public", "-m", "", "-On", "-Cr25", addr, s]
            for s in subtrees
        ]
        for cmd in cmds:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            if await proc.wait() != 0:
                return None
        return SnmpReading()

    return await run_window([lambda t=t: one(t) for t in targets], window)


def bench_codec(n: int = 3000) -> tuple[float, float]:
    """Encode+decode of a 20-varbind response: ours vs pysnmp/pyasn1, per second."""
    vbs: list[tuple[OID, Value]] = [
        ((1, 3, 6, 1, 2, 1, 10, 127, 1, 1, 4, 1, 5, i), ber.Counter32(1000 + i)) for i in range(20)
    ]
    msg = ber.Message(1, b"public", ber.Pdu(ber.RESPONSE, 77, 0, 0, vbs))
    start = time.perf_counter()
    for _ in range(n):
        ber.decode_message(ber.encode_message(msg))
    ours = n / (time.perf_counter() - start)
    v2c = api.v2c
    pdu = v2c.GetResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_varbinds(pdu, [(o, v2c.Counter32(int(v))) for o, v in vbs])
    wire = v2c.Message()
    v2c.apiMessage.set_defaults(wire)
    v2c.apiMessage.set_community(wire, "public")
    v2c.apiMessage.set_pdu(wire, pdu)
    m = max(n // 10, 100)
    start = time.perf_counter()
    for _ in range(m):
        pyasn1_decoder.decode(pyasn1_encoder.encode(wire), asn1Spec=v2c.Message())
    theirs = m / (time.perf_counter() - start)
    return ours, theirs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fleet_targets(modems: int) -> tuple[asyncio.subprocess.Process, list[Target]] | None:
    try:
        from lab.fleet.layout import Layout
    except ImportError:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    nodes = max(modems // 250, 1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "linewatch.cli",
        "lab",
        "fleet",
        "--modems",
        str(modems),
        "--nodes",
        str(nodes),
        "--port",
        str(port),
        "--control",
        f"127.0.0.1:{free_port()}",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        proc.kill()
        await proc.wait()
        return None
    layout = Layout(modems, nodes, 1, "127.20.0.0", port)
    return proc, [layout.target(i) for i in range(modems)]


def rate(result: tuple[float, int, int] | None) -> str:
    if result is None:
        return "n/a"
    seconds, ok, failed = result
    cpu = f", poller CPU {LAST_CPU.pop(0):.0%}" if LAST_CPU else ""
    return f"{ok / seconds:8.0f} polls/s  ({ok} ok, {failed} failed, {seconds:.2f} s{cpu})"


def ratio(a: tuple[float, int, int] | None, b: tuple[float, int, int] | None) -> str:
    if not a or not b or not b[1] or not a[1]:
        return "n/a"
    return f"{(a[1] / a[0]) / (b[1] / b[0]):.1f}x"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=600)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--modems", type=int, default=2000, help="fleet size")
    args = parser.parse_args()

    ours_codec, pysnmp_codec = bench_codec()
    print(
        f"BER codec, encode+decode 20-varbind response: ours {ours_codec:,.0f}/s, "
        f"pyasn1 {pysnmp_codec:,.0f}/s -> {ours_codec / pysnmp_codec:.0f}x"
    )

    with run_snmpd(SNMPD_HOSTS) as agent:
        targets = [target(SNMPD_HOSTS[i % 4], agent.port, i) for i in range(args.polls)]
        probe = await bench_probe(targets, args.window)
        lib = await bench_pysnmp(targets[: max(args.polls // 4, 50)], 20)
        cli = await bench_cli(targets[:40], 8)
    print("\nFull DOCSIS-profile polls against net-snmp snmpd (4 loopback addresses):")
    print(f"  SnmpProbe          {rate(probe)}")
    print(f"  pysnmp hlapi       {rate(lib)}")
    print(f"  net-snmp CLI       {rate(cli)}")
    print(f"  SnmpProbe / pysnmp = {ratio(probe, lib)};  SnmpProbe / CLI = {ratio(probe, cli)}")

    fleet = await fleet_targets(args.modems)
    if fleet is None:
        print("\nfleet simulator (lab/fleet) not available: skipped")
        return
    proc, fleet_all = fleet
    try:
        docsis = [t for t in fleet_all if t.technology == "docsis"][: args.polls]
        probe_f = await bench_probe(docsis, args.window)
        full_f = await bench_probe(docsis, args.window, targeted=False)
        lib_f = await bench_pysnmp(docsis[: max(len(docsis) // 8, 50)], 20)
        sample = await _sample(docsis[0])
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    print(f"\nFull DOCSIS-profile polls against the fleet simulator ({args.modems} modems):")
    print(f"  SnmpProbe          {rate(probe_f)}")
    print(f"  SnmpProbe fullwalk {rate(full_f)}")
    print(f"  pysnmp (fullwalk)  {rate(lib_f)}")
    print(f"  SnmpProbe / pysnmp = {ratio(probe_f, lib_f)};  "
          f"targeted / full walk = {ratio(probe_f, full_f)}")
    print(f"  sample reading: {sample}")


async def _sample(t: Target) -> str:
    async with SnmpProbe({"default": SnmpCredentials(community="public")}) as probe:
        result = await probe.run(t)
    if isinstance(result, ProbeError):
        return repr(result)
    line = result.line
    channels = len(getattr(line, "downstream", []) or [])
    return f"{len(result.interfaces)} interfaces, {channels} downstream channels"


if __name__ == "__main__":
    asyncio.run(main())
