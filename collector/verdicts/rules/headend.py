"""The headend's view of a line (CMTS, DSLAM, OLT) fused with ours.

The headend still sees a modem the management network cannot reach, and it
sees a modem that never finishes ranging. So, for a modem that does not
answer us:
- headend says operational (online, in showtime): not the modem and not the
  line — our management path to it fails; said as such (``mgmt_path``);
- headend says ranging / not registered: the signal does not get through,
  a line fault (``headend_ranging``);
- headend says offline: the readings before the dark decide line vs modem
  (``predark``), with the headend's word in the evidence;
- headend sees nothing: the same, without it.
A headend view older than ``[headend] fresh_s`` says nothing. A headend that
does not answer is its own finding for ops (its probe errors), never a fault
of the modems behind it. Thresholds: ``[headend]`` in thresholds.toml.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from collector.model import Evidence
from collector.verdicts.rules.core import Finding, rounded
from probes.model import CmtsModem, DslPort, OntOptics

State = Literal["operational", "ranging", "offline"]

# RFC 4546 docsIfCmtsCmStatusValue / DOCS-IF3 CmtsCmRegState, by what they mean here.
_CM_OPERATIONAL = frozenset({"operational", "registrationComplete", "ipComplete",
                             "registeredBPIInitializing", "bpiInit", "forwardingDisabled"})
_CM_RANGING = frozenset({
    "ranging", "rangingAborted", "rangingComplete", "initialRanging",
    "rangingAutoAdjComplete", "dhcpv4Complete", "startEae", "startDhcpv4", "startDhcpv6",
    "dhcpv6Complete", "startConfigFileDownload", "configFileDownloadComplete",
    "startRegistration",
})


class HeadendView(NamedTuple):
    """What the headend last said about one line."""

    at: float
    headend: str
    kind: str  # cmts, dslam, olt
    state: State
    status: str  # the device's own value, e.g. "rangingAborted", "down", "offline"
    evidence: tuple[Evidence, ...]  # the levels it measures for this line


def _level(fact: str, value: float | None, unit: str, detail: str) -> list[Evidence]:
    if value is None:
        return []
    return [Evidence(fact=fact, value=rounded(value, 1), unit=unit, detail=detail)]


def view_of_modem(row: CmtsModem, at: float, headend: str) -> HeadendView | None:
    """A CMTS row: its status (DOCS-IF3 registration state preferred) and the
    upstream levels the CMTS measures from this modem."""
    status = row.reg_status or row.status
    if status is None:
        return None
    if status in _CM_OPERATIONAL:
        state: State = "operational"
    elif status in _CM_RANGING:
        state = "ranging"
    else:  # other, accessDenied, rfMuteAll: not on the network
        state = "offline"
    where = f"as CMTS {headend} receives it"
    ev = [
        *_level("headend_us_rx_power_dbmv", row.us_rx_power_dbmv, "dBmV", where),
        *_level("headend_us_snr_db", row.us_snr_db, "dB", where),
    ]
    return HeadendView(at, headend, "cmts", state, status, tuple(ev))


def view_of_port(row: DslPort, at: float, headend: str) -> HeadendView | None:
    if row.state is None:
        return None
    state: State = "operational" if row.state == "up" else "offline"
    where = f"DSLAM {headend} port {row.port}"
    ev = [
        *_level("headend_dsl_snr_margin_up_db", row.snr_margin_up_db, "dB", where),
        *_level("headend_dsl_snr_margin_down_db", row.snr_margin_down_db, "dB", where),
        *_level("headend_dsl_attenuation_down_db", row.attenuation_down_db, "dB", where),
    ]
    return HeadendView(at, headend, "dslam", state, row.state, tuple(ev))


def view_of_ont(row: OntOptics, at: float, headend: str) -> HeadendView | None:
    if row.state is None:
        return None
    state: State = "operational" if row.state == "online" else "offline"
    where = f"OLT {headend} ONT {row.ont}"
    ev = [
        *_level("headend_ont_rx_power_dbm", row.rx_power_dbm, "dBm", where),
        *_level("headend_olt_rx_power_dbm", row.olt_rx_power_dbm, "dBm", where),
    ]
    return HeadendView(at, headend, "olt", state, row.state, tuple(ev))


def fresh(view: HeadendView | None, now: float, fresh_s: float) -> HeadendView | None:
    return view if view is not None and now - view.at <= fresh_s else None


def status_evidence(view: HeadendView) -> list[Evidence]:
    """The headend's word on the line, for any verdict that cites it."""
    return [
        Evidence(
            fact="headend_status",
            value=view.status,
            detail=f"{view.kind.upper()} {view.headend} at {view.at:.0f}: {view.state}",
        ),
        *view.evidence,
    ]


def management_path(view: HeadendView) -> Finding:
    """The headend sees the line up while the modem does not answer us."""
    return Finding(
        "unknown",
        "mgmt_path",
        [
            *status_evidence(view),
            Evidence(
                fact="management_path",
                value="failing",
                detail="the modem answers its headend but not our management network",
            ),
        ],
    )


def ranging(view: HeadendView) -> Finding:
    """The CMTS sees the modem, but it never finishes ranging / registration."""
    return Finding(
        "line_fault",
        "headend_ranging",
        [
            *status_evidence(view),
            Evidence(
                fact="headend_registration",
                value="incomplete",
                threshold="== operational",
                detail="the modem keeps ranging with the CMTS: its signal does not get "
                "through the line",
            ),
        ],
    )
