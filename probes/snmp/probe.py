"""The SNMP probe: poll one modem per ``run(target)`` and return an SnmpReading.

v1/v2c go through the fast codec over one shared UDP socket (transport.py);
v3 goes through pysnmp (v3.py). Both feed the same collection code: one GET
for the profile's scalars, then a GETBULK (v2c/v3) or GETNEXT (v1) walk of all
table columns at once, bounded in round trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pysnmp.hlapi.v3arch import asyncio as hl

from probes.model import ProbeError, SnmpReading, Target
from probes.snmp.ber import (
    END_OF_MIB_VIEW,
    GET,
    GETBULK,
    GETNEXT,
    NULL,
    OID,
    Value,
)
from probes.snmp.credentials import CredentialsError, SnmpCredentials
from probes.snmp.profiles import Profile, load_profiles, select_profile
from probes.snmp.reading import Raw, build_reading
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

    async def _request(self, tag: int, oids: list[OID], max_rep: int = 0) -> Any:
        return await self.t.request(
            self.addr,
            self.version,
            self.community,
            tag,
            [(o, NULL) for o in oids],
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

    async def next_rows(self, oids: list[OID]) -> list[list[tuple[OID, Value]]]:
        n = len(oids)
        if self.version == 0:
            return await self._next_v1(oids)
        max_rep = max(1, min(self.max_rep, MAX_BULK_VARBINDS // n))
        for _ in range(4):
            pdu = await self._request(GETBULK, oids, max_rep)
            if pdu.error_status == _TOO_BIG and max_rep > 1:
                max_rep //= 2
                continue
            if pdu.error_status:
                return [[(o, END_OF_MIB_VIEW)] for o in oids]
            per_col: list[list[tuple[OID, Value]]] = [[] for _ in range(n)]
            for i, vb in enumerate(pdu.varbinds):
                per_col[i % n].append(vb)
            return per_col
        return [[(o, END_OF_MIB_VIEW)] for o in oids]

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


async def walk_columns(client: _Client, columns: dict[tuple[str, str], OID]) -> Raw:
    """Walk many columns at once until each leaves its subtree; bounded round trips."""
    raw: Raw = {}
    for table, field in columns:
        raw.setdefault(table, {})[field] = {}
    cursors = dict(columns)
    active = list(columns)
    for _ in range(MAX_WALK_ROUNDS):
        if not active:
            break
        per_col = await client.next_rows([cursors[k] for k in active])
        still = []
        for key, items in zip(active, per_col, strict=True):
            prefix = columns[key]
            n = len(prefix)
            done = not items
            for oid, value in items:
                if value is END_OF_MIB_VIEW or oid[:n] != prefix or oid <= cursors[key]:
                    done = True
                    break
                raw[key[0]][key[1]][oid[n:]] = value
                cursors[key] = oid
            if not done:
                still.append(key)
        active = still
    return raw


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
    ) -> None:
        self.credentials = dict(credentials)
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_repetitions = max_repetitions
        if profiles is None or isinstance(profiles, str):
            self.profiles = load_profiles(profiles)
        else:
            self.profiles = dict(profiles)
        self.transport = UdpTransport()
        self._engine: hl.SnmpEngine | None = None
        self._v3: dict[str, V3Client] = {}
        self._resolved: dict[str, SnmpCredentials | CredentialsError] = {}

    async def start(self) -> None:
        await self.transport.start()

    async def aclose(self) -> None:
        await self.transport.aclose()
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
        if creds.version == "3":
            if self._engine is None:
                self._engine = hl.SnmpEngine()
            v3 = self._v3.get(target.credentials)
            if v3 is None:
                v3 = self._v3[target.credentials] = V3Client(self._engine, creds)
            udp = await v3.target(target.host, target.port, self.timeout_s, self.retries)
            return _UsmClient(v3, udp, self.max_repetitions)
        await self.transport.start()  # no-op once started
        host = await self.transport.resolve(target.host)
        return _CommunityClient(
            self.transport,
            (host, target.port),
            0 if creds.version == "1" else 1,
            (creds.community or "").encode(),
            self.timeout_s,
            self.retries,
            self.max_repetitions,
        )

    async def run(self, target: Target) -> SnmpReading | ProbeError:
        profile = select_profile(self.profiles, target.technology, target.snmp_profile)
        if profile is None:
            return ProbeError(
                kind="config", message=f"unknown SNMP profile {target.snmp_profile!r}"
            )
        try:
            creds = self._creds(target.credentials)
            client = await self._client(target, creds)
            return await poll(client, profile)
        except CredentialsError as exc:
            return ProbeError(kind="config", message=str(exc))
        except SnmpRequestError as exc:
            return ProbeError(kind=exc.kind, message=str(exc)[:2000])  # type: ignore[arg-type]
