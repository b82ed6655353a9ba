"""Sentences about the call record, said the same way by the console and the CLI.

"technician requested yesterday 14:02 CET by alice, ref FS-1234, window Thu
12-14 CET" and "3rd call in 48 h": local times in the reader's zone and
language, words from the shared catalog.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from babel.dates import format_datetime

from collector.calls import CallSummary
from collector.dispatches import Dispatch

__all__ = ["calls_head", "clock_text", "day_clock", "dispatch_text", "window_text"]

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def clock_text(moment: dt.datetime) -> str:
    """'14:02 CET': the clock with the zone's abbreviation in force then."""
    return f"{moment:%H:%M} {moment.tzname() or ''}".rstrip()


def day_clock(ts: float, now: float, tz: dt.tzinfo, language: str, gettext: Gettext) -> str:
    """'today 14:02 CET', 'yesterday 14:02 CET', else 'Thu 3 Dec 14:02 CET'."""
    moment = dt.datetime.fromtimestamp(ts, tz)
    days = (dt.datetime.fromtimestamp(now, tz).date() - moment.date()).days
    if days == 0:
        return gettext("today {clock}").format(clock=clock_text(moment))
    if days == 1:
        return gettext("yesterday {clock}").format(clock=clock_text(moment))
    return f"{format_datetime(moment, 'EEE d MMM', locale=language)} {clock_text(moment)}"


def window_text(start: float, end: float, tz: dt.tzinfo, language: str) -> str:
    """'Thu 12-14 CET' (whole hours) or 'Thu 12:30-14:00 CET'."""
    a, b = dt.datetime.fromtimestamp(start, tz), dt.datetime.fromtimestamp(end, tz)
    span = f"{a.hour}-{b.hour}" if a.minute == 0 and b.minute == 0 \
        else f"{a:%H:%M}-{b:%H:%M}"
    day = format_datetime(a, "EEE", locale=language)
    return f"{day} {span} {b.tzname() or ''}".rstrip()


def dispatch_text(d: Dispatch, now: float, tz: dt.tzinfo, language: str,
                  gettext: Gettext) -> str:
    """'technician requested yesterday 14:02 CET by alice, ref FS-1234, window Thu 12-14 CET'."""
    text = gettext("technician requested {when} by {who}").format(
        when=day_clock(d.at, now, tz, language, gettext), who=d.requested_by or "?")
    if d.reference:
        text += gettext(", ref {reference}").format(reference=d.reference)
    if d.window_start is not None and d.window_end is not None:
        window = window_text(d.window_start, d.window_end, tz, language)
        day, _, span = window.partition(" ")
        text += gettext(", window {day} {span}").format(day=day, span=span)
    if d.grouped:
        text += gettext(" (for {fault}, on {account})").format(fault=d.fault, account=d.account)
    if d.forced:
        text += gettext(" (forced: a further dispatch for the same fault)")
    return text


def calls_head(calls: CallSummary, language: str, ngettext: Ngettext) -> str:
    """'3rd call in 48 h' (English: the API's ordinal), '3 samtal på 48 h'."""
    if language == "en":
        return calls.text
    hours = f"{calls.window_s / 3600:g}"
    return ngettext("{count} call in {hours} h", "{count} calls in {hours} h",
                    calls.count).format(count=calls.count, hours=hours)
