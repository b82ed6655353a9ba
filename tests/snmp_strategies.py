"""Hypothesis strategies for SNMP v1/v2c messages (probes/snmp/ber.py types) and
hostile mutations of them, plus the settings profile the SNMP property and fuzz
tests share.

CI runs a fixed, derandomized number of examples with no example database (the
same inputs every run, nothing stored in the tree); ``LINEWATCH_FUZZ_S=<seconds>``
turns on the long, randomized runs (tests/test_snmp_fuzz.py)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from probes.snmp import ber
from probes.snmp.ber import (
    END_OF_MIB_VIEW,
    GET,
    GETBULK,
    GETNEXT,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    OID,
    RESPONSE,
    SET,
    Counter32,
    Counter64,
    Gauge32,
    Integer32,
    IpAddress,
    Message,
    ObjectId,
    Opaque,
    Pdu,
    TimeTicks,
)

FUZZ_S = float(os.environ.get("LINEWATCH_FUZZ_S", "0") or 0)


def ci_settings(max_examples: int) -> settings:
    """CI: fixed-size, reproducible runs (derandomized); on demand (LINEWATCH_FUZZ_S)
    randomized. Never a database (nothing written into the tree), no deadline (the
    machine is shared and noisy; hangs are caught by explicit bounds instead)."""
    return settings(
        max_examples=max_examples,
        derandomize=not FUZZ_S,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


I32 = st.integers(-(2**31), 2**31 - 1)
U31 = st.integers(0, 2**31 - 1)
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
ARC_MAX = 2**64 - 1  # the codec's bound on a sub-identifier (ber._ARC_MAX)

# Sub-identifiers: mostly small (one octet), some multi-octet, some up to 64 bits.
ARCS = st.one_of(
    st.integers(0, 127),
    st.integers(128, 2**14),
    st.sampled_from([127, 128, 16383, 16384, 2**21, 2**28, 2**32 - 1, 2**32, 2**63, ARC_MAX]),
    st.integers(0, ARC_MAX),
)


@st.composite
def oids(draw: st.DrawFn, max_arcs: int = 20) -> OID:
    first = draw(st.integers(0, 2))
    top = st.integers(0, 2**20) | st.just(ARC_MAX - 80)  # 2.x: x shares the first arc
    second = draw(st.integers(0, 39) if first < 2 else top)
    return (first, second, *draw(st.lists(ARCS, max_size=max_arcs)))


def octets() -> st.SearchStrategy[bytes]:
    """Empty, short binary, and the long forms (>= 128, >= 256 octets)."""
    long_sizes = st.sampled_from([127, 128, 255, 256, 1000, 4096])
    patterns = st.binary(min_size=1, max_size=8)
    return st.binary(max_size=64) | st.builds(lambda n, b: (b * n)[:n], long_sizes, patterns)


def values(version: int) -> st.SearchStrategy[ber.Value]:
    """Every SMI value type a response can carry in ``version`` (0 = v1, 1 = v2c)."""
    common: list[st.SearchStrategy[ber.Value]] = [
        I32,
        I32.map(Integer32),
        octets(),
        st.just(NULL),
        oids().map(ObjectId),
        st.binary(min_size=4, max_size=4).map(IpAddress),
        U32.map(Counter32),
        U32.map(Gauge32),
        U32.map(TimeTicks),
        octets().map(Opaque),
    ]
    if version == 1:
        exceptions = st.sampled_from([NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW])
        common += [U64.map(Counter64), exceptions]
    return st.one_of(common)


def expected_type(value: ber.Value) -> type:
    """The Python type the decoder gives back for ``value``."""
    if type(value) is Integer32:
        return int
    return type(value)


@st.composite
def messages(
    draw: st.DrawFn, tags: tuple[int, ...] = (GET, GETNEXT, GETBULK, SET, RESPONSE)
) -> Message:
    """A valid v1/v2c message: requests carry NULLs (SET carries values), responses
    carry any value of the version, including v2c exceptions; GETBULK (v2c only)
    carries non-repeaters/max-repetitions in the error fields, as on the wire."""
    version = draw(st.integers(0, 1))
    tag = draw(st.sampled_from([t for t in tags if version == 1 or t != GETBULK]))
    names = draw(st.lists(oids(), max_size=12))
    if tag in (RESPONSE, SET):
        varbinds = [(name, draw(values(version))) for name in names]
    else:
        varbinds = [(name, NULL) for name in names]
    if tag == GETBULK:
        es, ei = draw(U31), draw(U31)
    elif tag == RESPONSE:
        es, ei = draw(st.integers(0, 5 if version == 0 else 18)), draw(U31)
    else:
        es, ei = 0, 0
    community = draw(st.binary(max_size=40))
    return Message(version, community, Pdu(tag, draw(I32), es, ei, varbinds))
