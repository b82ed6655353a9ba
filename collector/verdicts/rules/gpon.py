"""GPON ONT optical levels (ITU-T G.984.2 class B+). Thresholds: ``[gpon]``.
"""

from __future__ import annotations

from collector.model import Evidence
from collector.verdicts.rules.core import Finding, finding, rounded, span
from collector.verdicts.thresholds import GponThresholds
from probes.model import GponLine


def gpon_optical_power(line: GponLine, th: GponThresholds) -> Finding | None:
    """ONT optical levels outside ITU-T G.984.2 class B+."""
    ev: list[Evidence] = []
    if line.rx_power_dbm is not None and not (
        th.rx_power_min_dbm <= line.rx_power_dbm <= th.rx_power_max_dbm
    ):
        ev.append(
            Evidence(
                fact="gpon_rx_power_dbm",
                value=rounded(line.rx_power_dbm),
                threshold=span(th.rx_power_min_dbm, th.rx_power_max_dbm),
                unit="dBm",
            )
        )
    if line.tx_power_dbm is not None and not (
        th.tx_power_min_dbm <= line.tx_power_dbm <= th.tx_power_max_dbm
    ):
        ev.append(
            Evidence(
                fact="gpon_tx_power_dbm",
                value=rounded(line.tx_power_dbm),
                threshold=span(th.tx_power_min_dbm, th.tx_power_max_dbm),
                unit="dBm",
            )
        )
    return finding("line", ev)
