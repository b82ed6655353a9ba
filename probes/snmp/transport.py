"""One shared asyncio UDP socket for all SNMP v1/v2c requests.

Why: 100k targets and thousands of outstanding requests must not cost a socket
or a sleeping task each. Requests are futures keyed by request-id; a timer
(``loop.call_later``) per outstanding request resends or fails it. Answers
from the wrong address or with unknown request-ids are counted and dropped.

Kernel errors: Linux reports ICMP errors (port/host/net unreachable,
admin-prohibited, fragmentation needed) on an unconnected socket only with
IP_RECVERR, through the error queue, which names the original destination;
we read it there and fail that destination's requests (``refused`` for port
unreachable, ``unreachable`` for the rest). The socket is never handed to
the event loop (``probes/netio.py`` says why: uvloop crashed on exactly
these errors); a send that fails is charged to its own destination only
after the socket's pending error, which may belong to another, is consumed.
A socket that fails outright is reopened and the requests on it end with an
``internal`` error.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import logging
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from probes.netio import (
    ReadinessWatch,
    classify_errno,
    drain_errqueue,
    enable_recverr,
)
from probes.resolve import sockaddr
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

log = logging.getLogger(__name__)

_RECV_BATCH = 256  # datagrams per wake-up, so one flood cannot starve the loop
_ERR_BATCH = 256  # queued kernel errors per wake-up
_BUSY_RETRY_S = 0.02  # resend delay after ENOBUFS/EAGAIN (a full send buffer or qdisc)
# Errors from sendto/recvfrom that say the socket itself is broken, not a destination.
_SOCKET_BROKEN = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EINVAL, errno.EFAULT})


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
    busy_until: float = 0.0  # while the kernel has no buffer: resend until then
    dest: tuple[str, int] | tuple[str, int, int, int] | None = None  # zoned: sendto's form


@dataclass
class TransportStats:
    sent: int = 0
    received: int = 0
    retries: int = 0
    timeouts: int = 0
    reopens: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> count
    # Kernel-reported errors by kind (probes.netio.ERROR_KINDS): the agent's metrics.
    net_errors: Counter[str] = field(default_factory=Counter)


class UdpTransport:
    """Send SNMP v1/v2c requests over one shared UDP socket; ``request`` awaits the answer."""

    def __init__(self, *, family: int = socket.AF_INET) -> None:
        self.family = family
        self.stats = TransportStats()
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resolved: dict[str, str] = {}
        self._sock: socket.socket | None = None
        self._watch: ReadinessWatch | None = None
        self.templates = TemplateCache()

    async def start(self) -> None:
        if self._sock is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._open()

    def _open(self) -> None:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(("::" if self.family == socket.AF_INET6 else "0.0.0.0", 0))
        except OSError:
            sock.close()
            raise
        if not enable_recverr(sock):
            log.warning("SNMP socket: IP_RECVERR refused; kernel errors will show as timeouts")
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
            except OSError:
                pass  # buffer sizes are best effort
        watch = ReadinessWatch(sock, self._on_ready)
        try:
            watch.start()
        except BaseException:
            sock.close()
            raise
        self._sock, self._watch = sock, watch

    def _close_socket(self, *, fd_gone: bool = False) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if fd_gone:
            sock.detach()  # EBADF: the number may already be someone else's; never close it
            return
        try:
            sock.close()
        except OSError:
            pass

    def _fail_all(self, kind: str, message: str) -> None:
        for pending in list(self._pending.values()):
            if pending.timer:
                pending.timer.cancel()
                pending.timer = None
            if not pending.future.done():
                pending.future.set_exception(SnmpRequestError(kind, message))
                pending.future.exception()  # mark retrieved

    def _reopen(self, exc: OSError) -> None:
        """The shared socket failed as a whole: a new one, and the polls on the old
        one end now with an error result (they cannot be answered any more)."""
        self.stats.reopens += 1
        log.error("SNMP socket failed (%s); reopening it, %d requests fail",
                  exc.strerror or exc, len(self._pending))
        self._close_socket(fd_gone=exc.errno == errno.EBADF)
        self._fail_all("internal", f"SNMP socket failed ({exc.strerror or exc}); reopened")
        try:
            self._open()
        except OSError as again:
            log.error("SNMP socket could not be reopened: %s", again)

    async def aclose(self) -> None:
        self._fail_all("internal", "transport closed")
        self._pending.clear()
        self._close_socket()

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
        if self._sock is None or self._loop is None:
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
        if self._sock is None or self._loop is None:
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
        if self.family == socket.AF_INET6 and "%" in addr[0]:  # link-local with its zone
            try:
                pending.dest = sockaddr(addr[0], addr[1])
            except OSError as exc:
                raise SnmpRequestError("config", f"zone of {addr[0]}: {exc}") from None
        self._pending[rid] = pending
        self._send(rid, pending)
        try:
            return await future
        finally:
            if pending.timer:
                pending.timer.cancel()
            self._pending.pop(rid, None)

    def _send(self, rid: int, pending: _Pending) -> None:
        assert self._loop is not None
        sock = self._sock
        if sock is None:
            self._fail(pending, "internal", "SNMP socket is closed")
            return
        dest = pending.dest or pending.addr
        try:
            sock.sendto(pending.datagram, dest)
        except OSError:
            # The socket's pending error (an ICMP error for *any* destination) is
            # reported by the next send, whichever it is. That read consumed it
            # (its queued copy names the real destination): try once more, and only
            # an error that repeats belongs to this destination.
            try:
                sock.sendto(pending.datagram, dest)
            except OSError as again:
                self._send_failed(rid, pending, again)
                return
        self.stats.sent += 1
        pending.timer = self._loop.call_later(pending.timeout_s, self._on_timeout, rid)

    def _send_failed(self, rid: int, pending: _Pending, exc: OSError) -> None:
        assert self._loop is not None
        if exc.errno in _SOCKET_BROKEN:
            self._reopen(exc)
            return
        found = classify_errno(exc.errno)
        if found.result is not None:
            # A local firewall's reject fails the send *and* queues the ICMP error it
            # made, which says more (admin-prohibited vs port unreachable): read it
            # first; only without one is the bare errno the answer.
            self._on_kernel_errors()
            if not pending.future.done():
                self.stats.net_errors[found.kind] += 1
                self._fail(pending, found.result, f"{found.message} (sending)")
            return
        self.stats.net_errors[found.kind] += 1
        # No buffer space / would block / EMSGSIZE: not the target's answer. Resend
        # shortly, within the request's own timeout; then it is "busy".
        now = self._loop.time()
        if not pending.busy_until:
            pending.busy_until = now + pending.timeout_s
        if now >= pending.busy_until:
            self._fail(pending, "busy", f"{found.message}: could not send within the timeout")
            return
        pending.timer = self._loop.call_later(_BUSY_RETRY_S, self._resend, rid)

    def _resend(self, rid: int) -> None:
        pending = self._pending.get(rid)
        if pending is not None and not pending.future.done():
            self._send(rid, pending)

    @staticmethod
    def _fail(pending: _Pending, kind: str, message: str) -> None:
        if not pending.future.done():
            pending.future.set_exception(SnmpRequestError(kind, message))

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

    def _on_ready(self, readable: bool, error: bool) -> None:
        if error:
            self._on_kernel_errors()
        self._receive()

    def _receive(self) -> None:
        for _ in range(_RECV_BATCH):
            sock = self._sock
            if sock is None:
                return
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _SOCKET_BROKEN:
                    self._reopen(exc)
                    return
                # The socket's pending ICMP error, reported once here; its queued
                # copy (read in _on_kernel_errors) says whose it is.
                continue
            self._on_datagram(data, addr)

    def _on_kernel_errors(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for dest, found, _payload in drain_errqueue(sock, _ERR_BATCH):
            self.stats.net_errors[found.kind] += 1
            if found.result is None:
                continue  # e.g. fragmentation needed: the kernel now fragments the resend
            for pending in self._pending.values():
                if (pending.addr == dest or (pending.dest is not None
                                             and pending.dest[:2] == dest)) \
                        and not pending.future.done():  # (a link-local one: no zone in dest)
                    pending.future.set_exception(SnmpRequestError(found.result, found.message))

    @staticmethod
    def _zoned_match(pending: _Pending, addr: tuple[Any, ...]) -> bool:
        """A link-local answer: recvfrom names its source without the zone, which
        is in the scope id (the fourth field) instead."""
        dest = pending.dest
        return (dest is not None and len(dest) == 4 and len(addr) == 4
                and addr[0] == dest[0] and addr[1] == dest[1] and addr[3] == dest[3])

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
        if pending.addr != src and not self._zoned_match(pending, addr):
            self.stats.dropped["wrong_source"] += 1
            return
        if msg.pdu.tag != 0xA2:  # RESPONSE
            self.stats.dropped["not_a_response"] += 1
            return
        if not pending.future.done():
            pending.future.set_result(msg.pdu)
