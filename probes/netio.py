"""Shared probe sockets that live with the kernel's errors, on any event loop.

Why this module exists (issue 14): a dark modem in a real network makes the
kernel report errors — ICMP host/net unreachable, admin-prohibited, port
unreachable, fragmentation needed — and on a socket with IP_RECVERR they
queue on the socket's error queue and raise POLLERR. Two event-loop paths
break on that:

* libuv >= 1.51 (vendored by uvloop 0.22+) reads a UDP handle's error queue
  itself and passes ``UV__ERR(serr->ee_errno)`` to the receive callback; the
  errno field is a ``__u32``, so the negation stays unsigned and arrives as a
  *positive* ``nread`` of about 4 GB (EHOSTUNREACH -> 4294967183). uvloop
  takes that for a datagram length and copies 4 GB out of its 256 KiB receive
  buffer: SIGSEGV in libc's memcpy, under ``uvloop.run``.
* libuv's ``uv_poll`` (behind uvloop's ``add_reader``) stops the watcher and
  reports EBADF on POLLERR, so a reader on such a socket silently dies.

So a probe socket is never handed to the loop. It sits in a private epoll
set, and the loop watches only that epoll's own descriptor, which becomes
readable when the socket has data *or* errors and never reports POLLERR
itself. The probe then reads datagrams and the error queue with plain
non-blocking syscalls. The same code runs on asyncio's loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SOL_IPV6 = getattr(socket, "SOL_IPV6", 41)

_SO_EE_ORIGIN_LOCAL = 1
_SO_EE_ORIGIN_ICMP = 2
_SO_EE_ORIGIN_ICMP6 = 3
# struct sock_extended_err { u32 ee_errno; u8 origin, type, code, pad; u32 info, data; }
_EXT_ERR = struct.Struct("=IBBBBII")

ResultKind = Literal["unreachable", "refused"]


@dataclass(frozen=True, slots=True)
class KernelError:
    """One error the kernel reported for a destination.

    ``kind`` is the bounded metric label; ``result`` is the ProbeError kind the
    target gets, or None for errors that are not the target's answer (a full
    buffer, a smaller path MTU the kernel now fragments for)."""

    kind: str
    result: ResultKind | None
    message: str


# Every label value ``kind`` can take (metrics see a zero before the first).
ERROR_KINDS = (
    "host_unreachable",
    "net_unreachable",
    "prohibited",
    "port_unreachable",
    "ttl_exceeded",
    "msgsize",
    "no_buffer",
    "other",
)

_BY_ERRNO: dict[int, KernelError] = {
    errno.EHOSTUNREACH: KernelError("host_unreachable", "unreachable", "host unreachable"),
    errno.ENETUNREACH: KernelError("net_unreachable", "unreachable", "network unreachable"),
    errno.EACCES: KernelError("prohibited", "unreachable", "rejected by a firewall or route"),
    errno.EPERM: KernelError("prohibited", "unreachable", "rejected by a local firewall"),
    errno.ECONNREFUSED: KernelError("port_unreachable", "refused", "port unreachable"),
    errno.EMSGSIZE: KernelError("msgsize", None, "message larger than the path MTU"),
    errno.ENOBUFS: KernelError("no_buffer", None, "no buffer space"),
    errno.EAGAIN: KernelError("no_buffer", None, "send buffer full"),
    errno.EHOSTDOWN: KernelError("host_unreachable", "unreachable", "host down"),
    errno.ENONET: KernelError("host_unreachable", "unreachable", "host not on the network"),
    errno.ETIMEDOUT: KernelError("ttl_exceeded", "unreachable", "time exceeded in transit"),
    errno.EPROTO: KernelError("other", "unreachable", "protocol error reported by ICMP"),
    errno.EOPNOTSUPP: KernelError("other", "unreachable", "ICMP: source route failed"),
    errno.ENOPROTOOPT: KernelError("port_unreachable", "refused", "protocol unreachable"),
}

# ICMPv4 destination unreachable (type 3) codes, RFC 792 / RFC 1812.
_ICMP4_UNREACH: dict[int, KernelError] = {
    0: _BY_ERRNO[errno.ENETUNREACH],
    1: _BY_ERRNO[errno.EHOSTUNREACH],
    2: KernelError("port_unreachable", "refused", "protocol unreachable (ICMP 3/2)"),
    3: KernelError("port_unreachable", "refused", "port unreachable (ICMP 3/3)"),
    4: KernelError("msgsize", None, "fragmentation needed (ICMP 3/4)"),
    6: KernelError("net_unreachable", "unreachable", "destination network unknown (ICMP 3/6)"),
    7: KernelError("host_unreachable", "unreachable", "destination host unknown (ICMP 3/7)"),
    9: KernelError("prohibited", "unreachable", "network administratively prohibited (ICMP 3/9)"),
    10: KernelError("prohibited", "unreachable", "host administratively prohibited (ICMP 3/10)"),
    13: KernelError("prohibited", "unreachable", "communication administratively prohibited "
                    "(ICMP 3/13)"),
}
# ICMPv6 destination unreachable (type 1) codes, RFC 4443.
_ICMP6_UNREACH: dict[int, KernelError] = {
    0: KernelError("net_unreachable", "unreachable", "no route to destination (ICMPv6 1/0)"),
    1: KernelError("prohibited", "unreachable", "administratively prohibited (ICMPv6 1/1)"),
    3: KernelError("host_unreachable", "unreachable", "address unreachable (ICMPv6 1/3)"),
    4: KernelError("port_unreachable", "refused", "port unreachable (ICMPv6 1/4)"),
    5: KernelError("prohibited", "unreachable", "source address failed policy (ICMPv6 1/5)"),
    6: KernelError("prohibited", "unreachable", "reject route (ICMPv6 1/6)"),
}


def classify_errno(code: int | None) -> KernelError:
    """What a failed send or receive means for the destination."""
    found = _BY_ERRNO.get(code or 0)
    if found is not None:
        return found
    name = errno.errorcode.get(code or 0, str(code))
    return KernelError("other", "unreachable", f"kernel error {name}")


def classify_icmp(v6: bool, icmp_type: int, icmp_code: int) -> KernelError | None:
    """An ICMP error by type and code; None for types that are not errors."""
    if not v6:
        if icmp_type == 3:
            return _ICMP4_UNREACH.get(
                icmp_code, KernelError("host_unreachable", "unreachable",
                                       f"destination unreachable (ICMP 3/{icmp_code})"))
        if icmp_type == 11:
            return KernelError("ttl_exceeded", "unreachable", "time exceeded (ICMP 11)")
        if icmp_type == 12:
            return KernelError("other", "unreachable", "parameter problem (ICMP 12)")
        return None
    if icmp_type == 1:
        return _ICMP6_UNREACH.get(
            icmp_code, KernelError("host_unreachable", "unreachable",
                                   f"destination unreachable (ICMPv6 1/{icmp_code})"))
    if icmp_type == 2:
        return KernelError("msgsize", None, "packet too big (ICMPv6 2)")
    if icmp_type == 3:
        return KernelError("ttl_exceeded", "unreachable", "time exceeded (ICMPv6 3)")
    if icmp_type == 4:
        return KernelError("other", "unreachable", "parameter problem (ICMPv6 4)")
    return None


def classify_ancillary(ancdata: list[tuple[int, int, bytes]]) -> KernelError | None:
    """The error of one MSG_ERRQUEUE message (its ``sock_extended_err``)."""
    for level, kind, blob in ancdata:
        if len(blob) < _EXT_ERR.size:
            continue
        if (level, kind) not in ((socket.IPPROTO_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
            continue
        ee_errno, origin, icmp_type, icmp_code, _pad, info, _data = _EXT_ERR.unpack_from(blob)
        if origin in (_SO_EE_ORIGIN_ICMP, _SO_EE_ORIGIN_ICMP6):
            found = classify_icmp(origin == _SO_EE_ORIGIN_ICMP6, icmp_type, icmp_code)
            if found is not None:
                if found.kind == "msgsize" and info:
                    return KernelError(found.kind, found.result, f"{found.message}, MTU {info}")
                return found
        return classify_errno(ee_errno)
    return None


def enable_recverr(sock: socket.socket) -> bool:
    """Ask the kernel to queue ICMP errors for this unconnected socket; False if refused."""
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    except OSError:
        return False
    return True


def drain_errqueue(
    sock: socket.socket, limit: int, payload: int = 0
) -> list[tuple[tuple[str, int], KernelError, bytes]]:
    """Up to ``limit`` queued errors as (original destination, error, quoted payload).

    The destination is where the failed datagram was going (the kernel puts it
    in msg_name), so each error is charged to its own target and not to
    whichever send happened to run into the socket's pending error."""
    out: list[tuple[tuple[str, int], KernelError, bytes]] = []
    for _ in range(limit):
        try:
            data, ancdata, _flags, dest = sock.recvmsg(payload, 512, MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break
        found = classify_ancillary(ancdata)
        if found is None or not dest:
            continue
        out.append(((str(dest[0]), int(dest[1])), found, data))
    return out


class ReadinessWatch:
    """Calls ``on_ready(readable, error)`` when ``sock`` has data or queued errors.

    The loop watches a private epoll holding the socket, never the socket (see
    the module docstring). Level-triggered: a callback that leaves work for
    later (bounded batches) is simply called again on the next loop turn.
    Lifecycle: ``start()`` on the running loop, ``stop()`` before closing the
    socket."""

    def __init__(self, sock: socket.socket, on_ready: Callable[[bool, bool], None]) -> None:
        self._sock = sock
        self._on_ready = on_ready
        self._epoll: select.epoll | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        if self._epoll is not None:
            return
        self._loop = asyncio.get_running_loop()
        epoll = select.epoll()
        try:
            epoll.register(self._sock.fileno(), select.EPOLLIN | select.EPOLLERR)
            self._loop.add_reader(epoll.fileno(), self._wake)
        except BaseException:
            epoll.close()
            raise
        self._epoll = epoll

    def stop(self) -> None:
        epoll, self._epoll = self._epoll, None
        if epoll is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(epoll.fileno())
        epoll.close()

    def _wake(self) -> None:
        epoll = self._epoll
        if epoll is None:
            return
        try:
            events = epoll.poll(0, 4)
        except OSError:
            return
        mask = 0
        for _fd, event in events:
            mask |= event
        if mask:
            self._on_ready(bool(mask & select.EPOLLIN), bool(mask & select.EPOLLERR))
