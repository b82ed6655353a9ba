"""The hand-written BER codec agrees with pysnmp (the oracle) byte for byte, and
malformed datagrams raise BerError and nothing else."""

from __future__ import annotations

import random

import pytest
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
    BerError,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    Message,
    ObjectId,
    Pdu,
    TimeTicks,
    decode_message,
    encode_message,
    parse_oid,
)

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
LONG_OID = (1, 3, 6, 1, 4, 1, 4491, 2, 1, 20, 1, 24, 1, 1, 128, 16383, 16384, 2**32 + 7, 2**40)

V1_VALUES: list[ber.Value] = [
    0,
    1,
    -1,
    127,
    128,
    -128,
    -129,
    255,
    256,
    -(2**31),
    2**31 - 1,
    Integer32(-55),
    b"",
    b"Linux modem 4.9 \xff\x00",
    b"x" * 300,  # long-form length
    Counter32(0),
    Counter32(2**32 - 1),
    Counter32(2**31),
    Gauge32(1_000_000_000),
    Gauge32(2**32 - 1),
    TimeTicks(123456789),
    IpAddress(b"\x0a\x00\x00\x01"),
    ObjectId((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)),
    ObjectId(LONG_OID),
    NULL,
]
V2C_ONLY: list[ber.Value] = [
    Counter64(0),
    Counter64(2**63 - 1),
    Counter64(2**63),
    Counter64(2**64 - 1),
    NO_SUCH_OBJECT,
    NO_SUCH_INSTANCE,
    END_OF_MIB_VIEW,
]


def _to_pysnmp_value(mod, value):
    v2c = api.v2c
    if value is NULL:
        return mod.Null("")
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
        return getattr(mod, names[type(value)])(int(value))
    if type(value) is IpAddress:
        return mod.IpAddress(bytes(value))
    if type(value) is ObjectId:
        return mod.ObjectIdentifier(tuple(value))
    if isinstance(value, bytes):
        return mod.OctetString(value)
    return mod.Integer(int(value))


_PDU_CLASSES = {
    GET: "GetRequestPDU",
    GETNEXT: "GetNextRequestPDU",
    RESPONSE: "GetResponsePDU",
    GETBULK: "GetBulkRequestPDU",
}


def pysnmp_encode(msg: Message) -> bytes:
    mod = api.PROTOCOL_MODULES[msg.version]
    pdu = getattr(mod, _PDU_CLASSES[msg.pdu.tag])()
    mod.apiPDU.set_defaults(pdu)
    mod.apiPDU.set_request_id(pdu, msg.pdu.request_id)
    if msg.pdu.tag == GETBULK:
        mod.apiBulkPDU.set_non_repeaters(pdu, msg.pdu.error_status)
        mod.apiBulkPDU.set_max_repetitions(pdu, msg.pdu.error_index)
    else:
        mod.apiPDU.set_error_status(pdu, msg.pdu.error_status)
        mod.apiPDU.set_error_index(pdu, msg.pdu.error_index)
    mod.apiPDU.set_varbinds(
        pdu, [(oid, _to_pysnmp_value(mod, value)) for oid, value in msg.pdu.varbinds]
    )
    wire = mod.Message()
    mod.apiMessage.set_defaults(wire)
    mod.apiMessage.set_community(wire, msg.community)
    mod.apiMessage.set_pdu(wire, pdu)
    return encoder.encode(wire)


def pysnmp_decode_varbinds(data: bytes, version: int) -> list[tuple[tuple[int, ...], object]]:
    mod = api.PROTOCOL_MODULES[version]
    wire, rest = decoder.decode(data, asn1Spec=mod.Message())
    assert not rest
    pdu = mod.apiMessage.get_pdu(wire)
    return [(tuple(oid), value) for oid, value in mod.apiPDU.get_varbinds(pdu)]


def assert_same_value(theirs: object, value: ber.Value) -> None:
    """pysnmp's decoded value equals ours (type by ASN.1 tag, then content)."""
    if isinstance(value, ber.Sentinel):
        tag = theirs.tagSet[0].tagId if value is not NULL else 5  # type: ignore[attr-defined]
        assert tag == value.tag & 0x1F
    elif isinstance(value, ObjectId):
        assert tuple(theirs) == value  # type: ignore[arg-type]
    elif isinstance(value, bytes):
        assert theirs.asOctets() == value  # type: ignore[attr-defined]
    else:
        assert int(theirs) == value  # type: ignore[call-overload]
    tag_ids = {Counter32: 1, Gauge32: 2, TimeTicks: 3, Counter64: 6, IpAddress: 0}
    if type(value) in tag_ids:
        assert theirs.tagSet[0].tagId == tag_ids[type(value)]  # type: ignore[attr-defined]


