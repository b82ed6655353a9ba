"""One UDP socket answering for every modem address, via IP_PKTINFO.

``recvmsg`` tells which 127.x.y.z a request was sent to (the modem), and
``sendmsg`` with IP_PKTINFO makes the reply come *from* that address, so one
socket serves 100,000 addresses with no per-address bind. asyncio's datagram
endpoints hide ancillary data, hence a non-blocking socket on ``add_reader``.
Any 127.0.0.0/8 address reaches ``lo`` on Linux without configuration.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

log = logging.getLogger(__name__)

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python 3.11 lacks the name
_PKTINFO = struct.Struct("=i4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr (struct in_pktinfo)
_ANC_SIZE = socket.CMSG_SPACE(_PKTINFO.size)
_BURST = 256  # datagrams read per wake-up before yielding to other tasks
MAX_DATAGRAM = 65535

# (payload, destination IPv4 as int) -> reply or None (no answer)
Handler = Callable[[bytes, int], bytes | None]


class PktinfoUdpServer:
    """Receives on host:port, hands each datagram to ``handler``, replies from its destination."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self._handler = handler
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
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
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
        for _ in range(_BURST):
            try:
                data, anc, _flags, peer = sock.recvmsg(MAX_DATAGRAM, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors queued on the socket
                self.receive_errors += 1
                log.debug("recvmsg failed: %s", exc)
                return
            dst = b""
            for level, kind, cdata in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(cdata) >= 12:
                    dst = _PKTINFO.unpack_from(cdata)[2]
            if not dst:
                self.receive_errors += 1
                continue
            reply = self._handler(data, int.from_bytes(dst, "big"))
            if reply is None:
                continue
            try:
                sock.sendmsg(
                    [reply],
                    [(socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(0, dst, b"\0\0\0\0"))],
                    0,
                    peer,
                )
            except OSError as exc:  # full buffer, peer gone: a lost reply, like real UDP
                self.send_errors += 1
                log.debug("sendmsg to %s failed: %s", peer, exc)
