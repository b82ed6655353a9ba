"""On-demand path checks: traceroute, path MTU and a TCP port check.

scapy crafts the packets (TTL-limited and DF-set ICMP echoes) because the
stdlib cannot read the ICMP errors routers send back. scapy is blocking and
keeps global state, so its work runs in a thread (``asyncio.to_thread``),
one run at a time, on a raw IP socket (``L3RawSocket``) that uses the
kernel's routes and neighbour table — no stale scapy route/ARP cache when
namespaces and veths come and go. Too slow for bulk reachability (see
../shared/PEERS.md: ~500 pings/s batched); that is ``probes.ping``'s job.

IPv6 targets (issue 16) take the same steps with ICMPv6: hop limit instead of
TTL, Packet Too Big (with the next MTU) instead of fragmentation needed, a
1280-octet floor, and the source address asked of the kernel's routes.

The TCP check is a plain ``asyncio.open_connection``: the kernel's connect
already is SYN -> SYN/ACK (open) or RST (closed), needs no root, and avoids
the local kernel resetting a handshake scapy started behind its back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from probes.model import PathHop, PathResult, ProbeError, Target
from probes.resolve import Resolver, Unresolved, default_resolver

log = logging.getLogger(__name__)

MAX_HOPS = 64
MIN_MTU = 68  # RFC 791: every IPv4 link carries 68 octets
_MAX_MTU = 9000
_MTU_STEPS = 20
_IP_MTU = 14  # linux/in.h getsockopt: the route's (path) MTU
_ICMP_IP_OVERHEAD = 28  # 20 IPv4 + 8 ICMP header
# IPv6 (issue 16): every link carries 1280 (RFC 8200); routers never fragment but
# answer ICMPv6 Packet Too Big with the next MTU; 40 IPv6 + 8 ICMPv6 header.
MIN_MTU6 = 1280
_ICMP6_IP_OVERHEAD = 48
_IPV6_MTU = 24  # linux/in6.h getsockopt: the route's (path) MTU
# ICMPv6 types as their ICMPv4 equivalents, so one path logic serves both families:
# echo reply 129 -> 0, destination unreachable 1 -> 3, time exceeded 3 -> 11.
_V6_AS_V4 = {129: 0, 1: 3, 3: 11}
_SCAPY_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Trace:
    hops: list[PathHop]
    reached: bool


QUERIES_PER_HOP = 3  # traceroute(8)'s default


def _path_known(by_ttl: dict[int, tuple[str, float, int]], addr: str, max_hops: int) -> bool:
    """Every TTL up to the end of the path answered (destination or unreachable)."""
    for ttl in range(1, max_hops + 1):
        seen = by_ttl.get(ttl)
        if seen is None:
            return False
        src, _, icmp_type = seen
        if (icmp_type == 0 and src == addr) or icmp_type == 3:
            return True
    return False


def _scapy() -> Any:
    """Import scapy lazily (about a second) and quietly, in the worker thread."""
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    logging.getLogger("scapy.loading").setLevel(logging.ERROR)
    import scapy.all as scapy

    scapy.conf.verb = 0
    return scapy


def _traceroute(addr: str, max_hops: int, timeout_s: float) -> _Trace:
    """Rounds of ICMP echoes with TTL 1..max_hops; replies say who is where.

    Like traceroute(8), up to QUERIES_PER_HOP probes per TTL: routers rate-limit
    ICMP time-exceeded (Linux icmp_ratelimit), so one lost answer must not make
    a hop look silent. Later rounds only re-ask the TTLs still unanswered.
    """
    sc = _scapy()
    v6 = ":" in addr
    by_ttl: dict[int, tuple[str, float, int]] = {}
    for _ in range(QUERIES_PER_HOP):
        wanted = [ttl for ttl in range(1, max_hops + 1) if ttl not in by_ttl]
        if _path_known(by_ttl, addr, max_hops) or not wanted:
            break
        ident = random.randrange(1, 0xFFFF)
        if v6:
            src = _source6(addr)
            probes = [sc.IPv6(src=src, dst=addr, hlim=ttl) / sc.ICMPv6EchoRequest(id=ident, seq=ttl)
                      for ttl in wanted]
        else:
            probes = [
                sc.IP(dst=addr, ttl=ttl, id=random.randrange(0xFFFF)) / sc.ICMP(id=ident, seq=ttl)
                for ttl in wanted
            ]
        with _SCAPY_LOCK:
            sock = sc.L3RawSocket6() if v6 else sc.L3RawSocket()
            try:
                answered, _ = sock.sr(probes, timeout=timeout_s, verbose=0)
            finally:
                sock.close()
        for sent, reply in answered:
            rtt_ms = max(0.0, (float(reply.time) - float(sent.sent_time)) * 1000.0)
            if v6:
                if sc.IPv6 not in reply:
                    continue
                kind = _V6_AS_V4.get(int(reply[sc.IPv6].payload.type), -1)
                if kind >= 0:
                    by_ttl[int(sent.hlim)] = (str(reply[sc.IPv6].src), rtt_ms, kind)
                continue
            if sc.ICMP not in reply:
                continue
            by_ttl[int(sent.ttl)] = (str(reply[sc.IP].src), rtt_ms, int(reply[sc.ICMP].type))
    hops: list[PathHop] = []
    reached = False
    for ttl in range(1, max_hops + 1):
        seen = by_ttl.get(ttl)
        if seen is None:
            hops.append(PathHop(ttl=ttl))
            continue
        src, rtt_ms, icmp_type = seen
        hops.append(PathHop(ttl=ttl, address=src, rtt_ms=rtt_ms))
        if icmp_type == 0 and src == addr:  # echo reply: destination reached
            reached = True
            break
        if icmp_type == 3:  # unreachable: the path ends at this hop
            break
    # Trailing silence after the last answer carries no information.
    while hops and hops[-1].address is None:
        hops.pop()
    return _Trace(hops=hops, reached=reached)


def _source6(addr: str) -> str:
    """Our IPv6 source toward ``addr``, from the kernel's routes now: scapy's own
    IPv6 route table is a snapshot taken at import, blind to links made since."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        try:
            s.connect((addr, 9))  # routes only; sends nothing
            return str(s.getsockname()[0])
        except OSError:
            return "::"


