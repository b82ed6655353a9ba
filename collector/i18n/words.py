"""Words a support agent reads, shared by the console and the CLI.

Verdict names and evidence fact names are identifiers on the wire
(``line_fault``, ``ds_snr_db``); people read them as words in their own
language. The words are marked with ``N_`` (extracted by ``make i18n``) and
translated where they are shown: pass the language's ``gettext``.

``evidence_text`` reads one evidence fact aloud:
"downstream SNR 25.0 dB, below 30 dB (downstream channel 3)".
"""

from __future__ import annotations

import calendar
import functools
import re
import string
import time
from collections.abc import Callable, Sequence

from collector.i18n import N_
from collector.model import Evidence
from collector.verdicts.judge import facts_text
from collector.verdicts.messages import ACTIONS

__all__ = [
    "FACT_WORDS",
    "VERDICT_SHORT",
    "VERDICT_WORDS",
    "action_text",
    "detail_text",
    "event_text",
    "evidence_text",
    "fact_word",
    "number_text",
    "threshold_text",
    "verdict_word",
]

Gettext = Callable[[str], str]

# Short names: table cells and the CLI's verdict line.
VERDICT_SHORT: dict[str, str] = {
    "area_outage": N_("area outage"),
    "line_fault": N_("line fault"),
    "equipment_fault": N_("modem fault"),
    "customer_side": N_("customer side"),
    "degraded": N_("degraded"),
    "ok": N_("ok"),
    "unknown": N_("unknown"),
}

# Read-aloud names: what the verdict means for the call.
VERDICT_WORDS: dict[str, str] = {
    "area_outage": N_("area outage"),
    "line_fault": N_("line fault"),
    "equipment_fault": N_("modem fault (customer equipment)"),
    "customer_side": N_("problem behind the modem (customer side)"),
    "degraded": N_("degraded: working but below plan"),
    "ok": N_("ok: nothing wrong on our side"),
    "unknown": N_("unknown: no fresh data"),
}

# Evidence facts (collector/verdicts/rules) and reading names (readings_view).
FACT_WORDS: dict[str, str] = {
    "ds_power_dbmv": N_("downstream power"),
    "ds_snr_db": N_("downstream SNR"),
    "us_tx_power_dbmv": N_("upstream TX power"),
    "uncorrectable_ratio": N_("uncorrectable codewords"),
    "corrected_ratio": N_("corrected codewords"),
    "t3_timeouts": N_("T3 timeouts"),
    "t4_timeouts": N_("T4 timeouts"),
    "t3_timeouts_delta": N_("new T3 timeouts"),
    "t4_timeouts_delta": N_("new T4 timeouts"),
    "cm_status": N_("cable modem status"),
    "dsl_snr_margin_down_db": N_("DSL SNR margin down"),
    "dsl_snr_margin_up_db": N_("DSL SNR margin up"),
    "dsl_attenuation_down_db": N_("DSL attenuation down"),
    "dsl_attenuation_up_db": N_("DSL attenuation up"),
    "dsl_sync_down_kbps": N_("DSL sync rate down"),
    "dsl_sync_up_kbps": N_("DSL sync rate up"),
    "dsl_crc_per_s": N_("DSL CRC errors per second"),
    "dsl_crc_errors": N_("DSL CRC errors"),
    "gpon_rx_power_dbm": N_("optical receive power"),
    "gpon_tx_power_dbm": N_("optical transmit power"),
    "snmp_error": N_("modem management (SNMP)"),
    "snmp_reading": N_("modem line readings"),
    "ping_loss_ratio": N_("ping loss"),
    "ping_rtt_avg_ms": N_("average ping time"),
    "throughput_down_mbps": N_("throughput down"),
    "throughput_up_mbps": N_("throughput up"),
    "throughput_down_ratio": N_("download throughput against plan"),
    "unreachable_since": N_("unreachable since"),
    "modem_reachable": N_("modem reachable"),
    "reboots_in_window": N_("modem restarts in window"),
    "lan_oper_up": N_("LAN port up"),
    "line_in_spec": N_("line in spec"),
    "last_result": N_("last result"),
    "last_result_age_s": N_("age of last result"),
    "node_unreachable_share": N_("share of the node's modems unreachable"),
    "node_unreachable_count": N_("node's modems unreachable"),
    "node_tests_below_plan_share": N_("share of the node's tests below plan"),
    "outage_since": N_("outage since"),
    "agent_silent_since": N_("polling agent silent since"),
    "management_path": N_("management path"),
    "headend_status": N_("headend status"),
    "headend_reports_offline": N_("headend reports the modem offline"),
    "headend_registration": N_("headend registration"),
    "dark_neighbours": N_("dark neighbours"),
    "plant_fault": N_("plant fault"),
    "plant_fault_since": N_("plant fault since"),
    "pre_dark_history": N_("readings before it went dark"),
    "pre_dark_readings_out_of_spec": N_("readings out of spec before it went dark"),
    "pre_dark_us_tx_headroom_db": N_("upstream TX headroom before it went dark"),
    "us_pre_eq_mtr_db": N_("upstream pre-equalization main tap ratio"),
    "us_pre_eq_nmter_db": N_("upstream pre-equalization non-main tap energy"),
    "us_pre_eq_mtc_db": N_("upstream pre-equalization main tap compression"),
    "us_pre_eq_echo_dbc": N_("upstream echo"),
    "shared_echo_modems": N_("modems sharing the echo"),
}

