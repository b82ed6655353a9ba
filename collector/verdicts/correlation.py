"""Node correlation: decisions that need many accounts of one node at once.

An outage is inferred from the share of a node's modems that went dark
*together* (there is no parent device to poll; see THRESHOLDS.md "How peers
tell an outage from one device down"). "Together" means their dark-since
times fall within ``window_s`` of the most recent one, so a node where a few
modems died on different days never adds up to an outage. Once open, the
outage closes only after the unreachable share has stayed below
``clear_share`` for ``clear_hold_s`` (hysteresis: a flapping node does not
flip every poll).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import NamedTuple

from collector.model import Evidence
from collector.verdicts.rules.core import Finding
from collector.verdicts.thresholds import DegradedThresholds, OutageThresholds, PlantThresholds


class OutageDecision(NamedTuple):
    outage: bool
    since: float | None
    clear_since: float | None  # when the share dropped below clear_share (while open)


def evaluate_outage(
    *,
    accounts: int,
    dark_since: Collection[float],
    outage: bool,
    since: float | None,
    clear_since: float | None,
    now: float,
    th: OutageThresholds,
) -> OutageDecision:
    """Open, keep or close a node's outage from its unreachable modems' dark-since times."""
    if accounts <= 0:
        return OutageDecision(False, None, None)
    if not outage:
        if len(dark_since) < th.min_count:
            return OutageDecision(False, None, None)
        latest = max(dark_since)
        together = [t for t in dark_since if t >= latest - th.window_s]
        if len(together) >= th.min_count and len(together) / accounts >= th.min_share:
            return OutageDecision(True, min(together), None)
        return OutageDecision(False, None, None)
    share = len(dark_since) / accounts
    if share >= th.clear_share:
        return OutageDecision(True, since, None)
    started = clear_since if clear_since is not None else now
    if now - started >= th.clear_hold_s:
        return OutageDecision(False, None, None)
    return OutageDecision(True, since, started)


def outage_finding(
    *, node: str, accounts: int, unreachable: int, since: float | None, th: OutageThresholds
) -> Finding:
    share = unreachable / accounts if accounts else 0.0
    return Finding(
        "area_outage",
        "outage",
        [
            Evidence(
                fact="node_unreachable_share",
                value=round(share, 3),
                threshold=f">= {th.min_share:g} to open, < {th.clear_share:g} to clear",
                unit="ratio",
                detail=f"node {node}",
            ),
            Evidence(
                fact="node_unreachable_count",
                value=unreachable,
                threshold=f">= {th.min_count}",
                unit="count",
                detail=f"of {accounts} modems on node {node}",
            ),
            Evidence(fact="outage_since", value=since, unit="unix_s", detail=f"node {node}"),
        ],
    )


class DegradedDecision(NamedTuple):
    degraded: bool
    tests: int  # recent throughput tests on the node
    below: int  # of which below below_plan_ratio of plan
    next_change: float | None  # when the oldest recent test leaves the window


def evaluate_degraded(
    tests: Iterable[tuple[float, float]], now: float, th: DegradedThresholds
) -> DegradedDecision:
    """Node-wide shortfall: enough recent tests, and most of them well below plan.

    ``tests`` are (tested_at, down_mbps / plan_down_mbps), the latest per account.
    """
    recent = below = 0
    oldest: float | None = None
    for at, ratio in tests:
        if now - at > th.window_s:
            continue
        recent += 1
        below += ratio < th.below_plan_ratio
        oldest = at if oldest is None or at < oldest else oldest
    degraded = recent >= th.min_tests and below / recent >= th.min_share
    return DegradedDecision(
        degraded, recent, below, None if oldest is None else oldest + th.window_s
    )


def degraded_finding(*, node: str, tests: int, below: int, th: DegradedThresholds) -> Finding:
    return Finding(
        "degraded",
        "node_degraded",
        [
            Evidence(
                fact="node_tests_below_plan_share",
                value=round(below / tests, 3) if tests else 0.0,
                threshold=f"< {th.min_share:g}",
                unit="ratio",
                detail=(
                    f"{below} of {tests} throughput tests on node {node} within "
                    f"{th.window_s:.0f} s below {th.below_plan_ratio:g} of plan"
                ),
            )
        ],
    )


class PlantDecision(NamedTuple):
    members: dict[str, float]  # account -> dark since, of the modems in the plant fault
    since: float | None
    clear_since: float | None  # when fewer than min_count stayed dark (while open)


def _densest(dark: Mapping[str, float], window_s: float) -> dict[str, float]:
    """The largest set of dark modems whose dark-since times fit in one window."""
    items = sorted(dark.items(), key=lambda kv: (kv[1], kv[0]))
    best: tuple[int, int] = (0, 0)
    lo = 0
    for hi in range(len(items)):
        while items[hi][1] - items[lo][1] > window_s:
            lo += 1
        if hi + 1 - lo > best[1] - best[0]:
            best = (lo, hi + 1)
    return dict(items[best[0] : best[1]])


def evaluate_plant(
    *,
    dark: Mapping[str, float],
    members: Mapping[str, float],
    since: float | None,
    clear_since: float | None,
    outage: bool,
    now: float,
    th: PlantThresholds,
) -> PlantDecision:
    """Open, grow, keep or close a node's plant fault.

    Several modems of one node going dark within ``window_s`` of each other,
    short of an area outage, share something upstream of their homes (a tap,
    an amplifier, a shared drop): one event, one dispatch. Deterministic in
    its inputs, so every collector on one database groups the same accounts.
    """
    if outage:
        return PlantDecision({}, None, None)  # the area outage explains them all
    if not members:
        group = _densest(dark, th.window_s) if len(dark) >= th.min_count else {}
        if len(group) >= th.min_count:
            return PlantDecision(group, min(group.values()), None)
        return PlantDecision({}, None, None)
    still = {a: t for a, t in members.items() if a in dark}
    latest = max(still.values(), default=max(members.values()))
    for account, t in dark.items():
        if account not in still and abs(t - latest) <= th.window_s:
            still[account] = t  # a neighbour behind the same fault, a poll later
    if len(still) >= th.min_count:
        return PlantDecision(still, since, None)
    started = clear_since if clear_since is not None else now
    if now - started >= th.clear_hold_s or not still:
        return PlantDecision({}, None, None)
    return PlantDecision(still, since, started)
