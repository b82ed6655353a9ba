"""Property tests: the hand-written BER codec against pysnmp/pyasn1 as the oracle,
for random messages of every PDU type, version and SMI value type
(tests/snmp_strategies.py). Each property runs a fixed, derandomized number of
examples in CI; LINEWATCH_FUZZ_S scales them up for an on-demand run."""

from __future__ import annotations

from hypothesis import given
from pysnmp.proto import api
from snmp_oracle import assert_matches_oracle, assert_same_value, pysnmp_decode, pysnmp_encode
from snmp_strategies import FUZZ_S, ci_settings, expected_type, messages

from probes.snmp.ber import GETBULK, Message, decode_message, encode_message

EXAMPLES = 100 if not FUZZ_S else 1000


def assert_same_types(decoded: Message, msg: Message) -> None:
    assert [type(v) for _, v in decoded.pdu.varbinds] == [
        expected_type(v) for _, v in msg.pdu.varbinds
    ]


@ci_settings(EXAMPLES)
@given(messages())
def test_our_encoding_is_pysnmps_byte_for_byte(msg: Message) -> None:
    assert_matches_oracle(encode_message(msg), msg)


@ci_settings(EXAMPLES)
@given(messages())
def test_we_decode_what_pysnmp_encodes(msg: Message) -> None:
    decoded = decode_message(pysnmp_encode(msg))
    assert decoded == msg
    assert_same_types(decoded, msg)


@ci_settings(EXAMPLES)
@given(messages())
def test_pysnmp_decodes_what_we_encode(msg: Message) -> None:
    mod = api.PROTOCOL_MODULES[msg.version]
    wire, pdu = pysnmp_decode(encode_message(msg), msg.version)
    assert int(mod.apiMessage.get_version(wire)) == msg.version
    assert bytes(mod.apiMessage.get_community(wire)) == msg.community
    assert pdu.tagSet[0].tagId == msg.pdu.tag & 0x1F  # type: ignore[attr-defined]
    assert int(mod.apiPDU.get_request_id(pdu)) == msg.pdu.request_id
    if msg.pdu.tag == GETBULK:
        assert int(mod.apiBulkPDU.get_non_repeaters(pdu)) == msg.pdu.error_status
        assert int(mod.apiBulkPDU.get_max_repetitions(pdu)) == msg.pdu.error_index
    else:
        assert int(mod.apiPDU.get_error_status(pdu)) == msg.pdu.error_status
        # raw component: pysnmp's accessor refuses an index beyond the varbinds
        assert int(pdu.getComponentByPosition(2)) == msg.pdu.error_index  # type: ignore[attr-defined]
    theirs = [(tuple(oid), value) for oid, value in mod.apiPDU.get_varbinds(pdu)]
    assert [oid for oid, _ in theirs] == [oid for oid, _ in msg.pdu.varbinds]
    for (_, their_value), (_, value) in zip(theirs, msg.pdu.varbinds, strict=True):
        assert_same_value(their_value, value)


@ci_settings(EXAMPLES)
@given(messages())
def test_round_trip_is_identity_and_canonical(msg: Message) -> None:
    wire = encode_message(msg)
    decoded = decode_message(wire)
    assert decoded == msg
    assert_same_types(decoded, msg)
    assert encode_message(decoded) == wire
