"""The compiled decoder (probes/snmp/_ber_fast.pyx) against the pure-Python one
and pysnmp as oracles: value for value and type for type on valid messages
(hypothesis and the real recordings under ../shared/snmprec), and the same
outcome -- the same Message or BerError from both -- on hostile input
(the mutations and pathological shapes of tests/test_snmp_fuzz.py, and
hand-made edge cases). Never anything but a Message or BerError.

Where the extension is not built these tests skip (fail with CI=true: the
install builds it); LINEWATCH_PURE_BER=1 makes ``ber.decode_message`` the
Python one, and the rest of the SNMP tests then run on that path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from needs import REPO, _missing, shared_path
from snmp_oracle import assert_same_value, pysnmp_decode_varbinds, pysnmp_encode
from snmp_strategies import FUZZ_S, ci_settings, messages
from test_snmp_fuzz import (
    SYS_UPTIME_OID,
    crafted_datagrams,
    hostile_datagrams,
    nested,
    response_with,
    tlv,
)

from probes.snmp import ber
from probes.snmp.ber import (
    RESPONSE,
    BerError,
    Counter32,
    Counter64,
    Gauge32,
    IpAddress,
    Message,
    ObjectId,
    Opaque,
    Pdu,
    TimeTicks,
    encode_message,
    parse_oid,
)

EXAMPLES = 200 if not FUZZ_S else 3000


@pytest.fixture(autouse=True)
def compiled() -> None:
    if ber.fast_decode_message is None:
        if os.environ.get("LINEWATCH_PURE_BER", "") not in ("", "0"):
            pytest.skip("LINEWATCH_PURE_BER=1: the compiled decoder is switched off")
        _missing("probes/snmp/_ber_fast is not built (pip install -e . builds it)")


def outcome(decode: object, data: bytes) -> tuple[str, object]:
    """("ok", message with each value's type) or ("BerError", None); anything else raises."""
    try:
        msg = decode(data)  # type: ignore[operator]
    except BerError:
        return "BerError", None
    assert type(msg) is Message
    types = [(type(oid), type(value)) for oid, value in msg.pdu.varbinds]
    return "ok", (msg, types, type(msg.community), type(msg.pdu.request_id))


def assert_same_outcome(data: bytes) -> tuple[str, object]:
    fast = outcome(ber.fast_decode_message, data)
    pure = outcome(ber.py_decode_message, data)
    assert fast == pure, data.hex()
    return fast


# --- valid messages: both decoders and pysnmp agree -------------------------------------


@ci_settings(EXAMPLES)
@given(messages())
def test_compiled_decodes_pysnmps_encoding_like_python(msg: Message) -> None:
    wire = pysnmp_encode(msg)
    kind, _ = assert_same_outcome(wire)
    assert kind == "ok"
    decoded = ber.fast_decode_message(wire)  # type: ignore[misc]
    assert decoded == msg
    for (_, theirs), (_, value) in zip(
        pysnmp_decode_varbinds(wire, msg.version), decoded.pdu.varbinds, strict=True
    ):
        assert_same_value(theirs, value)


@ci_settings(EXAMPLES)
@given(messages())
def test_compiled_decode_of_our_encoding_round_trips(msg: Message) -> None:
    wire = encode_message(msg)
    assert assert_same_outcome(wire)[0] == "ok"
    assert encode_message(ber.fast_decode_message(wire)) == wire  # type: ignore[misc]


SNMPREC_TYPES = {
    "2": int, "4": bytes, "6": ObjectId, "64": IpAddress, "65": Counter32, "66": Gauge32,
    "67": TimeTicks, "68": Opaque, "70": Counter64,
}  # fmt: skip


def recorded_varbinds(text: str) -> list[tuple[ber.OID, ber.Value]]:
    """snmpsim's ``oid|tag|value`` lines as varbinds (``4x``: hex octets; IpAddress
    dotted or hex)."""
    out: list[tuple[ber.OID, ber.Value]] = []
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) != 3:
            continue
        oid, tag, raw = parts
        hexed = tag.endswith("x")
        kind = SNMPREC_TYPES[tag.removesuffix("x")]
        if kind is ObjectId:
            value: ber.Value = ObjectId(parse_oid(raw))
        elif kind is IpAddress and not hexed:
            value = IpAddress(bytes(int(octet) for octet in raw.split(".")))
        elif issubclass(kind, bytes):
            value = kind(bytes.fromhex(raw) if hexed else raw.encode())
        else:
            value = kind(int(raw))
        out.append((parse_oid(oid), value))
    return out


