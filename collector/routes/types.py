"""Request and answer bodies of the HTTP API (also the OpenAPI schemas)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from collector.calls import Call, CallSummary
from collector.model import AgentStatus, Event, NodeSummary, Verdict, VerdictName
from collector.store.base import HistoryPoint
from probes.model import Account, Headend, ProbeKind, ProbeRecord, Target


class ErrorAnswer(msgspec.Struct, frozen=True):
    error: str


class AccountStatus(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    node: str
    technology: str
    plan_down_mbps: float
    plan_up_mbps: float
    verdict: Verdict
    fresh: bool
    last_seen: float | None
    latest: dict[str, ProbeRecord]
    # Calls within [repeat_call_window_s] ("3rd call in 48 h"), newest first.
    calls: CallSummary | None = None


class HistoryAnswer(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    verdicts: list[Verdict]
    events: list[Event]
    readings: list[HistoryPoint]


class DowntimeAnswer(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    since: float
    until: float
    downtime_s: float


class NoteRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # NUL is refused: PostgreSQL text cannot hold it, and no note needs it.
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=r"^[^\x00]+$")]


class CheckRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    probes: Annotated[list[ProbeKind], msgspec.Meta(min_length=1, max_length=4)] | None = None
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] | None = None


class CheckAnswer(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    job_id: str
    fresh: bool
    verdict: Verdict


class PrecallRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    account: Account
    language: Annotated[str, msgspec.Meta(max_length=35, pattern=r"^[A-Za-z0-9-]*$")] | None = None


class PrecallAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Customer-safe by construction: no evidence, node, address or action."""

    account: str
    language: Literal["en", "sv", "pl"]
    status: VerdictName
    play_outage_message: bool
    route_to_agent: bool
    message: str
    # This call counted: calls_recent within repeat_call_window_s, and whether
    # that makes a repeat caller (>= repeat_call_count).
    repeat_caller: bool = False
    calls_recent: int = 1


class CallRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A support agent's call: who took it (default: the token's name)."""

    agent: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
        | None
    ) = None


class CallAnswer(msgspec.Struct, frozen=True, kw_only=True):
    call: Call
    calls: CallSummary


class NodesAnswer(msgspec.Struct, frozen=True, kw_only=True):
    nodes: list[NodeSummary]
    # Every agent heard from: its last push, poll cycle and whether it is silent.
    agents: list[AgentStatus] = []


class IngestAnswer(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: str
    accepted: int
    duplicate: bool


class InventoryAnswer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    targets: int
    headends: int = 0  # omitted when 0: an answer to a lines-only upload is as before


class InventoryUpload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /v1/inventory as a JSON object: lines and/or headends (a bare JSON list
    is lines, as before)."""

    targets: list[Target] = []
    headends: list[Headend] = []


class HealthAnswer(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok", "unavailable"]
    detail: str = ""
