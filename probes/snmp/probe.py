"""The SNMP probe: poll one modem per ``run(target)`` and return an SnmpReading.

v1/v2c go through the fast codec over one shared UDP socket (transport.py);
v3 goes through pysnmp (v3.py).

v2c uses a targeted collection (``poll_targeted``), because a DOCSIS modem's
ifTable is mostly channel interfaces the reading drops: one GETBULK for the
scalars and first-row tables (as non-repeaters) plus the ifType column, then at
once a GET of the LAN/WAN rows' interface fields and one GETBULK per table
group sized from the rows seen last time on a modem of the same ifType shape
(no overshoot past the table but one row), then fallback columns (32-bit
counters) only where the preferred ones are missing. v1 and v3 use the plain
collection (``poll``): one GET for the scalars, then a walk of every column.
Both give the same SnmpReading (tests/test_snmp_probe.py).
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pysnmp.hlapi.v3arch import asyncio as hl

from probes.model import ProbeError, SnmpReading, Target
from probes.resolve import Resolver, Unresolved, default_resolver, literal_family
from probes.snmp.ber import (
    END_OF_MIB_VIEW,
    GET,
    GETBULK,
    GETNEXT,
    OID,
    Value,
    compiled,
)
from probes.snmp.credentials import CredentialsError, SnmpCredentials
from probes.snmp.profiles import Column, Profile, load_profiles, select_profile
from probes.snmp.reading import (
    FALLBACKS,
    Raw,
    all_convert,
    build_reading,
    column_values,
    convert,
    interface_role,
    table_use,
)
from probes.snmp.transport import SnmpRequestError, UdpTransport
from probes.snmp.v3 import V3Client

__all__ = ["SnmpCredentials", "SnmpProbe"]

MAX_GET_VARBINDS = 40  # split larger GETs: keeps requests and answers well under 1472 B
MAX_WALK_ROUNDS = 64  # bounded round trips per poll
MAX_BULK_VARBINDS = 240  # repetitions x columns per GETBULK answer
_NO_SUCH_NAME = 2
_TOO_BIG = 1


class _Client(Protocol):
    async def get(self, oids: list[OID]) -> list[tuple[OID, Value]]: ...
    async def next_rows(self, oids: list[OID]) -> list[list[tuple[OID, Value]]]: ...


class _CommunityClient:
    """v1/v2c requests to one target over the shared transport."""

    def __init__(
        self,
        transport: UdpTransport,
        addr: tuple[str, int],
        version: int,
        community: bytes,
        timeout_s: float,
        retries: int,
        max_repetitions: int,
    ) -> None:
        self.t, self.addr, self.version, self.community = transport, addr, version, community
        self.timeout_s, self.retries, self.max_rep = timeout_s, retries, max_repetitions

    async def _request(
        self, tag: int, oids: list[OID], max_rep: int = 0, non_rep: int = 0
    ) -> Any:
        return await self.t.request_oids(
            self.addr,
            self.version,
            self.community,
            tag,
            tuple(oids),
            non_repeaters=non_rep,
            max_repetitions=max_rep,
            timeout_s=self.timeout_s,
            retries=self.retries,
        )

    async def get(self, oids: list[OID]) -> list[tuple[OID, Value]]:
        out: list[tuple[OID, Value]] = []
        for start in range(0, len(oids), MAX_GET_VARBINDS):
            chunk = list(oids[start : start + MAX_GET_VARBINDS])
            for _ in range(len(chunk) + 1):  # v1 noSuchName: drop the bad varbind, retry
                if not chunk:
                    break
                pdu = await self._request(GET, chunk)
                if pdu.error_status == _NO_SUCH_NAME and 1 <= pdu.error_index <= len(chunk):
                    del chunk[pdu.error_index - 1]
                    continue
                if pdu.error_status == 0:
                    out.extend(pdu.varbinds)
                break
        return out

    async def next_rows(
        self, oids: list[OID], max_rep: int | None = None
    ) -> list[list[tuple[OID, Value]]]:
        if self.version == 0:
            return await self._next_v1(oids)
        return (await self.bulk([], oids, max_rep))[1]

    async def bulk(
        self, non_rep: list[OID], oids: list[OID], max_rep: int | None = None
    ) -> tuple[list[tuple[OID, Value]], list[list[tuple[OID, Value]]]]:
        """One GETBULK (v2c): (non-repeater answers, rows per repeater column)."""
        n, k = len(oids), len(non_rep)
        want = self.max_rep if max_rep is None else max_rep
        max_rep = max(1, min(want, MAX_BULK_VARBINDS // max(n, 1)))
        for _ in range(4):
            pdu = await self._request(GETBULK, [*non_rep, *oids], max_rep, k)
            if pdu.error_status == _TOO_BIG and max_rep > 1:
                max_rep //= 2
                continue
            if pdu.error_status:
                break
            vbs = pdu.varbinds
            per_col: list[list[tuple[OID, Value]]] = [vbs[k + i :: n] for i in range(n)]
            return vbs[:k], per_col
        return [(o, END_OF_MIB_VIEW) for o in non_rep], [[(o, END_OF_MIB_VIEW)] for o in oids]

    async def _next_v1(self, oids: list[OID]) -> list[list[tuple[OID, Value]]]:
        result: dict[int, list[tuple[OID, Value]]] = {}
        alive = list(range(len(oids)))
        for _ in range(len(oids) + 1):
            if not alive:
                break
            pdu = await self._request(GETNEXT, [oids[i] for i in alive])
            if pdu.error_status == _NO_SUCH_NAME and 1 <= pdu.error_index <= len(alive):
                dead = alive.pop(pdu.error_index - 1)  # end of MIB for that column
                result[dead] = [(oids[dead], END_OF_MIB_VIEW)]
                continue
            if pdu.error_status or len(pdu.varbinds) != len(alive):
                break
            for i, vb in zip(alive, pdu.varbinds, strict=True):
                result[i] = [vb]
            alive = []
        return [result.get(i, [(o, END_OF_MIB_VIEW)]) for i, o in enumerate(oids)]


class _UsmClient:
    def __init__(self, client: V3Client, target: Any, max_repetitions: int) -> None:
        self.client, self.target, self.max_rep = client, target, max_repetitions

    async def get(self, oids: list[OID]) -> list[tuple[OID, Value]]:
        out: list[tuple[OID, Value]] = []
        for start in range(0, len(oids), MAX_GET_VARBINDS):
            out.extend(await self.client.get(self.target, oids[start : start + MAX_GET_VARBINDS]))
        return out

    async def next_rows(self, oids: list[OID]) -> list[list[tuple[OID, Value]]]:
        n = len(oids)
        max_rep = max(1, min(self.max_rep, MAX_BULK_VARBINDS // n))
        vbs = await self.client.bulk(self.target, oids, max_rep)
        per_col: list[list[tuple[OID, Value]]] = [[] for _ in range(n)]
        for i, vb in enumerate(vbs):
            per_col[i % n].append(vb)
        return per_col


async def walk_columns(
    client: _Client,
    columns: dict[tuple[str, str], OID],
    max_rep: int | None = None,
    first: list[list[tuple[OID, Value]]] | None = None,
) -> Raw:
    """Walk many columns at once until each leaves its subtree; bounded round trips.
    ``first``: the columns' first answer when a caller already asked for it."""
    raw: Raw = {}
    for table, field in columns:
        raw.setdefault(table, {})[field] = {}
    cursors = dict(columns)
    active = list(columns)
    for _ in range(MAX_WALK_ROUNDS):
        if not active:
            break
        if first is not None:
            per_col, first = first, None
        elif max_rep is None:
            per_col = await client.next_rows([cursors[k] for k in active])
        else:
            per_col = await client.next_rows(  # type: ignore[call-arg]
                [cursors[k] for k in active], max_rep
            )
        still = []
        for key, items in zip(active, per_col, strict=True):
            cursors[key], done = _absorb(items, columns[key], cursors[key], raw[key[0]][key[1]])
            if not done:
                still.append(key)
        active = still
    return raw


