"""Target hosts: IPv4, IPv6 (a zone only on link-local) or a DNS name, resolved
asynchronously with a bounded cache (issue 16).

Why a module of its own: every probe (SNMP, ping, path, iperf3, headends) needs
the same answer for the same name, and 100k targets must not mean 100k lookups
per poll round or a task stuck on a dead resolver. ``Resolver.resolve`` gives an
address or raises ``Unresolved`` (a ProbeError kind of its own, ``unresolved``:
our DNS, not the modem, is the problem), within ``timeout_s`` always.

TTLs: the system resolver (``loop.getaddrinfo``, which honours /etc/hosts and
nsswitch like every other program on the host) does not return the record's
TTL, so an answer is kept for ``ttl_s`` (default 60 s, at or below the usual
TTL of management records) and a failure for ``negative_ttl_s`` (default 5 s,
so a name that comes back is seen soon and a name that is gone is not asked
for on every poll). Concurrent lookups of one name share one query. The cache
holds at most ``max_entries`` names (least recently used go first).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections import OrderedDict
from dataclasses import dataclass

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_MAX_NAME = 253
_ZONE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")  # an interface name (IFNAMSIZ) or index


class HostError(ValueError):
    """A host that is neither an address nor a DNS name."""


class Unresolved(Exception):
    """A name that did not resolve (or not to the wanted family) in time."""


def parse_host(text: str) -> str:
    """The canonical form of an inventory host: a normalised IP address, or a
    lower-case DNS name. IPv6 may carry ``%zone`` only when link-local (a zone
    means nothing on a global address); brackets are accepted and dropped."""
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise HostError("empty host")
    if ":" in host:
        try:
            addr = ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise HostError(f"{text!r} is not an IPv6 address: {exc}") from None
        if addr.scope_id is not None and not addr.is_link_local:
            raise HostError(f"{text!r}: a zone (%{addr.scope_id}) only goes with a link-local "
                            "address (fe80::/10)")
        if addr.is_link_local and addr.scope_id is None:
            raise HostError(f"{text!r}: a link-local address needs its zone (fe80::1%eth0)")
        if addr.scope_id is not None and not _ZONE.match(addr.scope_id):
            raise HostError(f"{text!r}: the zone is not an interface name or index")
        if addr.ipv4_mapped is not None:  # ::ffff:a.b.c.d is an IPv4 target
            return str(addr.ipv4_mapped)
        return str(addr)
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    name = host.rstrip(".").lower()
    if len(name) > _MAX_NAME or not all(_LABEL.match(part) for part in name.split(".")):
        raise HostError(f"{text!r} is neither an IP address nor a DNS name")
    try:  # 1.2.3, 0x7f.1, 017.0.0.1: the resolver would take these for IPv4
        socket.inet_aton(name)
    except OSError:
        pass
    else:
        raise HostError(f"{text!r} is not a dotted-quad IPv4 address")
    if all(part.isdigit() for part in name.split(".")):
        raise HostError(f"{text!r} is not a valid IPv4 address")
    return name


def literal_family(host: str) -> int | None:
    """AF_INET / AF_INET6 for an address literal, None for a name."""
    if ":" in host:
        return socket.AF_INET6
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        return None
    return socket.AF_INET


_SCOPED: dict[str, tuple[str, int]] = {}  # "fe80::1%eth0" -> ("fe80::1", ifindex)
_SCOPED_MAX = 4096


def sockaddr(host: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    """The address to send to: ``(host, port)``, or for a zoned (link-local) IPv6
    address ``(addr, port, 0, ifindex)`` — Python drops the zone of a 2-tuple
    (it sets sin6_scope_id from the tuple, 0), and the kernel then cannot tell
    the link. Raises OSError for an interface that does not exist."""
    if "%" not in host:
        return (host, port)
    found = _SCOPED.get(host)
    if found is None:
        base, _, zone = host.partition("%")
        index = int(zone) if zone.isdigit() else socket.if_nametoindex(zone)
        if len(_SCOPED) >= _SCOPED_MAX:
            _SCOPED.clear()
        found = _SCOPED[host] = (base, index)
    return (found[0], port, 0, found[1])


@dataclass(slots=True)
class _Entry:
    expires: float
    addresses: tuple[tuple[int, str], ...]  # (family, address), resolver's order
    error: str | None = None


@dataclass
class ResolverStats:
    """Counts since start (agent metric linewatch_agent_resolver_lookups_total):
    lookups asked the system resolver, hits did not (from the cache, or sharing
    a lookup in flight), failures are lookups without an address (timeouts
    among them)."""

    lookups: int = 0
    hits: int = 0
    failures: int = 0
    timeouts: int = 0
    fallbacks: int = 0  # names whose other family was put first (fall_back)


class Resolver:
    """Names to addresses for every probe, cached within bounds (module docstring)."""

    def __init__(
        self,
        *,
        ttl_s: float = 60.0,
        negative_ttl_s: float = 5.0,
        timeout_s: float = 2.0,
        max_entries: int = 10_000,
    ) -> None:
        if not (0 < timeout_s <= 30 and ttl_s >= 0 and negative_ttl_s >= 0 and max_entries >= 1):
            raise ValueError("resolver: timeout_s 0..30, ttl_s >= 0, max_entries >= 1")
        self.ttl_s, self.negative_ttl_s = ttl_s, negative_ttl_s
        self.timeout_s, self.max_entries = timeout_s, max_entries
        self.stats = ResolverStats()
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[_Entry]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def fall_back(self, host: str, address: str) -> bool:
        """``address`` of name ``host`` met a kernel error (unreachable): put the
        name's addresses of the other family first until its entry expires, so
        the next attempt tries that family (RFC 8305's idea, one attempt later
        instead of racing both). Idempotent (probes may report it together);
        after the TTL the system resolver's order is tried again. True if the
        order changed."""
        entry = self._cache.get(host)
        if entry is None or entry.error is not None:
            return False
        bad = socket.AF_INET6 if ":" in address else socket.AF_INET
        if not entry.addresses or entry.addresses[0][0] != bad:
            return False
        others = tuple(a for a in entry.addresses if a[0] != bad)
        if not others:
            return False
        entry.addresses = others + tuple(a for a in entry.addresses if a[0] == bad)
        self.stats.fallbacks += 1
        return True

    @property
    def cache_size(self) -> int:
        """Names cached now (answers and failures, expired ones until replaced)."""
        return len(self._cache)

    async def resolve(self, host: str, family: int = socket.AF_UNSPEC) -> tuple[int, str]:
        """(family, address) for ``host``; a literal as is. ``family`` AF_UNSPEC takes
        the resolver's first answer (RFC 6724 order), else only that family.
        Raises Unresolved."""
        fam = literal_family(host)
        if fam is not None:
            if family not in (socket.AF_UNSPEC, fam):
                raise Unresolved(f"{host} is not an address of the wanted family")
            return fam, host
        entry = await self._entry(host)
        if entry.error is not None:
            raise Unresolved(f"cannot resolve {host!r}: {entry.error}")
        for fam, addr in entry.addresses:
            if family in (socket.AF_UNSPEC, fam):
                return fam, addr
        want = "IPv6" if family == socket.AF_INET6 else "IPv4"
        raise Unresolved(f"{host!r} has no {want} address")

    async def _entry(self, host: str) -> _Entry:
        loop = asyncio.get_running_loop()
        now = loop.time()
        entry = self._cache.get(host)
        if entry is not None and entry.expires > now:
            self._cache.move_to_end(host)
            self.stats.hits += 1
            return entry
        waiting = self._inflight.get(host)
        if waiting is not None:  # shares a query in flight: no query of its own
            self.stats.hits += 1
            return await asyncio.shield(waiting)
        future: asyncio.Future[_Entry] = loop.create_future()
        self._inflight[host] = future
        try:
            entry = await self._lookup(loop, host)
            future.set_result(entry)
        except BaseException as exc:  # cancelled: the waiters must not hang
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._inflight[host]
        self._cache[host] = entry
        self._cache.move_to_end(host)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return entry

    async def _lookup(self, loop: asyncio.AbstractEventLoop, host: str) -> _Entry:
        self.stats.lookups += 1
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM), self.timeout_s
            )
        except TimeoutError:
            self.stats.timeouts += 1
            return self._failed(loop, f"no answer within {self.timeout_s:g} s")
        except (OSError, UnicodeError) as exc:
            return self._failed(loop, str(getattr(exc, "strerror", None) or exc))
        seen: dict[tuple[int, str], None] = {}
        for fam, _type, _proto, _canon, sockaddr in infos:
            if fam in (socket.AF_INET, socket.AF_INET6):
                seen[(int(fam), str(sockaddr[0]))] = None
        if not seen:
            return self._failed(loop, "no IPv4 or IPv6 address")
        return _Entry(loop.time() + self.ttl_s, tuple(seen))

    def _failed(self, loop: asyncio.AbstractEventLoop, why: str) -> _Entry:
        self.stats.failures += 1
        return _Entry(loop.time() + self.negative_ttl_s, (), why)


_DEFAULT: Resolver | None = None


def default_resolver() -> Resolver:
    """The process's shared resolver (probes built without one use it)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Resolver()
    return _DEFAULT
