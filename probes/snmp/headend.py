"""The headend probe: one poll of a CMTS, DSLAM or OLT reads every line it serves.

``await probe.run(headend, lines)`` -> ``HeadendReading | ProbeError``. A
CMTS's per-modem tables cost one walk for all its modems, where polling the
modems means a few requests each (bench/bench_headend.py measures both).

- Requests go over the SNMP probe's shared v1/v2c transport (one UDP socket,
  pre-encoded requests) or its pysnmp v3 path, with the headend's credentials.
- One GET of sysDescr/sysUpTime (no answer: ``ProbeError``, like a modem).
- Each profile table is walked with GETBULK, all its columns at once, tables
  concurrently (at most ``TABLES_AT_ONCE``). Bounded: ``max_rows`` rows per
  column and ``max_time_s`` for the whole poll; past either the reading says
  ``truncated``. A 32-bit counter column is walked only where its Counter64
  twin (``X_ext``) is missing.
- The IF-MIB name and state of the interfaces the reading shows (CMTS
  upstream channels, DSLAM ports, OLT PON ports) by GET.
- A walk that fails part way keeps what came (``problems.walk_errors``); a
  table the device does not have is listed in ``absent``; cells and rows that
  cannot go into the model are counted in ``problems`` and logged once per
  headend and kind of problem. Nothing a headend answers raises.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import operator
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from probes.model import Headend, HeadendReading, ProbeError
from probes.snmp.ber import END_OF_MIB_VIEW, GETBULK, NULL, OID, Value, parse_oid
from probes.snmp.credentials import CredentialsError, SnmpCredentials
from probes.snmp.headend_profiles import (
    HeadendProfile,
    load_headend_profiles,
    select_headend_profile,
)
from probes.snmp.headend_reading import (
    IfInfo,
    LineIndex,
    Raw,
    build_headend_reading,
    interface_indexes,
)
from probes.snmp.probe import MAX_GET_VARBINDS, SnmpProbe, _CommunityClient, _UsmClient
from probes.snmp.transport import SnmpRequestError

__all__ = ["HeadendProbe", "LineIndex"]

log = logging.getLogger(__name__)

SYS_DESCR = parse_oid("1.3.6.1.2.1.1.1.0")
SYS_UPTIME = parse_oid("1.3.6.1.2.1.1.3.0")
IF_NAME = parse_oid("1.3.6.1.2.1.31.1.1.1.1")  # IF-MIB ifName
IF_DESCR = parse_oid("1.3.6.1.2.1.2.2.1.2")  # ifDescr, where ifName is missing
IF_OPER = parse_oid("1.3.6.1.2.1.2.2.1.8")  # ifOperStatus
TABLES_AT_ONCE = 4  # walks in flight per headend
GETS_AT_ONCE = 4  # interface GETs in flight per headend
# Repetitions x columns per GETBULK: the shared client caps an answer at 240
# varbinds (~8 KB), which every agent answers without tooBig.
BULK_VARBINDS = 240
_LOG_LIMIT = 4096
_TOO_BIG = 1  # error-status tooBig: ask for fewer repetitions
_lt = operator.lt


@dataclass
class _Walk:
    raw: dict[str, dict[OID, Value]]
    truncated: bool = False
    failed: SnmpRequestError | None = None

    @property
    def empty(self) -> bool:
        return not any(self.raw.values())


@dataclass
class HeadendProbeStats:
    """Totals over every poll (tests and the agent's logs read them)."""

    polls: int = 0
    rows: int = 0
    problems: Counter[str] = field(default_factory=Counter)


Client = _CommunityClient | _UsmClient


class HeadendProbe:
    """Start once, share widely; ``run`` never raises for a bad headend."""

    kind = "headend"

    def __init__(
        self,
        snmp: SnmpProbe | Mapping[str, SnmpCredentials],
        *,
        profiles: Mapping[str, HeadendProfile] | str | None = None,
        timeout_s: float = 5.0,
        retries: int = 1,
        max_rows: int = 20_000,
        max_time_s: float = 45.0,
    ) -> None:
        self._own_snmp = not isinstance(snmp, SnmpProbe)
        self.snmp = snmp if isinstance(snmp, SnmpProbe) else SnmpProbe(snmp)
        if profiles is None or isinstance(profiles, str):
            self.profiles = load_headend_profiles(profiles)
        else:
            self.profiles = dict(profiles)
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_rows = max_rows
        self.max_time_s = max_time_s
        self.stats = HeadendProbeStats()
        self._logged: set[tuple[str, str]] = set()

    async def start(self) -> None:
        await self.snmp.start()

    async def aclose(self) -> None:
        if self._own_snmp:
            await self.snmp.aclose()

    async def __aenter__(self) -> HeadendProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- one poll ------------------------------------------------------------------
    async def run(
        self, headend: Headend, lines: LineIndex | None = None
    ) -> HeadendReading | ProbeError:
        profile = select_headend_profile(self.profiles, headend.kind, headend.snmp_profile)
        if profile is None or profile.kind != headend.kind:
            return ProbeError(
                kind="config",
                message=f"no {headend.kind} headend profile {headend.snmp_profile!r}",
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_time_s
        try:
            client = await self.snmp.client(
                headend.host, headend.port, headend.credentials,
                timeout_s=self.timeout_s, retries=self.retries,
            )
            got = await client.get([SYS_DESCR, SYS_UPTIME])
        except CredentialsError as exc:
            return ProbeError(kind="config", message=str(exc))
        except SnmpRequestError as exc:
            return ProbeError(kind=exc.kind, message=str(exc)[:2000])  # type: ignore[arg-type]
        scalars = {
            "sys_descr" if oid == SYS_DESCR else "sys_uptime_s": value
            for oid, value in got if oid in (SYS_DESCR, SYS_UPTIME)
        }
        raw, absent, errors, truncated = await self._walk_tables(client, profile, deadline)
        ifinfo = await self._interfaces(client, interface_indexes(profile, raw), deadline)
        # The cyclic GC paused for the build (synchronous, ~25 us a modem): its
        # ~10k new structs and lists would trigger collections that walk the
        # agent's whole heap, and a reading is a tree (no cycles to find).
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            reading, problems = build_headend_reading(
                profile, headend.headend, scalars, raw, ifinfo, lines,
                absent=absent, walk_errors=errors, truncated=truncated,
            )
        finally:
            if paused:
                gc.enable()
        if truncated:
            problems["truncated"] += 1
        self._account(headend.headend, reading, problems)
        return reading

    async def _walk_tables(
        self, client: Client, profile: HeadendProfile, deadline: float
    ) -> tuple[Raw, list[str], int, bool]:
        sem = asyncio.Semaphore(TABLES_AT_ONCE)

        async def one(table: str) -> _Walk:
            cols = profile.tables[table]
            first = {f: c.oid for f, c in cols.items() if f"{f}_ext" not in cols}
            async with sem:
                walk = await walk_table(client, first, deadline, self.max_rows)
                # Counter32 twins only where the device has no Counter64 column.
                twins = {
                    f: c.oid for f, c in cols.items()
                    if f not in first and not walk.raw.get(f"{f}_ext")
                }
                if twins and not walk.empty and walk.failed is None:
                    more = await walk_table(client, twins, deadline, self.max_rows)
                    walk.raw.update(more.raw)
                    walk.truncated |= more.truncated
                    walk.failed = more.failed
            return walk

        tables = list(profile.tables)
        walks = await asyncio.gather(*(one(t) for t in tables))
        raw: Raw = {}
        absent: list[str] = []
        errors = 0
        truncated = False
        for table, walk in zip(tables, walks, strict=True):
            raw[table] = walk.raw
            truncated |= walk.truncated
            if walk.failed is not None:
                errors += 1
            elif walk.empty:
                absent.append(table)
        return raw, absent, errors, truncated

    async def _interfaces(self, client: Client, indexes: list[int], deadline: float) -> IfInfo:
        """ifName (else ifDescr) and ifOperStatus of ``indexes``, by GET; what does
        not come back in time stays unknown."""
        if not indexes:
            return {}
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(GETS_AT_ONCE)

        async def get(oids: list[OID]) -> list[tuple[OID, Value]]:
            async with sem:
                if loop.time() > deadline:
                    return []
                try:
                    return await client.get(oids)
                except SnmpRequestError:
                    return []

        async def fetch(oids: list[OID]) -> dict[OID, Value]:
            chunks = [oids[i : i + MAX_GET_VARBINDS] for i in range(0, len(oids), MAX_GET_VARBINDS)]
            values: dict[OID, Value] = {}
            for answer in await asyncio.gather(*(get(c) for c in chunks)):
                values.update(answer)
            return values

        got = await fetch([(*col, i) for i in indexes for col in (IF_NAME, IF_OPER)])
        names: dict[int, str | None] = {}
        for i in indexes:
            name = got.get((*IF_NAME, i))
            names[i] = name.decode("utf-8", "replace")[:256] if isinstance(name, bytes) else None
        missing = [i for i in indexes if not names[i]]
        if missing:
            descr = await fetch([(*IF_DESCR, i) for i in missing])
            for i in missing:
                value = descr.get((*IF_DESCR, i))
                if isinstance(value, bytes) and value:
                    names[i] = value.decode("utf-8", "replace")[:256]
        out: IfInfo = {}
        for i in indexes:
            oper = got.get((*IF_OPER, i))
            out[i] = (names[i] or None, int(oper) if isinstance(oper, int) else None)
        return out

    def _account(self, headend: str, reading: HeadendReading, problems: Counter[str]) -> None:
        """Totals, and one warning per headend and kind of problem (never per poll)."""
        stats = self.stats
        stats.polls += 1
        stats.rows += len(reading.modems) + len(reading.ports) + len(reading.onts)
        for kind, count in problems.items():
            if not count:
                continue
            stats.problems[kind] += count
            key = (headend, kind)
            if key in self._logged:
                continue
            if len(self._logged) >= _LOG_LIMIT:
                self._logged.clear()
            self._logged.add(key)
            log.warning(
                "headend %s: %d %s in one poll (%s); counted in each reading's problems, "
                "logged once", headend, count, kind.replace("_", " "), _WHAT[kind],
            )


_WHAT = {
    "bad_key": "rows without a usable MAC, port or ONT id, dropped",
    "duplicate_key": "MACs on two rows of one table, the first kept",
    "wrong_type": "cells of an SNMP type the column does not have, left out",
    "out_of_range": "values outside the model's bounds or the MIB's enum, left out",
    "oversize": "equalization data longer than the model keeps, left out",
    "walk_errors": "tables whose walk failed part way, what came is kept",
    "unmatched": "rows whose MAC or port is in no inventory line of this headend",
    "truncated": "walks stopped at max_rows or max_time_s, rows are missing",
}


async def _bulk(
    client: _CommunityClient, oids: list[OID], reps: int
) -> list[list[tuple[OID, Value]]]:
    """One v2c GETBULK, encoded for this request alone: a walk's cursors never
    repeat, so the transport's per-shape templates would only cost (four encodes
    each) and crowd out the modem polls' templates."""
    n = len(oids)
    varbinds = [(o, NULL) for o in oids]
    for _ in range(4):
        pdu = await client.t.request(
            client.addr, client.version, client.community, GETBULK, varbinds,
            non_repeaters=0, max_repetitions=reps,
            timeout_s=client.timeout_s, retries=client.retries,
        )
        if pdu.error_status == _TOO_BIG and reps > 1:
            reps //= 2
            continue
        if pdu.error_status:
            break
        vbs = pdu.varbinds
        return [vbs[i::n] for i in range(n)]
    return [[(o, END_OF_MIB_VIEW)] for o in oids]


def _whole(items: list[tuple[OID, Value]], prefix: OID, n: int, last: OID) -> bool:
    """True when every item of an answer's column is inside the column and in
    strictly rising order after ``last``: the common case, checked in C (first and
    last in the subtree + rising = all in it). An exception value amid such rows
    is kept and counted as a wrong type by the reading."""
    first_oid, end = items[0][0], items[-1]
    if first_oid <= last or first_oid[:n] != prefix or end[0][:n] != prefix:
        return False
    if end[1] is END_OF_MIB_VIEW:
        return False
    oids = [oid for oid, _ in items]
    return all(map(_lt, oids, oids[1:]))


async def walk_table(
    client: Client, columns: dict[str, OID], deadline: float, max_rows: int
) -> _Walk:
    """Walk ``columns`` side by side with GETBULK (GETNEXT for v1) until each leaves
    its subtree; at most ``max_rows`` rows a column and until ``deadline``
    (loop time). A request that fails ends the walk with what came."""
    loop = asyncio.get_running_loop()
    walk = _Walk({f: {} for f in columns})
    cursors = dict(columns)
    active = list(columns)
    for _ in range(max_rows + 2):  # each round advances every active column by >= 1 row
        if not active:
            break
        if loop.time() >= deadline:
            walk.truncated = True
            break
        reps = max(1, BULK_VARBINDS // len(active))
        asked = [cursors[f] for f in active]
        try:
            if isinstance(client, _CommunityClient):
                if client.version == 0:
                    per_col = await client.next_rows(asked)
                else:
                    per_col = await _bulk(client, asked, reps)
            else:
                per_col = await client.next_rows(asked)
        except SnmpRequestError as exc:
            walk.failed = exc
            break
        still = []
        for name, items in zip(active, per_col, strict=False):
            prefix = columns[name]
            n = len(prefix)
            got = walk.raw[name]
            last = cursors[name]
            done = not items
            if items and _whole(items, prefix, n, last):
                for oid, value in items:
                    got[oid[n:]] = value
                last = items[-1][0]
            else:
                for oid, value in items:
                    # in the column's subtree, strictly after the last one (no loops)
                    if oid <= last or oid[:n] != prefix or value is END_OF_MIB_VIEW:
                        done = True
                        break
                    got[oid[n:]] = value
                    last = oid
            cursors[name] = last
            if len(got) >= max_rows:
                walk.truncated = True
                done = True
            if not done:
                still.append(name)
        if len(per_col) < len(active):  # a short answer: stop rather than guess
            break
        active = still
    else:
        walk.truncated = bool(active)
    return walk

