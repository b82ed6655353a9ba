"""What the console's templates show, as plain values in the reader's words.

The HTML is in ``templates/`` (Jinja2, autoescaped); this module turns the
API's answers into rows and sentences for them: evidence as words, the
headend's readings, the trend columns, dispatch and call sentences, all in
the page's ``Ui`` (language and zone). Nothing here returns markup except
through ``Ui.when``/``Ui.stamp``, which build it from escaped parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from babel.numbers import format_percent

from collector.console.render import Ui
from collector.dispatches import Dispatch
from collector.i18n import N_, phrases
from collector.i18n.words import action_text, detail_text, number_text, threshold_text
from collector.model import Evidence, Verdict
from collector.readings_view import ReadingLine, Readings, reading_lines
from collector.routes.types import HeadendLineView

VERDICT_ORDER = ("area_outage", "line_fault", "equipment_fault", "customer_side",
                 "degraded", "ok", "unknown")

TIMELINE_KINDS = {"verdict": N_("Verdict"), "reboot": N_("Reboot"), "check": N_("Check"),
                  "note": N_("Note"), "dispatch": N_("Technician"),
                  "plant_fault": N_("Plant fault")}


@dataclass(frozen=True)
class TimelineEntry:
    at: float
    kind: str  # "verdict" | "reboot" | "check" | "note"
    text: str
    author: str | None = None


@dataclass(frozen=True)
class EvidenceRow:
    fact: str
    value: str
    threshold: str
    detail: str


def account_url(account: str, suffix: str = "") -> str:
    return f"/console/accounts/{quote(account, safe='')}{suffix}"


def credits_url(outage_id: str, fmt: str) -> str:
    return f"/console/outages/{quote(outage_id, safe='')}/credits?format={fmt}"


def value_text(ev: Evidence, ui: Ui) -> str:
    """The evidence value with its unit, in words a support agent reads aloud."""
    v = ev.value
    if v is None:
        return ui.gettext("none")
    if isinstance(v, bool):
        return ui.gettext("yes") if v else ui.gettext("no")
    if ev.unit == "unix_s" or (ev.fact.endswith("_since") and isinstance(v, float | int)):
        return ui.local(float(v))
    if isinstance(v, int | float):
        return number_text(v, ev.unit)
    return str(v)


def evidence_rows(verdict: Verdict, ui: Ui) -> list[EvidenceRow]:
    return [EvidenceRow(fact=ui.fact(ev.fact), value=value_text(ev, ui),
                        threshold=threshold_text(ev.value, ev.threshold, ev.unit, ui.gettext)
                        or "—",
                        detail=detail_text(ev.detail, ui.gettext) if ev.detail else "")
            for ev in verdict.evidence]


def action_words(verdict: Verdict, ui: Ui) -> str:
    if not verdict.action:
        return ui.gettext("No action recorded.")
    return action_text(verdict.action, ui.gettext, ui.local, verdict.evidence)


def dispatch_reason(verdict: Verdict, ui: Ui) -> str:
    """The dispatch form's prefilled reason: the verdict and its action as the
    page says them, in the console's language (the agent edits it there)."""
    name = ui.verdict(verdict.verdict)
    return f"{name}: {action_words(verdict, ui)}" if verdict.action else name


def customer_message(verdict: Verdict, language: str) -> tuple[str, str]:
    """(message, its language): the caller's language, else English."""
    messages = verdict.customer_message
    if messages.get(language):
        return messages[language], language
    return messages.get("en", ""), "en"


def percent(share: float, ui: Ui) -> str:
    """'87 %' / '87 %' as the language writes a share."""
    return format_percent(share, locale=ui.language)


def num(value: float | None, unit: str, ui: Ui) -> str:
    """A reading with its unit, or 'not reported'."""
    if value is None:
        return ui.gettext("not reported")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # counters: every digit, not 1.729e+04
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".rstrip()


