"""One shared asyncio UDP socket for all SNMP v1/v2c requests.

Why: 100k targets and thousands of outstanding requests must not cost a socket
or a sleeping task each. Requests are futures keyed by request-id; a timer
(``loop.call_later``) per outstanding request resends or fails it. Answers
from the wrong address or with unknown request-ids are counted and dropped.

ICMP port-unreachable: Linux reports it on an unconnected socket only with
IP_RECVERR, and then only via the error queue, which names the destination;
we read it there and fail that destination's requests with ``refused``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

from probes.snmp.ber import (
    GETBULK,
    OID,
    BerError,
    Message,
    Pdu,
    Value,
    decode_message,
    encode_message,
)
from probes.snmp.templates import TemplateCache

_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
_SO_EE_ORIGIN_ICMP = 2
_ICMP_PORT_UNREACH = (3, 3)  # type destination-unreachable, code port-unreachable


class SnmpRequestError(Exception):
    """A request that got no usable answer; ``kind`` is a ProbeError kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Pdu]
    addr: tuple[str, int]
    datagram: bytes
    tries_left: int
    timeout_s: float
    timer: asyncio.TimerHandle | None = None
    garbage_seen: bool = False


@dataclass
class TransportStats:
    sent: int = 0
    received: int = 0
    retries: int = 0
    timeouts: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> count


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.owner._on_error(exc)


