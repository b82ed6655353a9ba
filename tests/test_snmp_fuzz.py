"""Hostile input for the SNMP decoder: mutations of valid messages (truncation,
bit flips, length inflation, tag swaps, deep nesting, huge OIDs, oversized
integers, 64 KiB+ datagrams, trailing garbage) must decode to a Message or raise
BerError -- nothing else, in bounded time and memory. Then the same through the
probe's real path: a UDP responder on 127.0.0.1 answers the probe's requests
with hostile datagrams carrying the right request-id.

CI runs a fixed, derandomized number of examples. ``LINEWATCH_FUZZ_S=600``
turns on ``test_long_fuzz_campaign`` (randomized, time-boxed) and scales the
example counts; the coverage-guided variant is fuzz/fuzz_snmp_decode.py
(atheris). Every crash either finds becomes a ``test_regression_*`` here."""

from __future__ import annotations

import asyncio
import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from snmp_strategies import FUZZ_S, ci_settings, messages, values

from probes.model import ProbeError, SnmpReading, Target
from probes.snmp import ber
from probes.snmp.ber import (
    GETBULK,
    RESPONSE,
    BerError,
    Message,
    Pdu,
    TimeTicks,
    decode_message,
    encode_message,
)
from probes.snmp.probe import SnmpCredentials, SnmpProbe

EXAMPLES = 150 if not FUZZ_S else 1000  # on demand the time-boxed campaign does the bulk
PROBE_EXAMPLES = 20 if not FUZZ_S else 200
# A hang guard, not a benchmark, in CPU time of this process (other helpers'
# load doesn't count): the slowest valid 70 KiB datagram decodes in ~5 ms; the
# quadratic 64 KiB OID arc this codec once had took 0.4-0.6 s.
HANG_CPU_S = 0.25
CONSTRUCTED = frozenset({0x30, *range(0xA0, 0xA9)})
KNOWN_TAGS = [0x02, 0x04, 0x05, 0x06, 0x30, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82]
KNOWN_TAGS += list(range(0xA0, 0xA9))


# --- building and walking BER by hand (independent of the codec under test) --------