def _route_mtu(addr: str) -> int:
    """The kernel's MTU toward ``addr`` (device MTU or a cached path MTU)."""
    v6 = ":" in addr
    with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((addr, 9))  # UDP connect sends nothing; it only routes
            if v6:
                return max(MIN_MTU6, min(_MAX_MTU, s.getsockopt(socket.IPPROTO_IPV6, _IPV6_MTU)))
            return max(MIN_MTU, min(_MAX_MTU, s.getsockopt(socket.IPPROTO_IP, _IP_MTU)))
        except OSError:
            return 1500


def _mtu_probe(
    sc: Any, sock: Any, addr: str, size: int, timeout_s: float
) -> tuple[str, int | None]:
    """One DF-set echo of ``size`` bytes: ("ok"|"too_big"|"lost"|"unreachable", hint)."""
    if ":" in addr:
        return _mtu_probe6(sc, sock, addr, size, timeout_s)
    pkt = (
        sc.IP(dst=addr, flags="DF", id=random.randrange(0xFFFF))
        / sc.ICMP(id=random.randrange(1, 0xFFFF), seq=size)
        / sc.Raw(b"\x00" * (size - _ICMP_IP_OVERHEAD))
    )
    try:
        reply = sock.sr1(pkt, timeout=timeout_s, verbose=0)
    except OSError as exc:
        if exc.errno == errno.EMSGSIZE:  # larger than our own interface's MTU
            return "too_big", None
        raise
    if reply is None or sc.ICMP not in reply:
        return "lost", None
    icmp = reply[sc.ICMP]
    if icmp.type == 0:
        return "ok", None
    if icmp.type == 3 and icmp.code == 4:  # fragmentation needed (RFC 1191)
        hint = int(icmp.nexthopmtu or 0)
        return "too_big", hint if MIN_MTU <= hint < size else None
    return "unreachable", None


def _mtu_probe6(
    sc: Any, sock: Any, addr: str, size: int, timeout_s: float
) -> tuple[str, int | None]:
    """``_mtu_probe`` for IPv6: routers never fragment, they answer Packet Too Big."""
    # The payload in the echo's own ``data`` field: scapy matches a reply by it.
    pkt = sc.IPv6(src=_source6(addr), dst=addr) / sc.ICMPv6EchoRequest(
        id=random.randrange(1, 0xFFFF), seq=size, data=b"\x00" * (size - _ICMP6_IP_OVERHEAD))
    try:
        reply = sock.sr1(pkt, timeout=timeout_s, verbose=0)
    except OSError as exc:
        if exc.errno == errno.EMSGSIZE:
            return "too_big", None
        raise
    if reply is None or sc.IPv6 not in reply:
        return "lost", None
    icmp = reply[sc.IPv6].payload
    if icmp.type == 129:
        return "ok", None
    if icmp.type == 2:  # packet too big (RFC 4443 3.2, RFC 8201)
        hint = int(icmp.mtu or 0)
        return "too_big", hint if MIN_MTU6 <= hint < size else None
    return "unreachable", None