class UdpTransport:
    """Send SNMP v1/v2c requests over one shared UDP socket; ``request`` awaits the answer."""

    def __init__(self, *, family: int = socket.AF_INET) -> None:
        self.family = family
        self.stats = TransportStats()
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resolved: dict[str, str] = {}
        self._sock: socket.socket | None = None
        self.templates = TemplateCache()

    async def start(self) -> None:
        if self._transport is not None:
            return
        self._loop = asyncio.get_running_loop()
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(("::" if self.family == socket.AF_INET6 else "0.0.0.0", 0))
            if self.family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        except OSError:
            pass  # buffer sizes / RECVERR are best effort
        transport, _ = await self._loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport
        self._sock = sock  # asyncio's wrapper hides recvmsg, needed for the error queue

    async def aclose(self) -> None:
        for pending in list(self._pending.values()):
            if pending.timer:
                pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(SnmpRequestError("internal", "transport closed"))
                pending.future.exception()  # mark retrieved
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    async def resolve(self, host: str) -> str:
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        cached = self._resolved.get(host)
        if cached:
            return cached
        assert self._loop is not None
        try:
            infos = await self._loop.getaddrinfo(
                host, None, family=self.family, type=socket.SOCK_DGRAM
            )
        except OSError as exc:
            raise SnmpRequestError("unreachable", f"cannot resolve host: {exc}") from None
        address = str(infos[0][4][0])
        self._resolved[host] = address
        return address

    def _next_id(self) -> int:
        while True:
            rid = next(self._ids) & 0x7FFFFFFF
            if rid == 0x7FFFFFFF:
                self._ids = itertools.count(1)
            if rid and rid not in self._pending:
                return rid

    async def request(
        self,
        addr: tuple[str, int],
        version: int,
        community: bytes,
        tag: int,
        varbinds: list[tuple[OID, Value]],
        *,
        non_repeaters: int = 0,
        max_repetitions: int = 0,
        timeout_s: float = 2.0,
        retries: int = 1,
    ) -> Pdu:
        """Send one request to ``addr`` (an IP literal) and return the response PDU."""
        if self._transport is None or self._loop is None:
            raise SnmpRequestError("internal", "transport not started")
        rid = self._next_id()
        es, ei = (non_repeaters, max_repetitions) if tag == GETBULK else (0, 0)
        try:
            datagram = encode_message(Message(version, community, Pdu(tag, rid, es, ei, varbinds)))
        except BerError as exc:
            raise SnmpRequestError("config", f"cannot encode request: {exc}") from None
        return await self._exchange(rid, addr, datagram, timeout_s, retries)

    async def request_oids(
        self,
        addr: tuple[str, int],
        version: int,
        community: bytes,
        tag: int,
        oids: tuple[OID, ...],
        *,
        non_repeaters: int = 0,
        max_repetitions: int = 0,
        timeout_s: float = 2.0,
        retries: int = 1,
    ) -> Pdu:
        """``request`` for a GET/GETNEXT/GETBULK of ``oids`` (NULL values), sent from a
        pre-encoded template with only the request-id patched (the poller's hot path)."""
        if self._transport is None or self._loop is None:
            raise SnmpRequestError("internal", "transport not started")
        try:
            tpl = self.templates.get(version, community, tag, oids, non_repeaters,
                                     max_repetitions)
        except BerError as exc:
            raise SnmpRequestError("config", f"cannot encode request: {exc}") from None
        rid = self._next_id()
        return await self._exchange(rid, addr, tpl.build(rid), timeout_s, retries)

    async def _exchange(
        self, rid: int, addr: tuple[str, int], datagram: bytes, timeout_s: float, retries: int
    ) -> Pdu:
        assert self._loop is not None
        future: asyncio.Future[Pdu] = self._loop.create_future()
        pending = _Pending(future, addr, datagram, retries, timeout_s)
        self._pending[rid] = pending
        self._send(rid, pending)
        try:
            return await future
        finally:
            if pending.timer:
                pending.timer.cancel()
            self._pending.pop(rid, None)

    def _send(self, rid: int, pending: _Pending) -> None:
        assert self._transport is not None and self._loop is not None
        try:
            self._transport.sendto(pending.datagram, pending.addr)
            self.stats.sent += 1
        except OSError as exc:  # e.g. network unreachable
            if not pending.future.done():
                pending.future.set_exception(SnmpRequestError("unreachable", str(exc)))
            return
        pending.timer = self._loop.call_later(pending.timeout_s, self._on_timeout, rid)

    def _on_timeout(self, rid: int) -> None:
        pending = self._pending.get(rid)
        if pending is None or pending.future.done():
            return
        if pending.tries_left > 0:
            pending.tries_left -= 1
            self.stats.retries += 1
            self._send(rid, pending)
            return
        self.stats.timeouts += 1
        if pending.garbage_seen:
            pending.future.set_exception(
                SnmpRequestError("decode", "only unparsable answers from the agent")
            )
        else:
            pending.future.set_exception(SnmpRequestError("timeout", "no answer"))

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.received += 1
        src = (addr[0], addr[1])
        try:
            msg = decode_message(data)
        except BerError:
            self.stats.dropped["decode"] += 1
            for pending in self._pending.values():
                if pending.addr == src:
                    pending.garbage_seen = True
            return
        pending = self._pending.get(msg.pdu.request_id)
        if pending is None:
            self.stats.dropped["unknown_request_id"] += 1
            return
        if pending.addr != src:
            self.stats.dropped["wrong_source"] += 1
            return
        if msg.pdu.tag != 0xA2:  # RESPONSE
            self.stats.dropped["not_a_response"] += 1
            return
        if not pending.future.done():
            pending.future.set_result(msg.pdu)

    def _on_error(self, exc: Exception) -> None:
        sock = self._sock
        if not isinstance(exc, ConnectionRefusedError) or sock is None:
            self.stats.dropped["socket_error"] += 1
            return
        for _ in range(64):  # bounded drain of the error queue
            try:
                _, ancdata, _, dest = sock.recvmsg(512, 512, _MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError, OSError):
                break
            if not _is_port_unreachable(ancdata):
                continue
            target = (dest[0], dest[1])
            for pending in self._pending.values():
                if pending.addr == target and not pending.future.done():
                    pending.future.set_exception(
                        SnmpRequestError("refused", "ICMP port unreachable")
                    )


def _is_port_unreachable(ancdata: list[tuple[int, int, bytes]]) -> bool:
    for level, kind, blob in ancdata:
        if level == socket.IPPROTO_IP and kind == _IP_RECVERR and len(blob) >= 16:
            # struct sock_extended_err { u32 errno; u8 origin, type, code, pad; ... }
            _errno, origin, icmp_type, icmp_code = struct.unpack_from("=IBBB", blob)
            if origin == _SO_EE_ORIGIN_ICMP and (icmp_type, icmp_code) == _ICMP_PORT_UNREACH:
                return True
    return False
