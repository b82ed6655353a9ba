"""probes/pnm.py: DOCSIS pre-equalization decoded as CableLabs' PNM practice reads it.

Checked three ways: against the equalizer octets real modems published (the
shared LibreNMS recordings, figures worked out by hand below), against
synthetic blobs with an echo placed at a chosen tap, and against pypnm-docsis
(a DOCSIS PNM toolkit) as an oracle on random blobs. Bad octets must come back
as ``PreEqError`` values, never as an exception.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from needs import IN_CI, shared_path
from snmp_strategies import ci_settings

from collector.verdicts.thresholds import ThresholdError, Thresholds
from probes.model import DocsisLine, PreEqSummary
from probes.pnm import (
    NO_ENERGY_DB,
    VELOCITY_FACTOR,
    PreEq,
    PreEqError,
    decode_pre_eq,
    echo_distance_m,
    pre_eq_summary,
    symbol_rate_for_width,
)

C = 299_792_458.0  # m/s
CM_EQ = "1.3.6.1.2.1.10.127.1.2.2.1.17.2"  # docsIfCmStatusEqualizationData, CM MAC ifIndex 2
DS_EQ = "1.3.6.1.2.1.10.127.1.1.4.1.7.3"  # docsIfSigQEqualizationData, downstream ifIndex 3


def blob(taps: Sequence[tuple[int, int]], main: int, *, per_symbol: int = 1) -> bytes:
    """A DocsEqualizerData value: header, then big-endian int16 (real, imag) per tap."""
    body = b"".join(struct.pack(">hh", re, im) for re, im in taps)
    return bytes([main, per_symbol, len(taps), 0]) + body


def recorded(name: str, oid: str) -> bytes:
    """The octets a shared .snmprec recording serves for ``oid`` (tag 4x: hex)."""
    text = shared_path("snmprec", name).read_text()
    for line in text.splitlines():
        at, tag, value = line.split("|", 2)
        if at == oid:
            assert tag == "4x", tag
            return bytes.fromhex(value)
    raise AssertionError(f"{oid} not in {name}")


def undo_hex_dump(raw: bytes) -> bytes:
    """What the modem really sent. The recordings were made from snmpwalk output:
    net-snmp prints a long Hex-STRING 16 octets a line, and the conversion to
    .snmprec kept the first line as octets but the following lines as their
    printed ASCII text ("\\n00 00 00 ..."). Octets 16.. are that text; parsing
    it back as hex gives the rest of the real value."""
    head, text = raw[:16], raw[16:]
    assert text[:1] == b"\n" and set(text) <= set(b"0123456789ABCDEF \n"), text[:40]
    return head + bytes.fromhex(text.decode("ascii"))


# --- the shared recordings of real modems ------------------------------------------------

MODEMS = ["librenms-thomson-cm.snmprec", "librenms-motorola-cm.snmprec"]


@pytest.mark.parametrize("name", MODEMS)
def test_recorded_upstream_pre_eq_as_served_is_a_length_error(name: str) -> None:
    raw = recorded(name, CM_EQ)
    # Header 01 01 18 00: main tap 1, 1 tap per symbol, 0x18 = 24 taps, 0 reverse
    # taps -> 4 + 24 x 4 = 100 octets. The value as recorded (and as snmpsim
    # serves it) is 273: 16 real octets, then 257 octets of hex-dump text.
    assert raw[:4] == bytes([0x01, 0x01, 0x18, 0x00]) and len(raw) == 273
    got = decode_pre_eq(raw)
    assert isinstance(got, PreEqError)
    assert got.kind == "length"
    assert "24 taps = 100 octets" in got.message and "273" in got.message


@pytest.mark.parametrize("name", MODEMS)
def test_recorded_upstream_pre_eq_recovered_is_a_unity_pre_equalizer(name: str) -> None:
    real = undo_hex_dump(recorded(name, CM_EQ))
    assert len(real) == 100  # exactly what the header promised
    got = decode_pre_eq(real)
    assert isinstance(got, PreEq), got
    # Tap 1 = 07 FF 00 00 -> (2047, 0): the nominal unity main tap; taps 2..24
    # are all 00 00 00 00. Main energy 2047^2 + 0^2 = 4,190,209; pre-main 0
    # (no tap before tap 1), post-main 0. The pre-equalizer is at its reset
    # state: a DOCSIS 2.0 modem whose CMTS never trained it (or pre-eq off).
    assert (got.main_tap, got.taps_per_symbol, len(got.taps)) == (1, 1, 24)
    assert got.taps[0] == (2047, 0) and set(got.taps[1:]) == {(0, 0)}
    assert (got.main_energy, got.pre_main_energy, got.post_main_energy) == (4_190_209, 0, 0)
    assert got.total_energy == 4_190_209
    # No non-main energy at all: MTR is the +100 dB "no energy" figure, NMTER
    # and the pre/post ratios -100 dB, MTC 10*log10(1) = 0 dB, and no echo.
    assert (got.mtr_db, got.nmter_db) == (NO_ENERGY_DB, -NO_ENERGY_DB)
    assert (got.pre_main_db, got.post_main_db, got.mtc_db) == (-NO_ENERGY_DB, -NO_ENERGY_DB, 0.0)
    assert got.echo is None


def test_recorded_downstream_equalizer_thomson_by_hand() -> None:
    # docsIfSigQEqualizationData is the modem's downstream adaptive equalizer,
    # same DocsEqualizerData format. Recovered 68 octets; header 0B 01 10 00:
    # main tap location 11, 1 tap per symbol, 0x10 = 16 taps -> 4 + 64 = 68.
    real = undo_hex_dump(recorded("librenms-thomson-cm.snmprec", DS_EQ))
    assert len(real) == 68 and real[:4] == bytes([0x0B, 0x01, 0x10, 0x00])
    # Taps (hex -> signed int16) and energies re^2 + im^2:
    #  1 FFF0 FFF0  (-16, -16)       256 + 256 = 512
    #  2 002B 0010  (43, 16)        1849 + 256 = 2105
    #  3 FFAB 0002  (-85, 2)          7225 + 4 = 7229
    #  4 FFB4 006B  (-76, 107)    5776 + 11449 = 17225
    #  5 000F FFCB  (15, -53)        225 + 2809 = 3034
    #  6 0033 0088  (51, 136)      2601 + 18496 = 21097
    #  7 FFDB FF50  (-37, -176)    1369 + 30976 = 32345
    #  8 004C 00B8  (76, 184)      5776 + 33856 = 39632
    #  9 FF9E FEEF  (-98, -273)    9604 + 74529 = 84133
    # 10 0150 0250  (336, 592)   112896 + 350464 = 463360
    # 11 FAAA FBDD  (-1366, -1059) 1865956 + 1121481 = 2987437
    # 12 2CE3 0000  (11491, 0)   132043081
    # 13 FFFF FFFF  (-1, -1) 2;  14 0000 FFFF 1;  15 0000 FFFF 1;  16 0000 0000 0
    # Tap 12 is by far the strongest, with imag exactly 0: the real main tap.
    # This Broadcom (BCM3349) counts the location from 0 here; RFC 4546 says
    # 1..n. Read as the header says, tap 12 outranks "main" tap 11: refused.
    got = decode_pre_eq(real)
    assert isinstance(got, PreEqError) and got.kind == "main_not_largest"
    assert "tap 12" in got.message and "main tap 11" in got.message
    # With the device's quirk stated (main tap 12), the figures:
    # pre-main = 512+2105+7229+17225+3034+21097+32345+39632+84133+463360+2987437
    #          = 3,658,109; post-main = 2+1+1+0 = 4; total = 135,701,194.
    # MTR   = 10 log10(132043081 / 3658113)  = 15.5746 dB
    # NMTER = 10 log10(3658113 / 135701194)  = -15.6933 dB
    # MTC   = 10 log10(135701194 / 132043081) = 0.1187 dB
    # PreMTTER = 10 log10(3658109 / 135701194) = -15.6933 dB; PostMTTER = 10 log10(4/...) = -75.3052
    # Echo: strongest post-main tap 13 (energy 2), 1 tap after main: 10 log10(2/132043081)
    # = -78.1969 dBc. EuroDOCSIS annex A 256-QAM: 6.952 Msym/s -> 1 tap = 143.8435 ns,
    # x 299792458 m/s x 0.87 / 2 = 18.7586 m.
    got = decode_pre_eq(real, main_tap=12, symbol_rate_sps=6.952e6)
    assert isinstance(got, PreEq), got
    energies = (got.main_energy, got.pre_main_energy, got.post_main_energy)
    assert energies == (132_043_081, 3_658_109, 4)
    assert got.total_energy == 135_701_194
    assert got.mtr_db == pytest.approx(15.5746, abs=1e-4)
    assert got.nmter_db == pytest.approx(-15.6933, abs=1e-4)
    assert got.mtc_db == pytest.approx(0.1187, abs=1e-4)
    assert got.pre_main_db == pytest.approx(-15.6933, abs=1e-4)
    assert got.post_main_db == pytest.approx(-75.3052, abs=1e-4)
    assert got.echo is not None
    assert (got.echo.tap, got.echo.offset) == (13, 1)
    assert got.echo.level_dbc == pytest.approx(-78.1969, abs=1e-4)
    assert got.echo.delay_ns == pytest.approx(143.8435, abs=1e-4)
    assert got.echo.distance_m == pytest.approx(18.7586, abs=1e-4)


def test_recorded_downstream_equalizer_motorola_by_hand() -> None:
    real = undo_hex_dump(recorded("librenms-motorola-cm.snmprec", DS_EQ))
    assert len(real) == 68 and real[:4] == bytes([0x0B, 0x01, 0x10, 0x00])
    # Taps: (-13,-16) 425; (35,16) 1481; (-77,3) 5938; (-84,108) 18720; (27,-56) 3865;
    # (32,139) 20345; (-13,-181) 32930; (43,192) 38713; (-52,-285) 83929;
    # (255,615) 443250; (-1200,-1119) 2692161; 2CEE 0000 = (11502, 0) 132296004;
    # (-1,0) 1; (0,0) 0; (0,-1) 1; (0,0) 0. Same off-by-one main tap as the Thomson.
    assert decode_pre_eq(real).kind == "main_not_largest"  # type: ignore[union-attr]
    got = decode_pre_eq(real, main_tap=12)
    assert isinstance(got, PreEq), got
    # pre-main = 3,341,757; post-main = 1+0+1+0 = 2; total = 135,637,763.
    energies = (got.main_energy, got.pre_main_energy, got.post_main_energy)
    assert energies == (132_296_004, 3_341_757, 2)
    assert got.mtr_db == pytest.approx(15.9757, abs=1e-4)  # 10 log10(132296004/3341759)
    assert got.nmter_db == pytest.approx(-16.0841, abs=1e-4)  # 10 log10(3341759/135637763)
    assert got.mtc_db == pytest.approx(0.1083, abs=1e-4)
    # Taps 13 and 15 both hold energy 1: the first of equals, tap 13, is the echo.
    assert got.echo is not None and got.echo.tap == 13
    assert got.echo.level_dbc == pytest.approx(-81.2155, abs=1e-4)  # 10 log10(1/132296004)


# --- synthetic blobs: an echo where we put it -------------------------------------------

# 24 taps, main tap 8 = (2000, 0) [energy 4,000,000], a pre-main tap 7 = (0, 20)
# [400], and an echo at tap 11 = (200, 0) [40,000], 3 taps after the main.
ECHO_TAPS = [(0, 0)] * 6 + [(0, 20), (2000, 0), (0, 0), (0, 0), (200, 0)] + [(0, 0)] * 13


def test_echo_at_a_chosen_tap() -> None:
    got = decode_pre_eq(blob(ECHO_TAPS, 8))  # 5.12 Msym/s, velocity factor 0.87
    assert isinstance(got, PreEq), got
    # total 4,040,400; MTR = 10 log10(4e6/40400) = 19.9568; NMTER = 10 log10(40400/4040400)
    # = -20.0004; MTC = 10 log10(4040400/4e6) = 0.0436; PreMTTER = 10 log10(400/4040400)
    # = -40.0436; PostMTTER = 10 log10(40000/4040400) = -20.0436.
    assert got.total_energy == 4_040_400
    assert got.mtr_db == pytest.approx(19.9568, abs=1e-4)
    assert got.nmter_db == pytest.approx(-20.0004, abs=1e-4)
    assert got.mtc_db == pytest.approx(0.0436, abs=1e-4)
    assert got.pre_main_db == pytest.approx(-40.0436, abs=1e-4)
    assert got.post_main_db == pytest.approx(-20.0436, abs=1e-4)
    # Echo: 20 log10(200/2000) = -20 dBc exactly; 3 taps x 1/5.12e6 s = 585.9375 ns;
    # 585.9375e-9 s x 299792458 m/s x 0.87 / 2 = 76.4119 m of cable.
    echo = got.echo
    assert echo is not None
    assert (echo.tap, echo.offset) == (11, 3)
    assert echo.level_dbc == pytest.approx(-20.0, abs=1e-12)
    assert echo.delay_ns == pytest.approx(585.9375)
    assert echo.distance_m == pytest.approx(76.4119, abs=1e-4)
    assert (got.symbol_rate_sps, got.velocity_factor) == (5.12e6, VELOCITY_FACTOR)


def test_delay_and_distance_follow_symbol_rate_spacing_and_velocity_factor() -> None:
    # 3.2 MHz channel -> 2.56 Msym/s: taps twice as far apart, 1171.875 ns, 152.82 m.
    assert symbol_rate_for_width(3_200_000) == 2_560_000
    slow = decode_pre_eq(blob(ECHO_TAPS, 8), symbol_rate_sps=symbol_rate_for_width(3.2e6))
    assert isinstance(slow, PreEq) and slow.echo is not None
    assert slow.echo.delay_ns == pytest.approx(1171.875)
    assert slow.echo.distance_m == pytest.approx(1171.875e-9 * C * 0.87 / 2)
    # T/2-spaced taps (2 per symbol): half the delay.
    half = decode_pre_eq(blob(ECHO_TAPS, 8, per_symbol=2))
    assert isinstance(half, PreEq) and half.echo is not None
    assert half.echo.delay_ns == pytest.approx(585.9375 / 2)
    # RG-6 drop cable (velocity factor 0.85) instead of hardline.
    drop = decode_pre_eq(blob(ECHO_TAPS, 8), velocity_factor=0.85)
    assert isinstance(drop, PreEq) and drop.echo is not None
    assert drop.echo.distance_m == pytest.approx(585.9375e-9 * C * 0.85 / 2)
    assert echo_distance_m(585.9375) == pytest.approx(76.4119, abs=1e-4)


def test_little_endian_and_12_bit_coefficients_read_when_told() -> None:
    little = bytes([8, 1, 24, 0]) + b"".join(struct.pack("<hh", *t) for t in ECHO_TAPS)
    # 12-bit two's complement in the low three nibbles, upper nibble left 0
    # (-20 -> 0xFEC, not 0xFFEC); pypnm-docsis calls this "three-nibble".
    negative = [*ECHO_TAPS[:6], (0, -20), *ECHO_TAPS[7:]]
    twelve = bytes([8, 1, 24, 0]) + b"".join(
        struct.pack(">HH", re & 0xFFF, im & 0xFFF) for re, im in negative
    )
    spec = decode_pre_eq(blob(ECHO_TAPS, 8))
    assert isinstance(spec, PreEq)
    le = decode_pre_eq(little, byte_order="little")
    assert isinstance(le, PreEq) and le == spec
    tw = decode_pre_eq(twelve, coefficient_bits=12)
    assert isinstance(tw, PreEq) and tw.taps[6] == (0, -20) and tw.mtr_db == spec.mtr_db
    # Read the wrong way, the main tap is not the strongest: refused, not an echo.
    # little-endian read as big: main 2000 (D0 07) becomes 0xD007 = -12281, the
    # echo 200 (C8 00) 0xC800 = -14336, stronger than "main"
    wrong = decode_pre_eq(little)
    assert isinstance(wrong, PreEqError) and wrong.kind == "main_not_largest", wrong
    assert decode_pre_eq(twelve).kind == "main_not_largest"  # type: ignore[union-attr]


# --- bad octets: error values, never exceptions -----------------------------------------

UNITY_24 = blob([(0, 0)] * 7 + [(2047, 0)] + [(0, 0)] * 16, 8)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"", "empty"),
        (b"\x08\x01\x18", "short"),
        (bytes([1, 1, 0, 0]), "header"),  # zero taps
        (bytes([1, 1, 65, 0]) + bytes(260), "header"),  # more than 64
        (bytes([1, 1, 1, 1]) + bytes(8), "header"),  # reverse (feedback) taps
        (bytes([1, 0, 1, 0, 0, 1, 0, 0]), "header"),  # 0 taps per symbol
        (bytes([0, 1, 1, 0, 0, 1, 0, 0]), "header"),  # main tap 0
        (bytes([25]) + UNITY_24[1:], "header"),  # main tap past the last
        (UNITY_24[:-1], "length"),
        (UNITY_24 + b"\x00", "length"),
        (blob([(0, 0)] * 24, 8), "zero_main"),
        (blob([(0, 0)] * 7 + [(100, 0), (0, 200)] + [(0, 0)] * 15, 8), "main_not_largest"),
        ("0801180007FF", "input"),  # text, not octets
        (None, "input"),
    ],
)
def test_bad_values_are_error_values(value: object, kind: str) -> None:
    got = decode_pre_eq(value)  # type: ignore[arg-type]
    assert isinstance(got, PreEqError) and got.kind == kind, got
    assert got.message


@pytest.mark.parametrize(
    "options",
    [
        {"symbol_rate_sps": 0.0},
        {"symbol_rate_sps": -5.12e6},
        {"symbol_rate_sps": math.nan},
        {"symbol_rate_sps": math.inf},
        {"velocity_factor": 0.0},
        {"velocity_factor": 1.5},
        {"velocity_factor": math.nan},
        {"byte_order": "middle"},
        {"coefficient_bits": 8},
        {"main_tap": 0},
        {"main_tap": 25},
    ],
)
def test_bad_options_are_error_values(options: dict[str, object]) -> None:
    got = decode_pre_eq(UNITY_24, **options)  # type: ignore[arg-type]
    assert isinstance(got, PreEqError) and got.kind == "input", got


@ci_settings(400)
@given(
    st.one_of(
        st.binary(max_size=300),
        # plausible headers with random bodies: reach the tap arithmetic
        st.integers(1, 64).flatmap(
            lambda n: st.tuples(st.integers(0, 70), st.integers(0, 4), st.binary(
                min_size=4 * n, max_size=4 * n)).map(
                lambda t, n=n: bytes([t[0], t[1], n, 0]) + t[2])
        ),
    ),
    st.sampled_from(["big", "little"]),
    st.sampled_from([16, 12]),
)
def test_garbage_never_raises(value: bytes, order: str, bits: int) -> None:
    got = decode_pre_eq(value, byte_order=order, coefficient_bits=bits)  # type: ignore[arg-type]
    assert isinstance(got, PreEq | PreEqError)
    if isinstance(got, PreEq):
        energy = [re * re + im * im for re, im in got.taps]
        assert got.main_energy == max(energy) > 0
        assert got.total_energy == sum(energy)
        assert -NO_ENERGY_DB <= got.nmter_db <= 0.0 <= got.mtc_db
        assert -NO_ENERGY_DB <= got.mtr_db <= NO_ENERGY_DB
        assert got.echo is None or got.echo.level_dbc <= 0.0 < got.echo.delay_ns
    summary = pre_eq_summary(7, value, width_hz=6.4e6)
    line = DocsisLine(pre_eq=[summary])
    assert msgspec.json.decode(msgspec.json.encode(line), type=DocsisLine) == line  # in bounds


# --- the wire summary ------------------------------------------------------------------


def test_summary_of_an_echo_and_of_an_error() -> None:
    s = pre_eq_summary(4, blob(ECHO_TAPS, 8), width_hz=6_400_000)
    assert s == PreEqSummary(
        index=4, taps=24, main_tap=8, mtr_db=19.957, nmter_db=-20.0, mtc_db=0.044,
        pre_main_db=-40.044, post_main_db=-20.044, echo_offset=3, echo_dbc=-20.0,
        echo_delay_ns=585.938, echo_distance_m=76.412, symbol_rate_sps=5.12e6,
        velocity_factor=0.87,
    )
    unknown_width = pre_eq_summary(4, blob(ECHO_TAPS, 8))
    assert unknown_width.symbol_rate_assumed and unknown_width.symbol_rate_sps == 5.12e6
    bad = pre_eq_summary(2, UNITY_24[:-1], source="cm")
    assert (bad.error, bad.source, bad.mtr_db) == ("length", "cm", None)
    assert bad.error_detail and "100 octets" in bad.error_detail
    assert pre_eq_summary(2, "not octets").error == "input"  # type: ignore[arg-type]
    assert pre_eq_summary(2, bytearray(UNITY_24), width_hz=math.nan).symbol_rate_assumed


def test_summary_is_optional_on_the_wire_for_older_peers() -> None:
    line = DocsisLine(t3_timeouts=1, pre_eq=[pre_eq_summary(4, blob(ECHO_TAPS, 8))])
    text = msgspec.json.encode(line)

    class OlderDocsisLine(msgspec.Struct, tag="docsis"):  # a collector before the field
        t3_timeouts: int | None = None

    assert msgspec.json.decode(text, type=OlderDocsisLine).t3_timeouts == 1
    assert b"pre_eq" not in msgspec.json.encode(DocsisLine(t3_timeouts=1))  # agents without it
    assert msgspec.json.decode(text, type=DocsisLine) == line


# --- thresholds ------------------------------------------------------------------------


def test_pnm_thresholds_load_and_check_their_order() -> None:
    th = Thresholds.default().pnm
    assert th.echo_monitor_dbc <= th.echo_impaired_dbc
    assert th.mtr_impaired_below_db <= th.mtr_monitor_below_db
    assert th.nmter_monitor_above_db <= th.nmter_impaired_above_db
    # the synthetic -20 dBc echo is above the monitoring level, below "act now"
    assert th.echo_monitor_dbc <= -20.0 < th.echo_impaired_dbc
    with pytest.raises(ThresholdError, match="echo_impaired_dbc"):
        Thresholds.load(None, {"pnm.echo_impaired_dbc": -40.0})
    with pytest.raises(ThresholdError, match="unknown threshold"):
        Thresholds.load(None, {"pnm.echo_dbc": -25.0})


# --- pypnm-docsis as an oracle ------------------------------------------------------------


def _pypnm() -> type:
    try:
        from pypnm.pnm.data_type.DocsEqualizerData import DocsEqualizerData
    except ImportError as exc:
        reason = f"pypnm-docsis is not installed ({exc}); `make deps` installs it"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return DocsEqualizerData  # type: ignore[no-any-return]


COEF = st.integers(-300, 300)


@ci_settings(200)
@given(
    pre=st.lists(st.tuples(COEF, COEF), min_size=7, max_size=7),
    post=st.lists(st.tuples(COEF, COEF), min_size=16, max_size=16),
    main=st.tuples(st.integers(1200, 2047), st.integers(-300, 300)),
)
def test_pypnm_docsis_agrees(
    pre: list[tuple[int, int]], post: list[tuple[int, int]], main: tuple[int, int]
) -> None:
    """Random 24-tap ATDMA pre-equalizers with the main tap at F8 (where pypnm
    puts it: it ignores the header's location) and energy on both sides of it
    (pypnm takes log10 of zero pre- or post-main energy and gives up)."""
    oracle_type = _pypnm()
    if not any(re or im for re, im in pre) or not any(re or im for re, im in post):
        return
    value = blob([*pre, main, *post], 8)
    oracle = oracle_type()
    assert oracle.add_from_bytes(
        1, value, coeff_encoding="four-nibble", coeff_endianness="big", channel_width_hz=6_400_000
    )
    record = oracle.get_record(1)
    got = decode_pre_eq(value, symbol_rate_sps=symbol_rate_for_width(6_400_000))
    assert isinstance(got, PreEq), got
    m = record.metrics
    assert (got.main_energy, got.pre_main_energy, got.post_main_energy, got.total_energy) == (
        m.main_tap_energy, m.pre_main_tap_energy, m.post_main_tap_energy, m.total_tap_energy
    )
    assert got.mtr_db == pytest.approx(m.main_tap_ratio, abs=1e-9)
    assert got.nmter_db == pytest.approx(m.non_main_tap_energy_ratio, abs=1e-9)
    assert got.mtc_db == pytest.approx(m.main_tap_compression, abs=1e-9)
    assert got.pre_main_db == pytest.approx(m.pre_main_tap_total_energy_ratio, abs=1e-9)
    assert got.post_main_db == pytest.approx(m.post_main_tap_total_energy_ratio, abs=1e-9)
    summary = record.tap_delay_summary
    assert got.echo is not None and summary.symbol_rate == got.symbol_rate_sps
    assert got.echo.tap - 1 == summary.main_echo_tap_index
    re, im = got.taps[got.echo.tap - 1]
    assert summary.main_echo_magnitude == pytest.approx(math.hypot(re, im))
    level = 10 * math.log10((re * re + im * im) / got.main_energy)
    assert got.echo.level_dbc == pytest.approx(level)
    tap = summary.taps[summary.main_echo_tap_index]
    assert got.echo.delay_ns == pytest.approx(tap.delay_us * 1000)
    [rg11] = [c for c in tap.cable_delays if c.velocity_factor == VELOCITY_FACTOR]
    assert got.echo.distance_m == pytest.approx(rg11.echo_length_m)


def test_pypnm_docsis_cannot_read_the_recordings_own_layout() -> None:
    """Why the decoder is ours and pypnm only the oracle: it puts the main tap
    at F8 whatever the header says, and the recordings' header says F1."""
    oracle = _pypnm()()
    unity_at_1 = blob([(2047, 0)] + [(0, 0)] * 23, 1)  # the recordings' recovered value
    assert not oracle.add_from_bytes(1, unity_at_1, coeff_encoding="four-nibble",
                                     coeff_endianness="big")
    assert isinstance(decode_pre_eq(unity_at_1), PreEq)


@ci_settings(100)
@given(
    others=st.lists(st.tuples(st.integers(-1000, 1000), st.integers(-1000, 1000)),
                    min_size=23, max_size=23),
    variant=st.sampled_from([("big", 16), ("little", 16), ("big", 12), ("little", 12)]),
)
def test_pypnm_docsis_reads_the_coefficient_variants_alike(
    others: list[tuple[int, int]], variant: tuple[str, int]
) -> None:
    """Byte order and 12-bit coefficients ("three-nibble") read as pypnm-docsis
    reads them. Main tap F8 = (2047, 0), the strongest (others within +-1000)."""
    oracle = _pypnm()()
    order, bits = variant
    taps = [*others[:7], (2047, 0), *others[7:]]
    fmt = ("<" if order == "little" else ">") + ("hh" if bits == 16 else "HH")
    body = b"".join(
        struct.pack(fmt, *(v if bits == 16 else v & 0xFFF for v in tap)) for tap in taps
    )
    value = bytes([8, 1, 24, 0]) + body
    oracle.add_from_bytes(
        1, value, coeff_encoding="four-nibble" if bits == 16 else "three-nibble",
        coeff_endianness=order,
    )
    got = decode_pre_eq(value, byte_order=order, coefficient_bits=bits)  # type: ignore[arg-type]
    assert isinstance(got, PreEq), got
    assert list(got.taps) == taps
    record = oracle.get_record(1)
    if record is not None:  # None: pypnm gave up (log10 of a zero pre/post energy)
        assert [(t.real, t.imag) for t in record.taps] == taps
