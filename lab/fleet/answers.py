"""Template-encoded v2c answers: per request shape, the answer's OIDs are fixed.

Why: a poller sends the same few request shapes to every modem of one kind,
and for one MIB template (mib.py) the answer to a shape always names the same
OIDs — only the values (and the request-id) change. So the first request of a
shape is answered the general way (responder.respond) and leaves a plan: the
answer's varbinds as (pre-encoded OID TLV, template position) or a fixed
exception varbind. Later requests of that shape are looked up by their bytes
minus the request-id, never decoded, and their answers are the plan's bytes
with fresh values. The bytes equal ``encode_message(respond(...))`` for a
minimally encoded request-id (tests/test_snmp_templates.py); answers to one
shape name the same OIDs whatever the modem's faults (they change values,
and silence is checked before). v1 requests (noSuchName, no Counter64) always
take the general way.
"""

from __future__ import annotations

from typing import Final

from lab.fleet.mib import Template
from lab.fleet.values import ModemView
from probes.snmp.ber import (
    GET,
    GETBULK,
    GETNEXT,
    RESPONSE,
    Counter32,
    Counter64,
    Gauge32,
    Message,
    Pdu,
    Sentinel,
    TimeTicks,
    Value,
    encode_message,
    encode_oid,
)
from probes.snmp.templates import request_id_span

_SEQ, _INT, _OCTETS = 0x30, 0x02, 0x04
_UNSIGNED: Final[dict[type, int]] = {Counter32: 0x41, Gauge32: 0x42, TimeTicks: 0x43,
                                     Counter64: 0x46}
_PLAN_TAGS: Final = frozenset({GET, GETNEXT, GETBULK})


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


class Plan:
    """One request shape's answer on one template."""

    __slots__ = ("head", "steps")

    def __init__(self, head: bytes, steps: list[tuple[bytes, int]]) -> None:
        self.head = head  # version + community TLVs
        self.steps = steps  # (OID TLV, position) or (whole varbind, -1)


def make_plan(msg: Message, tpl: Template, answer: Message) -> Plan | None:
    """The plan behind ``answer`` (responder.respond's to ``msg``), or None when the
    answer is not a plain v2c one (v1, an error-status)."""
    if msg.version != 1 or msg.pdu.tag not in _PLAN_TAGS or answer.pdu.error_status:
        return None
    steps: list[tuple[bytes, int]] = []
    for oid, value in answer.pdu.varbinds:
        pos = tpl.index.get(oid)
        if isinstance(value, Sentinel) or pos is None:
            steps.append((_varbind(oid, value), -1))
        else:
            steps.append((_tlv(0x06, _oid_content(oid)), pos))
    head = _tlv(_INT, bytes((msg.version,))) + _tlv(_OCTETS, bytes(msg.community))
    return Plan(head, steps)


def _oid_content(oid: tuple[int, ...]) -> bytes:
    return encode_oid(oid)


def _varbind(oid: tuple[int, ...], value: Value) -> bytes:
    return _tlv(_SEQ, _tlv(0x06, _oid_content(oid)) + _value(value))


_SMALL: Final = {n: _tlv(_INT, n.to_bytes(((n if n >= 0 else ~n).bit_length() // 8) + 1,
                                          "big", signed=True)) for n in range(-1024, 4096)}


def _value(value: Value) -> bytes:
    kind = type(value)
    if kind is int:
        enc = _SMALL.get(value)  # type: ignore[call-overload]
        if enc is not None:
            return enc
        n: int = value  # type: ignore[assignment]
        content = n.to_bytes(((n if n >= 0 else ~n).bit_length() // 8) + 1, "big", signed=True)
        return bytes((_INT, len(content))) + content
    tag = _UNSIGNED.get(kind)
    if tag is not None:
        n = value  # type: ignore[assignment]
        content = n.to_bytes((n.bit_length() >> 3) + 1, "big")
        return bytes((tag, len(content))) + content
    if kind is bytes:
        if len(value) < 0x80:  # type: ignore[arg-type]
            return bytes((_OCTETS, len(value))) + value  # type: ignore[arg-type, operator]
        return _tlv(_OCTETS, value)  # type: ignore[arg-type]
    # Rare kinds (ObjectId, IpAddress, Opaque, sentinels): the codec's general way.
    # The varbind of OID 1.3 is the message's tail: 06 01 2b, then the value.
    wire = encode_message(Message(1, b"", Pdu(RESPONSE, 1, 0, 0, [((1, 3), value)])))
    return wire[wire.index(b"\x06\x01\x2b") + 3 :]


def answer(plan: Plan, tpl: Template, view: ModemView, request_id: bytes) -> bytes:
    """The answer's datagram: ``request_id`` is the request's INTEGER content octets."""
    getters = tpl.getters
    parts = []
    append = parts.append
    for head, pos in plan.steps:
        if pos < 0:
            append(head)
            continue
        body = head + _value(getters[pos](view))
        n = len(body)
        append(bytes((_SEQ, n)) + body if n < 0x80 else _tlv(_SEQ, body))
    varbinds = b"".join(parts)
    pdu = b"".join((bytes((_INT, len(request_id))), request_id, b"\x02\x01\x00\x02\x01\x00",
                    bytes((_SEQ,)), _length(len(varbinds)), varbinds))
    return _tlv(_SEQ, plan.head + bytes((0xA2,)) + _length(len(pdu)) + pdu)


class Plans:
    """Plans by (template, request bytes minus the request-id); bounded."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, bytes, bytes], Plan] = {}
        self.hits = 0

    @staticmethod
    def key(tpl: Template, data: bytes) -> tuple[tuple[str, bytes, bytes], bytes] | None:
        """(lookup key, request-id content octets), or None for what is not a request."""
        try:
            start, end = request_id_span(data)
        except (ValueError, IndexError):
            return None
        return (tpl.name, data[:start], data[end:]), data[start:end]

    def get(self, key: tuple[str, bytes, bytes]) -> Plan | None:
        return self._by_key.get(key)

    def put(self, key: tuple[str, bytes, bytes], plan: Plan) -> None:
        if len(self._by_key) >= self.LIMIT:
            self._by_key.clear()
        self._by_key[key] = plan
