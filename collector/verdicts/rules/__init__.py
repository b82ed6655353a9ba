"""Verdict rules: small pure functions from facts to a ``Finding``.

Each rule looks at one kind of fact and returns ``None`` when nothing is wrong,
else ``Finding(verdict, cause, evidence)``; evidence names the fact, its value,
the threshold it was judged against (from ``Thresholds``, never literals) and
where. One module per thing judged (see ``core``); this package re-exports
them all, so callers write ``rules.docsis_ds_snr`` without knowing the layout.
"""

from __future__ import annotations

from collector.verdicts.rules.core import (
    DARK_ERRORS,
    PRIORITY,
    RANK,
    UPTIME_WRAP_S,
    VERDICT_OF,
    Cause,
    Finding,
    finding,
    rise,
    rounded,
    span,
)
from collector.verdicts.rules.docsis import (
    docsis_clean,
    docsis_clean_unchanged,
    docsis_codewords,
    docsis_counters_clean,
    docsis_ds_power,
    docsis_ds_snr,
    docsis_levels_clean,
    docsis_ranging_timeouts,
    docsis_registration,
    docsis_us_tx_power,
    snr_needed_db,
)
from collector.verdicts.rules.dsl import (
    dsl_attenuation,
    dsl_crc,
    dsl_snr_margin,
)
from collector.verdicts.rules.gpon import (
    gpon_optical_power,
)
from collector.verdicts.rules.line import (
    line_findings,
)
from collector.verdicts.rules.predark import (
    before_dark,
)
from collector.verdicts.rules.reach import (
    is_unreachable,
    lan_down,
    modem_dark,
    reboot_loop,
    rebooted,
    snmp_unusable,
    stale,
)
from collector.verdicts.rules.service import (
    ping_quality,
    throughput_ratio,
    throughput_vs_plan,
)
from collector.verdicts.rules.silence import (
    agent_silent,
)

__all__ = [
    "DARK_ERRORS",
    "PRIORITY",
    "RANK",
    "UPTIME_WRAP_S",
    "VERDICT_OF",
    "Cause",
    "Finding",
    "agent_silent",
    "before_dark",
    "docsis_clean",
    "docsis_clean_unchanged",
    "docsis_codewords",
    "docsis_counters_clean",
    "docsis_ds_power",
    "docsis_ds_snr",
    "docsis_levels_clean",
    "docsis_ranging_timeouts",
    "docsis_registration",
    "docsis_us_tx_power",
    "dsl_attenuation",
    "dsl_crc",
    "dsl_snr_margin",
    "finding",
    "gpon_optical_power",
    "is_unreachable",
    "lan_down",
    "line_findings",
    "modem_dark",
    "ping_quality",
    "reboot_loop",
    "rebooted",
    "rise",
    "rounded",
    "snmp_unusable",
    "snr_needed_db",
    "span",
    "stale",
    "throughput_ratio",
    "throughput_vs_plan",
]
