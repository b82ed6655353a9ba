"""Times as a support agent reads them: in the site's zone, with its abbreviation.

The wire and the store keep UTC epoch seconds; only what a person reads is
local. ``zone(None)`` is the host's zone (``TZ``, then ``/etc/localtime``),
falling back to UTC where neither names an IANA zone.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, format_timedelta

__all__ = ["ZoneError", "host_zone_name", "local_text", "relative_text", "utc_text", "zone"]


class ZoneError(ValueError):
    """Not an IANA time zone name (config or ``--tz``)."""


def host_zone_name() -> str:
    """The host's zone name: ``TZ``, else the target of ``/etc/localtime``, else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        target = Path("/etc/localtime").resolve()
    except OSError:
        return "UTC"
    parts = target.parts
    if "zoneinfo" in parts:
        return "/".join(parts[parts.index("zoneinfo") + 1:]) or "UTC"
    return "UTC"


def zone(name: str | None) -> ZoneInfo:
    """The named IANA zone (None: the host's). Raises ZoneError on a bad name."""
    if name is None:
        try:
            return ZoneInfo(host_zone_name())
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ZoneError(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Stockholm)") \
            from exc


def _aware(ts: float, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz)


def local_text(ts: float, tz: dt.tzinfo, language: str = "en", *, date: bool = True,
               seconds: bool = False) -> str:
    """'2026-03-29 03:15 CEST': ISO-ordered date, 24 h clock, the zone's abbreviation.

    The abbreviation is the one in force at ``ts`` (CET before a DST change,
    CEST after), which is what makes a time unambiguous on the change night.
    """
    moment = _aware(ts, tz)
    clock = "HH:mm:ss" if seconds else "HH:mm"
    pattern = f"yyyy-MM-dd {clock}" if date else clock
    text = format_datetime(moment, pattern, tzinfo=tz, locale=language)
    return f"{text} {moment.tzname() or ''}".rstrip()


def utc_text(ts: float) -> str:
    return _aware(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative_text(ts: float, now: float, language: str = "en", *,
                  width: str = "long") -> str:
    """'12 minutes ago' / 'in 2 min.' in the language: Babel's plural rules and units.

    ``width`` is Babel's: "long" for pages, "short" or "narrow" for tight columns.
    """
    return format_timedelta(dt.timedelta(seconds=ts - now), granularity="second",
                            threshold=0.9, add_direction=True, format=width,
                            locale=language)
