"""One UDP socket answering for every modem address, via IP_PKTINFO.

``recvmsg`` tells which 127.x.y.z a request was sent to (the modem), and
``sendmsg`` with IP_PKTINFO makes the reply come *from* that address, so one
socket serves 100,000 addresses with no per-address bind. asyncio's datagram
endpoints hide ancillary data, hence a non-blocking socket on ``add_reader``.
Any 127.0.0.0/8 address reaches ``lo`` on Linux without configuration.

IPv6 (issue 16) works the same with IPV6_RECVPKTINFO / IPV6_PKTINFO, on a
range made local by an AnyIP route (``ip -6 route add local PREFIX dev lo``,
in a namespace of the test's own); IP_FREEBIND lets the reply come from an
address of that range, which no interface holds.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python 3.11 lacks the name
_PKTINFO = struct.Struct("=i4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr (struct in_pktinfo)
_ANC_SIZE = socket.CMSG_SPACE(_PKTINFO.size)
_SOL_IPV6 = getattr(socket, "SOL_IPV6", 41)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
_PKTINFO6 = struct.Struct("=16sI")  # ipi6_addr, ipi6_ifindex (struct in6_pktinfo)
_ANC_SIZE6 = socket.CMSG_SPACE(_PKTINFO6.size)
_BURST = 256  # datagrams read per wake-up before yielding to other tasks
MAX_DATAGRAM = 65535



@dataclass(frozen=True)
class _Pktinfo:
    """Where a family's packet-info control message says the destination, and
    how a reply names its source: the only difference between IPv4 and IPv6."""

    level: int
    kind: int
    size: int
    anc_size: int
    destination: Callable[[bytes], bytes]
    source: Callable[[bytes], bytes]


_PKTINFO_BY_FAMILY = {
    socket.AF_INET: _Pktinfo(
        socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.size, _ANC_SIZE,
        lambda cdata: _PKTINFO.unpack_from(cdata)[2],  # ipi_addr
        lambda dst: _PKTINFO.pack(0, dst, b"\0\0\0\0"),  # ipi_spec_dst: reply from dst
    ),
    socket.AF_INET6: _Pktinfo(
        _SOL_IPV6, _IPV6_PKTINFO, _PKTINFO6.size, _ANC_SIZE6,
        lambda cdata: _PKTINFO6.unpack_from(cdata)[0],  # ipi6_addr
        lambda dst: _PKTINFO6.pack(dst, 0),
    ),
}

# (payload, destination address as int: IPv4, or IPv6 on an IPv6 server) -> reply or None
Handler = Callable[[bytes, int], bytes | None]


class PktinfoUdpServer:
    """Receives on host:port, hands each datagram to ``handler``, replies from its destination."""

    def __init__(
        self, handler: Handler, host: str, port: int, family: int = socket.AF_INET
    ) -> None:
        self._handler = handler
        self._family = family
        self._host = host
        self._port = port
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.send_errors = 0
        self.receive_errors = 0

    @property
    def port(self) -> int:
        if self._sock is None:
            return self._port
        return self._sock.getsockname()[1]

    async def start(self) -> None:
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            if self._family == socket.AF_INET6:
                sock.setsockopt(_SOL_IPV6, _IPV6_RECVPKTINFO, 1)
                sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
                # Beside the IPv4 socket on the same port: IPv6 only.
                sock.setsockopt(_SOL_IPV6, socket.IPV6_V6ONLY, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setblocking(False)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._on_readable)

    async def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        pkt = _PKTINFO_BY_FAMILY[self._family]
        for _ in range(_BURST):
            try:
                data, anc, _flags, peer = sock.recvmsg(MAX_DATAGRAM, pkt.anc_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors queued on the socket
                self.receive_errors += 1
                log.debug("recvmsg failed: %s", exc)
                return
            dst = b""
            for level, kind, cdata in anc:
                if level == pkt.level and kind == pkt.kind and len(cdata) >= pkt.size:
                    dst = pkt.destination(cdata)
            if not dst:
                self.receive_errors += 1
                continue
            reply = self._handler(data, int.from_bytes(dst, "big"))
            if reply is None:
                continue
            try:
                sock.sendmsg([reply], [(pkt.level, pkt.kind, pkt.source(dst))], 0, peer)
            except OSError as exc:  # full buffer, peer gone: a lost reply, like real UDP
                self.send_errors += 1
                log.debug("sendmsg to %s failed: %s", peer, exc)
