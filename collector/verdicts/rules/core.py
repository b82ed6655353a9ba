"""What every rule shares: the causes in priority order, the verdict each
cause gives, the ``Finding`` a rule returns, and small helpers for evidence.

The rules themselves live beside this module, one module per thing they judge
(``docsis``, ``dsl``, ``gpon`` line rules and their ``line`` dispatch; ``reach``:
dark modems, reboots, LAN, staleness; ``predark``: what a modem's readings
said before it went dark; ``plant``: neighbours dark together; ``service``: ping
and throughput). Node-wide decisions are in ``collector.verdicts.correlation``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

from collector.model import Evidence, VerdictName
from probes.counters import counter_delta

# Causes, written in priority order: PRIORITY below is derived from this list.
Cause = Literal[
    "outage",
    "agent_silent",
    "stale",
    "never_seen",
    "mgmt_path",
    "plant",
    "headend_ranging",
    "dark_line",
    "dark",
    "reboot_loop",
    "line",
    "node_degraded",
    "ping",
    "below_plan",
    "lan_down",
    "no_snmp",
    "customer_side",
    "ok",
]

# Which finding wins when several fire (first wins). Why this order:
# - an area outage explains everything on the node (no troubleshooting, no dispatch);
# - an agent gone silent leaves its accounts' readings unrenewed: unknown, saying why;
# - stale data cannot support any per-account claim, so it is unknown;
# - among dark modems: one its headend sees operational is our management path,
#   not the customer's problem; neighbours dark together are the plant (one event);
#   one the CMTS sees ranging is its line's signal; a modem
#   whose readings were out of spec or sliding before the dark is its line; only a
#   clean history leaves the modem (or its power);
# - a dark modem or a reboot loop is the modem itself (equipment_fault) and
#   hides its line readings; a line fault is worth a dispatch before anything softer;
# - degraded (congestion, loss, below plan) outranks a LAN port down, because
#   a slow line also explains "internet is slow" while the port is secondary;
# - customer_side needs everything up to the modem proven good, so it is
#   near the bottom, with only plain ok below it.
PRIORITY: tuple[Cause, ...] = get_args(Cause)  # the Literal is written in priority order
RANK: dict[str, int] = {cause: i for i, cause in enumerate(PRIORITY)}

VERDICT_OF: dict[str, VerdictName] = {
    "outage": "area_outage",
    "agent_silent": "unknown",
    "stale": "unknown",
    "never_seen": "unknown",
    "mgmt_path": "unknown",
    "plant": "line_fault",
    "headend_ranging": "line_fault",
    "dark_line": "line_fault",
    "dark": "equipment_fault",
    "reboot_loop": "equipment_fault",
    "line": "line_fault",
    "node_degraded": "degraded",
    "ping": "degraded",
    "below_plan": "degraded",
    "lan_down": "equipment_fault",
    "no_snmp": "unknown",
    "customer_side": "customer_side",
    "ok": "ok",
}

# SNMP failures that mean "no answer from the modem" (not a config/auth problem).
DARK_ERRORS: frozenset[str] = frozenset({"timeout", "refused", "unreachable"})
# sysUpTime is TimeTicks (hundredths, 32-bit): it wraps after ~497 days.
UPTIME_WRAP_S = 2**32 / 100.0


class Finding(NamedTuple):
    verdict: VerdictName
    cause: Cause
    evidence: list[Evidence]


def finding(cause: Cause, evidence: list[Evidence]) -> Finding | None:
    return Finding(VERDICT_OF[cause], cause, evidence) if evidence else None


def rounded(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def span(lo: float, hi: float) -> str:
    return f"{lo:g}..{hi:g}"

def rise(prev: int | None, cur: int | None) -> int | None:
    """Counter increase; Counter32 unless the old value shows it is a Counter64."""
    if prev is None or cur is None:
        return None
    if cur >= prev:  # the common case, without a call
        return cur - prev
    return counter_delta(prev, cur, bits=64 if prev >= 2**32 else 32)
