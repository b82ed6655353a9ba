"""Bulk ICMP echo over one asyncio socket.

Thousands of modems are checked for reachability every few seconds, so the
probe shares one ICMP socket between all targets and demultiplexes replies by
(source address, sequence number) on the event loop (``loop.add_reader``) —
no thread and no subprocess per target. As root it opens a raw ICMP socket
(with an ICMP_FILTER so only echo replies wake us); otherwise the unprivileged
"ping socket" (SOCK_DGRAM/IPPROTO_ICMP), allowed by
``net.ipv4.ping_group_range``, where the kernel owns the identifier.

ICMP errors for our echoes (host/net unreachable, admin-prohibited, time
exceeded) end that probe at once and are counted by kind: on the raw socket
they arrive as ICMP packets quoting our echo header; on the ping socket
through the error queue (IP_RECVERR). The socket is watched through
``probes.netio.ReadinessWatch``, never handed to the loop directly (see there
why uvloop cannot be given a socket that reports errors).

Jitter is the mean absolute difference of consecutive RTTs (RFC 3550 §6.4.1
without its 1/16 smoothing, which needs an unbounded stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Final

from probes.model import PingResult, ProbeError, Target
from probes.netio import (
    KernelError,
    ReadinessWatch,
    classify_errno,
    classify_icmp,
    drain_errqueue,
    enable_recverr,
)
from probes.resolve import (
    HostError,
    Resolver,
    Unresolved,
    default_resolver,
    parse_host,
    sockaddr,
)

log = logging.getLogger(__name__)


def _compiled() -> ModuleType | None:
    """probes/_ping_fast.pyx (packing and sending an echo, batched receive), unless
    it was not built or LINEWATCH_PURE_PING=1 asks for the Python path."""
    if os.environ.get("LINEWATCH_PURE_PING", "") not in ("", "0"):
        return None
    try:
        from probes import _ping_fast
    except ImportError:
        return None
    if not all(hasattr(_ping_fast, name) for name in ("send_echo", "recv_replies", "BATCH")):
        return None  # a stale build of an older .pyx: rebuild with pip install -e .
    return _ping_fast


compiled: Final = _compiled()
"""The compiled module, or None: IcmpSocket then sends and reads in Python."""

MAX_COUNT = 10_000
MAX_HOSTS = 100_000
_ICMP_ECHO_REPLY = 0
_ICMP_DEST_UNREACH = 3
_ICMP_ECHO_REQUEST = 8
_ICMP_TIME_EXCEEDED = 11
_ICMP_FILTER = 1  # linux/icmp.h, SOL_RAW option: bitmask of types to drop
# ICMPv6 (RFC 4443): echo 128/129; errors destination unreachable 1, packet too
# big 2, time exceeded 3. ICMP6_FILTER (linux/icmpv6.h, level IPPROTO_ICMPV6):
# eight u32 words, a set bit blocks that type.
_ICMP6_ECHO_REQUEST = 128
_ICMP6_ECHO_REPLY = 129
_ICMP6_ERRORS = (1, 2, 3)
_ICMP6_FILTER = 1
_IPPROTO_ICMPV6 = getattr(socket, "IPPROTO_ICMPV6", 58)
_SOL_RAW = 255
_PAYLOAD_MAGIC = b"lwpg"
_HEADER = struct.Struct("!BBHHH")
_PAYLOAD = struct.Struct("!4sQ")  # magic, per-socket nonce of the probe
_ECHO = struct.Struct("!BBHHH4sQ")  # a whole echo request: header, then payload
_SENT, _FAILED, _WAIT = 0, 1, 2  # IcmpSocket.post's outcomes
_RETRY_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})  # full send buffer
_SOCKADDR_IN = struct.Struct("=H")  # sa_family, host order; the rest is network order

_RECV_BATCH = 256  # replies drained per wake-up, so one flood cannot starve the loop
# A read that fails so means the socket itself is gone: it is reopened.
_SOCKET_GONE = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EINVAL})
_SEND_BATCH = 256  # sends between yields (< _RECV_BATCH), so the reader keeps up
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def pack_sockaddr(family: int, dest: tuple[object, ...]) -> bytes:
    """``dest`` (a ``sockaddr()`` tuple) as the kernel's struct sockaddr_in or
    sockaddr_in6: what the compiled ``send_echo`` takes, built once per host."""
    host, port = str(dest[0]), int(dest[1])  # type: ignore[call-overload]
    if family == socket.AF_INET:
        return (_SOCKADDR_IN.pack(family) + struct.pack("!H", port)
                + socket.inet_pton(family, host) + bytes(8))
    scope = int(dest[3]) if len(dest) > 3 else 0  # type: ignore[call-overload]
    return (_SOCKADDR_IN.pack(family) + struct.pack("!HI", port, 0)
            + socket.inet_pton(family, host) + struct.pack("=I", scope))


def _checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of ``data`` (the reference for _echo_checksum)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


# The 16-bit words of an echo request that never change: type/code and the magic.
_ECHO_FIXED_SUM = (_ICMP_ECHO_REQUEST << 8) + sum(struct.unpack("!2H", _PAYLOAD_MAGIC))


def _echo_checksum(ident: int, seq: int, nonce: int) -> int:
    """The checksum of our IPv4 echo request from its variable words alone.

    Same value as ``_checksum`` over the packed packet (tests/test_ping.py
    checks it): one's-complement addition commutes, so the fixed words are
    summed once; this runs once per echo of a 10 000-host round.
    """
    total = (_ECHO_FIXED_SUM + ident + seq + (nonce >> 48) + ((nonce >> 32) & 0xFFFF)
             + ((nonce >> 16) & 0xFFFF) + (nonce & 0xFFFF))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


@dataclass
class _Tally:
    """Replies for one host within one ping call, by probe index."""

    sent: int = 0
    rtts: dict[int, float] = field(default_factory=dict)
    errors: int = 0
    error: str | None = None

    def failed(self, found: KernelError) -> None:
        self.errors += 1
        self.error = found.message

    def result(self) -> PingResult:
        if not self.rtts:
            return PingResult(sent=self.sent, received=0, errors=self.errors, error=self.error)
        if len(self.rtts) == 1:  # one echo a round, the bulk reachability check
            (rtt,) = self.rtts.values()
            return PingResult(sent=self.sent, received=1, rtt_min_ms=rtt, rtt_avg_ms=rtt,
                              rtt_max_ms=rtt, jitter_ms=0.0, errors=self.errors,
                              error=self.error)
        ordered = [self.rtts[i] for i in sorted(self.rtts)]
        jitter = (
            sum(abs(b - a) for a, b in itertools.pairwise(ordered)) / (len(ordered) - 1)
            if len(ordered) > 1
            else 0.0
        )
        return PingResult(
            sent=self.sent,
            received=len(ordered),
            rtt_min_ms=min(ordered),
            rtt_avg_ms=sum(ordered) / len(ordered),
            rtt_max_ms=max(ordered),
            jitter_ms=jitter,
            errors=self.errors,
            error=self.error,
        )


@dataclass(slots=True)
class _Pending:
    addr: str
    index: int
    sent_at: float
    nonce: int
    tally: _Tally
    call: _Call


@dataclass
class _Call:
    """One ping_many call: how many answers are still awaited, and who waits."""

    timeout_s: float
    outstanding: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


def _icmp6_filter(wanted: Iterable[int]) -> bytes:
    """An ICMP6_FILTER blocking every type but ``wanted``."""
    words = [0xFFFFFFFF] * 8
    for t in wanted:
        words[t >> 5] &= ~(1 << (t & 31)) & 0xFFFFFFFF
    return struct.pack("8I", *words)


class IcmpSocket:
    """The shared ICMP socket of one family and its reply demultiplexer.

    IPv6 differs only where the protocol does (issue 16): echo types 128/129, no
    IP header before a raw socket's ICMPv6 data, the kernel fills the checksum,
    and an ICMPv6 error quotes the 40-byte IPv6 header of our echo."""

    def __init__(self, mode: str = "auto", family: int = socket.AF_INET) -> None:
        if mode not in ("auto", "raw", "dgram"):
            raise ValueError("mode must be auto, raw or dgram")
        self.mode = mode
        self.family = family
        self.v6 = family == socket.AF_INET6
        self._echo_request = _ICMP6_ECHO_REQUEST if self.v6 else _ICMP_ECHO_REQUEST
        self._echo_reply = _ICMP6_ECHO_REPLY if self.v6 else _ICMP_ECHO_REPLY
        self._sock: socket.socket | None = None
        self._fd = -1
        self._fast = compiled
        self.raw = False
        self._ident = 0
        self._key = 0
        # Requests in flight are keyed by (identifier, sequence). A raw socket may
        # use any identifier, so 2**32 keys; a ping socket's identifier is the
        # kernel's, so 2**16.
        self._space = 1 << 16
        self._nonce = 0
        self._waited: KernelError | None = None  # why the last post had to wait
        self._pending: dict[int, _Pending] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: ReadinessWatch | None = None
        self.net_errors: Counter[str] = Counter()  # kernel-reported errors by kind
        self.reopens = 0

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            if self.mode == "dgram":
                raise PermissionError("ping socket requested")
            if self.v6:
                sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, _IPPROTO_ICMPV6)
                sock.setsockopt(_IPPROTO_ICMPV6, _ICMP6_FILTER,
                                _icmp6_filter((_ICMP6_ECHO_REPLY, *_ICMP6_ERRORS)))
            else:
                sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                # Drop every ICMP type but echo reply and the errors that quote an
                # echo of ours (unreachable, time exceeded) before it reaches us.
                wanted = (1 << _ICMP_ECHO_REPLY) | (1 << _ICMP_DEST_UNREACH) | (
                    1 << _ICMP_TIME_EXCEEDED
                )
                sock.setsockopt(_SOL_RAW, _ICMP_FILTER,
                                struct.pack("I", ~wanted & 0xFFFFFFFF))
            self.raw = True
            self._space = 1 << 32
        except PermissionError:
            if self.mode == "raw":
                raise
            sock = socket.socket(
                self.family, socket.SOCK_DGRAM, _IPPROTO_ICMPV6 if self.v6 else socket.IPPROTO_ICMP
            )
            self.raw = False
            self._space = 1 << 16
            enable_recverr(sock)  # errors for our echoes come through the error queue
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        # Kernel receive timestamps: an RTT must not include the time the loop
        # was busy (e.g. sending the rest of a 10 000-host round).
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self._ident = (os.getpid() ^ id(self)) & 0xFFFF
        self._loop = asyncio.get_running_loop()
        watch = ReadinessWatch(sock, self._on_ready)
        try:
            watch.start()
        except BaseException:
            sock.close()
            raise
        self._sock, self._watch, self._fd = sock, watch, sock.fileno()

    def dest(self, addr: str) -> object:
        """Where ``post`` sends for ``addr``: a packed sockaddr for the compiled
        path, else the ``sockaddr()`` tuple. OSError for a zone that does not exist."""
        found = sockaddr(addr, 0)  # a link-local address keeps its zone
        return found if self._fast is None else pack_sockaddr(self.family, found)

    def close(self) -> None:
        if self._sock is None:
            return
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        self._sock.close()
        self._sock, self._fd = None, -1
        for pending in self._pending.values():
            pending.call.outstanding -= 1
            if pending.call.outstanding <= 0:
                pending.call.done.set()
        self._pending.clear()

    def _next_key(self) -> int | None:
        """A free request key; None when the whole key space is in flight."""
        if len(self._pending) >= self._space:
            return None
        while True:
            self._key = (self._key + 1) % self._space
            if self._key not in self._pending:
                return self._key

    def post(self, addr: str, dest: object, index: int, tally: _Tally, call: _Call) -> int:
        """Send one echo request now, without waiting: _SENT, _FAILED (counted as
        lost, with the kernel's reason), or _WAIT when the kernel asks us to wait
        (full send buffer, ENOBUFS): nothing is recorded then, ``send`` retries.

        The hot path of a bulk round, so the checksum comes from the variable
        words alone and the request is registered only once the kernel took it.
        """
        sock, pending = self._sock, self._pending
        key = (self._key + 1) % self._space  # the next key is nearly always free
        if key in pending or len(pending) >= self._space:
            key = self._next_key()
        else:
            self._key = key
        if sock is None or key is None:
            tally.sent += 1
            if key is None:
                log.warning(
                    "ping: %d requests in flight, none free; %s counted lost", self._space, addr
                )
            return _FAILED
        ident, seq = (self._ident + (key >> 16)) & 0xFFFF, key & 0xFFFF
        self._nonce = nonce = (self._nonce + 1) & 0xFFFFFFFFFFFFFFFF
        sent_at = time.time()
        fast = self._fast
        if fast is not None:  # packed, checksummed and sent in C; 0 or the errno
            code = fast.send_echo(self._fd, dest, self._echo_request, not self.v6, ident, seq,
                                  _PAYLOAD_MAGIC, nonce)
        else:
            code = self._send_py(sock, dest, ident, seq, nonce)
        if code:
            if code in _RETRY_ERRNOS:  # full send buffer
                self.net_errors["no_buffer"] += 1
                self._waited = None
                return _WAIT
            found = classify_errno(code)  # EHOSTUNREACH, ENETUNREACH, EACCES, ENOBUFS...
            self.net_errors[found.kind] += 1
            if found.result is None:  # transient: worth another try
                self._waited = found
                return _WAIT
            log.debug("ping %s: send failed: %s", addr, found.message)
            tally.sent += 1
            tally.failed(found)
            return _FAILED
        tally.sent += 1
        pending[key] = _Pending(addr, index, sent_at, nonce, tally, call)
        call.outstanding += 1
        return _SENT

    def _send_py(self, sock: socket.socket, dest: object, ident: int, seq: int,
                 nonce: int) -> int:
        """The Python twin of the compiled ``send_echo``: 0, or the errno."""
        if self.v6:  # the kernel computes the ICMPv6 checksum (it covers a pseudo-header)
            packet = _ECHO.pack(_ICMP6_ECHO_REQUEST, 0, 0, ident, seq, _PAYLOAD_MAGIC, nonce)
        else:
            packet = _ECHO.pack(_ICMP_ECHO_REQUEST, 0, _echo_checksum(ident, seq, nonce),
                                ident, seq, _PAYLOAD_MAGIC, nonce)
        try:
            sock.sendto(packet, dest)  # type: ignore[arg-type]
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0

    async def send(self, addr: str, index: int, tally: _Tally, call: _Call, *,
                   tried: int = 0) -> bool:
        """Send one echo request, pausing and retrying while the kernel asks us to
        wait: three tries in all, ``tried`` of them already made by ``post``.
        False if it was refused (counted as lost)."""
        try:
            dest = self.dest(addr)
        except OSError as exc:
            tally.sent += 1
            tally.failed(KernelError("other", "unreachable", f"zone of {addr}: {exc}"))
            return False
        self._waited = None
        for attempt in range(tried, 3):
            if attempt:
                await asyncio.sleep(0.005 * attempt)
            if self._sock is None:  # closed meanwhile
                break
            status = self.post(addr, dest, index, tally, call)
            if status != _WAIT:
                return status == _SENT
        tally.sent += 1
        if self._waited is not None:  # a transient errno to the last: that is the reason
            log.debug("ping %s: send failed: %s", addr, self._waited.message)
            tally.failed(self._waited)
        return False

    def expire(self, call: _Call, sent_before: float | None = None) -> None:
        """Forget requests of ``call`` still unanswered (sent before ``sent_before``,
        or all); they count as lost and free their keys."""
        for key in [
            k
            for k, p in self._pending.items()
            if p.call is call and (sent_before is None or p.sent_at < sent_before)
        ]:
            self._forget(key)

    def _forget(self, key: int) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            pending.call.outstanding -= 1
            if pending.call.outstanding <= 0:
                pending.call.done.set()

    def _on_ready(self, readable: bool, error: bool) -> None:
        sock = self._sock
        if sock is None:
            return
        if error:
            for (dest, _port), found, quoted in drain_errqueue(sock, _RECV_BATCH, 64):
                if len(quoted) >= _HEADER.size:  # the echo we sent, from its ICMP header
                    _t, _c, _s, _ident, seq = _HEADER.unpack_from(quoted)
                    self._on_error(seq, dest, found)
        if self._fast is not None:
            self._read_compiled(self._fast)
            return
        for _ in range(_RECV_BATCH):
            try:
                data, ancdata, _flags, source = sock.recvmsg(2048, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if self._reopened(exc):
                    return
                continue  # the socket's pending error; its queued copy was read above
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    now = sec + nsec * 1e-9
                    break
            else:
                now = time.time()
            self._on_packet(data, source[0], now)

    def _read_compiled(self, fast: ModuleType) -> None:
        """_on_ready's reading in batches of ``fast.BATCH`` (one recvmmsg each)."""
        batch = fast.BATCH
        for _ in range(_RECV_BATCH // batch):
            try:
                got = fast.recv_replies(self._fd, batch)
            except OSError as exc:
                if self._reopened(exc):
                    return
                continue  # the socket's pending error; its queued copy was read above
            for data, source, stamp in got:
                self._on_packet(data, source, stamp if stamp >= 0.0 else time.time())
            if len(got) < batch:
                return

    def _reopened(self, exc: OSError) -> bool:
        """A read failed: True (and a new socket) when the socket itself is gone,
        False for a pending error the caller skips."""
        if exc.errno in _SOCKET_GONE:
            self._reopen(exc)
            return True
        return False

    def _reopen(self, exc: OSError) -> None:
        """The socket failed as a whole: a new one; echoes in flight count as lost."""
        self.reopens += 1
        log.error("ICMP socket failed (%s); reopening it", exc.strerror or exc)
        calls = [p.call for p in self._pending.values()]
        self.close()
        for call in calls:
            call.done.set()
        try:
            self.open()
        except OSError as again:
            log.error("ICMP socket could not be reopened: %s", again)

    def _on_error(self, key: int, dest: str, found: KernelError) -> None:
        """An ICMP error quoting our echo ``key`` to ``dest``: that probe is answered.

        Counted only here, once per echo of ours still waiting: a raw socket sees
        every ICMP error on the host (other processes' too), and an echo whose send
        already failed (a local reject: counted then) is no longer pending."""
        pending = self._pending.get(key)
        if pending is None or (pending.addr != dest
                               and pending.addr.partition("%")[0] != dest):  # zone: not in dest
            return
        self.net_errors[found.kind] += 1
        pending.tally.failed(found)
        self._forget(key)

    def _on_icmp_error(self, data: bytes, icmp_type: int, code: int) -> None:
        """Raw socket: an ICMP error packet (after the outer IP header), which quotes
        the IP header and first 8 bytes of the echo request it is about."""
        found = classify_icmp(self.v6, icmp_type, code)
        inner = data[_HEADER.size :]
        if found is None or len(inner) < 20:
            return
        if self.v6:  # fixed 40-byte header; our echoes carry no extension headers
            if len(inner) < 40 + _HEADER.size or inner[6] != _IPPROTO_ICMPV6:
                return
            dest, ihl = socket.inet_ntop(socket.AF_INET6, inner[24:40]), 40
        else:
            ihl = (inner[0] & 0x0F) * 4
            if inner[9] != socket.IPPROTO_ICMP or len(inner) < ihl + _HEADER.size:
                return
            dest = socket.inet_ntoa(inner[16:20])
        e_type, _c, _s, ident, seq = _HEADER.unpack_from(inner, ihl)
        if e_type != self._echo_request:
            return
        self._on_error(((ident - self._ident) & 0xFFFF) << 16 | seq, dest, found)

    def _on_packet(self, data: bytes, src: str, now: float) -> None:
        # IPv4 raw sockets see the IP header, IPv6 ones not: read past it in place.
        at = (data[0] & 0x0F) * 4 if self.raw and not self.v6 and data else 0
        if len(data) < at + _ECHO.size:  # shorter than our echo reply: an error or junk
            if len(data) >= at + _HEADER.size and self.raw:
                icmp_type, code = data[at], data[at + 1]
                errors = _ICMP6_ERRORS if self.v6 else (_ICMP_DEST_UNREACH, _ICMP_TIME_EXCEEDED)
                if icmp_type in errors:
                    self._on_icmp_error(data[at:], icmp_type, code)
            return
        icmp_type, code, _csum, ident, seq, magic, nonce = _ECHO.unpack_from(data, at)
        if icmp_type != self._echo_reply:
            errors = _ICMP6_ERRORS if self.v6 else (_ICMP_DEST_UNREACH, _ICMP_TIME_EXCEEDED)
            if self.raw and icmp_type in errors:
                self._on_icmp_error(data[at:], icmp_type, code)
            return
        # On a ping socket the kernel rewrote the identifier and already demuxed.
        key = (((ident - self._ident) & 0xFFFF) << 16 | seq) if self.raw else seq
        pending = self._pending.get(key)
        if pending is None or magic != _PAYLOAD_MAGIC or nonce != pending.nonce:
            return
        if pending.addr != src and pending.addr.partition("%")[0] != src:
            return  # (a link-local reply's source comes without its zone)
        rtt = now - pending.sent_at
        if rtt <= pending.call.timeout_s:  # else too late: counts as lost, like ping -W
            # Both stamps are wall clock (the kernel stamps replies in CLOCK_REALTIME);
            # clamp so a clock step cannot yield a negative RTT.
            pending.tally.rtts[pending.index] = max(0.0, rtt) * 1000.0
        self._forget(key)


def _check_params(count: int, interval_s: float, timeout_s: float) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be 1..{MAX_COUNT}")
    if not 0.001 <= interval_s <= 60.0:
        raise ValueError("interval_s must be 0.001..60")
    if not 0.01 <= timeout_s <= 60.0:
        raise ValueError("timeout_s must be 0.01..60")


def _ipv4_literal(host: str) -> str | None:
    """``host`` itself when it is a dotted-quad IPv4 address (cheap check)."""
    try:
        packed = socket.inet_pton(socket.AF_INET, host)
    except (OSError, ValueError):
        return None
    return socket.inet_ntop(socket.AF_INET, packed)


async def _resolve(resolver: Resolver, host: str) -> str | None:
    """An address literal as is (normalised); a name through the shared resolver;
    None if neither."""
    try:
        host = parse_host(host)
        return (await resolver.resolve(host))[1]
    except (HostError, Unresolved):
        return None


class PingProbe:
    """ICMP echo to one target (``run``) or many at once (``ping_many``)."""

    kind = "ping"

    def __init__(
        self,
        count: int = 5,
        interval_s: float = 0.2,
        timeout_s: float = 1.0,
        mode: str = "auto",
        resolver: Resolver | None = None,
    ) -> None:
        """``mode``: "auto" (raw socket as root, else the ping socket), "raw", "dgram".
        One socket per family; the ICMPv6 one opens with the first IPv6 target."""
        _check_params(count, interval_s, timeout_s)
        self.count = count
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.resolver = resolver or default_resolver()
        self._icmp = IcmpSocket(mode)
        self._icmp6 = IcmpSocket(mode, socket.AF_INET6)

    @property
    def net_errors(self) -> Counter[str]:
        """Kernel-reported errors by kind (probes.netio.ERROR_KINDS), both families."""
        return self._icmp.net_errors + self._icmp6.net_errors

    @property
    def socket_reopens(self) -> int:
        return self._icmp.reopens + self._icmp6.reopens

    @property
    def privileged(self) -> bool:
        """True when using a raw socket (root), False for the ping socket."""
        return self._icmp.raw

    async def start(self) -> None:
        self._icmp.open()

    async def aclose(self) -> None:
        self._icmp.close()
        self._icmp6.close()

    async def __aenter__(self) -> PingProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(self, target: Target) -> PingResult | ProbeError:
        try:
            addr = (await self.resolver.resolve(parse_host(target.host)))[1]
        except HostError as exc:
            return ProbeError(kind="config", message=str(exc))
        except Unresolved as exc:
            return ProbeError(kind="unresolved", message=str(exc))
        try:
            results = await self._ping_addrs([addr], self.count, self.interval_s,
                                             self.timeout_s)
        except OSError as exc:
            return ProbeError(kind="config", message=f"ICMP socket: {exc}")
        result = results[addr]
        if result.received == 0 and result.errors and addr != target.host:
            self.resolver.fall_back(target.host, addr)  # a name: its other family next
        return result

    async def ping_many(
        self,
        hosts: Iterable[str],
        count: int | None = None,
        interval_s: float | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, PingResult]:
        """Ping all ``hosts`` concurrently over the one socket. A host that does
        not resolve gets ``PingResult(sent=0, received=0)`` (loss 1.0)."""
        count = self.count if count is None else count
        interval_s = self.interval_s if interval_s is None else interval_s
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        _check_params(count, interval_s, timeout_s)
        host_list = list(dict.fromkeys(hosts))
        if len(host_list) > MAX_HOSTS:
            raise ValueError(f"at most {MAX_HOSTS} hosts per call")
        # IPv4 literals (the usual inventory) skip the resolver and its tasks.
        addr_of = {h: _ipv4_literal(h) for h in host_list}
        names = [h for h, a in addr_of.items() if a is None]
        if names:
            addr_of.update(zip(
                names, await asyncio.gather(*(_resolve(self.resolver, h) for h in names)),
                strict=True,
            ))
        addrs = [a for a in dict.fromkeys(addr_of.values()) if a is not None]
        results = await self._ping_addrs(addrs, count, interval_s, timeout_s)
        unresolved = PingResult(sent=0, received=0)
        return {h: unresolved if a is None else results[a] for h, a in addr_of.items()}

    async def _ping_addrs(
        self, addrs: list[str], count: int, interval_s: float, timeout_s: float
    ) -> dict[str, PingResult]:
        """Each family over its own socket, both at once; results by address."""
        v6 = [a for a in addrs if ":" in a]
        v4 = [a for a in addrs if ":" not in a] if v6 else addrs
        runs = [(icmp, part) for icmp, part in ((self._icmp, v4), (self._icmp6, v6)) if part]
        out: dict[str, PingResult] = {}
        for part in await asyncio.gather(
            *(self._ping_family(icmp, part, count, interval_s, timeout_s) for icmp, part in runs)
        ):
            out.update(part)
        return out

    async def _ping_family(
        self, icmp: IcmpSocket, addrs: list[str], count: int, interval_s: float,
        timeout_s: float,
    ) -> dict[str, PingResult]:
        icmp.open()
        loop = asyncio.get_running_loop()
        call = _Call(timeout_s=timeout_s)
        tallies = {addr: _Tally() for addr in addrs}
        start = loop.time()
        try:
            dests = {}  # addresses resolved to socket addresses once per call
            for addr in tallies:
                with contextlib.suppress(OSError):  # send() records why, each round
                    dests[addr] = icmp.dest(addr)
            post = icmp.post
            for index in range(count):
                for n, (addr, tally) in enumerate(tallies.items(), 1):
                    dest = dests.get(addr)
                    if dest is None:
                        await icmp.send(addr, index, tally, call)
                    elif post(addr, dest, index, tally, call) == _WAIT:
                        await icmp.send(addr, index, tally, call, tried=1)
                    if n % _SEND_BATCH == 0:
                        await asyncio.sleep(0)
                # Requests older than the timeout are lost: free their keys now.
                icmp.expire(call, sent_before=time.time() - timeout_s)
                if index + 1 < count:
                    await asyncio.sleep(max(0.0, start + (index + 1) * interval_s - loop.time()))
            if call.outstanding > 0:
                call.done.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.done.wait(), timeout_s)
        finally:
            icmp.expire(call)
        return {addr: tally.result() for addr, tally in tallies.items()}