@pytest.mark.parametrize(
    "name",
    [
        "librenms-motorola-cm.snmprec",
        "librenms-thomson-cm.snmprec",
        "librenms-draytek_vdsl.snmprec",
        "librenms-teldat_teldatvdsl2.snmprec",
    ],
)
def test_compiled_decodes_the_real_recordings_like_python_and_pysnmp(name: str) -> None:
    """Every recorded value, 40 to a Response (as an agent answers a walk), through
    pysnmp's encoder and ours; both decoders give the recording back."""
    varbinds = recorded_varbinds(shared_path("snmprec", name).read_text(errors="replace"))
    assert len(varbinds) > 50
    for start in range(0, len(varbinds), 40):
        chunk = varbinds[start : start + 40]
        msg = Message(1, b"public", Pdu(RESPONSE, 1000 + start, 0, 0, chunk))
        for wire in (encode_message(msg), pysnmp_encode(msg)):
            assert assert_same_outcome(wire)[0] == "ok"
            decoded = ber.fast_decode_message(wire)  # type: ignore[misc]
            assert decoded == msg
            assert [type(v) for _, v in decoded.pdu.varbinds] == [type(v) for _, v in chunk]
            for (_, theirs), (_, value) in zip(
                pysnmp_decode_varbinds(wire, 1), decoded.pdu.varbinds, strict=True
            ):
                assert_same_value(theirs, value)


# --- hostile input: the same Message or BerError from both, never a crash ---------------


@ci_settings(EXAMPLES)
@given(hostile_datagrams())
def test_compiled_and_python_agree_on_mutated_messages(data: bytes) -> None:
    assert_same_outcome(data)


@ci_settings(60)
@given(crafted_datagrams())
def test_compiled_and_python_agree_on_pathological_shapes(data: bytes) -> None:
    assert_same_outcome(data)


@ci_settings(EXAMPLES)
@given(st.binary(max_size=300) | st.binary(max_size=200).map(lambda b: tlv(0x30, b)))
def test_compiled_and_python_agree_on_random_bytes(data: bytes) -> None:
    assert_same_outcome(data)


@ci_settings(30)
@given(messages())
def test_every_truncation_is_ber_error_in_both(msg: Message) -> None:
    wire = encode_message(msg)
    for n in range(len(wire)):
        assert assert_same_outcome(wire[:n])[0] == "BerError"


def vb(value_tlv: bytes, oid_tlv: bytes = SYS_UPTIME_OID) -> bytes:
    return response_with(tlv(0x30, oid_tlv + value_tlv))