def _path_mtu(addr: str, timeout_s: float) -> int | None:
    """Largest DF echo that gets through: start at the route MTU, follow
    "fragmentation needed" / "packet too big" hints, binary-search where routers
    stay silent."""
    sc = _scapy()
    v6 = ":" in addr
    floor = MIN_MTU6 if v6 else MIN_MTU
    lo, hi = 0, _route_mtu(addr)  # lo: largest size known to pass
    size, hinted = hi, False
    with _SCAPY_LOCK:
        sock = sc.L3RawSocket6() if v6 else sc.L3RawSocket()
        try:
            for _ in range(_MTU_STEPS):
                status, hint = _mtu_probe(sc, sock, addr, size, timeout_s)
                if status == "lost":  # one retry: loss must not shrink the MTU
                    status, hint = _mtu_probe(sc, sock, addr, size, timeout_s)
                if status == "unreachable":
                    return None
                if status == "ok":
                    lo = size
                    if hinted:  # a router named this MTU and it passes: done
                        hi = size
                else:
                    hi = size - 1
                if lo >= hi or hi < floor:
                    break
                if hint is not None and lo < hint <= hi:
                    size, hinted = hint, True
                else:
                    size, hinted = max(floor, (lo + hi + 1) // 2), False
        finally:
            sock.close()
    return lo or None


async def _tcp_check(addr: str, port: int, timeout_s: float) -> bool | None:
    """True: handshake completed; False: refused (RST); None: no answer."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(addr, port), timeout_s)
    except ConnectionRefusedError:
        return False
    except (TimeoutError, OSError):
        return None
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    return True


class PathProbe:
    """Traceroute + path MTU (+ TCP port when asked) toward the target.

    ``timeout_s`` is the wait for replies of each step (the traceroute round,
    each MTU probe, the TCP connect); a run takes at most about
    ``(2 + 2 * 20) * timeout_s`` even against a black hole.
    """

    kind = "path"

    def __init__(
        self,
        max_hops: int = 16,
        tcp_port: int | None = None,
        timeout_s: float = 2.0,
        measure_mtu: bool = True,
        resolver: Resolver | None = None,
    ) -> None:
        if not 1 <= max_hops <= MAX_HOPS:
            raise ValueError(f"max_hops must be 1..{MAX_HOPS}")
        if tcp_port is not None and not 1 <= tcp_port <= 65535:
            raise ValueError("tcp_port must be 1..65535")
        if not 0.05 <= timeout_s <= 30.0:
            raise ValueError("timeout_s must be 0.05..30")
        self.max_hops = max_hops
        self.tcp_port = tcp_port
        self.timeout_s = timeout_s
        self.measure_mtu = measure_mtu
        self.resolver = resolver or default_resolver()

    async def start(self) -> None:
        """Nothing long-lived; scapy sockets live for one run."""

    async def aclose(self) -> None:
        """Nothing to release."""

    async def run(self, target: Target) -> PathResult | ProbeError:
        if os.geteuid() != 0:
            return ProbeError(kind="config", message="path checks need root")
        try:
            addr = (await self.resolver.resolve(target.host))[1]
        except Unresolved as exc:
            return ProbeError(kind="unresolved", message=str(exc)[:2048])
        started = time.monotonic()
        try:
            trace = await asyncio.to_thread(_traceroute, addr, self.max_hops, self.timeout_s)
            tcp_open = (
                await _tcp_check(addr, self.tcp_port, self.timeout_s)
                if self.tcp_port is not None
                else None
            )
            mtu = (
                await asyncio.to_thread(_path_mtu, addr, self.timeout_s)
                if self.measure_mtu and trace.reached
                else None
            )
        except OSError as exc:
            return ProbeError(kind="internal", message=f"path check to {addr}: {exc}")
        log.debug("path check %s took %.2fs", addr, time.monotonic() - started)
        answered = [h for h in trace.hops if h.address is not None]
        return PathResult(
            hops=trace.hops,
            last_responding_hop=answered[-1].address if answered else None,
            reached=trace.reached,
            path_mtu=mtu,
            tcp_port=self.tcp_port,
            tcp_open=tcp_open,
        )