def _py_absorb(
    items: list[tuple[OID, Value]], prefix: OID, last: OID, got: dict[OID, Value]
) -> tuple[OID, bool]:
    """One column's answers into ``got`` by index until one leaves the column (end
    of MIB, another subtree, not increasing): (last OID taken, done). The compiled
    twin is _ber_fast.absorb (tests/test_snmp_ber_fast.py compares them)."""
    n = len(prefix)
    done = not items
    for oid, value in items:
        if value is END_OF_MIB_VIEW or oid[:n] != prefix or oid <= last:
            done = True
            break
        got[oid[n:]] = value
        last = oid
    return last, done


_absorb = compiled.absorb if compiled is not None else _py_absorb


async def poll(client: _Client, profile: Profile) -> SnmpReading:
    scalar_oids = {c.oid: f for f, c in profile.scalars.items()}
    got = await client.get(list(scalar_oids)) if scalar_oids else []
    scalars = {scalar_oids[oid]: value for oid, value in got if oid in scalar_oids}
    columns = {
        (table, field): col.oid
        for table, cols in profile.tables.items()
        for field, col in cols.items()
    }
    raw = await walk_columns(client, columns) if columns else {}
    return build_reading(profile, scalars, raw)


def _columns(profile: Profile, tables: list[str], skip: bool) -> dict[tuple[str, str], OID]:
    """The columns of ``tables``; ``skip``: leave out fallback columns."""
    return {
        (t, f): c.oid
        for t in tables
        for f, c in profile.tables[t].items()
        if not (skip and f in FALLBACKS.get(t, {}))
    }


