"""Counter arithmetic shared by everything that turns two polls into a rate."""

from __future__ import annotations

COUNTER32_MAX = 2**32
COUNTER64_MAX = 2**64


def counter_delta(previous: int | None, current: int | None, *, bits: int = 32) -> int | None:
    """Increase of an SNMP counter between two polls, allowing one wrap.

    A counter that went backwards by more than half its range is treated as a
    device reset (RFC 2578 section 7.1.6: discontinuity), not a wrap: the delta
    is unknown, so None.
    """
    if previous is None or current is None:
        return None
    if current >= previous:
        return current - previous
    modulus = 2**bits
    wrapped = modulus - previous + current
    return wrapped if wrapped < modulus // 2 else None
