"""DSL line rules (ADSL-LINE-MIB, RFC 2662; VDSL2): margin, attenuation, CRC rate.
Thresholds: ``[dsl]`` in thresholds.toml.
"""

from __future__ import annotations

from collector.model import Evidence
from collector.verdicts.rules.core import Finding, finding, rise, rounded
from collector.verdicts.thresholds import DslThresholds
from probes.model import DslLine


def dsl_snr_margin(line: DslLine, th: DslThresholds) -> Finding | None:
    m = line.snr_margin_down_db
    if m is None or m > th.snr_margin_bad_at_or_below_db:
        return None
    return finding(
        "line",
        [
            Evidence(
                fact="dsl_snr_margin_down_db",
                value=rounded(m),
                threshold=f"> {th.snr_margin_bad_at_or_below_db:g}",
                unit="dB",
            )
        ],
    )


def dsl_attenuation(line: DslLine, th: DslThresholds) -> Finding | None:
    a = line.attenuation_down_db
    if a is None or a <= th.attenuation_max_db:
        return None
    return finding(
        "line",
        [
            Evidence(
                fact="dsl_attenuation_down_db",
                value=rounded(a),
                threshold=f"<= {th.attenuation_max_db:g}",
                unit="dB",
            )
        ],
    )


def dsl_crc(
    line: DslLine, prev: DslLine | None, elapsed_s: float, th: DslThresholds
) -> Finding | None:
    """Mean CRC error rate between polls at or above the SES rate (G.997.1)."""
    if prev is None or elapsed_s <= 0:
        return None
    d = rise(prev.crc_errors, line.crc_errors)
    if d is None:
        return None
    rate = d / elapsed_s
    if rate < th.crc_per_s_max:
        return None
    return finding(
        "line",
        [
            Evidence(
                fact="dsl_crc_per_s",
                value=rounded(rate),
                threshold=f"< {th.crc_per_s_max:g}",
                unit="1/s",
                detail=f"{d} CRC errors in {elapsed_s:.0f} s",
            )
        ],
    )
