"""Compact per-account state for the verdict engine (a million accounts in RAM).

A full SNMP reading is ~6 KB of Python objects (16 downstream channels, each
with powers, SNR and counters), the engine used to keep two of them per
account, and verdicts decoded from the store carry their own copies of the
same action texts and customer messages. What the rules actually need later:

- of the *current* reading: its time, that it is a reading, its line findings
  (computed once when it arrives, they depend on it and the previous reading
  only) and the LAN ports for ``lan_down`` -> ``slim_snmp``;
- of the *previous* good reading: its time, sysUpTime (reboot detection) and
  the line counters the delta rules read -> ``pack_counters`` /
  ``unpack_counters``, a few hundred bytes of msgpack decoded back into the
  same struct types when the next reading arrives;
- of verdicts: equal texts, messages and evidence lists shared -> ``Interner``.

Everything here returns values the rules treat exactly like the originals.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from collector.model import Evidence, Verdict
from probes.model import (
    DocsisLine,
    DownstreamChannel,
    DslLine,
    GponLine,
    InterfaceStatus,
    ProbeRecord,
    SnmpReading,
)

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode

# Cached shared values are dropped wholesale past this many (per cache): the
# common ones (ok verdicts, healthy modems) come straight back.
_CACHE_MAX = 65_536


class Interner:
    """Shares equal immutable values (strings, interface lists, verdict parts)."""

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._messages: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._evidence: dict[tuple[Evidence, ...], list[Evidence]] = {}
        self._readings: dict[tuple[tuple[int, str, bool], ...], SnmpReading] = {}

    def string(self, s: str) -> str:
        got = self._strings.get(s)
        if got is None:
            if len(self._strings) >= _CACHE_MAX:
                self._strings.clear()
            self._strings[s] = got = s
        return got

    def messages(self, m: dict[str, str]) -> dict[str, str]:
        key = tuple(m.items())
        got = self._messages.get(key)
        if got is None:
            if len(self._messages) >= _CACHE_MAX:
                self._messages.clear()
            self._messages[key] = got = {k: self.string(v) for k, v in key}
        return got

    def evidence(self, ev: list[Evidence]) -> list[Evidence]:
        try:
            key = tuple(ev)
            got = self._evidence.get(key)
        except TypeError:  # an unhashable value: keep the list as it is
            return ev
        if got is None:
            if len(self._evidence) >= _CACHE_MAX:
                self._evidence.clear()
            self._evidence[key] = got = ev
        return got

    def verdict(self, v: Verdict, account: str, node: str) -> Verdict:
        """``v`` with its account/node strings the engine's and its texts shared."""
        return msgspec.structs.replace(
            v,
            account=account,
            node=node,
            evidence=self.evidence(v.evidence),
            action=self.string(v.action),
            customer_message=self.messages(v.customer_message),
        )

    def lan_reading(self, reading: SnmpReading) -> SnmpReading:
        """A reading holding only the LAN ports ``lan_down`` looks at (shared)."""
        ports = tuple(
            (i.index, i.name, bool(i.oper_up))
            for i in reading.interfaces
            if i.role == "lan" and i.oper_up is not None
        )
        got = self._readings.get(ports)
        if got is None:
            if len(self._readings) >= _CACHE_MAX:
                self._readings.clear()
            got = SnmpReading(
                interfaces=[
                    InterfaceStatus(index=ix, name=self.string(nm), role="lan", oper_up=up)
                    for ix, nm, up in ports
                ]
            )
            self._readings[ports] = got
        return got


def slim_snmp(
    rec: ProbeRecord, reading: SnmpReading, interner: Interner, account: str
) -> ProbeRecord:
    """``rec`` with its reading cut to the LAN ports (see module docstring) and
    the engine's own account string."""
    return msgspec.structs.replace(
        rec, account=account, probe="snmp", result=interner.lan_reading(reading)
    )


def pack_counters(rec: ProbeRecord, reading: SnmpReading) -> bytes:
    """Time, sysUpTime and line counters of a good reading (what the next one
    is compared with: reboot detection, codeword / timeout / CRC deltas)."""
    line = reading.line
    body: tuple[Any, ...]
    if isinstance(line, DocsisLine):
        ds = line.downstream
        body = (
            "d",
            line.t3_timeouts,
            line.t4_timeouts,
            [ch.index for ch in ds],
            [ch.unerrored for ch in ds],
            [ch.corrected for ch in ds],
            [ch.uncorrectable for ch in ds],
        )
    elif isinstance(line, DslLine):
        body = ("s", line.crc_errors)
    elif isinstance(line, GponLine):
        body = ("g",)
    else:
        body = ("-",)
    return _pack((rec.started_at, reading.sys_uptime_s, body))


class Counters(NamedTuple):
    """``pack_counters`` unpacked: read the DOCSIS lists directly (``body[3]``
    indexes, ``body[6]`` uncorrectables, ``body[1]``/``body[2]`` T3/T4) or
    build the reading the rules take with ``reading()``."""

    at: float
    uptime: float | None
    body: list[Any]

    def reading(self) -> SnmpReading:
        body = self.body
        kind = body[0]
        line: DocsisLine | DslLine | GponLine | None
        if kind == "d":
            line = DocsisLine(
                downstream=[
                    DownstreamChannel(index=i, unerrored=ok, corrected=cor, uncorrectable=unc)
                    for i, ok, cor, unc in zip(body[3], body[4], body[5], body[6], strict=True)
                ],
                t3_timeouts=body[1],
                t4_timeouts=body[2],
            )
        elif kind == "s":
            line = DslLine(crc_errors=body[1])
        elif kind == "g":
            line = GponLine()
        else:
            line = None
        return SnmpReading(sys_uptime_s=self.uptime, line=line)


def unpack_counters(data: bytes) -> Counters:
    at, uptime, body = _unpack(data)
    return Counters(float(at), uptime, body)
