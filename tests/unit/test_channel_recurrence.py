"""Occurrences of schedule entries: RFC 5545 recurrence in the channel's zone, and the
daylight-saving rule of streamer.channels.recurrence (each test names the rule it checks)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.rrule import rrulestr

from streamer.channels.model import ScheduleEntry
from streamer.channels.recurrence import (
    check_entry,
    entry_occurrences,
    local_to_utc,
    occurrences,
    zone,
)

HOUR = timedelta(hours=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def daily(start: datetime, duration: timedelta = HOUR, **kwargs: object) -> ScheduleEntry:
    return ScheduleEntry("e", "p", start, duration, "FREQ=DAILY", **kwargs)  # type: ignore[arg-type]


def starts(entry: ScheduleEntry, zone_name: str, low: datetime, high: datetime) -> list[str]:
    return [
        occurrence.start.isoformat()
        for occurrence in entry_occurrences(entry, zone_name, low, high)
    ]


# --- daylight saving time -----------------------------------------------------------------


def test_london_0130_plays_once_on_the_night_the_clocks_go_back() -> None:
    # 2026-10-25: 02:00 BST -> 01:00 GMT, so 01:30 happens twice; the first one plays.
    entry = daily(datetime(2026, 1, 1, 1, 30))
    found = entry_occurrences(entry, "Europe/London", utc(2026, 10, 24, 22), utc(2026, 10, 25, 22))
    assert [o.start for o in found] == [utc(2026, 10, 25, 0, 30)]
    assert found[0].end == utc(2026, 10, 25, 1, 30)


def test_london_0130_is_not_lost_on_the_night_the_clocks_go_forward() -> None:
    # 2026-03-29: 01:00 GMT -> 02:00 BST, so 01:30 does not exist: it starts at 02:00 BST
    # (01:00 UTC), the first instant after the gap, and lasts its full hour.
    entry = daily(datetime(2026, 1, 1, 1, 30))
    found = entry_occurrences(entry, "Europe/London", utc(2026, 3, 28, 22), utc(2026, 3, 29, 22))
    assert [(o.start, o.end) for o in found] == [(utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))]
    assert found[0].local_start == datetime(2026, 3, 29, 1, 30)


def test_london_0130_around_both_changes_is_once_a_day() -> None:
    entry = daily(datetime(2026, 1, 1, 1, 30))
    assert starts(entry, "Europe/London", utc(2026, 3, 27, 12), utc(2026, 3, 31, 12)) == [
        "2026-03-28T01:30:00+00:00",
        "2026-03-29T01:00:00+00:00",
        "2026-03-30T00:30:00+00:00",
        "2026-03-31T00:30:00+00:00",
    ]
    assert starts(entry, "Europe/London", utc(2026, 10, 23, 12), utc(2026, 10, 27, 12)) == [
        "2026-10-24T00:30:00+00:00",
        "2026-10-25T00:30:00+00:00",
        "2026-10-26T01:30:00+00:00",
        "2026-10-27T01:30:00+00:00",
    ]


def test_kolkata_half_hour_offset_all_year() -> None:
    # UTC+05:30, no daylight saving: 01:30 IST is 20:00 UTC the day before, every day.
    entry = daily(datetime(2026, 1, 1, 1, 30))
    for month in (1, 3, 10):
        found = starts(entry, "Asia/Kolkata", utc(2026, month, 10), utc(2026, month, 11))
        assert found == [f"2026-{month:02d}-10T20:00:00+00:00"]


@pytest.mark.parametrize(
    ("low", "expected"),
    [
        # Lord Howe shifts by 30 minutes: +10:30 -> +11:00 on 2026-10-04 at 02:00 local, so
        # 02:15 does not exist and starts at 02:30 LHDT (15:30 UTC the day before).
        (utc(2026, 10, 2), ["2026-10-02T15:45:00+00:00", "2026-10-03T15:30:00+00:00"]),
        # +11:00 -> +10:30 on 2026-04-05 at 02:00 local: 01:45 happens twice, once played
        # (the first: +11:00, 14:45 UTC).
        (utc(2026, 4, 3), ["2026-04-03T14:45:00+00:00", "2026-04-04T14:45:00+00:00"]),
    ],
)
def test_lord_howe_half_hour_shift(low: datetime, expected: list[str]) -> None:
    start = datetime(2026, 1, 1, 2, 15) if low.month == 10 else datetime(2026, 1, 1, 1, 45)
    entry = daily(start)
    assert starts(entry, "Australia/Lord_Howe", low, low + timedelta(days=2)) == expected


def test_local_to_utc_keeps_existing_times() -> None:
    tz = zone("Europe/London")
    assert local_to_utc(datetime(2026, 7, 1, 12), tz) == utc(2026, 7, 1, 11)
    assert local_to_utc(datetime(2026, 3, 29, 2, 0), tz) == utc(2026, 3, 29, 1)


# --- recurrence ---------------------------------------------------------------------------


def test_exdate_removes_an_occurrence() -> None:
    entry = daily(datetime(2026, 5, 1, 9), exdates=(datetime(2026, 5, 3, 9),))
    assert starts(entry, "UTC", utc(2026, 5, 1), utc(2026, 5, 5)) == [
        "2026-05-01T09:00:00+00:00",
        "2026-05-02T09:00:00+00:00",
        "2026-05-04T09:00:00+00:00",
    ]


def test_exdate_is_local_wall_time_across_dst() -> None:
    entry = daily(datetime(2026, 1, 1, 1, 30), exdates=(datetime(2026, 3, 29, 1, 30),))
    assert starts(entry, "Europe/London", utc(2026, 3, 28, 12), utc(2026, 3, 30, 12)) == [
        "2026-03-30T00:30:00+00:00"
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,WE", ["2026-06-01", "2026-06-03", "2026-06-08"]),
        ("RRULE:FREQ=DAILY;INTERVAL=3", ["2026-06-01", "2026-06-04", "2026-06-07"]),
        ("FREQ=DAILY;COUNT=2", ["2026-06-01", "2026-06-02"]),
        ("FREQ=DAILY;UNTIL=20260602T235959", ["2026-06-01", "2026-06-02"]),
        ("FREQ=MONTHLY;BYDAY=1MO", ["2026-06-01"]),
    ],
)
def test_rrule_values(rule: str, expected: list[str]) -> None:
    entry = ScheduleEntry("e", "p", datetime(2026, 6, 1, 12), HOUR, rule)
    found = entry_occurrences(entry, "UTC", utc(2026, 6, 1), utc(2026, 6, 10))
    assert [o.start.date().isoformat() for o in found] == expected


def test_single_entry_without_rrule() -> None:
    entry = ScheduleEntry("e", "p", datetime(2026, 6, 1, 12), HOUR)
    assert starts(entry, "UTC", utc(2026, 6, 1), utc(2026, 6, 2)) == ["2026-06-01T12:00:00+00:00"]
    assert starts(entry, "UTC", utc(2026, 6, 2), utc(2026, 6, 3)) == []


def test_an_occurrence_overlapping_the_window_start_is_found() -> None:
    entry = daily(datetime(2026, 1, 1, 23), duration=3 * HOUR)
    found = entry_occurrences(entry, "UTC", utc(2026, 6, 2, 1), utc(2026, 6, 2, 2))
    assert [o.start for o in found] == [utc(2026, 6, 1, 23)]


@pytest.mark.parametrize(
    ("rule", "year"),
    [
        ("FREQ=DAILY", 2000),
        ("FREQ=WEEKLY;BYDAY=TU,SA", 2000),
        ("FREQ=DAILY;INTERVAL=7", 2000),
        # The oracle walks every step from DTSTART: a later start keeps it quick.
        ("FREQ=HOURLY;INTERVAL=5", 2024),
    ],
)
def test_an_entry_from_2000_expands_a_2026_window_fast_and_the_same(rule: str, year: int) -> None:
    entry = ScheduleEntry("e", "p", datetime(year, 1, 3, 1, 30), HOUR, rule)
    low, high = utc(2026, 3, 1), utc(2026, 4, 30)
    began = time.perf_counter()
    fast = entry_occurrences(entry, "Europe/London", low, high)
    elapsed = time.perf_counter() - began
    # The same as dateutil expanding from 2000 (the slow way, once, as the oracle).
    tz = zone("Europe/London")
    slow = [
        wall
        for wall in rrulestr(rule, dtstart=entry.start).between(
            datetime(2026, 2, 27), datetime(2026, 5, 2), inc=True
        )
        if local_to_utc(wall, tz) + HOUR > low and local_to_utc(wall, tz) < high
    ]
    assert [o.local_start for o in fast] == slow
    assert len(slow) >= 8
    assert elapsed < 0.05


def test_occurrences_of_several_entries_are_sorted() -> None:
    first = ScheduleEntry("b", "p", datetime(2026, 6, 1, 10), HOUR, "FREQ=DAILY")
    second = ScheduleEntry("a", "p", datetime(2026, 6, 1, 9), HOUR, "FREQ=DAILY")
    found = occurrences((first, second), "UTC", utc(2026, 6, 1), utc(2026, 6, 2))
    assert [o.entry_id for o in found] == ["a", "b"]


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    ["FREQ=SOMETIMES", "NONSENSE", "FREQ=DAILY;DTSTART=20260101T000000", "FREQ=DAILY;BYDAY=XX"],
)
def test_invalid_rrule_is_a_value_error(rule: str) -> None:
    entry = ScheduleEntry("e", "p", datetime(2026, 6, 1, 12), HOUR, rule)
    with pytest.raises(ValueError, match="RRULE"):
        check_entry(entry, "UTC")


def test_unknown_zone_is_a_value_error() -> None:
    entry = ScheduleEntry("e", "p", datetime(2026, 6, 1, 12), HOUR)
    with pytest.raises(ValueError, match="time zone"):
        check_entry(entry, "Mars/Olympus_Mons")


def test_naive_window_is_a_value_error() -> None:
    entry = ScheduleEntry("e", "p", datetime(2026, 6, 1, 12), HOUR)
    with pytest.raises(ValueError, match="aware"):
        entry_occurrences(entry, "UTC", datetime(2026, 6, 1), utc(2026, 6, 2))
