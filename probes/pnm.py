"""DOCSIS upstream pre-equalization, decoded as CableLabs' PNM practice reads it.

A cable modem pre-distorts its upstream burst with an adaptive FIR filter
whose coefficients the CMTS trains during ranging; the filter ends up close to
the inverse of the plant between them, so its taps show the plant's echoes
(micro-reflections) without a truck roll. The same octet string is published
in three places (all SYNTAX DocsEqualizerData, RFC 4546):

- ``docsIfCmStatusEqualizationData`` 1.3.6.1.2.1.10.127.1.2.2.1.17 (the modem,
  DOCSIS 2.0: its one upstream);
- ``docsIf3CmStatusUsEqData`` 1.3.6.1.4.1.4491.2.1.20.1.2.1.6 (the modem,
  DOCSIS 3.0/3.1: per upstream SC-QAM channel ifIndex);
- ``docsIf3CmtsCmUsStatusEqData`` 1.3.6.1.4.1.4491.2.1.20.1.4.1.6 and
  ``docsIfCmtsCmStatusEqualizationData`` 1.3.6.1.2.1.10.127.1.3.3.1.8 (the
  CMTS, per modem).

Layout (RFC 4546 DocsEqualizerData, after the RNG-RSP Transmit Equalization
Adjust TLV): 1 byte main tap location (1-based), 1 byte taps per symbol,
1 byte number of forward taps n, 1 byte number of reverse taps m (DOCSIS 3.0
MULPI: reserved, 0), then n (real, imag) pairs of signed 16-bit big-endian
coefficients: 4 + 4n octets, at most 64 taps. DOCSIS 3.1 keeps this format for
SC-QAM upstreams; its OFDMA pre-equalizer is per subcarrier (s2.13 values in a
PNM file, DOCS-PNM-MIB docsPnmCmUsPreEqTable), not this blob. Some modems
report little-endian or 12-bit coefficients (pypnm-docsis documents both):
``byte_order`` / ``coefficient_bits`` read those, and the main-tap check below
refuses most blobs read the wrong way instead of turning them into echoes.

Metrics, as CableLabs CM-GL-PNMP defines them (pypnm-docsis names them the
same): tap energy |c|^2; MTR = main / all other taps; NMTER = non-main / total;
MTC = total / main; PreMTTER and PostMTTER = pre- and post-main / total; the
strongest post-main tap is the echo, its level in dBc relative to the main
tap, its delay (taps after the main) x tap spacing, where the tap spacing is
1 / (symbol rate x taps per symbol), and the distance delay x c x velocity
factor / 2 (the echo travels the span between the two reflecting points twice).

Errors are values (``PreEqError``): a modem's odd octets never raise.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Literal

import msgspec

from probes.model import PreEqErrorKind, PreEqSummary

SPEED_OF_LIGHT_M_S = 299_792_458.0
# Hardline coax, as CableLabs' PNM best practices convert echo delay to
# distance; pypnm-docsis uses the same 0.87 (its RG11 entry; RG6 0.85, RG59 0.82).
VELOCITY_FACTOR = 0.87
# DOCSIS upstream SC-QAM: symbol rate = channel width / (1 + roll-off 0.25)
# (6.4 MHz -> 5.12 Msym/s); the common ATDMA channel when the width is unknown.
UPSTREAM_ROLL_OFF = 0.25
DEFAULT_SYMBOL_RATE_SPS = 5_120_000.0
HEADER_BYTES = 4
TAP_BYTES = 4
MAX_TAPS = 64  # RFC 4546: "up to a maximum of 64 equalizer taps"
# A ratio whose energy is zero (a pristine equalizer has no non-main energy)
# is reported as +-100 dB: beyond anything 16-bit taps can show (at most
# 10*log10(2 * 32768**2) = 93.3 dB), yet a number thresholds compare and JSON carries.
NO_ENERGY_DB = 100.0

ByteOrder = Literal["big", "little"]
CoefficientBits = Literal[16, 12]
Source = Literal["us", "cm"]


class PreEqError(msgspec.Struct, frozen=True):
    """Why a blob could not be decoded; ``message`` names the numbers involved."""

    kind: PreEqErrorKind
    message: str


class Echo(msgspec.Struct, frozen=True, kw_only=True):
    """The strongest post-main tap, read as a micro-reflection."""

    tap: int  # its location, 1-based as the header counts
    offset: int  # taps after the main tap
    level_dbc: float  # its energy relative to the main tap's, dB (<= 0)
    delay_ns: float  # offset x tap spacing
    distance_m: float  # delay x c x velocity factor / 2


class PreEq(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded pre-equalizer with CableLabs' key metrics. Energies are sums of
    re^2 + im^2 of the raw coefficients; ratios are dB (see NO_ENERGY_DB)."""

    main_tap: int  # location, 1-based
    taps_per_symbol: int
    taps: tuple[tuple[int, int], ...]  # (real, imag) per tap, in order
    main_energy: int
    pre_main_energy: int
    post_main_energy: int
    total_energy: int
    mtr_db: float
    nmter_db: float
    mtc_db: float
    pre_main_db: float  # PreMTTER
    post_main_db: float  # PostMTTER
    echo: Echo | None  # None: no post-main energy at all
    symbol_rate_sps: float
    velocity_factor: float


