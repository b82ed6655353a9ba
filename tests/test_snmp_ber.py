"""The hand-written BER codec agrees with pysnmp (the oracle) byte for byte on
fixed cases. Random messages (hypothesis) are in tests/test_snmp_codec_props.py,
hostile datagrams in tests/test_snmp_fuzz.py."""

from __future__ import annotations

import pytest
from pyasn1.codec.ber import decoder
from pysnmp.proto import api
from snmp_oracle import (
    assert_matches_oracle,
    assert_same_value,
    pysnmp_decode_varbinds,
    pysnmp_encode,
)

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


def test_v3_and_v1_trap_are_rejected_cleanly() -> None:
    good = encode_message(_message(1, GET, [NULL]))
    v3 = good.replace(b"\x02\x01\x01", b"\x02\x01\x03", 1)  # msgVersion 3
    with pytest.raises(BerError):
        decode_message(v3)
    trap = bytearray(encode_message(_message(0, GET, [NULL])))
    trap[trap.index(GET)] = 0xA4
    with pytest.raises(BerError):
        decode_message(bytes(trap))


def _int_message(content: bytes) -> bytes:
    """A GetResponse with one varbind (1.3.6.1.2.1.1.7.0) whose INTEGER has exactly
    ``content`` as its octets (also non-minimal ones no encoder writes)."""
    def tlv(tag: int, body: bytes) -> bytes:
        assert len(body) < 0x80
        return bytes([tag, len(body)]) + body

    varbind = tlv(0x30, tlv(0x06, bytes([0x2B, 6, 1, 2, 1, 1, 7, 0])) + tlv(0x02, content))
    pdu = tlv(0xA2, tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00")
              + tlv(0x30, varbind))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, b"public") + pdu)


def test_short_integer_fast_path_matches_from_bytes_exhaustively() -> None:
    """The decoder's one- and two-octet INTEGER shortcut against int.from_bytes
    (the general path) on every such content; three octets take the general path."""
    contents = [bytes([a]) for a in range(256)]
    contents += [bytes([a, b]) for a in range(256) for b in range(256)]
    contents += [b"\x80\x00\x00", b"\x00\xff\xff", b"\xff\xff\xff"]
    for content in contents:
        (_, value), = decode_message(_int_message(content)).pdu.varbinds
        assert type(value) is int
        assert value == int.from_bytes(content, "big", signed=True), content
    with pytest.raises(BerError):
        decode_message(_int_message(b""))
