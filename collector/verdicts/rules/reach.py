"""Reachability and the account's own state: a dark modem, reboots and reboot
loops, LAN ports down, stale data, an unusable SNMP answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.model import Evidence
from collector.verdicts.rules.core import (
    DARK_ERRORS,
    UPTIME_WRAP_S,
    Finding,
    finding,
    rounded,
)
from collector.verdicts.thresholds import RebootThresholds
from probes.model import PingResult, ProbeError, Result, SnmpReading


def is_unreachable(snmp: Result | None, ping: Result | None) -> bool:
    """No answer: SNMP timed out / refused / unreachable and ping (if any) lost everything."""
    if not isinstance(snmp, ProbeError) or snmp.kind not in DARK_ERRORS:
        return False
    if isinstance(ping, PingResult):
        return ping.received == 0
    return True


def modem_dark(
    snmp: Result | None, ping: Result | None, dark_since: float | None
) -> Finding | None:
    """The modem does not answer at all (node correlation decides outage vs. equipment)."""
    if not is_unreachable(snmp, ping):
        return None
    assert isinstance(snmp, ProbeError)
    ev = [Evidence(fact="snmp_error", value=snmp.kind, detail="modem does not answer SNMP")]
    if isinstance(ping, PingResult):
        ev.append(Evidence(fact="ping_loss_ratio", value=rounded(ping.loss_ratio, 3), unit="ratio"))
    if dark_since is not None:
        # The start time, not the duration: evidence stays stable between polls.
        ev.append(
            Evidence(
                fact="unreachable_since",
                value=dark_since,
                unit="unix_s",
                detail="first unanswered poll of this dark spell",
            )
        )
    return finding("dark", ev)


def rebooted(
    prev_uptime_s: float | None, prev_at: float, uptime_s: float | None, at: float
) -> bool:
    """sysUpTime went backwards, or is shorter than the time since the last answer.

    A backwards step at the 32-bit TimeTicks wrap (~497 days) is not a reboot.
    """
    if uptime_s is None or prev_uptime_s is None:
        return False
    elapsed = at - prev_at
    if elapsed <= 0:
        return False
    if uptime_s < prev_uptime_s:
        expected = (prev_uptime_s + elapsed) % UPTIME_WRAP_S
        wrapped = prev_uptime_s + elapsed >= UPTIME_WRAP_S and abs(uptime_s - expected) < 60.0
        return not wrapped
    # Slack of one second: uptime and poll time come from different clocks.
    return uptime_s + 1.0 < elapsed


def reboot_loop(reboots: Sequence[float], now: float, th: RebootThresholds) -> Finding | None:
    """Restarting on its own: >= loop_count reboots within loop_window_s."""
    recent = [t for t in reboots if now - th.loop_window_s <= t <= now]
    if len(recent) < th.loop_count:
        return None
    return finding(
        "reboot_loop",
        [
            Evidence(
                fact="reboots_in_window",
                value=len(recent),
                threshold=f"< {th.loop_count}",
                unit="count",
                detail=f"within {th.loop_window_s:.0f} s; last at {max(recent):.0f}",
            )
        ],
    )


def lan_down(reading: SnmpReading) -> Finding | None:
    """Every LAN port of the modem reports down (and at least one reports at all)."""
    lan = [i for i in reading.interfaces if i.role == "lan" and i.oper_up is not None]
    if not lan or any(i.oper_up for i in lan):
        return None
    return finding(
        "lan_down",
        [
            Evidence(
                fact="lan_oper_up",
                value=False,
                threshold="== true",
                detail=f"interface {i.index} {i.name}".rstrip(),
            )
            for i in lan
        ],
    )


def stale(last_attempt: float | None, now: float, stale_after_s: float) -> Finding | None:
    """No record for longer than the staleness limit, or none ever."""
    if last_attempt is None:
        return Finding("unknown", "never_seen", [Evidence(fact="last_result", value=None)])
    age = now - last_attempt
    if age <= stale_after_s:
        return None
    return Finding(
        "unknown",
        "stale",
        [
            Evidence(
                fact="last_result_age_s",
                value=rounded(age, 0),
                threshold=f"<= {stale_after_s:g}",
                unit="s",
                detail=f"last result at {last_attempt:.0f}",
            )
        ],
    )


def snmp_unusable(snmp: Result | None) -> Finding | None:
    """No usable SNMP reading although the modem is not dark (ping answers, or our
    own auth/decode/config problem): the line cannot be judged."""
    if isinstance(snmp, ProbeError):
        detail = snmp.message[:200] or "SNMP probe failed"
        return finding("no_snmp", [Evidence(fact="snmp_error", value=snmp.kind, detail=detail)])
    if snmp is None:
        return finding("no_snmp", [Evidence(fact="snmp_reading", value=None)])
    return None
