"""Upstream pre-equalizer coefficients of a simulated DOCSIS modem (DocsEqualizerData).

Why: a micro-reflection on the plant shows in the modem's pre-equalizer as a
post-main tap; the lab injects one at a chosen distance so the PNM decoder
(probes/pnm.py) and the verdict can be checked end to end. Layout as RFC 4546
DocsEqualizerData and DOCSIS 3.0 MULPI use it: main tap location 8 (1-based),
1 tap per symbol, 24 forward taps, 0 reverse, then (real, imag) signed 16-bit
big-endian pairs: 100 octets, the same value on the modem
(docsIf3CmStatusUsEqData, docsIfCmStatusEqualizationData) and at the CMTS
(docsIfCmtsCmStatusEqualizationData, docsIf3CmtsCmUsStatusEqData).

An echo ``distance_m`` away travels that span twice, so it arrives
2 x distance / (c x VF) later, VF = probes.pnm.VELOCITY_FACTOR (0.87, hardline
coax) — the factor the decoder turns the delay back into metres with. Taps
are one symbol apart (1 / 5.12 Msym/s on the fleet's 6.4 MHz upstreams, ~25.5 m
of cable), so the echo sits on the nearest tap: decoded within half a tap
(``tap_metres() / 2``) of what was injected.
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache

from probes.pnm import SPEED_OF_LIGHT_M_S, VELOCITY_FACTOR, symbol_rate_for_width

MAIN_TAP = 8  # 1-based, as DOCSIS 3.0 modems report it
TAPS = 24
MAIN_AMPLITUDE = 16_000  # real part of the main tap (16-bit coefficients)
US_WIDTH_HZ = 6_400_000  # the fleet's upstream channels (values.US_WIDTH_HZ)


def tap_metres(width_hz: float = US_WIDTH_HZ) -> float:
    """Cable length one tap of delay stands for (the round trip halved)."""
    spacing_s = 1.0 / symbol_rate_for_width(width_hz)
    return spacing_s * SPEED_OF_LIGHT_M_S * VELOCITY_FACTOR / 2.0


MIN_ECHO_M = round(tap_metres() / 2 + 0.05, 1)  # nearer rounds onto the main tap
MAX_ECHO_M = round(tap_metres() * (TAPS - MAIN_TAP) - 0.05, 1)  # the last tap


def _blob(taps: list[tuple[int, int]]) -> bytes:
    head = bytes((MAIN_TAP, 1, TAPS, 0))
    return head + b"".join(struct.pack(">hh", re, im) for re, im in taps)


CLEAN = _blob([(MAIN_AMPLITUDE, 0) if k == MAIN_TAP - 1 else (0, 0) for k in range(TAPS)])


def echo_offset(distance_m: float, width_hz: float = US_WIDTH_HZ) -> int:
    """Taps after the main one where an echo ``distance_m`` away lands."""
    return max(1, min(TAPS - MAIN_TAP, round(distance_m / tap_metres(width_hz))))


@lru_cache(maxsize=256)
def with_echo(distance_m: float, level_dbc: float, frequency_hz: float = 0.0,
              width_hz: float = US_WIDTH_HZ) -> bytes:
    """The pre-equalizer of a modem whose upstream carries one echo: a post-main tap
    ``level_dbc`` below the main tap, rotated by the carrier's phase over the delay
    (so the channels of one modem differ in phase, not in level or delay)."""
    offset = echo_offset(distance_m, width_hz)
    delay_s = 2.0 * distance_m / (SPEED_OF_LIGHT_M_S * VELOCITY_FACTOR)
    phase = -2.0 * math.pi * frequency_hz * delay_s
    amplitude = MAIN_AMPLITUDE * 10.0 ** (level_dbc / 20.0)
    taps = [(0, 0)] * TAPS
    taps[MAIN_TAP - 1] = (MAIN_AMPLITUDE, 0)
    taps[MAIN_TAP - 1 + offset] = (round(amplitude * math.cos(phase)),
                                   round(amplitude * math.sin(phase)))
    return _blob(taps)