HEADEND_STATE_WORDS = {
    "operational": N_("online (operational)"),
    "ranging": N_("ranging: never completes registration"),
    "offline": N_("offline"),
}


def headend_rows(view: HeadendLineView, ui: Ui) -> list[tuple[str, str]]:
    """(label, value) pairs of what the headend measures for the line, by kind."""
    _ = ui.gettext
    m, p, o = view.modem, view.port, view.ont
    state = _(HEADEND_STATE_WORDS[view.state]) if view.state in HEADEND_STATE_WORDS \
        else (view.state or _("unknown"))
    rows = [(_("Status value"), f"{view.status} — {state}")]
    if m is not None:
        us = (_("channel {channel}").format(channel=m.us_channel) if m.us_channel is not None
              else _("channel not reported"))
        rows += [
            (_("MAC address"), m.mac),
            (_("Upstream receive power (at the CMTS)"), num(m.us_rx_power_dbmv, "dBmV", ui)),
            (_("Upstream SNR (at the CMTS)"), num(m.us_snr_db, "dB", ui)),
            (_("Upstream channel"), us),
            (_("Codewords unerrored / corrected / uncorrectable"),
             " / ".join(num(v, "", ui) for v in (m.unerrored, m.corrected, m.uncorrectable))),
        ]
    elif p is not None:
        rows += [
            (_("DSLAM port"), p.port),
            (_("SNR margin down / up"), f"{num(p.snr_margin_down_db, 'dB', ui)} / "
                                        f"{num(p.snr_margin_up_db, 'dB', ui)}"),
            (_("Attenuation down / up"), f"{num(p.attenuation_down_db, 'dB', ui)} / "
                                         f"{num(p.attenuation_up_db, 'dB', ui)}"),
            (_("Sync rate down / up"), f"{num(p.sync_down_kbps, 'kbit/s', ui)} / "
                                       f"{num(p.sync_up_kbps, 'kbit/s', ui)}"),
        ]
    elif o is not None:
        rows += [
            (_("ONT"), f"{o.ont} ({o.serial})" if o.serial else o.ont),
            (_("Receive power at the ONT"), num(o.rx_power_dbm, "dBm", ui)),
            (_("Transmit power of the ONT"), num(o.tx_power_dbm, "dBm", ui)),
            (_("Its light at the OLT"), num(o.olt_rx_power_dbm, "dBm", ui)),
        ]
    return rows


# Trend columns: (TrendPoint field, label, unit), by technology.
TREND_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "docsis": (("ds_snr_db", N_("Downstream SNR (worst)"), "dB"),
               ("us_tx_headroom_db", N_("Upstream TX headroom"), "dB"),
               ("uncorrectable", N_("Uncorrectable codewords"), ""),
               ("t3_t4_timeouts", N_("T3+T4 timeouts"), "")),
    "dsl": (("dsl_snr_margin_down_db", N_("SNR margin (down)"), "dB"),
            ("dsl_crc_errors", N_("CRC errors"), "")),
    "gpon": (("gpon_rx_power_dbm", N_("Receive power"), "dBm"),),
}


def trend_summary(lines: Sequence[str], ui: Ui) -> list[str]:
    return [detail_text(line, ui.gettext) for line in lines]


def readings_lines(readings: Readings | None, ui: Ui) -> list[ReadingLine]:
    """The latest readings beside their limits, worst channels first, the rest folded."""
    if readings is None:
        return []
    return reading_lines(readings, ui.tr, fold_after=2)


def dispatch_text(d: Dispatch, ui: Ui) -> str:
    return phrases.dispatch_text(d, ui.now, ui.tz, ui.language, ui.gettext)


@dataclass(frozen=True)
class DispatchForm:
    """The dispatch form's values (prefilled, or as posted when sent back)."""

    reason: str = ""
    window_start: str = ""  # datetime-local value, in the console's zone
    window_end: str = ""
    reference: str = ""
    error: str = ""
    conflict: bool = False  # a 409: offer 'force'
