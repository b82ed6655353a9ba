"""How fast the fleet simulator answers SNMP, next to net-snmp's snmpd on this machine.

Both servers run as their own process; one asyncio client (the BER codec from
probes/snmp/ber.py) keeps a window of requests in flight and counts replies.
GET asks for four scalars/columns both agents have; GETBULK asks for 25
repetitions of ifTable, the shape of an agent's interface poll. Requests to
the fleet go to random modems of a 100,000-modem fleet.

    .venv/bin/python -m bench.bench_fleet [--requests 4000] [--modems 100000]

Bounded: a fixed number of requests per run, each reply waited for at most
1 s, each phase at most 60 s. Prints responses/s and the fleet/snmpd ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from probes.snmp.ber import (
    GET,
    GETBULK,
    NULL,
    BerError,
    Message,
    Pdu,
    decode_message,
    encode_message,
    parse_oid,
)

REPO = Path(__file__).resolve().parent.parent
GET_OIDS = [parse_oid(o) for o in (
    "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.2.2.1.8.1", "1.3.6.1.2.1.2.2.1.10.1",
)]
BULK_START = parse_oid("1.3.6.1.2.1.2.2.1")
BULK_REPETITIONS = 25
PHASE_LIMIT_S = 60.0
REPLY_TIMEOUT_S = 1.0


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Outcome:
    answered: int
    lost: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[None]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            rid = decode_message(data).pdu.request_id
        except BerError:
            return
        fut = self.waiting.pop(rid, None)
        if fut is not None and not fut.done():
            fut.set_result(None)


async def load(hosts: list[str], port: int, tag: int, requests: int, window: int) -> Outcome:
    """Send ``requests`` requests with ``window`` in flight; count answers."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        _Client, local_addr=("127.0.0.1", 0))
    rng = random.Random(1)
    next_id = iter(range(1, 2**31))
    answered = lost = 0
    remaining = requests

    def request(rid: int) -> bytes:
        if tag == GET:
            pdu = Pdu(GET, rid, 0, 0, [(oid, NULL) for oid in GET_OIDS])
        else:
            pdu = Pdu(GETBULK, rid, 0, BULK_REPETITIONS, [(BULK_START, NULL)])
        return encode_message(Message(1, b"public", pdu))

    async def worker() -> None:
        nonlocal answered, lost, remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            rid = next(next_id)
            fut: asyncio.Future[None] = loop.create_future()
            client.waiting[rid] = fut
            transport.sendto(request(rid), (rng.choice(hosts), port))
            try:
                await asyncio.wait_for(fut, REPLY_TIMEOUT_S)
                answered += 1
            except TimeoutError:
                client.waiting.pop(rid, None)
                lost += 1

    start = time.perf_counter()
    deadline = start + PHASE_LIMIT_S
    try:
        await asyncio.gather(*(worker() for _ in range(window)))
    finally:
        transport.close()
    return Outcome(answered, lost, time.perf_counter() - start)


async def _wait_answering(host: str, port: int) -> None:
    for _ in range(100):  # up to ~10 s
        if (await load([host], port, GET, 1, 1)).answered:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no SNMP answer from {host}:{port}")


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def start_fleet(modems: int) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port(socket.SOCK_DGRAM)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "linewatch.cli", "lab", "fleet", "--modems", str(modems),
        "--nodes", str(max(modems // 250, 1)), "--port", str(port),
        "--control", f"127.0.0.1:{free_port(socket.SOCK_STREAM)}",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc, port


async def start_snmpd(binary: str, workdir: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port(socket.SOCK_DGRAM)
    conf = workdir / "snmpd.conf"
    conf.write_text(f"agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n")
    proc = await asyncio.create_subprocess_exec(
        binary, "-f", "-Lo", "-C", "-c", str(conf),
        "-p", str(workdir / "snmpd.pid"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return proc, port


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def snmpd_path() -> str | None:
    return shutil.which("snmpd") or next(
        (p for p in ("/usr/sbin/snmpd", "/usr/local/sbin/snmpd") if Path(p).exists()), None)


async def run(args: argparse.Namespace, snmpd_binary: str) -> int:

    results: dict[str, dict[str, Outcome]] = {"GET": {}, "GETBULK": {}}
    fleet_rss = None
    with tempfile.TemporaryDirectory(prefix="lw-bench-fleet-") as tmp:
        fleet, fleet_port = await start_fleet(args.modems)
        snmpd, snmpd_port = await start_snmpd(snmpd_binary, Path(tmp))
        try:
            hosts = [str(ipaddress_at(i)) for i in range(args.modems)]
            await _wait_answering(hosts[0], fleet_port)
            await _wait_answering("127.0.0.1", snmpd_port)
            for name, tag in (("GET", GET), ("GETBULK", GETBULK)):
                results[name]["fleet"] = await load(hosts, fleet_port, tag, args.requests,
                                                    args.window)
                results[name]["snmpd"] = await load(["127.0.0.1"], snmpd_port, tag,
                                                    args.requests, args.window)
            fleet_rss = rss_mib(fleet.pid)
        finally:
            await stop(fleet)
            await stop(snmpd)

    print(f"fleet simulator vs net-snmp snmpd — {args.requests} requests per kind, "
          f"window {args.window}, fleet of {args.modems} modems (random modem per request)")
    print(f"{'request':<22} {'fleet resp/s':>13} {'snmpd resp/s':>13} {'ratio':>7} {'lost':>10}")
    for name, label in (("GET", "GET 4 varbinds"),
                        ("GETBULK", f"GETBULK x{BULK_REPETITIONS} ifTable")):
        f, s = results[name]["fleet"], results[name]["snmpd"]
        ratio = f.per_second / s.per_second if s.per_second else float("nan")
        print(f"{label:<22} {f.per_second:>13.0f} {s.per_second:>13.0f} {ratio:>6.2f}x "
              f"{f.lost:>4}/{s.lost:<5}")
    if fleet_rss is not None:
        print(f"fleet process RSS after the run: {fleet_rss:.0f} MiB for {args.modems} modems")
    return 0


def ipaddress_at(index: int) -> str:
    """Modem ``index`` of a fleet at the default base address 127.20.0.0."""
    n = (127 << 24) + (20 << 16) + 1 + index
    return socket.inet_ntoa(n.to_bytes(4, "big"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000, help="per kind and server (4000)")
    ap.add_argument("--modems", type=int, default=100_000)
    ap.add_argument("--window", type=int, default=32, help="requests in flight (32)")
    args = ap.parse_args(argv)
    binary = snmpd_path()
    if binary is None:
        print("snmpd not installed (Debian `snmpd`): no peer to compare with", file=sys.stderr)
        return 2
    return asyncio.run(run(args, binary))


if __name__ == "__main__":
    sys.exit(main())