def _first_rows(
    profile: Profile, tables: list[str], answers: dict[OID, tuple[OID, Value]]
) -> Raw:
    """Each table's first row from one GETNEXT per column (what _first_row reads)."""
    raw: Raw = {}
    for table in tables:
        found: dict[str, tuple[OID, Value]] = {}
        for field, col in profile.tables[table].items():
            oid, value = answers.get(col.oid, ((), END_OF_MIB_VIEW))
            n = len(col.oid)
            if value is not END_OF_MIB_VIEW and len(oid) > n and oid[:n] == col.oid:
                found[field] = (oid[n:], value)
        raw[table] = {f: {} for f in profile.tables[table]}
        if found:
            first = min(index for index, _ in found.values())
            for field, (index, value) in found.items():
                if index == first:
                    raw[table][field][index] = value
    return raw


class ShapeCache:
    """Rows per table last seen on modems of one (profile, ifType list) shape, so each
    table group is one GETBULK that stops one row past its end. Bounded."""

    LIMIT = 4096

    def __init__(self) -> None:
        self.rows: dict[tuple[str, tuple[Any, ...]], dict[str, int]] = {}
        self.if_rows: dict[str, int] = {}

    def remember(self, key: tuple[str, tuple[Any, ...]], rows: dict[str, int]) -> None:
        if key not in self.rows and len(self.rows) >= self.LIMIT:
            self.rows.clear()
        self.rows[key] = rows


def _any_unusable(values: dict[OID, Value], column: Column, rows: Iterable[OID]) -> bool:
    """Whether any of ``rows`` has no usable value in ``column`` (its fallback is
    then walked): the column converted at once, ~100 cells a DOCSIS poll."""
    return not all_convert(values, rows, column)