def symbol_rate_for_width(width_hz: float) -> float:
    """Upstream SC-QAM symbol rate of a channel ``width_hz`` wide (docsIfUpChannelWidth)."""
    return width_hz / (1.0 + UPSTREAM_ROLL_OFF)


def echo_distance_m(delay_ns: float, velocity_factor: float = VELOCITY_FACTOR) -> float:
    """Cable length between the two reflecting points of an echo ``delay_ns`` late."""
    return delay_ns * 1e-9 * SPEED_OF_LIGHT_M_S * velocity_factor / 2.0


def _ratio_db(part: int, whole: int) -> float:
    """10*log10(part/whole) clamped to +-NO_ENERGY_DB; whole > 0."""
    if part <= 0:
        return -NO_ENERGY_DB
    return max(-NO_ENERGY_DB, min(NO_ENERGY_DB, 10.0 * math.log10(part / whole)))


def _coefficients(body: bytes, count: int, byte_order: ByteOrder, bits: int) -> tuple[int, ...]:
    prefix = ">" if byte_order == "big" else "<"
    if bits == 16:
        return struct.unpack(f"{prefix}{count}h", body)
    raw = struct.unpack(f"{prefix}{count}H", body)  # 12-bit: the low three nibbles
    return tuple((v & 0x7FF) - (v & 0x800) for v in raw)


def _check_inputs(
    blob: object, symbol_rate_sps: float, velocity_factor: float, byte_order: str, bits: int
) -> PreEqError | None:
    if not isinstance(blob, bytes | bytearray | memoryview):
        return PreEqError("input", f"expected an octet string, got {type(blob).__name__}")
    rate_ok = isinstance(symbol_rate_sps, int | float) and 0.0 < symbol_rate_sps <= 1e9
    if not rate_ok:
        return PreEqError("input", f"symbol rate must be in (0, 1e9] /s, got {symbol_rate_sps!r}")
    if not (isinstance(velocity_factor, int | float) and 0.0 < velocity_factor <= 1.0):
        return PreEqError("input", f"velocity factor must be in (0, 1], got {velocity_factor!r}")
    if byte_order not in ("big", "little") or bits not in (16, 12):
        return PreEqError("input", f"unknown coefficient format {byte_order!r}/{bits!r} bits")
    return None


def _check_header(data: bytes, main_tap: int | None) -> PreEqError | tuple[int, int, int]:
    """(main tap location, taps per symbol, taps) from a plausible header."""
    if not data:
        return PreEqError("empty", "no equalizer data (zero-length: pre-equalization not reported)")
    if len(data) < HEADER_BYTES:
        return PreEqError("short", f"{len(data)} octets, shorter than the 4-octet header")
    location, per_symbol, taps, reverse = data[0], data[1], data[2], data[3]
    if not 1 <= taps <= MAX_TAPS:
        return PreEqError("header", f"header says {taps} taps; DOCSIS allows 1..{MAX_TAPS}")
    if reverse:
        return PreEqError(
            "header", f"header says {reverse} reverse (feedback) taps: not a pre-equalizer"
        )
    if per_symbol == 0:
        return PreEqError("header", "header says 0 taps per symbol")
    if main_tap is not None:
        if not (isinstance(main_tap, int) and 1 <= main_tap <= taps):
            return PreEqError("input", f"main tap {main_tap!r} outside 1..{taps}")
        location = main_tap
    elif not 1 <= location <= taps:
        return PreEqError("header", f"main tap location {location} outside 1..{taps}")
    want = HEADER_BYTES + TAP_BYTES * taps
    if len(data) != want:
        return PreEqError(
            "length", f"header says {taps} taps = {want} octets, the value has {len(data)}"
        )
    return location, per_symbol, taps


