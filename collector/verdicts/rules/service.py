"""Service to the modem: ping quality and throughput against the plan.
"""

from __future__ import annotations

from collector.model import Evidence
from collector.verdicts.rules.core import Cause, Finding, finding, rounded
from collector.verdicts.thresholds import PingThresholds, ThroughputThresholds
from probes.model import PingResult, ThroughputResult


def ping_quality(ping: PingResult, th: PingThresholds) -> Finding | None:
    """Loss or latency to an answering modem. 100 % loss is left to reachability."""
    if ping.received == 0:
        return None
    ev: list[Evidence] = []
    if ping.loss_ratio > th.loss_ratio_max:
        ev.append(
            Evidence(
                fact="ping_loss_ratio",
                value=rounded(ping.loss_ratio, 3),
                threshold=f"<= {th.loss_ratio_max:g}",
                unit="ratio",
                detail=f"{ping.received} of {ping.sent} replies",
            )
        )
    if ping.rtt_avg_ms is not None and ping.rtt_avg_ms > th.rtt_avg_max_ms:
        ev.append(
            Evidence(
                fact="ping_rtt_avg_ms",
                value=rounded(ping.rtt_avg_ms, 1),
                threshold=f"<= {th.rtt_avg_max_ms:g}",
                unit="ms",
            )
        )
    return finding("ping", ev)


def throughput_ratio(result: ThroughputResult, plan_down_mbps: float) -> float | None:
    if result.down_mbps is None or plan_down_mbps <= 0:
        return None
    return result.down_mbps / plan_down_mbps


def throughput_vs_plan(
    result: ThroughputResult, at: float, plan_down_mbps: float, now: float, th: ThroughputThresholds
) -> Finding | None:
    """A fresh test to the modem: at plan -> customer_side candidate; well below -> below_plan."""
    if now - at > th.fresh_s:
        return None
    ratio = throughput_ratio(result, plan_down_mbps)
    if ratio is None:
        return None
    assert result.down_mbps is not None
    if ratio >= th.customer_side_min_ratio:
        cause: Cause = "customer_side"
        threshold = f">= {th.customer_side_min_ratio:g} of plan"
    elif ratio < th.below_plan_ratio:
        cause = "below_plan"
        threshold = f">= {th.below_plan_ratio:g} of plan"
    else:
        return None
    return finding(
        cause,
        [
            Evidence(
                fact="throughput_down_ratio",
                value=round(ratio, 3),
                threshold=threshold,
                unit="ratio",
                detail=f"{result.down_mbps:.1f} of {plan_down_mbps:g} Mbit/s plan at {at:.0f}",
            )
        ],
    )