def assert_matches_oracle(ours: bytes, msg: Message) -> None:
    """Byte-identical to pysnmp, except where pyasn1 is non-minimal: it encodes
    -2**k as e.g. ``ff 80`` for -128 where X.690 8.3.2 requires ``80``; then both
    decoders must still agree on the value."""
    theirs = pysnmp_encode(msg)
    if ours != theirs:
        assert any(
            isinstance(v, int) and v < 0 and (-v) & (-v - 1) == 0 for _, v in msg.pdu.varbinds
        ) or (msg.pdu.request_id < 0 and (-msg.pdu.request_id) & (-msg.pdu.request_id - 1) == 0)
        assert len(ours) < len(theirs)
        assert decode_message(theirs) == msg


def _message(version: int, tag: int, values: list[ber.Value], request_id: int = 4242) -> Message:
    varbinds = [((*LONG_OID[:12], i), v) for i, v in enumerate(values)]
    return Message(version, b"public", Pdu(tag, request_id, 0, 0, varbinds))


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("value", V1_VALUES, ids=repr)
def test_response_value_matches_pysnmp_both_ways(version: int, value: ber.Value) -> None:
    msg = _message(version, RESPONSE, [value])
    ours = encode_message(msg)
    assert_matches_oracle(ours, msg)
    back = decode_message(ours)
    assert back == msg
    assert type(back.pdu.varbinds[0][1]) is (int if type(value) is Integer32 else type(value))
    [(oid, theirs)] = pysnmp_decode_varbinds(ours, version)
    assert oid == msg.pdu.varbinds[0][0]
    assert_same_value(theirs, value)


@pytest.mark.parametrize("value", V2C_ONLY, ids=repr)
def test_v2c_only_values_match_pysnmp(value: ber.Value) -> None:
    msg = _message(1, RESPONSE, [value])
    ours = encode_message(msg)
    assert_matches_oracle(ours, msg)
    back = decode_message(ours)
    assert back.pdu.varbinds[0][1] == value
    assert type(back.pdu.varbinds[0][1]) is type(value)
    [(_, theirs)] = pysnmp_decode_varbinds(ours, 1)
    assert_same_value(theirs, value)


def test_many_varbinds_and_long_oid_requests_match_pysnmp() -> None:
    oids = [SYS_DESCR, LONG_OID, (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 2**31 - 1), (2, 999, 3)]
    for version in (0, 1):
        for tag in (GET, GETNEXT):
            msg = Message(version, b"c0mm", Pdu(tag, 2**31 - 1, 0, 0, [(o, NULL) for o in oids]))
            assert_matches_oracle(encode_message(msg), msg)
            assert decode_message(encode_message(msg)) == msg


def test_getbulk_carries_non_repeaters_and_max_repetitions() -> None:
    msg = Message(1, b"public", Pdu(GETBULK, -77, 2, 25, [(SYS_DESCR, NULL), (LONG_OID, NULL)]))
    ours = encode_message(msg)
    assert_matches_oracle(ours, msg)
    wire, _ = decoder.decode(ours, asn1Spec=api.v2c.Message())
    pdu = api.v2c.apiMessage.get_pdu(wire)
    assert int(api.v2c.apiBulkPDU.get_non_repeaters(pdu)) == 2
    assert int(api.v2c.apiBulkPDU.get_max_repetitions(pdu)) == 25
    assert decode_message(ours).pdu == msg.pdu


def test_decodes_a_mixed_response_encoded_by_pysnmp() -> None:
    values = V1_VALUES + V2C_ONLY
    msg = _message(1, RESPONSE, values, request_id=-5)
    decoded = decode_message(pysnmp_encode(msg))
    assert decoded.pdu.request_id == -5
    assert [v for _, v in decoded.pdu.varbinds] == values
    assert [type(v) for _, v in decoded.pdu.varbinds] == [
        int if type(v) is Integer32 else type(v) for v in values
    ]


def test_error_status_and_index_round_trip() -> None:
    msg = Message(0, b"public", Pdu(RESPONSE, 9, 2, 1, [(SYS_DESCR, NULL)]))  # v1 noSuchName
    assert_matches_oracle(encode_message(msg), msg)
    assert decode_message(encode_message(msg)).pdu.error_status == 2


def test_parse_oid() -> None:
    assert parse_oid("1.3.6.1.2.1.1.3.0") == (1, 3, 6, 1, 2, 1, 1, 3, 0)
    assert parse_oid(".1.3.6") == (1, 3, 6)
    for bad in ("", "1", "a.b", "1..2", "1.-3"):
        with pytest.raises(BerError):
            parse_oid(bad)


@pytest.mark.parametrize(
    "value",
    [Counter32(-1), Counter32(2**32), Counter64(2**64), 2**31, -(2**31) - 1, IpAddress(b"1")],
    ids=repr,
)
def test_unencodable_values_raise_ber_error(value: ber.Value) -> None:
    with pytest.raises(BerError):
        encode_message(_message(1, RESPONSE, [value]))


