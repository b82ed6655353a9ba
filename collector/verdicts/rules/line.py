"""Every line rule for a reading's technology: the one entry the engine calls.

Rules are looked up on their modules at call time, so a test can switch a
fast path off (``rules.docsis.docsis_clean``) and compare with the full rules.
"""

from __future__ import annotations

from collector.verdicts.rules import docsis as docsis_rules
from collector.verdicts.rules import dsl as dsl_rules
from collector.verdicts.rules import gpon as gpon_rules
from collector.verdicts.rules import pnm as pnm_rules
from collector.verdicts.rules.core import Finding
from collector.verdicts.thresholds import (
    DocsisThresholds,
    DslThresholds,
    GponThresholds,
    PnmThresholds,
)
from probes.model import DocsisLine, DslLine, GponLine, SnmpReading


def line_findings(
    reading: SnmpReading,
    prev: SnmpReading | None,
    elapsed_s: float,
    docsis: DocsisThresholds,
    dsl: DslThresholds,
    gpon: GponThresholds,
    pnm: PnmThresholds | None = None,
) -> list[Finding]:
    """Every line rule for the reading's technology. ``prev`` is the previous
    reading of the same modem without a reboot in between (None otherwise)."""
    line = reading.line
    out: list[Finding | None] = []
    if isinstance(line, DocsisLine):
        p = prev.line if prev is not None and isinstance(prev.line, DocsisLine) else None
        if docsis_rules.docsis_clean(line, p, docsis, pnm):
            return []
        out = [
            docsis_rules.docsis_registration(line, docsis),
            docsis_rules.docsis_ds_power(line, docsis),
            docsis_rules.docsis_ds_snr(line, docsis),
            docsis_rules.docsis_us_tx_power(line, docsis),
            docsis_rules.docsis_codewords(line, p, docsis),
            docsis_rules.docsis_ranging_timeouts(line, p, docsis),
            pnm_rules.docsis_pre_eq(line, pnm) if pnm is not None else None,
        ]
    elif isinstance(line, DslLine):
        p2 = prev.line if prev is not None and isinstance(prev.line, DslLine) else None
        out = [
            dsl_rules.dsl_snr_margin(line, dsl),
            dsl_rules.dsl_attenuation(line, dsl),
            dsl_rules.dsl_crc(line, p2, elapsed_s, dsl),
        ]
    elif isinstance(line, GponLine):
        out = [gpon_rules.gpon_optical_power(line, gpon)]
    return [f for f in out if f is not None]