# The engine's most frequent evidence details, said in the reader's language;
# any other detail is shown as the engine wrote it (English).
_DETAILS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^downstream channel (?P<channel>\d+)$"), N_("downstream channel {channel}")),
    (re.compile(r"^upstream channel (?P<channel>\d+) \((?P<count>\d+) bonded\)$"),
     N_("upstream channel {channel} ({count} bonded)")),
    (re.compile(r"^node (?P<node>\S+)$"), N_("node {node}")),
    (re.compile(r"^(?P<received>\d+) of (?P<sent>\d+) replies$"),
     N_("{received} of {sent} replies")),
    (re.compile(r"^first unanswered poll of this dark spell$"),
     N_("first unanswered poll of this dark spell")),
    (re.compile(r"^modem does not answer SNMP$"), N_("modem does not answer SNMP")),
    (re.compile(r"^every line check passed$"), N_("every line check passed")),
    (re.compile(r"^new timeouts since the previous poll$"),
     N_("new timeouts since the previous poll")),
    # The plant rule (collector/verdicts/rules/plant.py).
    (re.compile(r"^(?P<count>\d+) of (?P<total>\d+) modems on node (?P<node>\S+) went dark "
                r"within (?P<seconds>\d+) s of each other: one fault upstream of their homes "
                r"\(tap, amplifier or shared drop\)$"),
     N_("{count} of {total} modems on node {node} went dark within {seconds} s of each other: "
        "one fault upstream of their homes (tap, amplifier or shared drop)")),
    # The pre-dark trend (collector/verdicts/rules/predark.py): "downstream SNR
    # 37 -> 31 -> 25 dB over 15 min, then no answer".
    (re.compile(r"^(?P<what>.+?) (?P<seq>-?[\d.]+(?: -> -?[\d.]+)+) (?P<unit>\S+) over "
                r"(?P<minutes>\d+) min, then no answer$"),
     N_("{what} {seq} {unit} over {minutes} min, then no answer")),
    (re.compile(r"^(?P<count>\d+) new (?P<what>.+?) over (?P<minutes>\d+) min, "
                r"then no answer$"),
     N_("{count} new {what} over {minutes} min, then no answer")),
)
# What the trend lines name (``what`` above).
_TREND_WORDS: dict[str, str] = {
    "downstream SNR": N_("downstream SNR"),
    "uncorrectable codewords": N_("uncorrectable codewords"),
    "T3/T4 ranging timeouts": N_("T3/T4 ranging timeouts"),
    "DSL downstream SNR margin": N_("DSL downstream SNR margin"),
    "ONT receive power": N_("ONT receive power"),
}


