"""Upstream pre-equalization (PNM) as line evidence.

A DOCSIS modem pre-distorts its upstream to cancel the echoes and tilt of the
plant between it and the CMTS; its pre-equalizer taps (decoded by
probes/pnm.py into CableLabs' PNM metrics) show an impairment before the levels
do. Impaired coefficients (NMTER, MTR, a strong micro-reflection, main tap
compression past the [pnm] "impaired" limits of CM-GL-PNMP) are a line fault,
with the echo's delay turned into a distance a technician can walk.
Thresholds: ``[pnm]`` in thresholds.toml.
"""

from __future__ import annotations

from collector.model import Evidence
from collector.verdicts.rules.core import Finding, finding, rounded
from collector.verdicts.thresholds import PnmThresholds
from probes.model import DocsisLine, PreEqSummary


def _impaired(s: PreEqSummary, th: PnmThresholds) -> bool:
    if s.error is not None:
        return False
    return bool(
        (s.nmter_db is not None and s.nmter_db > th.nmter_impaired_above_db)
        or (s.mtr_db is not None and s.mtr_db < th.mtr_impaired_below_db)
        or (s.echo_dbc is not None and s.echo_dbc > th.echo_impaired_dbc)
        or (s.mtc_db is not None and s.mtc_db > th.mtc_impaired_db)
    )


def pre_eq_clean(line: DocsisLine, th: PnmThresholds) -> bool:
    """True when no pre-equalizer of the reading is impaired (the fast path)."""
    return not any(_impaired(s, th) for s in line.pre_eq or ())


def _where(s: PreEqSummary) -> str:
    channel = f"upstream channel {s.index}" if s.index else "the modem's upstream"
    return f"{channel} pre-equalizer" + (" (DOCSIS 2.0 table)" if s.source == "cm" else "")


def docsis_pre_eq(line: DocsisLine, th: PnmThresholds) -> Finding | None:
    """Impaired pre-equalizer coefficients on any upstream channel."""
    ev: list[Evidence] = []
    for s in line.pre_eq or ():
        if not _impaired(s, th):
            continue
        where = _where(s)
        if s.echo_dbc is not None and s.echo_dbc > th.echo_impaired_dbc:
            distance = (
                f", ~{s.echo_distance_m:.0f} m of cable away (velocity factor "
                f"{s.velocity_factor or 0.87:g})"
                if s.echo_distance_m is not None else ""
            )
            delay = f" at {s.echo_delay_ns:.0f} ns" if s.echo_delay_ns is not None else ""
            ev.append(Evidence(
                fact="us_pre_eq_echo_dbc", value=rounded(s.echo_dbc, 1),
                threshold=f"<= {th.echo_impaired_dbc:g}", unit="dBc",
                detail=f"{where}: micro-reflection{delay}{distance}",
            ))
        if s.nmter_db is not None and s.nmter_db > th.nmter_impaired_above_db:
            ev.append(Evidence(
                fact="us_pre_eq_nmter_db", value=rounded(s.nmter_db, 1),
                threshold=f"<= {th.nmter_impaired_above_db:g}", unit="dB",
                detail=f"{where}: non-main-tap energy (linear distortion)",
            ))
        if s.mtr_db is not None and s.mtr_db < th.mtr_impaired_below_db:
            ev.append(Evidence(
                fact="us_pre_eq_mtr_db", value=rounded(s.mtr_db, 1),
                threshold=f">= {th.mtr_impaired_below_db:g}", unit="dB",
                detail=f"{where}: main-tap ratio",
            ))
        if s.mtc_db is not None and s.mtc_db > th.mtc_impaired_db:
            ev.append(Evidence(
                fact="us_pre_eq_mtc_db", value=rounded(s.mtc_db, 2),
                threshold=f"<= {th.mtc_impaired_db:g}", unit="dB",
                detail=f"{where}: main-tap compression (the CMTS receives that much less)",
            ))
    return finding("line", ev)