EDGES = {
    "empty": b"",
    "one byte": b"\x30",
    "huge length": b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 8,
    "5-octet length": b"\x30\x85\x00\x00\x00\x00\x05" + b"\x05\x00" * 3,
    "indefinite length": b"\x30\x80\x02\x01\x01\x00\x00",
    "deep nesting": response_with(nested(5000)),
    "nested varbind value": vb(nested(100)),
    "empty varbind": response_with(b"\x30\x00"),
    "empty varbind then OID": response_with(b"\x30\x00\x06\x01\x2b"),
    "empty OID": vb(b"\x05\x00", b"\x06\x00"),
    "OID 0x80 sub-identifier": vb(b"\x05\x00", b"\x06\x03\x2b\x80\x01"),
    "OID ends in continuation": vb(b"\x05\x00", b"\x06\x02\x2b\x81"),
    "OID all 0x80": vb(b"\x05\x00", b"\x06\x04\x80\x80\x80\x80"),
    "OID arc 2**64": vb(b"\x05\x00", tlv(0x06, b"\x2b\x82" + b"\x80" * 8 + b"\x00")),
    "OID arc 2**64-1": vb(b"\x05\x00", tlv(0x06, b"\x2b\x81" + b"\xff" * 8 + b"\x7f")),
    "OID first arc 2": vb(b"\x05\x00", b"\x06\x02\x88\x37"),
    "OID value empty": vb(b"\x06\x00"),
    "OID value 0x80": vb(b"\x06\x02\x2b\x80"),
    "long-form OID length": vb(b"\x05\x00", b"\x06\x81\x03\x2b\x06\x01"),
    "long-form value length": vb(b"\x02\x81\x01\x05"),
    "long-form varbind length": response_with(b"\x30\x81\x0d" + SYS_UPTIME_OID + b"\x05\x00"),
    "value past varbind": response_with(b"\x30\x0b" + SYS_UPTIME_OID + b"\x02\x02\x01"),
    "varbind past list": response_with(b"\x30\x0e" + SYS_UPTIME_OID + b"\x05\x00"),
    "trailing byte in varbind": response_with(b"\x30\x0d" + SYS_UPTIME_OID + b"\x05\x00\x00"),
    "INTEGER empty": vb(b"\x02\x00"),
    "INTEGER -1": vb(b"\x02\x01\xff"),
    "INTEGER -2**63": vb(b"\x02\x08\x80" + b"\x00" * 7),
    "INTEGER 2**63-1": vb(b"\x02\x08\x7f" + b"\xff" * 7),
    "INTEGER 9 octets positive": vb(b"\x02\x09\x00" + b"\xff" * 8),
    "INTEGER 9 octets negative": vb(b"\x02\x09\xff" + b"\x00" * 8),
    "INTEGER 10 octets": vb(b"\x02\x0a" + b"\x01" * 10),
    "INTEGER 3 octets negative": vb(b"\x02\x03\x80\x00\x01"),
    "non-minimal INTEGER": vb(b"\x02\x04\x00\x00\x00\x05"),
    "Counter32 2**32-1 no leading zero": vb(b"\x41\x04\xff\xff\xff\xff"),
    "Counter32 2**32": vb(b"\x41\x05\x01\x00\x00\x00\x00"),
    "Counter32 empty": vb(b"\x41\x00"),
    "Gauge32 9 octets zero-led": vb(b"\x42\x09\x00\x00\x00\x00\x00\x00\x00\x00\x07"),
    "TimeTicks 10 octets": vb(b"\x43\x0a" + b"\x00" * 10),
    "Counter64 2**64-1": vb(b"\x46\x09\x00" + b"\xff" * 8),
    "Counter64 2**64-1 8 octets": vb(b"\x46\x08" + b"\xff" * 8),
    "Counter64 2**64": vb(b"\x46\x09\x01" + b"\x00" * 8),
    "IpAddress 3 octets": vb(b"\x40\x03\x0a\x00\x01"),
    "IpAddress 4 octets": vb(b"\x40\x04\x0a\x00\x00\x01"),
    "Opaque": vb(b"\x44\x03\x9f\x78\x04"),
    "NULL with content": vb(b"\x05\x01\x00"),
    "noSuchObject": vb(b"\x80\x00"),
    "endOfMibView with content": vb(b"\x82\x01\x00"),
    "unknown value tag": vb(b"\x47\x00"),
    "version 2": response_with(b"", version=2),
    "version 9 octets": bytes.fromhex("300e020900000000000000000104067075626c6963"),
    "request-id 9 octets": response_with(b"").replace(
        b"\x02\x04\x00\x00\x00\x07", b"\x02\x09\x01" + b"\x00" * 8
    ),
    "request-id -2**31": response_with(b"", request_id=-(2**31)),
    "trap v1 tag": response_with(b"").replace(b"\xa2", b"\xa4", 1),
    "unknown PDU tag": response_with(b"").replace(b"\xa2", b"\xa9", 1),
    "trailing bytes": response_with(b"") + b"\x00",
    "community not octets": response_with(b"").replace(b"\x04\x06public", b"\x05\x06public"),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_compiled_and_python_agree_on_edge_cases(name: str) -> None:
    assert_same_outcome(EDGES[name])


def test_bytes_like_input_and_wrong_types() -> None:
    wire = encode_message(Message(1, b"p", Pdu(RESPONSE, 5, 0, 0, [((1, 3, 6), 7)])))
    for data in (bytearray(wire), memoryview(wire), list(wire)):
        assert ber.fast_decode_message(data) == ber.py_decode_message(data)  # type: ignore[misc, arg-type]
    for junk in ("text", None, 3.5, -1, [300]):
        with pytest.raises(BerError):
            ber.fast_decode_message(junk)  # type: ignore[misc, arg-type]
        with pytest.raises(BerError):
            ber.py_decode_message(junk)  # type: ignore[arg-type]


def test_pure_switch_selects_the_python_decoder() -> None:
    """LINEWATCH_PURE_BER=1 gives the Python decoder (tests can run both paths)."""
    code = (
        "from probes.snmp import ber;"
        "print(ber.COMPILED, ber.decode_message is ber.py_decode_message)"
    )
    env = {**os.environ, "LINEWATCH_PURE_BER": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "True"]
    env.pop("LINEWATCH_PURE_BER")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["True", "False"]


# --- the poll's other compiled loops against their Python twins ------------------------

PREFIX = (1, 3, 6, 1, 2, 1, 10, 127, 1, 1, 2, 1, 2)
ARC = st.integers(0, 2**64 - 1) | st.integers(0, 300)


@st.composite
def walk_answers(draw: st.DrawFn) -> tuple[list[tuple[ber.OID, ber.Value]], ber.OID]:
    """One column's answers to a GETBULK: mostly under PREFIX and increasing, with
    the ways a walk ends (another subtree, a shorter name, endOfMibView, a name
    not past the last) and non-int arcs mixed in."""
    name = st.one_of(
        st.lists(ARC, min_size=1, max_size=3).map(lambda t: (*PREFIX, *t)),
        st.lists(ARC, min_size=1, max_size=3).map(lambda t: (*PREFIX[:-1], 3, *t)),
        st.lists(ARC, max_size=len(PREFIX) + 1).map(tuple),
        st.just(PREFIX),
        st.lists(st.sampled_from([1, True, 1.0]), min_size=1, max_size=2).map(
            lambda t: (*PREFIX, *t)
        ),
        st.tuples(st.sampled_from([True, 1.0]), ARC).map(lambda t: (t[0], *PREFIX[1:], t[1])),
    )
    value = st.sampled_from([ber.NULL, ber.END_OF_MIB_VIEW, ber.NO_SUCH_INSTANCE, b"x", 5,
                             Counter64(2**64 - 1), Counter32(3)])
    items = draw(st.lists(st.tuples(name, value), max_size=30))
    if draw(st.booleans()):
        items.sort(key=lambda item: item[0])
    lasts = [PREFIX, (*PREFIX, 5), (*PREFIX, 5, 1), (True, *PREFIX[1:], 5), ()]
    last = draw(st.sampled_from(lasts))
    return items, last


@ci_settings(EXAMPLES)
@given(walk_answers(), st.booleans())
def test_compiled_absorb_is_the_python_one(answers: tuple[list, ber.OID], as_lists: bool) -> None:
    from probes.snmp.probe import _py_absorb

    items, last = answers
    if as_lists:  # another client's shape (v3 through pysnmp may give lists)
        items = [list(item) for item in items]  # type: ignore[misc]
    ours: dict[ber.OID, ber.Value] = {}
    theirs: dict[ber.OID, ber.Value] = {}
    got = ber.compiled.absorb(items, PREFIX, last, ours)  # type: ignore[union-attr]
    want = _py_absorb(items, PREFIX, last, theirs)
    assert got == want and type(got[0]) is type(want[0])
    assert list(ours.items()) == list(theirs.items())
    assert [type(k) for k in ours] == [type(k) for k in theirs]


CELLS = st.one_of(
    st.integers(-(2**80), 2**80),
    st.integers(-2000, 2000),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), 2**53, 2**53 + 1, -(2**53) - 1,
                     10**13, -(10**13), 9999999, 10000001, True, False]),
    st.integers(0, 2**64 - 1).map(Counter64),
    st.integers(0, 2**32 - 1).map(Gauge32),
    st.integers(0, 2**32 - 1).map(TimeTicks),
    st.sampled_from([b"7", ber.NULL, ber.NO_SUCH_INSTANCE, 1.5, None, IpAddress(b"\0\0\0\1")]),
)