async def poll_targeted(
    client: _CommunityClient, profile: Profile, shapes: ShapeCache
) -> SnmpReading:
    """v2c collection of only what build_reading reads (see the module docstring)."""
    if_col = profile.tables["interfaces"]["if_type"]
    first_tables, every_tables = table_use(profile)
    next_scalars = {c.oid[:-1]: f for f, c in profile.scalars.items() if c.oid[-1] == 0}
    get_scalars = {c.oid: f for f, c in profile.scalars.items() if c.oid[-1] != 0}
    first_cols = [c.oid for t in first_tables for c in profile.tables[t].values()]
    non_rep = [*next_scalars, *first_cols]
    if_rep = shapes.if_rows.get(profile.name, 24) + 1
    head, if_rows = await client.bulk(non_rep, [if_col.oid], if_rep)

    scalars: dict[str, Value] = {}
    for asked, (oid, value) in zip(non_rep, head, strict=False):
        field = next_scalars.get(asked)
        if field is not None and oid == (*asked, 0):
            scalars[field] = value
    raw = _first_rows(profile, first_tables, dict(zip(first_cols, head[len(next_scalars) :],
                                                      strict=False)))
    if_raw = await walk_columns(client, {("interfaces", "if_type"): if_col.oid}, if_rep, if_rows)
    types = if_raw["interfaces"]["if_type"]
    if len(types) + 1 > if_rep:
        shapes.if_rows[profile.name] = len(types)
    rows = [i for i in sorted(types)[:256] if len(i) == 1]
    if_types = column_values(types, if_col)
    keep = [i for i in rows if interface_role(profile, if_types.get(i)) != "other"]

    # Round 2, at once: the kept interfaces' fields (+ non-.0 scalars), each table group.
    iface = profile.tables["interfaces"]
    if_fallback = FALLBACKS["interfaces"]
    fields = [f for f in iface if f != "if_type" and f not in if_fallback]
    get_oids = [*get_scalars, *(iface[f].oid + i for i in keep for f in fields)]
    shape_key = (profile.name, tuple(types[i] for i in rows))
    known = shapes.rows.get(shape_key, {})
    groups: dict[int, list[str]] = {}
    for table in every_tables:
        groups.setdefault(known.get(table, len(types)) + 1, []).append(table)
    jobs = [client.get(get_oids)] if get_oids else []
    jobs += [walk_columns(client, _columns(profile, ts, True), rep) for rep, ts in groups.items()]
    results = await asyncio.gather(*jobs)
    got = results[0] if get_oids else []
    walked: list[Raw] = results[1:] if get_oids else results
    values = dict(got)
    for oid, field in get_scalars.items():
        if oid in values:
            scalars[field] = values[oid]
    raw["interfaces"] = {f: {} for f in iface}
    for i in keep:
        raw["interfaces"]["if_type"][i] = types[i]
        for f in fields:
            value = values.get(iface[f].oid + i)
            if value is not None:
                raw["interfaces"][f][i] = value
    for part in walked:
        raw.update(part)
    rows_of = {t: set().union(*raw[t].values()) for t in every_tables}  # row indexes seen
    shapes.remember(shape_key, {t: len(rows_of[t]) for t in every_tables})

    # Round 3 (rare): fallback columns where the preferred value is missing.
    need = [
        iface[f].oid + i for f, pref in if_fallback.items() if f in iface
        for i in keep if convert(raw["interfaces"].get(pref, {}).get(i), iface[pref]) is None
    ]
    fb_walk = [
        t for t in every_tables for f, pref in FALLBACKS.get(t, {}).items()
        if f in profile.tables[t] and pref in profile.tables[t]
        and _any_unusable(raw[t][pref], profile.tables[t][pref], rows_of[t] or [()])
    ]
    fb_cols = {
        (t, f): profile.tables[t][f].oid for t in dict.fromkeys(fb_walk)
        for f in FALLBACKS[t] if f in profile.tables[t]
    }
    jobs = [client.get(need)] if need else []
    if fb_cols:
        jobs.append(walk_columns(client, fb_cols))
    if jobs:
        results = await asyncio.gather(*jobs)
        if need:
            wanted = {iface[f].oid + i: (f, i) for f in if_fallback if f in iface for i in keep}
            for oid, value in results[0]:
                if oid in wanted:
                    f, i = wanted[oid]
                    raw["interfaces"][f][i] = value
        if fb_cols:
            for (t, f), _ in fb_cols.items():
                raw[t][f] = results[-1][t][f]
    return build_reading(profile, scalars, raw)


