"""collector/i18n/clock.py: local times with the zone's abbreviation in force
at the moment, across the DST changes of 2026 in Stockholm and Warsaw, and
relative times with each language's plural rules."""

from __future__ import annotations

import datetime as dt

import pytest

from collector.i18n.clock import (
    ZoneError,
    host_zone_name,
    local_text,
    relative_text,
    utc_text,
    zone,
)

SPRING = dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC).timestamp()  # 02:00 CET -> 03:00 CEST
AUTUMN = dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC).timestamp()  # 03:00 CEST -> 02:00 CET


@pytest.mark.parametrize("name", ["Europe/Stockholm", "Europe/Warsaw"])
@pytest.mark.parametrize(("change", "before", "after"), [
    (SPRING, "2026-03-29 01:59 CET", "2026-03-29 03:00 CEST"),
    (AUTUMN, "2026-10-25 02:59 CEST", "2026-10-25 02:00 CET"),
])
def test_local_text_across_dst(name: str, change: float, before: str, after: str) -> None:
    tz = zone(name)
    assert local_text(change - 60, tz) == before
    assert local_text(change, tz) == after
    for language in ("sv", "pl"):  # digits and abbreviations are the same in each
        assert local_text(change - 60, tz, language) == before


def test_autumn_repeats_an_hour_the_abbreviation_tells_apart() -> None:
    tz = zone("Europe/Stockholm")
    first = local_text(AUTUMN - 1800, tz, date=False)
    second = local_text(AUTUMN + 1800, tz, date=False)
    assert (first, second) == ("02:30 CEST", "02:30 CET")
    assert local_text(AUTUMN + 1800, tz, seconds=True) == "2026-10-25 02:30:00 CET"
    assert utc_text(AUTUMN + 1800) == "2026-10-25 01:30:00 UTC"


def test_relative_text_across_the_spring_change_counts_real_time() -> None:
    # 01:30 CET to 03:30 CEST is one hour on the clock face... and one hour.
    tz = zone("Europe/Warsaw")
    earlier, later = SPRING - 1800, SPRING + 1800
    assert local_text(earlier, tz, date=False) == "01:30 CET"
    assert local_text(later, tz, date=False) == "03:30 CEST"
    assert relative_text(earlier, later) == "1 hour ago"
    assert relative_text(earlier, later, "sv") == "för 1 timme sedan"
    assert relative_text(earlier, later, "pl") == "1 godzinę temu"


@pytest.mark.parametrize(("minutes", "pl"), [(1, "1 minutę temu"), (3, "3 minuty temu"),
                                             (5, "5 minut temu"), (22, "22 minuty temu")])
def test_polish_plurals(minutes: int, pl: str) -> None:
    assert relative_text(0, minutes * 60, "pl") == pl


def test_short_width_and_future() -> None:
    assert relative_text(0, 720, "en", width="short") == "12 min. ago"
    assert relative_text(720, 0, "en") == "in 12 minutes"


def test_zone_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ZoneError, match="Europe/Atlantis"):
        zone("Europe/Atlantis")
    monkeypatch.setenv("TZ", ":Europe/Warsaw")
    assert host_zone_name() == "Europe/Warsaw"
    assert str(zone(None)) == "Europe/Warsaw"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert str(zone(None)) == "UTC", "an unusable TZ falls back to UTC, not an error"