def test_invalid_oids_raise_ber_error() -> None:
    for oid in [(1,), (3, 1), (1, 40), (1, 3, -1)]:
        with pytest.raises(BerError):
            encode_message(Message(1, b"p", Pdu(GET, 1, 0, 0, [(oid, NULL)])))


def test_truncated_and_garbage_datagrams_raise_only_ber_error() -> None:
    rng = random.Random(1234)
    good = encode_message(_message(1, RESPONSE, V1_VALUES + V2C_ONLY))
    cases: list[bytes] = [b"", b"\x30", b"\x30\x80", b"\x30\x84\xff\xff\xff\xff"]
    cases += [good[:n] for n in range(len(good))]  # every truncation
    cases += [good + b"\x00"]  # trailing garbage
    for _ in range(1500):  # bit flips and byte replacements of a valid message
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cases.append(bytes(mutated))
    for _ in range(1500):  # random bytes, some starting like a message
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
        cases.append(body if rng.random() < 0.5 else b"\x30" + bytes((len(body),)) + body)
    decoded = 0
    for case in cases:
        try:
            msg = decode_message(case)
        except BerError:
            continue
        decoded += 1
        # whatever does decode must re-encode without crashing or raise BerError
        try:
            encode_message(msg)
        except BerError:
            pass
    assert decoded < len(cases)
    for n in range(len(good)):
        with pytest.raises(BerError):
            decode_message(good[:n])


def test_v3_and_v1_trap_are_rejected_cleanly() -> None:
    good = encode_message(_message(1, GET, [NULL]))
    v3 = good.replace(b"\x02\x01\x01", b"\x02\x01\x03", 1)  # msgVersion 3
    with pytest.raises(BerError):
        decode_message(v3)
    trap = bytearray(encode_message(_message(0, GET, [NULL])))
    trap[trap.index(GET)] = 0xA4
    with pytest.raises(BerError):
        decode_message(bytes(trap))


def _random_value(rng: random.Random, version: int) -> ber.Value:
    kinds = ["int", "octets", "c32", "g32", "tt", "ip", "oid", "null"]
    if version == 1:
        kinds += ["c64", "c64", "exception"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([rng.randint(-(2**31), 2**31 - 1), rng.randint(-300, 300)])
    if kind == "octets":
        return rng.randbytes(rng.choice([0, 1, 5, 40, 127, 128, 200, 700]))
    if kind in ("c32", "g32", "tt"):
        cls = {"c32": Counter32, "g32": Gauge32, "tt": TimeTicks}[kind]
        return cls(rng.choice([rng.randint(0, 2**32 - 1), rng.randint(0, 200)]))
    if kind == "c64":
        return Counter64(rng.choice([rng.randint(0, 2**64 - 1), rng.randint(0, 2**33)]))
    if kind == "ip":
        return IpAddress(rng.randbytes(4))
    if kind == "oid":
        return ObjectId(_random_oid(rng))
    if kind == "exception":
        return rng.choice([NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW])
    return NULL


def _random_oid(rng: random.Random) -> tuple[int, ...]:
    first = rng.randint(0, 2)
    second = rng.randint(0, 39) if first < 2 else rng.randint(0, 500)
    arcs = [rng.choice([rng.randint(0, 127), rng.randint(0, 2**14), rng.randint(0, 2**32)])
            for _ in range(rng.randint(0, 20))]
    return (first, second, *arcs)


@pytest.mark.parametrize("seed", range(4))
def test_differential_fuzz_random_messages_decode_like_pysnmp(seed: int) -> None:
    """Random valid messages encoded by pysnmp decode to exactly what was encoded
    (values and SMI types), and ours encode to what pysnmp decodes back."""
    rng = random.Random(seed)
    for _ in range(60):
        version = rng.randint(0, 1)
        values = [_random_value(rng, version) for _ in range(rng.randint(0, 60))]
        varbinds = [(_random_oid(rng), v) for v in values]
        msg = Message(version, rng.randbytes(rng.randint(0, 20)),
                      Pdu(RESPONSE, rng.randint(-(2**31), 2**31 - 1), rng.randint(0, 18),
                          rng.randint(0, 60), varbinds))
        decoded = decode_message(pysnmp_encode(msg))
        assert decoded == msg
        assert [type(v) for _, v in decoded.pdu.varbinds] == [
            bytes if isinstance(v, bytes) and type(v) is not IpAddress
            else int if type(v) is Integer32 else type(v)
            for v in values
        ]
        theirs = pysnmp_decode_varbinds(encode_message(msg), version)
        assert [oid for oid, _ in theirs] == [oid for oid, _ in varbinds]
        for (_, their_value), value in zip(theirs, values, strict=True):
            assert_same_value(their_value, value)