# Timeline events the collector writes (engine, checks, dispatches), as said
# again in the reader's language; notes and anything else stay as written.
_EVENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^check by (?P<who>.+?): (?P<outcome>no_agent|fresh|timeout), "
                r"verdict (?P<verdict>\w+)$"),
     N_("check by {who}: {outcome}, verdict {verdict}")),
    (re.compile(r"^modem restarted \(sysUpTime (?P<seconds>\d+) s\)$"),
     N_("modem restarted (sysUpTime {seconds} s)")),
    (re.compile(r"^part of plant fault (?P<event>\S+): (?P<count>\d+) modems on node "
                r"(?P<node>\S+) dark together$"),
     N_("part of plant fault {event}: {count} modems on node {node} dark together")),
    (re.compile(r"^no longer part of plant fault (?P<event>\S+)$"),
     N_("no longer part of plant fault {event}")),
    (re.compile(r"^technician requested by (?P<who>[^:,]+), ref (?P<reference>[^:]+): "
                r"(?P<reason>.*)$", re.DOTALL),
     N_("technician requested by {who}, ref {reference}: {reason}")),
    (re.compile(r"^technician requested by (?P<who>[^:,]+): (?P<reason>.*)$", re.DOTALL),
     N_("technician requested by {who}: {reason}")),
)
_OUTCOMES = {"fresh": N_("fresh result"), "timeout": N_("no answer in time"),
             "no_agent": N_("no agent took it")}


def event_text(kind: str, text: str, gettext: Gettext) -> str:
    """A timeline event's text in the reader's language where the words know it."""
    if kind == "note":
        return text  # the agent's own words
    for pattern, message in _EVENTS:
        found = pattern.match(text)
        if found:
            fields = found.groupdict()
            if "outcome" in fields:
                fields["outcome"] = gettext(_OUTCOMES[fields["outcome"]])
                fields["verdict"] = verdict_word(fields["verdict"], gettext)
            return gettext(message).format(**fields)
    return text


def detail_text(detail: str, gettext: Gettext) -> str:
    """An evidence detail in the reader's language where the words know it."""
    for pattern, message in _DETAILS:
        found = pattern.match(detail)
        if found:
            fields = found.groupdict()
            if "what" in fields:
                if fields["what"] not in _TREND_WORDS:
                    continue  # a trend of something the words do not know: as written
                fields["what"] = gettext(_TREND_WORDS[fields["what"]])
            return gettext(message).format(**fields)
    return detail


_COMPARE = re.compile(r"^\s*(>=|<=|==|>|<)\s*(-?[0-9.]+)\s*$")
_SPAN = re.compile(r"^\s*(-?[0-9.]+)\s*\.\.\s*(-?[0-9.]+)\s*$")
_UNITLESS = ("ratio", "count", None, "")


def verdict_word(name: str, gettext: Gettext, *, short: bool = True) -> str:
    words = VERDICT_SHORT if short else VERDICT_WORDS
    return gettext(words[name]) if name in words else name.replace("_", " ")


def fact_word(fact: str, gettext: Gettext) -> str:
    """The fact's name as words; an unknown fact reads with spaces, never lost."""
    return gettext(FACT_WORDS[fact]) if fact in FACT_WORDS else fact.replace("_", " ")


def number_text(value: float, unit: str | None) -> str:
    """'25.0 dB', '1.2 %' (a ratio), '3' (a count): one decimal for levels."""
    if unit == "ratio":
        return f"{value * 100:.2g} %" if value < 0.1 else f"{value * 100:.0f} %"
    if unit in ("count", None, ""):
        return f"{value:g}"
    if isinstance(value, int) or unit in ("kbit/s", "Mbit/s", "ms"):
        return f"{value:g} {unit}"
    return f"{value:.1f} {unit}"


def _limit(text: str, unit: str | None) -> str:
    """A limit as configured ('30 dB', '5 %'), not rounded like a reading."""
    if unit == "ratio":
        return number_text(float(text), unit)
    return text if unit in _UNITLESS else f"{float(text):g} {unit}"


