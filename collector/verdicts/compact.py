"""Compact per-account state for the verdict engine (a million accounts in RAM).

A full SNMP reading is ~6 KB of Python objects (16 downstream channels, each
with powers, SNR and counters), the engine used to keep two of them per
account, and verdicts decoded from the store carry their own copies of the
same action texts and customer messages. What the rules actually need later:

- of the *current* reading: its time, that it is a reading, its line findings
  (computed once when it arrives, they depend on it and the previous reading
  only) and the LAN ports for ``lan_down`` -> ``slim_snmp``;
- of the *previous* good reading: its time, sysUpTime (reboot detection) and
  the line counters the delta rules read -> ``docsis_key`` / ``pack_rest``,
  a few hundred bytes of msgpack; a new reading with the same key needs
  nothing else (no rise in uncorrectables or T3/T4), otherwise
  ``prev_reading`` decodes them back into the struct types the rules take;
- of verdicts: equal texts, messages and evidence lists shared -> ``Interner``.

Everything here returns values the rules treat exactly like the originals.
"""

from __future__ import annotations

import operator
from typing import Any

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
_index_unc = operator.attrgetter("index", "uncorrectable")
_ok_cor = operator.attrgetter("unerrored", "corrected")

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


def docsis_key(line: DocsisLine) -> bytes:
    """T3/T4 and (index, uncorrectable) per downstream channel, packed: two
    readings with equal keys leave ``docsis_clean`` only the levels to check
    (``rules.docsis_clean_unchanged``), the usual poll of a healthy modem."""
    return _pack((line.t3_timeouts, line.t4_timeouts, list(map(_index_unc, line.downstream))))


def pack_rest(reading: SnmpReading) -> bytes:
    """The other counters of a good reading that the next one is compared with
    (codeword and CRC deltas); with ``docsis_key`` all that ``prev_reading`` needs."""
    line = reading.line
    body: tuple[Any, ...]
    if isinstance(line, DocsisLine):
        body = ("d", list(map(_ok_cor, line.downstream)))
    elif isinstance(line, DslLine):
        body = ("s", line.crc_errors)
    elif isinstance(line, GponLine):
        body = ("g",)
    else:
        body = ("-",)
    return _pack(body)


def prev_reading(rest: bytes, key: bytes | None, uptime: float | None) -> SnmpReading:
    """The previous reading as the rules take it: sysUpTime and line counters only."""
    body = _unpack(rest)
    kind = body[0]
    line: DocsisLine | DslLine | GponLine | None
    if kind == "d" and key is not None:
        t3, t4, index_unc = _unpack(key)
        line = DocsisLine(
            downstream=[
                DownstreamChannel(index=i, unerrored=ok, corrected=cor, uncorrectable=unc)
                for (i, unc), (ok, cor) in zip(index_unc, body[1], strict=True)
            ],
            t3_timeouts=t3,
            t4_timeouts=t4,
        )
    elif kind == "s":
        line = DslLine(crc_errors=body[1])
    elif kind == "g":
        line = GponLine()
    else:
        line = None
    return SnmpReading(sys_uptime_s=uptime, line=line)