@ci_settings(EXAMPLES)
@given(
    st.dictionaries(st.tuples(st.integers(0, 99)), CELLS, max_size=20),
    st.sampled_from(["counter", "int", "float"]),
    st.sampled_from([1.0, 0.1, 0.01, 0.001, 1e-7, 1e6, 1e-300, 3.3]),
    st.booleans(),
)
def test_compiled_column_conversion_is_the_python_one(
    values: dict[ber.OID, ber.Value], kind: str, scale: float, level: bool
) -> None:
    from probes.snmp.profiles import Column
    from probes.snmp.reading import _py_column_values, column_values

    column = Column((1, 3, 6), scale, kind)  # type: ignore[arg-type]
    want = _py_column_values(values, column, level)
    got = column_values(values, column, level)
    assert got == want
    assert [(k, type(v)) for k, v in got.items()] == [(k, type(v)) for k, v in want.items()]


@pytest.mark.parametrize("scale", [1.0, 0.1, 0.01, 0.001])
def test_compiled_scaling_without_round_is_round_on_every_small_value(scale: float) -> None:
    """convert_column's division for the usual scales is round(n * scale, 6) (and
    round(x, 3) for levels) exactly, checked on every n in +-20000 and around
    the ends of its range (1e9), where hypothesis may not go."""
    from probes.snmp.profiles import Column
    from probes.snmp.reading import _py_column_values

    column = Column((1, 3, 6), scale, "float")
    ends = [*range(10**9 - 2000, 10**9 + 2), *range(-(10**9) - 1, -(10**9) + 2000)]
    ns = [*range(-20000, 20001), *ends]
    values = {(i,): n for i, n in enumerate(ns)}
    for level in (False, True):
        got = ber.compiled.convert_column(values, 2, scale, level)  # type: ignore[union-attr]
        assert got == _py_column_values(values, column, level)
        assert all(type(v) is float for v in got.values())


@ci_settings(EXAMPLES)
@given(
    st.dictionaries(st.tuples(st.integers(0, 30)), CELLS, max_size=20),
    st.lists(st.tuples(st.integers(0, 30)), max_size=10),
    st.sampled_from(["counter", "int", "float"]),
    st.sampled_from([1.0, 0.1, 1e-7, 1e6]),
)
def test_compiled_all_convert_is_the_python_one(
    values: dict[ber.OID, ber.Value], rows: list[ber.OID], kind: str, scale: float
) -> None:
    from probes.snmp.profiles import Column
    from probes.snmp.reading import _FAST_KIND, converter

    column = Column((1, 3, 6), scale, kind)  # type: ignore[arg-type]
    conv = converter(column)
    want = all(conv(values.get(i)) is not None for i in rows)
    assert ber.compiled.all_convert(values, rows, _FAST_KIND[kind], scale) is want  # type: ignore[union-attr]