def decode_pre_eq(
    blob: bytes | bytearray | memoryview,
    *,
    symbol_rate_sps: float = DEFAULT_SYMBOL_RATE_SPS,
    velocity_factor: float = VELOCITY_FACTOR,
    byte_order: ByteOrder = "big",
    coefficient_bits: CoefficientBits = 16,
    main_tap: int | None = None,
) -> PreEq | PreEqError:
    """Decode one DocsEqualizerData value. ``main_tap`` (1-based) overrides the
    header's location for a device known to count it otherwise. The main tap
    must be the strongest: a converged linear equalizer never has a tap above
    its main one, so a stronger tap means the layout was read wrongly."""
    bad = _check_inputs(blob, symbol_rate_sps, velocity_factor, byte_order, coefficient_bits)
    if bad is not None:
        return bad
    data = bytes(blob)
    header = _check_header(data, main_tap)
    if isinstance(header, PreEqError):
        return header
    location, per_symbol, count = header
    flat = _coefficients(data[HEADER_BYTES:], 2 * count, byte_order, coefficient_bits)
    taps = tuple(zip(flat[0::2], flat[1::2], strict=True))
    energy = [re * re + im * im for re, im in taps]
    main_at = location - 1
    main = energy[main_at]
    if main == 0:
        return PreEqError("zero_main", f"main tap {location} is 0+0j")
    strongest = max(range(count), key=energy.__getitem__)
    if energy[strongest] > main:
        return PreEqError(
            "main_not_largest",
            f"tap {strongest + 1} (energy {energy[strongest]}) is stronger than main tap "
            f"{location} ({main}): byte order, coefficient width or main-tap location "
            "is not what the value was read as",
        )
    pre, post = sum(energy[:main_at]), sum(energy[main_at + 1 :])
    total = main + pre + post
    other = pre + post
    return PreEq(
        main_tap=location,
        taps_per_symbol=per_symbol,
        taps=taps,
        main_energy=main,
        pre_main_energy=pre,
        post_main_energy=post,
        total_energy=total,
        mtr_db=-_ratio_db(other, main) if other else NO_ENERGY_DB,
        nmter_db=_ratio_db(other, total),
        mtc_db=_ratio_db(total, main),
        pre_main_db=_ratio_db(pre, total),
        post_main_db=_ratio_db(post, total),
        echo=_echo(energy, main_at, symbol_rate_sps * per_symbol, velocity_factor),
        symbol_rate_sps=float(symbol_rate_sps),
        velocity_factor=float(velocity_factor),
    )


def _echo(energy: list[int], main_at: int, taps_per_s: float, vf: float) -> Echo | None:
    """The strongest post-main tap (the first of equals), or None when all are 0."""
    best = -1
    for k in range(main_at + 1, len(energy)):
        if energy[k] > 0 and (best < 0 or energy[k] > energy[best]):
            best = k
    if best < 0:
        return None
    offset = best - main_at
    delay_ns = offset / taps_per_s * 1e9
    return Echo(
        tap=best + 1,
        offset=offset,
        level_dbc=_ratio_db(energy[best], energy[main_at]),
        delay_ns=delay_ns,
        distance_m=echo_distance_m(delay_ns, vf),
    )


def pre_eq_summary(
    index: int, blob: object, *, source: Source = "us", width_hz: object = None
) -> PreEqSummary:
    """The wire summary of one channel's blob (``probes.model.PreEqSummary``).

    The symbol rate comes from the channel width (docsIfUpChannelWidth) when
    known, else 5.12 Msym/s flagged as assumed: echo delay and distance scale
    with it, levels do not. Cached by content: a modem's coefficients change
    only when the CMTS retrains them, and a fleet shares many identical blobs
    (pre-eq off, unity taps), so most polls cost a look-up, not a decode.
    """
    width = float(width_hz) if isinstance(width_hz, int | float) else None
    if width is not None and not 0.0 < width <= 1.25e9:  # also NaN
        width = None
    if isinstance(blob, bytearray | memoryview):
        blob = bytes(blob)
    if not isinstance(blob, bytes):
        return PreEqSummary(
            index=index, source=source, error="input", error_detail="not an octet string"
        )
    return _summary(index, blob, source, width)


@functools.lru_cache(maxsize=4096)
def _summary(index: int, blob: bytes, source: Source, width_hz: float | None) -> PreEqSummary:
    assumed = width_hz is None
    rate = DEFAULT_SYMBOL_RATE_SPS if width_hz is None else symbol_rate_for_width(width_hz)
    got = decode_pre_eq(blob, symbol_rate_sps=rate)
    if isinstance(got, PreEqError):
        return PreEqSummary(
            index=index, source=source, error=got.kind, error_detail=got.message[:256]
        )
    echo = got.echo
    return PreEqSummary(
        index=index,
        source=source,
        taps=len(got.taps),
        main_tap=got.main_tap,
        mtr_db=round(got.mtr_db, 3),
        nmter_db=round(got.nmter_db, 3),
        mtc_db=round(got.mtc_db, 3),
        pre_main_db=round(got.pre_main_db, 3),
        post_main_db=round(got.post_main_db, 3),
        echo_offset=None if echo is None else echo.offset,
        echo_dbc=None if echo is None else round(echo.level_dbc, 3),
        echo_delay_ns=None if echo is None else round(echo.delay_ns, 3),
        echo_distance_m=None if echo is None else round(echo.distance_m, 3),
        symbol_rate_sps=rate,
        symbol_rate_assumed=assumed,
        velocity_factor=VELOCITY_FACTOR,
    )
