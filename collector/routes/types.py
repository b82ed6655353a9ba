"""Request and answer bodies of the HTTP API (also the OpenAPI schemas)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from collector.calls import Call, CallSummary
from collector.dispatches import Dispatch
from collector.model import AgentStatus, Event, NodeSummary, Verdict, VerdictName
from collector.readings_view import Readings
from collector.store.base import HistoryPoint
from probes.model import (
    Account,
    CmtsModem,
    DslPort,
    Headend,
    HeadendKind,
    OntOptics,
    ProbeKind,
    ProbeRecord,
    Target,
)


class ErrorAnswer(msgspec.Struct, frozen=True):
    error: str


class HeadendLineView(msgspec.Struct, frozen=True, kw_only=True):
    """What the line's headend (CMTS, DSLAM, OLT) last said about it.

    ``headend`` None: no headend serves this line (none configured). ``seen``
    False: its last poll had no row for this line (or none arrived yet).
    Exactly one of ``modem`` / ``port`` / ``ont`` is set when seen, by kind:
    the headend's own row, as the agent read it."""

    headend: str | None
    kind: HeadendKind | None = None
    seen: bool = False
    state: Literal["operational", "ranging", "offline"] | None = None
    status: str | None = None  # the device's own status value
    polled_at: float | None = None
    fresh: bool = False  # polled within the thresholds' [headend] fresh_s
    modem: CmtsModem | None = None
    port: DslPort | None = None
    ont: OntOptics | None = None


class TrendPoint(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One kept reading of the pre-dark trend (collector.verdicts.rules.predark)."""

    at: float
    out_of_spec: bool = False
    ds_snr_db: float | None = None  # DOCSIS: worst downstream channel
    us_tx_headroom_db: float | None = None  # DOCSIS: upstream TX power below its ceiling
    uncorrectable: float | None = None  # DOCSIS: uncorrectable codewords (counter total)
    t3_t4_timeouts: float | None = None  # DOCSIS: T3 + T4 counters
    dsl_snr_margin_down_db: float | None = None
    dsl_crc_errors: float | None = None  # counter
    gpon_rx_power_dbm: float | None = None


class TrendView(msgspec.Struct, frozen=True, kw_only=True):
    """The readings the pre-dark rule reads: those of ``window_s`` before the
    dark spell (``dark_since``), or before now while the modem answers."""

    window_s: float
    dark_since: float | None = None
    points: list[TrendPoint] = []
    # The pre_dark_* evidence lines of the current verdict, read-aloud text
    # ("downstream SNR 37 -> 31 -> 25 dB over 15 min, then no answer").
    summary: list[str] = []


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
    # Added with issue 15 (older collectors omit them): the headend's view of
    # the line and the pre-dark trend.
    headend: HeadendLineView | None = None
    trend: TrendView | None = None
    # Calls within [repeat_call_window_s] ("3rd call in 48 h"), newest first.
    calls: CallSummary | None = None
    # Technicians requested: the account's (30 days) and its open outage's or
    # plant fault's, oldest first.
    dispatches: list[Dispatch] = []
    # Added with issue 19 (older collectors omit it): the latest readings with
    # units and the thresholds they are judged against, whatever the verdict.
    readings: Readings | None = None


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