class SnmpProbe:
    """``await probe.run(target)`` -> SnmpReading | ProbeError. Start once, share widely."""

    kind = "snmp"

    def __init__(
        self,
        credentials: Mapping[str, SnmpCredentials],
        *,
        timeout_s: float = 2.0,
        retries: int = 1,
        max_repetitions: int = 25,
        profiles: Mapping[str, Profile] | str | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.credentials = dict(credentials)
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_repetitions = max_repetitions
        if profiles is None or isinstance(profiles, str):
            self.profiles = load_profiles(profiles)
        else:
            self.profiles = dict(profiles)
        # One shared socket per family (issue 16); the IPv6 one opens with the
        # first IPv6 target, so a host without IPv6 polls its IPv4 modems as ever.
        self.transport = UdpTransport()
        self.transport6 = UdpTransport(family=socket.AF_INET6)
        self.resolver = resolver or default_resolver()
        self._engine: hl.SnmpEngine | None = None
        self._v3: dict[str, V3Client] = {}
        self._resolved: dict[str, SnmpCredentials | CredentialsError] = {}
        self.shapes = ShapeCache()
        self.targeted = True  # False: the plain full walk (tests compare the two)

    @property
    def net_errors(self) -> Counter[str]:
        """Kernel-reported errors by kind (probes.netio.ERROR_KINDS), v1/v2c sockets."""
        return self.transport.stats.net_errors + self.transport6.stats.net_errors

    @property
    def socket_reopens(self) -> int:
        return self.transport.stats.reopens + self.transport6.stats.reopens

    async def start(self) -> None:
        await self.transport.start()

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.transport6.aclose()
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None

    async def __aenter__(self) -> SnmpProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _creds(self, name: str) -> SnmpCredentials:
        cached = self._resolved.get(name)
        if cached is None:
            raw = self.credentials.get(name)
            try:
                if raw is None:
                    raise CredentialsError(f"no SNMP credentials named {name!r}")
                cached = raw.resolved()
            except CredentialsError as exc:
                cached = exc
            self._resolved[name] = cached
        if isinstance(cached, CredentialsError):
            raise cached
        return cached

    async def _client(self, target: Target, creds: SnmpCredentials) -> _Client:
        return await self._connect(
            target.host, target.port, target.credentials, creds,
            self.timeout_s, self.retries, self.max_repetitions,
        )

    async def client(
        self,
        host: str,
        port: int,
        credentials: str,
        *,
        timeout_s: float | None = None,
        retries: int | None = None,
        max_repetitions: int | None = None,
    ) -> _CommunityClient | _UsmClient:
        """A client for another poller on this probe's transport, credentials and v3
        engine (the headend probe). Raises CredentialsError, SnmpRequestError."""
        return await self._connect(
            host, port, credentials, self._creds(credentials),
            self.timeout_s if timeout_s is None else timeout_s,
            self.retries if retries is None else retries,
            self.max_repetitions if max_repetitions is None else max_repetitions,
        )

    async def _connect(
        self, host: str, port: int, name: str, creds: SnmpCredentials,
        timeout_s: float, retries: int, max_repetitions: int,
    ) -> _CommunityClient | _UsmClient:
        try:
            family, address = await self.resolver.resolve(host)
        except Unresolved as exc:
            raise SnmpRequestError("unresolved", str(exc)) from None
        if creds.version == "3":
            if self._engine is None:
                self._engine = hl.SnmpEngine()
            v3 = self._v3.get(name)
            if v3 is None:
                v3 = self._v3[name] = V3Client(self._engine, creds)
            udp = await v3.target(address, port, timeout_s, retries,
                                  ipv6=family == socket.AF_INET6)
            return _UsmClient(v3, udp, max_repetitions)
        transport = self.transport6 if family == socket.AF_INET6 else self.transport
        try:
            await transport.start()  # no-op once started
        except OSError as exc:  # e.g. IPv6 disabled on this host
            raise SnmpRequestError("config", f"cannot open the SNMP socket: {exc}") from None
        return _CommunityClient(
            transport,
            (address, port),
            0 if creds.version == "1" else 1,
            (creds.community or "").encode(),
            timeout_s,
            retries,
            max_repetitions,
        )

    async def get(self, target: Target, oids: list[OID]) -> list[tuple[OID, Value]] | ProbeError:
        """A plain GET of ``oids`` with the target's credentials (v1: unknown ones dropped)."""
        try:
            client = await self._client(target, self._creds(target.credentials))
            return await client.get(oids)
        except CredentialsError as exc:
            return ProbeError(kind="config", message=str(exc))
        except SnmpRequestError as exc:
            return ProbeError(kind=exc.kind, message=str(exc)[:2000])  # type: ignore[arg-type]

    async def run(self, target: Target) -> SnmpReading | ProbeError:
        profile = select_profile(self.profiles, target.technology, target.snmp_profile)
        if profile is None:
            return ProbeError(
                kind="config", message=f"unknown SNMP profile {target.snmp_profile!r}"
            )
        client: _CommunityClient | _UsmClient | None = None
        try:
            creds = self._creds(target.credentials)
            client = await self._client(target, creds)
            if (
                self.targeted
                and isinstance(client, _CommunityClient)
                and client.version == 1
                and "if_type" in profile.tables.get("interfaces", {})
            ):
                return await poll_targeted(client, profile, self.shapes)
            return await poll(client, profile)
        except CredentialsError as exc:
            return ProbeError(kind="config", message=str(exc))
        except SnmpRequestError as exc:
            if exc.kind == "unreachable" and client is not None:
                self._fall_back(target.host, client)
            return ProbeError(kind=exc.kind, message=str(exc)[:2000])  # type: ignore[arg-type]

    def _fall_back(self, host: str, client: _CommunityClient | _UsmClient) -> None:
        """A name's address the kernel called unreachable: its other family next."""
        if literal_family(host) is not None:
            return
        if isinstance(client, _CommunityClient):
            address = client.addr[0]
        else:
            address = (getattr(client.target, "transport_address", None) or ("",))[0]
        if address:
            self.resolver.fall_back(host, str(address))