def threshold_text(value: object, threshold: str | None, unit: str | None,
                   gettext: Gettext) -> str:
    """'below 30 dB' / 'at least 30 dB' / 'outside -15..15 dBmV' / 'within ...'.

    Said against the value: a value failing ">= 30" reads "below 30 dB".
    A threshold the words do not know is shown as it is.
    """
    if not threshold:
        return ""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    span = _SPAN.match(threshold)
    if span:
        lo, hi = float(span.group(1)), float(span.group(2))
        limits = f"{lo:g}..{hi:g} {unit}" if unit not in _UNITLESS else f"{lo:g}..{hi:g}"
        if number is None:
            return gettext("spec {limits}").format(limits=limits)
        if lo <= number <= hi:
            return gettext("within {limits}").format(limits=limits)
        return gettext("outside {limits}").format(limits=limits)
    cmp = _COMPARE.match(threshold)
    if cmp is None:
        return threshold
    op, limit = cmp.group(1), _limit(cmp.group(2), unit)
    target = float(cmp.group(2))
    if number is None:
        words = {">=": gettext("at least {limit}"), ">": gettext("above {limit}"),
                 "<=": gettext("at most {limit}"), "<": gettext("below {limit}"),
                 "==": gettext("expected {limit}")}
        return words[op].format(limit=limit)
    passed = {">=": number >= target, ">": number > target, "<=": number <= target,
              "<": number < target, "==": number == target}[op]
    if op == "==":
        text = gettext("as expected") if passed else gettext("expected {limit}")
    elif op in (">=", ">"):
        text = gettext("at least {limit}") if passed else gettext("below {limit}")
        if not passed and op == ">":
            text = gettext("at or below {limit}")
    else:
        text = gettext("at most {limit}") if passed else gettext("above {limit}")
        if not passed and op == "<":
            text = gettext("at or above {limit}")
    return text.format(limit=limit)


def evidence_text(fact: str, value: object, threshold: str | None, unit: str | None,
                  detail: str | None, gettext: Gettext,
                  when: Callable[[float], str] | None = None) -> str:
    """'downstream SNR 25.0 dB, below 30 dB (downstream channel 3)'.

    ``when`` shows a moment (unit ``unix_s``) as the reader's local time."""
    name = fact_word(fact, gettext)
    detail = detail_text(detail, gettext) if detail else detail
    if unit == "unix_s" and isinstance(value, int | float) and not isinstance(value, bool):
        shown = when(value) if when is not None else f"{value:.0f}"
        text = f"{name} {shown}"
        return f"{text} ({detail})" if detail else text
    if isinstance(value, bool):
        shown = gettext("yes") if value else gettext("no")
    elif isinstance(value, int | float):
        shown = number_text(value, unit)
    elif value is None:
        shown = "-"
    else:
        shown = str(value)
    text = f"{name} {shown}"
    said = threshold_text(value, threshold, unit, gettext)
    if said:
        text += f", {said}"
    if detail:
        text += f" ({detail})"
    return text


# --- the verdict's action -----------------------------------------------------------

_UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")  # messages.format_time


@functools.cache
def _action_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each action template (collector/verdicts/messages.py ACTIONS) as a regex
    that reads its fields back out of the English text."""
    patterns = []
    for template in ACTIONS.values():
        parts, seen = ["^"], set()
        for literal, name, _spec, _conv in string.Formatter().parse(template):
            parts.append(re.escape(literal))
            if name is None:
                continue
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
            seen.add(name)
        parts.append("$")
        patterns.append((re.compile("".join(parts), re.DOTALL), template))
    return tuple(patterns)


def action_text(action: str, gettext: Gettext,
                when: Callable[[float], str] | None = None,
                evidence: Sequence[Evidence] = ()) -> str:
    """The verdict's action (English, as stored) in the reader's language.

    The action is matched against the engine's templates and said again from
    the translated one with the same fields; a time the engine wrote in UTC is
    shown by ``when`` (the reader's zone), and the facts it quotes, when they
    are the verdict's ``evidence``, as words (evidence_text). An action no
    template makes (an older collector's) is returned as it is.
    """
    if not action:
        return action
    for pattern, template in _action_patterns():
        found = pattern.match(action)
        if found is None:
            continue
        fields = found.groupdict()
        if evidence and fields.get("facts") == facts_text(list(evidence)):
            said = [evidence_text(e.fact, e.value, e.threshold, e.unit, e.detail, gettext, when)
                    for e in evidence[:4]]
            fields["facts"] = "; ".join(said)
            if len(evidence) > 4:
                fields["facts"] += "; " + gettext("and {count} more").format(
                    count=len(evidence) - 4)
        if when is not None:
            for name, value in fields.items():
                if _UTC_TIME.match(value):
                    moment = time.strptime(value, "%Y-%m-%d %H:%M UTC")
                    fields[name] = when(float(calendar.timegm(moment)))
        return gettext(template).format(**fields)
    return action

