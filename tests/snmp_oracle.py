"""pysnmp/pyasn1 as the oracle for the hand-written BER codec (probes/snmp/ber.py):
encode a ber.Message with pysnmp, decode ours with pysnmp, compare values by
ASN.1 tag and content. Shared by tests/test_snmp_ber.py (fixed cases) and
tests/test_snmp_codec_props.py (hypothesis)."""

from __future__ import annotations

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from probes.snmp import ber
from probes.snmp.ber import (
    END_OF_MIB_VIEW,
    GET,
    GETBULK,
    GETNEXT,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    RESPONSE,
    SET,
    Counter32,
    Counter64,
    Gauge32,
    IpAddress,
    Message,
    ObjectId,
    Opaque,
    TimeTicks,
    decode_message,
)

PDU_CLASSES = {
    GET: "GetRequestPDU",
    GETNEXT: "GetNextRequestPDU",
    RESPONSE: "GetResponsePDU",
    SET: "SetRequestPDU",
    GETBULK: "GetBulkRequestPDU",
}


def to_pysnmp_value(mod: object, value: ber.Value) -> object:
    v2c = api.v2c
    if value is NULL:
        return mod.Null("")  # type: ignore[attr-defined]
    if value is NO_SUCH_OBJECT:
        return v2c.NoSuchObject("")
    if value is NO_SUCH_INSTANCE:
        return v2c.NoSuchInstance("")
    if value is END_OF_MIB_VIEW:
        return v2c.EndOfMibView("")
    v1 = mod is api.v1
    names = {
        Counter64: "Counter64",
        Counter32: "Counter" if v1 else "Counter32",
        Gauge32: "Gauge" if v1 else "Gauge32",
        TimeTicks: "TimeTicks",
    }
    if type(value) in names:
        return getattr(mod, names[type(value)])(int(value))  # type: ignore[call-overload]
    if type(value) is IpAddress:
        return mod.IpAddress(bytes(value))  # type: ignore[attr-defined]
    if type(value) is Opaque:
        return mod.Opaque(bytes(value))  # type: ignore[attr-defined]
    if type(value) is ObjectId:
        return mod.ObjectIdentifier(tuple(value))  # type: ignore[attr-defined]
    if isinstance(value, bytes):
        return mod.OctetString(value)  # type: ignore[attr-defined]
    return mod.Integer(int(value))  # type: ignore[attr-defined, call-overload]


def pysnmp_encode(msg: Message) -> bytes:
    mod = api.PROTOCOL_MODULES[msg.version]
    pdu = getattr(mod, PDU_CLASSES[msg.pdu.tag])()
    mod.apiPDU.set_defaults(pdu)
    mod.apiPDU.set_request_id(pdu, msg.pdu.request_id)
    if msg.pdu.tag == GETBULK:
        mod.apiBulkPDU.set_non_repeaters(pdu, msg.pdu.error_status)
        mod.apiBulkPDU.set_max_repetitions(pdu, msg.pdu.error_index)
    else:
        mod.apiPDU.set_error_status(pdu, msg.pdu.error_status)
        mod.apiPDU.set_error_index(pdu, msg.pdu.error_index)
    mod.apiPDU.set_varbinds(
        pdu, [(oid, to_pysnmp_value(mod, value)) for oid, value in msg.pdu.varbinds]
    )
    wire = mod.Message()
    mod.apiMessage.set_defaults(wire)
    mod.apiMessage.set_community(wire, msg.community)
    mod.apiMessage.set_pdu(wire, pdu)
    return bytes(encoder.encode(wire))


def pysnmp_decode(data: bytes, version: int) -> tuple[object, object]:
    """(wire Message, PDU) as pysnmp reads ``data``."""
    mod = api.PROTOCOL_MODULES[version]
    wire, rest = decoder.decode(data, asn1Spec=mod.Message())
    assert not rest
    return wire, mod.apiMessage.get_pdu(wire)


def pysnmp_decode_varbinds(data: bytes, version: int) -> list[tuple[tuple[int, ...], object]]:
    mod = api.PROTOCOL_MODULES[version]
    _, pdu = pysnmp_decode(data, version)
    return [(tuple(oid), value) for oid, value in mod.apiPDU.get_varbinds(pdu)]


def assert_same_value(theirs: object, value: ber.Value) -> None:
    """pysnmp's decoded value equals ours (type by ASN.1 tag, then content)."""
    if isinstance(value, ber.Sentinel):
        tag = theirs.tagSet[0].tagId if value is not NULL else 5  # type: ignore[attr-defined]
        assert tag == value.tag & 0x1F
    elif isinstance(value, ObjectId):
        assert tuple(theirs) == value  # type: ignore[call-overload]
    elif isinstance(value, bytes):
        assert theirs.asOctets() == value  # type: ignore[attr-defined]
    else:
        assert int(theirs) == value  # type: ignore[call-overload]
    tag_ids = {Counter32: 1, Gauge32: 2, TimeTicks: 3, Counter64: 6, IpAddress: 0, Opaque: 4}
    if type(value) in tag_ids:
        assert theirs.tagSet[0].tagId == tag_ids[type(value)]  # type: ignore[attr-defined]


def _is_minus_power_of_two(n: int) -> bool:
    return n < 0 and (-n) & (-n - 1) == 0


def assert_matches_oracle(ours: bytes, msg: Message) -> None:
    """Byte-identical to pysnmp, except where pyasn1 is non-minimal: it encodes
    -2**k as e.g. ``ff 80`` for -128 where X.690 8.3.2 requires ``80``; then both
    decoders must still agree on the value."""
    theirs = pysnmp_encode(msg)
    if ours != theirs:
        assert any(
            type(v) in (int, ber.Integer32) and _is_minus_power_of_two(v)  # type: ignore[arg-type]
            for _, v in msg.pdu.varbinds
        ) or _is_minus_power_of_two(msg.pdu.request_id), (ours.hex(), theirs.hex())
        assert len(ours) < len(theirs)
        assert decode_message(theirs) == msg