def length_octets(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + length_octets(len(content)) + content


def response_with(varbinds: bytes, request_id: int = 7, version: int = 1) -> bytes:
    """A v1/v2c Response around hand-made varbind-list content."""
    pdu = tlv(0x02, request_id.to_bytes(4, "big", signed=True)) + b"\x02\x01\x00\x02\x01\x00"
    pdu += tlv(0x30, varbinds)
    return tlv(0x30, bytes((0x02, 1, version)) + tlv(0x04, b"public") + tlv(RESPONSE, pdu))


SYS_UPTIME_OID = b"\x06\x08\x2b\x06\x01\x02\x01\x01\x03\x00"


@dataclass(frozen=True)
class Header:
    pos: int  # tag octet
    length_pos: int
    content: int  # first content octet
    end: int


def headers(data: bytes) -> list[Header]:
    """Every TLV header, descending into SEQUENCEs/PDUs; stops where an
    (already mutated) message stops making sense."""
    out: list[Header] = []
    stack = [(0, len(data))]
    while stack:
        pos, end = stack.pop()
        while pos + 2 <= end:
            tag, first = data[pos], data[pos + 1]
            n_len = first & 0x7F if first & 0x80 else 0
            length = int.from_bytes(data[pos + 2 : pos + 2 + n_len], "big") if n_len else first
            content = pos + 2 + n_len
            if content + length > end:
                break
            out.append(Header(pos, pos + 1, content, content + length))
            if tag in CONSTRUCTED:
                stack.append((content, content + length))
            pos = content + length
    return out


# --- mutations ------------------------------------------------------------------------


def inflated_lengths(length: int) -> list[bytes]:
    """Length octets that lie: indefinite, too long by a little or a lot, 5+ octet
    forms, non-minimal forms of the right length (valid BER)."""
    return [
        b"\x80",
        length_octets(length + 1),
        length_octets(length + 300),
        length_octets(max(length - 1, 0)),
        b"\x84\xff\xff\xff\xff",
        b"\x85\x01\x00\x00\x00\x00",
        b"\x88" + (2**63).to_bytes(8, "big"),
        b"\x81",
        b"\xff",
        b"\x82" + length.to_bytes(2, "big"),
        b"\x84" + length.to_bytes(4, "big"),
    ]


@st.composite
def mutations(draw: st.DrawFn, wire: bytes) -> bytes:
    """One to four stacked mutations of a valid datagram."""
    data = bytearray(wire)
    for _ in range(draw(st.integers(1, 4))):
        hs = headers(bytes(data)) if data else []
        kind = draw(st.sampled_from(["flip", "byte", "length", "tag", "cut", "trail", "splice"]))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            i = draw(st.integers(0, len(data)))
            b = draw(st.integers(0, 255))
            op = draw(st.sampled_from(["set", "insert", "delete"]))
            if op == "insert":
                data.insert(i, b)
            elif i < len(data):
                if op == "set":
                    data[i] = b
                else:
                    del data[i]
        elif kind == "length" and hs:
            h = draw(st.sampled_from(hs))
            new = draw(st.sampled_from(inflated_lengths(h.end - h.content)))
            data[h.length_pos : h.content] = new
        elif kind == "tag" and hs:
            h = draw(st.sampled_from(hs))
            data[h.pos] = draw(st.sampled_from(KNOWN_TAGS) | st.integers(0, 255))
        elif kind == "cut":
            del data[draw(st.integers(0, len(data))) :]
        elif kind == "trail":
            data += draw(st.binary(min_size=1, max_size=64))
        elif kind == "splice" and hs:  # a TLV's content replaced by another's (type confusion)
            a, b = draw(st.sampled_from(hs)), draw(st.sampled_from(hs))
            data[a.content : a.end] = bytes(data[b.pos : b.end])
    return bytes(data)


@st.composite
def hostile_datagrams(draw: st.DrawFn) -> bytes:
    return draw(mutations(encode_message(draw(messages()))))


def nested(depth: int, inner: bytes = b"\x05\x00") -> bytes:
    for _ in range(depth):
        inner = tlv(0x30, inner)
    return inner


@st.composite
def crafted_datagrams(draw: st.DrawFn) -> bytes:
    """Pathological shapes the random mutations rarely reach."""
    kind = draw(st.sampled_from(["nest", "oid_arcs", "oid_arc", "int", "unsigned", "big", "many"]))
    size = draw(st.sampled_from([10, 200, 4096, 65000]))
    if kind == "nest":  # deep SEQUENCE nesting as a value, and as the varbind list itself
        depth = draw(st.sampled_from([2, 64, 1000, 5000]))
        return draw(st.sampled_from([
            response_with(tlv(0x30, SYS_UPTIME_OID + nested(depth))),
            response_with(nested(depth, tlv(0x30, SYS_UPTIME_OID + b"\x05\x00"))),
        ]))  # fmt: skip
    if kind == "oid_arcs":  # a huge OID of many one-octet arcs, as name or value
        oid = tlv(0x06, b"\x2b" + b"\x01" * size)
        varbind = draw(st.sampled_from([oid + b"\x05\x00", SYS_UPTIME_OID + oid]))
        return response_with(tlv(0x30, varbind))
    if kind == "oid_arc":  # one giant arc (continuation octets)
        oid = tlv(0x06, b"\x2b" + b"\xff" * size + draw(st.sampled_from([b"\x7f", b""])))
        varbind = draw(st.sampled_from([oid + b"\x05\x00", SYS_UPTIME_OID + oid]))
        return response_with(tlv(0x30, varbind))
    if kind == "int":  # oversized INTEGERs: value, request-id, version
        content = draw(st.sampled_from([b"\x01", b"\xff", b"\x00"])) * min(size, 5000)
        return draw(st.sampled_from([
            response_with(tlv(0x30, SYS_UPTIME_OID + tlv(0x02, content))),
            response_with(b"").replace(b"\x02\x04\x00\x00\x00\x07", tlv(0x02, content)),
            response_with(b"").replace(b"\x02\x01\x01", tlv(0x02, content), 1),
        ]))  # fmt: skip
    if kind == "unsigned":  # Counter32/Gauge32/TimeTicks/Counter64 beyond range or empty
        tag = draw(st.sampled_from([0x41, 0x42, 0x43, 0x46]))
        content = draw(st.sampled_from([b"", b"\x01" + b"\x00" * 4, b"\x01" + b"\x00" * 8]))
        content = draw(st.sampled_from([content, b"\xff" * 9, b"\x00" * 40]))
        return response_with(tlv(0x30, SYS_UPTIME_OID + tlv(tag, content)))
    if kind == "big":  # a 64 KiB+ datagram: one huge OCTET STRING / Opaque
        tag = draw(st.sampled_from([0x04, 0x44, 0x40]))
        size = draw(st.integers(65536, 70000))
        return response_with(tlv(0x30, SYS_UPTIME_OID + tlv(tag, b"\xa5" * size)))
    # many tiny varbinds filling a 64 KiB datagram
    return response_with(tlv(0x30, SYS_UPTIME_OID + b"\x05\x00") * (size // 12 + 1))


def _decode_or_none(data: bytes) -> Message | None:
    try:
        return decode_message(data)
    except BerError:
        return None


SLOWEST = [0.0]  # the slowest decode seen (CPU s), printed by the long campaign


def assert_decodes_or_ber_error(data: bytes) -> Message | None:
    """The decoder's contract on one input: Message or BerError, in bounded time and
    memory; whatever decodes re-encodes to something that decodes the same."""
    start = time.process_time()
    msg = _decode_or_none(data)
    elapsed = time.process_time() - start
    SLOWEST[0] = max(SLOWEST[0], elapsed)
    assert elapsed < HANG_CPU_S, f"decode took {elapsed:.2f} s CPU on {len(data)} bytes"
    tracemalloc.start()  # again, apart: tracing every allocation slows decoding ~5x
    _decode_or_none(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # A copy of the datagram, slices of it and the tuples of arcs: a small multiple.
    assert peak <= 64 * len(data) + (1 << 20), f"decode peaked at {peak} B for {len(data)} B"
    if msg is not None:
        try:
            again = encode_message(msg)
        except BerError:
            return msg  # decodable but not encodable (e.g. a 9-octet INTEGER)
        assert decode_message(again) == msg
    return msg


# --- decoder properties -------------------------------------------------------------


@ci_settings(30)
@given(messages())
def test_every_truncation_is_ber_error(msg: Message) -> None:
    wire = encode_message(msg)
    for n in range(len(wire)):
        with pytest.raises(BerError):
            decode_message(wire[:n])
    assert decode_message(wire) == msg


@ci_settings(EXAMPLES)
@given(hostile_datagrams())
def test_mutated_messages_decode_or_raise_ber_error(data: bytes) -> None:
    assert_decodes_or_ber_error(data)


@ci_settings(60)
@given(crafted_datagrams())
def test_pathological_shapes_decode_or_raise_ber_error(data: bytes) -> None:
    assert_decodes_or_ber_error(data)


@ci_settings(EXAMPLES)
@given(st.binary(max_size=300) | st.binary(max_size=200).map(lambda b: tlv(0x30, b)))
def test_random_bytes_decode_or_raise_ber_error(data: bytes) -> None:
    assert_decodes_or_ber_error(data)


@pytest.mark.skipif(not FUZZ_S, reason="on demand: LINEWATCH_FUZZ_S=<seconds>")
def test_long_fuzz_campaign() -> None:
    """Randomized batches of every hostile strategy until LINEWATCH_FUZZ_S runs out."""
    tried = 0
    deadline = time.monotonic() + FUZZ_S
    strategy = st.one_of(hostile_datagrams(), crafted_datagrams(), st.binary(max_size=600))
    unchecked = list(HealthCheck)

    @settings(max_examples=2000, database=None, deadline=None, suppress_health_check=unchecked)
    @given(strategy)
    def batch(data: bytes) -> None:
        nonlocal tried
        tried += 1
        assert_decodes_or_ber_error(data)

    rounds = 0
    while time.monotonic() < deadline:
        seed(random.getrandbits(64))(batch)()
        rounds += 1
    print(
        f"long fuzz: {tried} inputs in {rounds} batches, {FUZZ_S:.0f} s, no failure;"
        f" slowest decode {SLOWEST[0] * 1e3:.1f} ms CPU"
    )


# --- regressions: every crash/hang found, with its exact bytes ------------------------


GIANT_ARC = tlv(0x06, b"\x2b" + b"\xff" * 65000 + b"\x7f")  # 1.3.<a 455000-bit arc>
GIANT_ARC_VALUE = response_with(tlv(0x30, SYS_UPTIME_OID + GIANT_ARC))


def _best_of(n: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_regression_giant_oid_arc_is_rejected_in_linear_time() -> None:
    """Found reviewing decode_oid for hostile input, then caught by the crafted
    'oid_arc' shape's CPU bound: a 65000-octet sub-identifier made decode_oid
    shift an ever larger int (O(n^2), 0.6 s per datagram on the event loop), and
    the arc's 137k digits made format_oid raise ValueError. Now BerError at the
    10th octet. Compared with decoding a valid datagram of the same size."""
    same_size = response_with(tlv(0x30, SYS_UPTIME_OID + tlv(0x04, b"\xff" * 65002)))
    assert len(same_size) == len(GIANT_ARC_VALUE)
    with pytest.raises(BerError, match="too large"):
        decode_message(GIANT_ARC_VALUE)
    giant = _best_of(5, lambda: _decode_or_none(GIANT_ARC_VALUE))
    valid = _best_of(5, lambda: _decode_or_none(same_size))
    print(f"giant arc {giant * 1e6:.0f} us vs valid same-size datagram {valid * 1e6:.0f} us")
    assert giant < 50 * valid + 0.005  # was ~10000x


def test_regression_arcs_are_bounded_to_64_bits_both_ways() -> None:
    """2**64-1 is the largest sub-identifier accepted (RFC 2578 says 2**32-1;
    some agents use 64-bit arcs); 2**64 is BerError on decode and on encode."""
    max_arc = b"\x81" + b"\xff" * 8 + b"\x7f"  # 2**64 - 1 in base 128
    too_big = b"\x82" + b"\x80" * 8 + b"\x00"  # 2**64
    ok = decode_message(response_with(tlv(0x30, tlv(0x06, b"\x2b" + max_arc) + b"\x05\x00")))
    assert ok.pdu.varbinds == [((1, 3, 2**64 - 1), ber.NULL)]
    with pytest.raises(BerError, match="too large"):
        decode_message(response_with(tlv(0x30, tlv(0x06, b"\x2b" + too_big) + b"\x05\x00")))
    with pytest.raises(BerError):
        encode_message(Message(1, b"p", Pdu(RESPONSE, 1, 0, 0, [((1, 3, 2**64), ber.NULL)])))
    with pytest.raises(BerError):
        encode_message(Message(1, b"p", Pdu(GETBULK, 1, 0, 0, [((2, 2**64 - 80), ber.NULL)])))


NUL = b"\x05\x00"


def test_regression_distinct_long_oids_are_not_kept_in_the_cache() -> None:
    """Found reviewing the decoder's memory use: every decoded OID was cached
    (up to 200k entries), so a stream of distinct 64 KiB OIDs could pin ~13 GB.
    Only OIDs of <= 64 content octets are cached now."""
    arcs = b"\x01" * 2000  # 2000 one-octet arcs after distinct prefixes
    oids = [tlv(0x06, b"\x2b" + bytes((1 + i % 100, 1 + i // 100)) + arcs) for i in range(300)]
    datagrams = [response_with(tlv(0x30, oid + NUL)) for oid in oids]
    assert len(set(datagrams)) == len(datagrams)
    gc.collect()
    tracemalloc.start()
    for data in datagrams:
        decode_message(data)
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert retained < 1 << 20, f"{retained} B retained after decoding {len(datagrams)} datagrams"


# --- the probe's real path: a hostile responder on 127.0.0.1 --------------------------


def target(port: int, technology: str, credentials: str, account: str) -> Target:
    return Target(
        account=account,
        host="127.0.0.1",
        port=port,
        technology=technology,  # type: ignore[arg-type]
        node="n1",
        plan_down_mbps=100,
        plan_up_mbps=10,
        credentials=credentials,
    )


CREDS = {
    "v2c": SnmpCredentials(community="public"),
    "v1": SnmpCredentials(version="1", community="public"),
}
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)


def data_is_response(wire: bytes) -> bool:
    return decode_message(wire).pdu.tag == RESPONSE


def good_response(
    request: Message,
    values_: list[ber.Value] | None = None,
    error: tuple[int, int] = (0, 0),
    count: int | None = None,
) -> bytes:
    """sysUpTime for sysUpTime, else the next value of ``values_`` (or a string);
    GETNEXT/GETBULK names step one arc down so walks advance. ``error`` sets
    error-status/index; ``count`` cuts or pads (repeating) the varbind list."""
    pdu = request.pdu
    cycle = iter(values_ * (len(pdu.varbinds) // max(len(values_), 1) + 1) if values_ else [])
    out: list[tuple[ber.OID, ber.Value]] = []
    for oid, _ in pdu.varbinds:
        if oid in (SYS_UPTIME, SYS_UPTIME[:-1]):
            out.append((SYS_UPTIME, TimeTicks(4200)))
            continue
        name = oid if pdu.tag not in (0xA1, GETBULK) else (*oid, 1)
        out.append((name, next(cycle, b"hostile agent")))
    if count is not None:
        out = (out * (count // max(len(out), 1) + 1))[:count]
    es, ei = error
    return encode_message(
        Message(request.version, request.community, Pdu(RESPONSE, pdu.request_id, es, ei, out))
    )


MAX_UDP = 65507  # the largest UDP payload over IPv4


@dataclass
class Recipe:
    """How the hostile responder answers: ``mode`` per request (cycled), values for
    type confusion, and a seed for error fields, varbind counts and byte mutations
    after the request-id."""

    modes: list[str]
    values: list[ber.Value]
    seed: int
    sent_undecodable: int = 0
    answered: int = 0

    def answer(self, request: Message) -> bytes:
        mode = self.modes[self.answered % len(self.modes)]
        self.answered += 1
        rng = random.Random(self.seed + self.answered)
        n = len(request.pdu.varbinds)
        if mode == "valid":
            wire = good_response(request)
        elif mode == "error":  # any error-status, an index in or out of range
            error = (rng.randint(0, 18), rng.choice([0, 1, n, n + 1, rng.randint(0, 2**31 - 1)]))
            wire = good_response(request, self.values, error)
        elif mode == "count":  # fewer or more varbinds than asked for
            count = rng.choice([0, 1, max(n - 1, 0), n + 1, 2 * n, 3000])
            wire = good_response(request, self.values, count=count)
        else:
            wire = good_response(request, self.values)
        if mode == "mutate":  # keep everything up to and including the request-id
            hs = headers(wire)  # message, version, community, PDU, request-id, ...
            assert data_is_response(wire) and len(hs) > 4
            rid_end = hs[4].end
            data = bytearray(wire)
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(rid_end, len(data))
                choice = rng.random()
                if choice < 0.4:
                    data[i] ^= 1 << rng.randrange(8)
                elif choice < 0.7:
                    data[i] = rng.choice([*KNOWN_TAGS, 0x80, 0x84, 0xFF])
                elif choice < 0.85:
                    del data[i:]
                    if len(data) <= rid_end:
                        data += b"\x00"
                else:
                    data += rng.randbytes(rng.randint(1, 40))
            wire = bytes(data)
        wire = wire[:MAX_UDP]  # what a too-big answer would look like cut to one datagram
        if _decode_or_none(wire) is None:
            self.sent_undecodable += 1
        return wire


class Responder(asyncio.DatagramProtocol):
    def __init__(self, recipe: Recipe | None) -> None:
        self.recipe = recipe
        self.transport: asyncio.DatagramTransport | None = None
        self.errors: list[Exception] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = decode_message(data)
            reply = good_response(request) if self.recipe is None else self.recipe.answer(request)
        except Exception as exc:  # a bug in the test's responder must fail the test
            self.errors.append(exc)
            return
        assert self.transport is not None
        self.transport.sendto(reply, addr)


async def poll_hostile_then_good(recipe: Recipe, technology: str, creds: str) -> None:
    loop = asyncio.get_running_loop()
    bad, bad_agent = await loop.create_datagram_endpoint(
        lambda: Responder(recipe), local_addr=("127.0.0.1", 0)
    )
    good, good_agent = await loop.create_datagram_endpoint(
        lambda: Responder(None), local_addr=("127.0.0.1", 0)
    )
    try:
        async with SnmpProbe(CREDS, timeout_s=0.05, retries=0) as probe:
            bad_port = bad.get_extra_info("sockname")[1]
            hostile = target(bad_port, technology, creds, "bad")
            result = await asyncio.wait_for(probe.run(hostile), 30)
            assert not bad_agent.errors, bad_agent.errors
            assert isinstance(result, SnmpReading | ProbeError), result
            if isinstance(result, ProbeError):
                assert result.kind in ("decode", "timeout"), result
            stats = probe.transport.stats
            assert stats.dropped["decode"] == recipe.sent_undecodable
            if recipe.sent_undecodable and isinstance(result, ProbeError):
                assert result.kind == "decode"
            # the same transport keeps working for the next, good, target
            good_port = good.get_extra_info("sockname")[1]
            after = await probe.run(target(good_port, "ethernet", creds, "good"))
            assert not good_agent.errors, good_agent.errors
            assert isinstance(after, SnmpReading), after
            assert after.sys_uptime_s == 42.0
    finally:
        bad.close()
        good.close()


@st.composite
def recipes(draw: st.DrawFn) -> tuple[Recipe, str, str]:
    creds = draw(st.sampled_from(["v2c", "v1"]))
    version = 1 if creds == "v2c" else 0
    mode = st.sampled_from(["valid", "confused", "mutate", "error", "count"])
    modes = draw(st.lists(mode, min_size=1, max_size=4))
    vals = draw(st.lists(values(version), min_size=1, max_size=6))
    technology = draw(st.sampled_from(["docsis", "dsl", "gpon", "ethernet"]))
    return Recipe(modes, vals, draw(st.integers(0, 2**32))), technology, creds


@ci_settings(PROBE_EXAMPLES)
@given(recipes())
def test_probe_survives_hostile_responder_and_serves_the_next_target(
    case: tuple[Recipe, str, str],
) -> None:
    recipe, technology, creds = case
    asyncio.run(poll_hostile_then_good(recipe, technology, creds))
