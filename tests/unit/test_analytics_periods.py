"""Report buckets in time zones, previous periods and moving averages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamer.analytics.periods import (
    bucket_start,
    buckets,
    moving_average,
    previous_range,
    zone,
)
from streamer.analytics.schedule_times import covered, next_run

PARIS = zone("Europe/Paris")


def test_day_buckets_follow_local_midnight() -> None:
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on March 2nd in Paris
    assert bucket_start(at, "day", PARIS) == datetime(2026, 3, 2, tzinfo=PARIS)
    assert bucket_start(at, "day", zone("UTC")) == datetime(2026, 3, 1, tzinfo=UTC)


def test_week_and_month_buckets() -> None:
    at = datetime(2026, 12, 6, 12, tzinfo=UTC)  # a Sunday
    assert bucket_start(at, "week", zone("UTC")) == datetime(2026, 11, 30, tzinfo=UTC)
    assert bucket_start(at, "month", zone("UTC")) == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_day_of_daylight_saving_change_has_23_hours() -> None:
    start = datetime(2026, 3, 29, tzinfo=PARIS)
    end = datetime(2026, 3, 30, tzinfo=PARIS)
    assert len(buckets(start, end, "hour", PARIS)) == 23
    assert buckets(start, end, "day", PARIS) == [start]


def test_month_buckets_cross_years() -> None:
    utc = zone("UTC")
    got = buckets(
        datetime(2026, 11, 15, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC), "month", utc
    )
    assert [b.month for b in got] == [11, 12, 1]


def test_too_many_buckets_is_an_error() -> None:
    with pytest.raises(ValueError, match="too many points"):
        buckets(
            datetime(2000, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "hour", zone("UTC")
        )


def test_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("Mars/Olympus")


def test_previous_range_and_moving_average() -> None:
    a, b = datetime(2026, 1, 8, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC)
    assert previous_range(a, b) == (datetime(2026, 1, 1, tzinfo=UTC), a)
    assert moving_average([1, 2, 3, 4], 2) == [None, 1.5, 2.5, 3.5]


def test_schedules_run_after_midnight_and_cover_the_day_or_week_before() -> None:
    delay = timedelta(minutes=15)
    now = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)  # 23:00 Sunday in Paris
    daily = next_run(now, "daily", "Europe/Paris", delay)
    assert daily == datetime(2026, 12, 6, 23, 15, tzinfo=UTC)
    assert covered(daily, "daily", "Europe/Paris", delay) == (
        datetime(2026, 12, 6, tzinfo=PARIS),
        datetime(2026, 12, 7, tzinfo=PARIS),
    )
    weekly = next_run(now, "weekly", "UTC", delay)
    assert weekly == datetime(2026, 12, 7, 0, 15, tzinfo=UTC)  # Monday
    assert covered(weekly, "weekly", "UTC", delay) == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 7, tzinfo=UTC),
    )
    assert next_run(daily, "daily", "Europe/Paris", delay) > daily
