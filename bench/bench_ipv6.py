"""IPv6 polling costs no more CPU than IPv4 (issue 16): CPU per poll, both families.

One net-snmp snmpd answers on 127.0.0.1 and ::1 (one port); the agent's SNMP
probe polls the ``ethernet`` profile (system group, ifTable/ifXTable walk: a
whole poll, as the agent runs it) with ``--lanes`` polls in flight. CPU is
this process's (getrusage: the poller, not snmpd) over the polls of a run,
user and system apart: user time is our code, system time the kernel's
UDP/ICMP stack of that family (on loopback the kernel also charges the sender
for delivering the packet to snmpd's socket). Each round pairs an IPv4 and an
IPv6 run back to back, their order alternating, and a ratio is the median of
the pairs' ratios: the machine is shared (2 cores, CI may be running), and
load that drifts between rounds cancels out within a pair. The same for ICMP
echo (raw socket as root, else the ping socket) to 127.0.0.1 and ::1.

    .venv/bin/python -m bench.bench_ipv6 [--seconds 0.7] [--rounds 21] [--json out.json]

Prints CPU-us per poll for each family and the ratios IPv6/IPv4 of user time
(the target, <= 1.05: within the noise of equal cost) and of user+system.
Bounded: rounds x seconds of polling per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from peers import free_udp_port, snmp_credentials, wait_for_snmp  # noqa: E402

from probes.model import PingResult, SnmpReading, Target  # noqa: E402
from probes.ping import PingProbe  # noqa: E402
from probes.snmp.probe import SnmpProbe  # noqa: E402

TARGET_RATIO = 1.05


class Cpu(NamedTuple):
    """CPU-seconds (or, after ``per``, CPU-microseconds per poll)."""

    user: float
    system: float

    def __sub__(self, other: object) -> Cpu:  # type: ignore[override]
        assert isinstance(other, Cpu)
        return Cpu(self.user - other.user, self.system - other.system)

    def per(self, n: int) -> Cpu:
        return Cpu(self.user / max(n, 1) * 1e6, self.system / max(n, 1) * 1e6)
HOSTS = {"IPv4": "127.0.0.1", "IPv6": "::1"}


def start_snmpd(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_udp_port("127.0.0.1")
    conf = workdir / "snmpd.conf"
    conf.write_text(f"agentAddress udp:127.0.0.1:{port},udp6:[::1]:{port}\n"
                    "rocommunity public 127.0.0.1\nrocommunity6 public ::1\n"
                    "sysDescr linewatch bench_ipv6\n")
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir), "MIBS": ""}
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-M", "/nonexistent", "-m", ""],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_snmp("127.0.0.1", port, "public")
    wait_for_snmp("::1", port, "public")
    return proc, port


def _cpu() -> Cpu:
    """(user, system) CPU-seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Cpu(usage.ru_utime, usage.ru_stime)


async def snmp_round(probe: SnmpProbe, host: str, port: int, seconds: float,
                     lanes: int) -> tuple[int, Cpu]:
    """(polls, CPU-seconds of this process) for ``seconds`` of polling ``host``."""
    target = Target(account="bench", host=host, port=port, technology="ethernet", node="n",
                    plan_down_mbps=100, plan_up_mbps=20)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    polls = 0

    async def lane() -> None:
        nonlocal polls
        while loop.time() < end:
            result = await probe.run(target)
            if not isinstance(result, SnmpReading):
                raise RuntimeError(f"poll of {host} failed: {result}")
            polls += 1

    cpu = _cpu()
    await asyncio.gather(*(lane() for _ in range(lanes)))
    return polls, _cpu() - cpu


async def ping_round(probe: PingProbe, host: str, seconds: float) -> tuple[int, Cpu]:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    echoes = 0
    cpu = _cpu()
    while loop.time() < end:
        result = await probe.ping_many([host], count=200, interval_s=0.001, timeout_s=0.5)
        r: PingResult = result[host]
        echoes += r.received
    return echoes, _cpu() - cpu


async def measure(args: argparse.Namespace, port: int) -> dict[str, Any]:
    snmp: dict[str, list[Cpu]] = {fam: [] for fam in HOSTS}
    ping: dict[str, list[Cpu]] = {fam: [] for fam in HOSTS}
    polls: dict[str, int] = dict.fromkeys(HOSTS, 0)
    async with SnmpProbe(snmp_credentials("u", "authpass12", "privpass12"), timeout_s=2.0,
                         retries=1) as probe, PingProbe() as pinger:
        for host in HOSTS.values():  # warm-up: sockets, shapes, templates
            await snmp_round(probe, host, port, 0.5, args.lanes)
        for rnd in range(args.rounds):
            order = list(HOSTS.items()) if rnd % 2 == 0 else list(HOSTS.items())[::-1]
            for fam, host in order:
                n, cpu = await snmp_round(probe, host, port, args.seconds, args.lanes)
                snmp[fam].append(cpu.per(n))
                polls[fam] += n
            for fam, host in order:
                n, cpu = await ping_round(pinger, host, args.seconds / 2)
                ping[fam].append(cpu.per(n))
    out: dict[str, Any] = {"polls": polls, "privileged_ping": os.geteuid() == 0}
    for kind, rounds in (("snmp", snmp), ("ping", ping)):
        v4, v6 = rounds["IPv4"], rounds["IPv6"]
        out[kind] = {
            "user_us_per_poll": {f: statistics.median(c.user for c in r)
                                 for f, r in rounds.items()},
            "total_us_per_poll": {f: statistics.median(c.user + c.system for c in r)
                                  for f, r in rounds.items()},
            "ratio_user": statistics.median(b.user / a.user for a, b in zip(v4, v6, strict=True)),
            "ratio_total": statistics.median((b.user + b.system) / (a.user + a.system)
                                             for a, b in zip(v4, v6, strict=True)),
            "rounds": {f: [c._asdict() for c in r] for f, r in rounds.items()},
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.7, help="polling per run")
    parser.add_argument("--rounds", type=int, default=21, help="pairs of runs")
    parser.add_argument("--lanes", type=int, default=16, help="SNMP polls in flight")
    parser.add_argument("--json", default=str(Path(tempfile.gettempdir()) / "bench_ipv6.json"))
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 0.5), 60.0)
    args.rounds = min(max(args.rounds, 1), 50)
    if shutil.which("snmpd") is None:
        print("snmpd is not installed (Debian snmpd): skipped")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="lw-bench6-"))
    proc, port = start_snmpd(workdir)
    try:
        result = asyncio.run(measure(args, port))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    ok = True
    for kind, label in (("snmp", "SNMP ethernet poll"), ("ping", "ICMP echo")):
        r = result[kind]
        user, total = r["user_us_per_poll"], r["total_us_per_poll"]
        met = r["ratio_user"] <= TARGET_RATIO
        ok &= met
        print(f"{label:18s} user CPU-us/poll IPv4 {user['IPv4']:7.1f} IPv6 {user['IPv6']:7.1f}"
              f"  ratio IPv6/IPv4 {r['ratio_user']:.3f} (target <= {TARGET_RATIO}: "
              f"{'met' if met else 'MISSED'}); user+sys IPv4 {total['IPv4']:7.1f} "
              f"IPv6 {total['IPv6']:7.1f} ratio {r['ratio_total']:.3f}")
    print(f"SNMP polls: {result['polls']}")
    Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
