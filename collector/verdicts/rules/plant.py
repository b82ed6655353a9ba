"""A plant fault as one account sees it: its dark neighbours, one dispatch.

The grouping itself is node correlation (``correlation.evaluate_plant``); this
is the finding each member account gets, naming the neighbours that went dark
with it, so the support agent says "a technician is needed for the line in
your area" once, and ops dispatch once for the event, not per modem.
"""

from __future__ import annotations

from collections.abc import Mapping

from collector.model import Evidence
from collector.verdicts.rules.core import Finding
from collector.verdicts.thresholds import PlantThresholds

_MAX_NAMED = 10  # neighbours named in the evidence; the count covers the rest


def plant_event_id(node: str, since: float | None) -> str:
    """Stable across polls and collectors: the node and the first modem's dark time."""
    return f"plant-{node}-{int(since or 0)}"


def plant_finding(
    account: str,
    node: str,
    members: Mapping[str, float],
    since: float | None,
    accounts_on_node: int,
    th: PlantThresholds,
) -> Finding:
    others = sorted(a for a in members if a != account)
    named = ", ".join(others[:_MAX_NAMED]) + (
        f" and {len(others) - _MAX_NAMED} more" if len(others) > _MAX_NAMED else ""
    )
    return Finding(
        "line_fault",
        "plant",
        [
            Evidence(
                fact="plant_fault",
                value=plant_event_id(node, since),
                detail=f"{len(members)} of {accounts_on_node} modems on node {node} went dark "
                f"within {th.window_s:.0f} s of each other: one fault upstream of their homes "
                "(tap, amplifier or shared drop)",
            ),
            Evidence(
                fact="dark_neighbours",
                value=len(others),
                threshold=f">= {th.min_count - 1}",
                unit="count",
                detail=named,
            ),
            Evidence(fact="plant_fault_since", value=since, unit="unix_s", detail=f"node {node}"),
        ],
    )
