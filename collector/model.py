"""Collector-side types: verdicts, evidence, events and API answers.

These are what the store keeps and the API serves. They are separate from the
wire model in ``probes.model`` (which is what agents send).
"""

from __future__ import annotations

from typing import Literal

import msgspec

# One list for the inventory's ``language`` column and the customer texts.
from probes.model import LANGUAGES as LANGUAGES
from probes.model import Language as Language

VerdictName = Literal[
    "area_outage", "line_fault", "equipment_fault", "customer_side", "degraded", "ok", "unknown"
]
VERDICTS: tuple[str, ...] = (
    "area_outage",
    "line_fault",
    "equipment_fault",
    "customer_side",
    "degraded",
    "ok",
    "unknown",
)
# Verdicts during which the customer has no working service (downtime credits).
DOWN_VERDICTS: frozenset[str] = frozenset({"area_outage", "equipment_fault", "line_fault"})

Role = Literal["agent", "support", "ivr", "admin"]
ROLES: tuple[str, ...] = ("agent", "support", "ivr", "admin")

EventKind = Literal["reboot", "check", "note", "verdict", "plant_fault", "dispatch"]


class Evidence(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One fact a verdict rests on, with the threshold it was judged against."""

    fact: str  # e.g. "ds_snr_db", "node_unreachable_share"
    value: float | str | bool | None
    threshold: str | None = None  # e.g. ">= 30", "-15..15"
    unit: str | None = None
    detail: str | None = None  # e.g. "downstream channel 3"


class Verdict(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    account: str
    node: str
    verdict: VerdictName
    since: float  # unix seconds when this verdict began
    confidence: float  # 0..1
    evidence: list[Evidence] = []
    action: str = ""  # for the support agent, English
    customer_message: dict[str, str] = {}  # language -> text
    updated_at: float = 0.0


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    account: str
    kind: EventKind
    at: float
    text: str = ""
    author: str | None = None
    data: dict[str, object] = {}


class PlantFault(msgspec.Struct, frozen=True, kw_only=True):
    """Several modems of one node dark together, short of an area outage: one event."""

    id: str
    node: str
    since: float | None
    accounts: list[str]  # the modems in it that are dark now (or still clearing)
    clearing: bool = False
    # Told apart from the first modems of an area outage (the rest of the node
    # answered since it began, or [plant] confirm_s went by): only a confirmed
    # plant fault is recorded in the outage history and sent as a webhook.
    confirmed: bool = True


class NodeState(msgspec.Struct, frozen=True, kw_only=True):
    """A node's area outage as the engine judged it (table ``node_state``; also
    ``collector.store.base.NodeState``)."""

    node: str
    outage: bool
    since: float | None = None


class NodeSummary(msgspec.Struct, frozen=True, kw_only=True):
    node: str
    accounts: int
    counts: dict[str, int]  # verdict -> count
    outage: bool
    outage_since: float | None = None
    plant_faults: list[PlantFault] = []


class AgentStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One agent as the collector hears it (``GET /v1/nodes``)."""

    name: str
    last_push: float  # unix seconds of its last accepted batch
    interval_s: float  # its poll cycle (as it said, else the default)
    silent: bool  # no push for three intervals: its accounts are unknown
    silent_since: float | None = None  # its last push, while silent
