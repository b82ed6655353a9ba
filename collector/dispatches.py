"""Technician dispatches (issue 17, part 2): "they said a technician was
coming, and there's no note of it". A dispatch is kept against the fault it is
for, so a second one for the same open fault is refused (naming the first)
and the dispatches of one node outage or plant fault are one group."""

from __future__ import annotations

import secrets
from typing import Annotated

import msgspec

from collector.model import NodeSummary, Verdict, VerdictName

# Free text fields: no control characters (they end up in CSVs, SMS and logs).
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
Time = Annotated[float, msgspec.Meta(ge=0, le=32503680000)]  # up to year 3000

# How long an account's status lists its dispatches (a visit a month ago is
# still "they came last month"); the group's are listed while its fault is open.
SHOWN_S = 30 * 86400.0


class DispatchRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/accounts/{account}/dispatches."""

    reason: Text | None = None  # default: the verdict and its action
    window_start: Time | None = None  # the visit's time window (unix seconds)
    window_end: Time | None = None
    reference: Text | None = None  # the field-service system's ticket (FS-1234)
    requested_by: Text | None = None  # default: the token's name
    force: bool = False  # a second dispatch for the same open fault, knowingly


class Dispatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    account: str
    node: str
    at: float
    verdict: VerdictName
    reason: str
    # The fault it is for: "outage:NODE:SINCE", the plant fault's id, or
    # "line:ACCOUNT:SINCE" (the verdict's own spell). One open fault, one dispatch.
    fault: str
    grouped: bool = False  # a node outage or plant fault: shared by its accounts
    window_start: float | None = None
    window_end: float | None = None
    reference: str | None = None
    requested_by: str = ""
    forced: bool = False


class DispatchAnswer(msgspec.Struct, frozen=True, kw_only=True):
    dispatch: Dispatch
    # Every dispatch for the same fault, oldest first (this one included).
    group: list[Dispatch]


class DispatchConflict(msgspec.Struct, frozen=True, kw_only=True):
    """409: the fault already has a technician requested."""

    error: str
    first: Dispatch


dispatch_decoder = msgspec.json.Decoder(Dispatch)


def new_id() -> str:
    return "D-" + secrets.token_hex(6)


def fault_of(verdict: Verdict, node: NodeSummary | None) -> tuple[str, bool]:
    """The open fault a dispatch for this verdict is for, and whether it is a
    group's (node outage, plant fault) rather than the line's own."""
    if node is not None and verdict.verdict == "area_outage" and node.outage:
        return f"outage:{node.node}:{node.outage_since or verdict.since:.0f}", True
    if node is not None:
        for plant in node.plant_faults:
            if verdict.account in plant.accounts:
                return plant.id, True
    return f"line:{verdict.account}:{verdict.since:.0f}", False


def default_reason(verdict: Verdict) -> str:
    return f"{verdict.verdict}: {verdict.action}" if verdict.action else verdict.verdict
