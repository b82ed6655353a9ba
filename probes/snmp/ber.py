"""A small, fast SNMP v1/v2c message codec (BER, RFC 3416 / RFC 1157).

Why hand-written: it is the hot path of both the agent (thousands of polls a
second) and the fleet simulator, and pysnmp's generic ASN.1 machinery costs
hundreds of microseconds per PDU. This codec handles only what SNMP v1/v2c
messages contain, decodes with slicing and ``int.from_bytes`` (no per-byte
loops except inside OIDs with sub-ids > 127), and is tested against pysnmp as
the oracle (tests/test_snmp_ber.py).

``decode_message`` raises ``BerError`` (a ValueError) for anything malformed
or truncated, and nothing else: a hostile datagram must never break a loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Final, TypeAlias

__all__ = [
    "COMPILED",
    "END_OF_MIB_VIEW",
    "GET",
    "GETBULK",
    "GETNEXT",
    "INFORM",
    "NOT_CONTEXT",
    "NO_SUCH_INSTANCE",
    "NO_SUCH_OBJECT",
    "NULL",
    "OID",
    "REPORT",
    "RESPONSE",
    "SET",
    "TRAP2",
    "BerError",
    "Counter32",
    "Counter64",
    "Gauge32",
    "Integer32",
    "IpAddress",
    "Message",
    "ObjectId",
    "Opaque",
    "Pdu",
    "Sentinel",
    "TimeTicks",
    "Value",
    "decode_message",
    "decode_oid",
    "encode_message",
    "encode_oid",
    "format_oid",
    "parse_oid",
]

OID: TypeAlias = tuple[int, ...]


class BerError(ValueError):
    """A message that is not valid SNMP v1/v2c BER (or a value that cannot be encoded)."""


# --- value types ------------------------------------------------------------------


class Integer32(int):
    """INTEGER (plain ``int`` encodes the same way)."""

    __slots__ = ()


class Counter32(int):
    __slots__ = ()


class Gauge32(int):
    """Gauge32 / Unsigned32 (same tag, RFC 2578)."""

    __slots__ = ()


class TimeTicks(int):
    """Hundredths of a second."""

    __slots__ = ()


class Counter64(int):
    __slots__ = ()


class IpAddress(bytes):
    """Four octets, network order."""

    __slots__ = ()


class Opaque(bytes):
    __slots__ = ()


class ObjectId(tuple):  # type: ignore[type-arg]
    """An OBJECT IDENTIFIER as a value (a plain tuple is an OID *name*)."""

    __slots__ = ()


class Sentinel:
    """NULL and the v2c exception values (noSuchObject, noSuchInstance, endOfMibView)."""

    __slots__ = ("name", "tag")

    def __init__(self, name: str, tag: int) -> None:
        self.name = name
        self.tag = tag

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name


NULL: Final = Sentinel("NULL", 0x05)
NO_SUCH_OBJECT: Final = Sentinel("NO_SUCH_OBJECT", 0x80)
NO_SUCH_INSTANCE: Final = Sentinel("NO_SUCH_INSTANCE", 0x81)
END_OF_MIB_VIEW: Final = Sentinel("END_OF_MIB_VIEW", 0x82)
NOT_CONTEXT: Final = (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW)

Value: TypeAlias = int | bytes | ObjectId | Sentinel

# PDU tags (context-specific, constructed).
GET: Final = 0xA0
GETNEXT: Final = 0xA1
RESPONSE: Final = 0xA2
SET: Final = 0xA3
_TRAP_V1: Final = 0xA4
GETBULK: Final = 0xA5
INFORM: Final = 0xA6
TRAP2: Final = 0xA7
REPORT: Final = 0xA8
_PDU_TAGS: Final = frozenset({GET, GETNEXT, RESPONSE, SET, GETBULK, INFORM, TRAP2, REPORT})

# Universal / application tags.
_INT, _OCTETS, _NULL, _OID, _SEQ = 0x02, 0x04, 0x05, 0x06, 0x30
_IPADDR, _COUNTER32, _GAUGE32, _TIMETICKS, _OPAQUE, _COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46

_U32_MAX: Final = 2**32 - 1
_U64_MAX: Final = 2**64 - 1
_I32_MIN: Final = -(2**31)
_I32_MAX: Final = 2**31 - 1


@dataclass(slots=True)
class Pdu:
    """One PDU. For GETBULK, ``error_status`` is non-repeaters and ``error_index``
    max-repetitions, exactly as on the wire."""

    tag: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[tuple[OID, Value]]


@dataclass(slots=True)
class Message:
    version: int  # 0 = v1, 1 = v2c
    community: bytes
    pdu: Pdu


# --- OIDs ---------------------------------------------------------------------------


def parse_oid(text: str) -> OID:
    """``"1.3.6.1.2.1.1.3.0"`` (a leading dot is allowed) -> ``(1, 3, 6, ...)``."""
    text = text.strip()
    if text.startswith("."):
        text = text[1:]
    try:
        oid = tuple(int(part) for part in text.split("."))
    except ValueError:
        raise BerError(f"not an OID: {text!r}") from None
    if len(oid) < 2 or min(oid) < 0:
        raise BerError(f"not an OID: {text!r}")
    return oid


def format_oid(oid: OID) -> str:
    return ".".join(map(str, oid))


_OID_ENC_CACHE: dict[tuple[int, ...], bytes] = {}
_OID_DEC_CACHE: dict[bytes, OID] = {}
_CACHE_MAX: Final = 200_000
# Hostile input bounds. RFC 2578 caps sub-identifiers at 2**32-1; we accept up to
# 64 bits (seen from agents with 64-bit ``oid`` types), which also keeps a huge
# arc from costing quadratic time and digits that ``str()`` refuses. Only short
# OIDs (every real MIB name) are cached, so a flood of distinct 64 KiB OIDs
# cannot grow the cache to gigabytes.
_ARC_MAX: Final = 2**64 - 1
_CACHED_OID_LEN: Final = 64


def encode_oid(oid: tuple[int, ...]) -> bytes:
    """The content octets of an OID (no tag/length)."""
    cached = _OID_ENC_CACHE.get(oid)
    if cached is not None:
        return cached
    if len(oid) < 2:
        raise BerError(f"an OID needs at least two arcs: {oid!r}")
    first, second = oid[0], oid[1]
    if not (0 <= first <= 2) or second < 0 or (first < 2 and second >= 40):
        raise BerError(f"invalid first arcs in OID {oid!r}")
    arcs = [first * 40 + second, *oid[2:]]
    if max(arcs) < 0x80 and min(arcs) >= 0:
        out = bytes(arcs)
    else:
        buf = bytearray()
        for arc in arcs:
            if not 0 <= arc <= _ARC_MAX:
                raise BerError(f"arc out of range in OID {oid!r}")
            if arc < 0x80:
                buf.append(arc)
                continue
            chunk = [arc & 0x7F]
            arc >>= 7
            while arc:
                chunk.append(0x80 | (arc & 0x7F))
                arc >>= 7
            buf.extend(reversed(chunk))
        out = bytes(buf)
    if len(_OID_ENC_CACHE) >= _CACHE_MAX:
        _OID_ENC_CACHE.clear()
    _OID_ENC_CACHE[tuple(oid)] = out
    return out


def decode_oid(content: bytes) -> OID:
    """OID content octets -> tuple of arcs."""
    cached = _OID_DEC_CACHE.get(content)
    if cached is not None:
        return cached
    if not content or content[-1] & 0x80:
        raise BerError("truncated OID")
    if max(content) < 0x80:
        arcs = list(content)
    else:
        arcs = []
        value = 0
        for byte in content:
            value = (value << 7) | (byte & 0x7F)
            if value > _ARC_MAX:  # bail early: a 64 KiB arc costs O(n^2) shifts
                raise BerError("OID sub-identifier too large")
            if not byte & 0x80:
                arcs.append(value)
                value = 0
    head = arcs[0]
    if head < 40:
        oid = (0, head, *arcs[1:])
    elif head < 80:
        oid = (1, head - 40, *arcs[1:])
    else:
        oid = (2, head - 80, *arcs[1:])
    if len(content) <= _CACHED_OID_LEN:
        if len(_OID_DEC_CACHE) >= _CACHE_MAX:
            _OID_DEC_CACHE.clear()
        _OID_DEC_CACHE[bytes(content)] = oid
    return oid


# --- encoding ------------------------------------------------------------------------

_SHORT_LENGTHS: Final = [bytes((n,)) for n in range(0x80)]


def _len(n: int) -> bytes:
    if n < 0x80:
        return _SHORT_LENGTHS[n]
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    if n < 0x1000000:
        return b"\x83" + n.to_bytes(3, "big")
    return b"\x84" + n.to_bytes(4, "big")


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + _len(n) + content


def _int_content(n: int) -> bytes:
    return n.to_bytes(((n if n >= 0 else ~n).bit_length() // 8) + 1, "big", signed=True)


def _encode_int(tag: int, n: int, lo: int, hi: int) -> bytes:
    if not lo <= n <= hi:
        raise BerError(f"value {n} out of range for tag 0x{tag:02x}")
    return _tlv(tag, _int_content(n))


_NULL_TLV: Final = b"\x05\x00"


def _encode_value(value: Value) -> bytes:
    kind = type(value)
    if kind is bytes or kind is bytearray:
        return _tlv(_OCTETS, bytes(value))  # type: ignore[arg-type]
    if kind is int or kind is Integer32 or kind is bool:
        return _encode_int(_INT, int(value), _I32_MIN, _I32_MAX)  # type: ignore[arg-type]
    if kind is Counter32:
        return _encode_int(_COUNTER32, value, 0, _U32_MAX)  # type: ignore[arg-type]
    if kind is Gauge32:
        return _encode_int(_GAUGE32, value, 0, _U32_MAX)  # type: ignore[arg-type]
    if kind is TimeTicks:
        return _encode_int(_TIMETICKS, value, 0, _U32_MAX)  # type: ignore[arg-type]
    if kind is Counter64:
        return _encode_int(_COUNTER64, value, 0, _U64_MAX)  # type: ignore[arg-type]
    if kind is IpAddress:
        if len(value) != 4:  # type: ignore[arg-type]
            raise BerError("IpAddress must be 4 octets")
        return _tlv(_IPADDR, value)  # type: ignore[arg-type]
    if kind is Opaque:
        return _tlv(_OPAQUE, value)  # type: ignore[arg-type]
    if kind is ObjectId:
        return _tlv(_OID, encode_oid(value))  # type: ignore[arg-type]
    if kind is Sentinel:
        return bytes((value.tag, 0))  # type: ignore[union-attr]
    if isinstance(value, int):  # other int subclasses (IntEnum...) -> INTEGER
        return _encode_int(_INT, int(value), _I32_MIN, _I32_MAX)
    if isinstance(value, bytes | bytearray | memoryview):
        return _tlv(_OCTETS, bytes(value))
    raise BerError(f"cannot encode value of type {kind.__name__}")


_OID_TLV_CACHE: dict[tuple[int, ...], bytes] = {}


def _oid_tlv(oid: tuple[int, ...]) -> bytes:
    """Tag, length and content of an OID name, cached (a fleet encodes the same few
    thousand OIDs millions of times)."""
    out = _OID_TLV_CACHE.get(oid)
    if out is None:
        out = _tlv(_OID, encode_oid(oid))
        if len(_OID_TLV_CACHE) >= _CACHE_MAX:
            _OID_TLV_CACHE.clear()
        _OID_TLV_CACHE[tuple(oid)] = out
    return out


# Small INTEGER / unsigned TLVs, the bulk of every MIB (statuses, types, levels).
_SMALL_INT_TLV: Final = {n: _tlv(_INT, _int_content(n)) for n in range(-1024, 4096)}
_UNSIGNED_TAG: Final = {
    Counter32: (_COUNTER32, _U32_MAX),
    Gauge32: (_GAUGE32, _U32_MAX),
    TimeTicks: (_TIMETICKS, _U32_MAX),
    Counter64: (_COUNTER64, _U64_MAX),
}


def _encode_varbind(oid: tuple[int, ...], value: Value) -> bytes:
    return _tlv(_SEQ, _oid_tlv(oid) + _encode_value(value))


def _encode_varbinds(varbinds: list[tuple[OID, Value]]) -> bytes:
    """The varbind list content: the common value types inline, the rest via _encode_value."""
    parts: list[bytes] = []
    append = parts.append
    oid_cache = _OID_TLV_CACHE
    small = _SMALL_INT_TLV
    unsigned = _UNSIGNED_TAG
    for oid, value in varbinds:
        head = oid_cache.get(oid)  # type: ignore[call-overload]
        if head is None:
            head = _oid_tlv(oid)
        kind = type(value)
        if kind is int:
            enc = small.get(value)  # type: ignore[call-overload]
            if enc is None:
                enc = _encode_int(_INT, value, _I32_MIN, _I32_MAX)  # type: ignore[arg-type]
        elif kind is bytes and len(value) < 0x80:  # type: ignore[arg-type]
            enc = bytes((_OCTETS, len(value))) + value  # type: ignore[arg-type, operator]
        elif kind in unsigned and 0 <= value <= unsigned[kind][1]:  # type: ignore[operator]
            content = _int_content(value)  # type: ignore[arg-type]
            enc = bytes((unsigned[kind][0], len(content))) + content
        else:
            enc = _encode_value(value)
        body = head + enc
        n = len(body)
        append(bytes((_SEQ, n)) + body if n < 0x80 else _tlv(_SEQ, body))
    return b"".join(parts)


def encode_message(msg: Message) -> bytes:
    """Message -> datagram bytes. Raises BerError for values that cannot be encoded."""
    pdu = msg.pdu
    if pdu.tag not in _PDU_TAGS:
        raise BerError(f"unsupported PDU tag 0x{pdu.tag:02x}")
    varbinds = _encode_varbinds(pdu.varbinds)
    body = b"".join(
        (
            _encode_int(_INT, pdu.request_id, _I32_MIN, _I32_MAX),
            _encode_int(_INT, pdu.error_status, 0, _I32_MAX),
            _encode_int(_INT, pdu.error_index, 0, _I32_MAX),
            _tlv(_SEQ, varbinds),
        )
    )
    if msg.version not in (0, 1):
        raise BerError(f"unsupported SNMP version {msg.version}")
    return _tlv(
        _SEQ,
        bytes((_INT, 1, msg.version)) + _tlv(_OCTETS, bytes(msg.community)) + _tlv(pdu.tag, body),
    )


# --- decoding ------------------------------------------------------------------------


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read tag and length at pos; return (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise BerError("truncated header")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise BerError("unsupported length form")
        if pos + count > end:
            raise BerError("truncated length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    stop = pos + length
    if stop > end:
        raise BerError("truncated content")
    return tag, pos, stop


def _read_int(data: bytes, pos: int, end: int) -> tuple[int, int]:
    tag, start, stop = _header(data, pos, end)
    if tag != _INT or start == stop or stop - start > 9:
        raise BerError("expected INTEGER")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def _unsigned(content: bytes, limit: int) -> int:
    # Lenient on a missing leading zero (some agents send 0xFFFFFFFF as 4 octets).
    if not content or len(content) > 9:
        raise BerError("bad unsigned length")
    value = int.from_bytes(content, "big")
    if value > limit:
        raise BerError("unsigned value out of range")
    return value


def _decode_value(tag: int, content: bytes) -> Value:
    if tag == _OCTETS:
        return content
    if tag == _INT:
        if not content or len(content) > 9:
            raise BerError("bad INTEGER length")
        return int.from_bytes(content, "big", signed=True)
    if tag == _COUNTER32:
        return Counter32(_unsigned(content, _U32_MAX))
    if tag == _GAUGE32:
        return Gauge32(_unsigned(content, _U32_MAX))
    if tag == _TIMETICKS:
        return TimeTicks(_unsigned(content, _U32_MAX))
    if tag == _COUNTER64:
        return Counter64(_unsigned(content, _U64_MAX))
    if tag == _OID:
        return ObjectId(decode_oid(content))
    if tag == _IPADDR:
        if len(content) != 4:
            raise BerError("IpAddress must be 4 octets")
        return IpAddress(content)
    if tag == _OPAQUE:
        return Opaque(content)
    if content:
        raise BerError("NULL-like value with content")
    if tag == _NULL:
        return NULL
    if tag == 0x80:
        return NO_SUCH_OBJECT
    if tag == 0x81:
        return NO_SUCH_INSTANCE
    if tag == 0x82:
        return END_OF_MIB_VIEW
    raise BerError(f"unknown value tag 0x{tag:02x}")


def _decode_varbinds(data: bytes, pos: int, end: int) -> list[tuple[OID, Value]]:
    """The varbind list, inlined for the common short-form lengths: the hot loop of
    every poll. Long forms and rare value types go through _header/_decode_value."""
    varbinds: list[tuple[OID, Value]] = []
    append = varbinds.append
    oid_cache = _OID_DEC_CACHE
    from_bytes = int.from_bytes
    unsigned = _UNSIGNED_OF_TAG
    while pos < end:
        if data[pos] != _SEQ:
            raise BerError("expected varbind SEQUENCE")
        n = data[pos + 1]
        if n < 0x80:
            start = pos + 2
            pos = start + n
            if pos > end:
                raise BerError("truncated content")
        else:
            _, start, pos = _header(data, pos, end)
        if data[start] != _OID:
            raise BerError("expected varbind OID")
        n = data[start + 1]
        if n < 0x80:
            value_pos = start + 2 + n
            if value_pos > pos:
                raise BerError("truncated content")
            raw_oid = data[start + 2 : value_pos]
        else:
            _, oid_start, value_pos = _header(data, start, pos)
            raw_oid = data[oid_start:value_pos]
        oid = oid_cache.get(raw_oid)
        if oid is None:
            oid = decode_oid(raw_oid)
        if value_pos + 2 > pos:
            raise BerError("truncated header")
        tag = data[value_pos]
        n = data[value_pos + 1]
        if n < 0x80:
            value_start = value_pos + 2
            if value_start + n != pos:
                raise BerError("trailing bytes in varbind")
        else:
            tag, value_start, value_end = _header(data, value_pos, pos)
            if value_end != pos:
                raise BerError("trailing bytes in varbind")
            n = pos - value_start
        if tag == _INT:
            # One and two octets (levels x10, states, ifTypes: most of a DOCSIS
            # poll's INTEGERs) without int.from_bytes' keyword call and slice.
            if n == 1:
                value = data[value_start]
                append((oid, value - 0x100 if value & 0x80 else value))
            elif n == 2:
                value = data[value_start] << 8 | data[value_start + 1]
                append((oid, value - 0x10000 if value & 0x8000 else value))
            elif not 0 < n <= 9:
                raise BerError("bad INTEGER length")
            else:
                append((oid, from_bytes(data[value_start:pos], "big", signed=True)))
        elif tag == _OCTETS:
            append((oid, data[value_start:pos]))
        elif tag in unsigned:
            kind, limit = unsigned[tag]
            if not 0 < n <= 9:
                raise BerError("bad unsigned length")
            value = from_bytes(data[value_start:pos], "big")
            if value > limit:
                raise BerError("unsigned value out of range")
            append((oid, kind(value)))
        else:
            append((oid, _decode_value(tag, data[value_start:pos])))
    return varbinds


_UNSIGNED_OF_TAG: Final[dict[int, tuple[type[int], int]]] = {
    _COUNTER32: (Counter32, _U32_MAX),
    _GAUGE32: (Gauge32, _U32_MAX),
    _TIMETICKS: (TimeTicks, _U32_MAX),
    _COUNTER64: (Counter64, _U64_MAX),
}


def _py_decode_message(data: bytes) -> Message:
    """Datagram -> Message. Raises BerError (only) for anything malformed or truncated."""
    try:
        data = bytes(data)
        end = len(data)
        tag, pos, stop = _header(data, 0, end)
        if tag != _SEQ or stop != end:
            raise BerError("not a single SNMP message SEQUENCE")
        version, pos = _read_int(data, pos, stop)
        if version not in (0, 1):
            raise BerError(f"unsupported SNMP version {version}")
        tag, cstart, pos = _header(data, pos, stop)
        if tag != _OCTETS:
            raise BerError("expected community OCTET STRING")
        community = data[cstart:pos]
        tag, pos, pdu_end = _header(data, pos, stop)
        if pdu_end != stop:
            raise BerError("trailing bytes after PDU")
        if tag not in _PDU_TAGS:
            raise BerError(f"unsupported PDU tag 0x{tag:02x}")
        request_id, pos = _read_int(data, pos, pdu_end)
        error_status, pos = _read_int(data, pos, pdu_end)
        error_index, pos = _read_int(data, pos, pdu_end)
        vtag, vstart, vend = _header(data, pos, pdu_end)
        if vtag != _SEQ or vend != pdu_end:
            raise BerError("expected varbind list")
        varbinds = _decode_varbinds(data, vstart, vend)
    except BerError:
        raise
    except (IndexError, ValueError, OverflowError, TypeError) as exc:  # defensive: never leak
        raise BerError(f"malformed message: {exc}") from None
    return Message(version, community, Pdu(tag, request_id, error_status, error_index, varbinds))


def _compiled() -> ModuleType | None:
    """probes/snmp/_ber_fast.pyx (this decoder and the poll's other per-varbind
    loops in C), unless it was not built or LINEWATCH_PURE_BER=1 asks for Python."""
    if os.environ.get("LINEWATCH_PURE_BER", "") not in ("", "0"):
        return None
    try:
        from probes.snmp import _ber_fast
    except ImportError:
        return None
    if not all(hasattr(_ber_fast, name) for name in _COMPILED_API):
        return None  # a stale build of an older .pyx: rebuild with pip install -e .
    return _ber_fast


_COMPILED_API: Final = ("decode_message", "absorb", "convert_column", "all_convert")


compiled: Final = _compiled()
"""The compiled module, or None where it is not built or not wanted (its users
keep a Python twin of each function: probe._py_absorb, reading's converters)."""
py_decode_message: Final = _py_decode_message
"""The pure-Python decoder, whichever ``decode_message`` is (the reference in tests)."""
fast_decode_message: Final[Callable[[bytes], Message] | None] = (
    compiled.decode_message if compiled is not None else None
)
"""The compiled decoder (the same decoder in C, ~6x faster), or None."""
decode_message: Final = fast_decode_message or _py_decode_message
"""Datagram -> Message. Raises BerError (only) for anything malformed or truncated."""
COMPILED: Final = compiled is not None
