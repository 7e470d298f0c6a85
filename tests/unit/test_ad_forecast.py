"""The inventory forecast: each day the mean of the same weekday in recent weeks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from streamer.ads.forecast import DayInventory, forecast

TODAY = date(2026, 12, 7)  # a Monday


def test_a_day_is_the_mean_of_the_same_weekday_in_the_weeks_before() -> None:
    mondays = {TODAY - timedelta(weeks=n): DayInventory(10 * n, 5 * n, 300.0 * n) for n in (1, 2)}
    (monday,) = forecast(mondays, TODAY, [TODAY + timedelta(weeks=1)], weeks=4)
    assert monday.breaks == pytest.approx((10 + 20) / 4)  # two quiet Mondays count as zero
    assert monday.seconds == pytest.approx((300 + 600) / 4)
    assert monday.filled == pytest.approx(monday.breaks * 0.5)


def test_other_weekdays_and_days_beyond_the_weeks_do_not_count() -> None:
    history = {
        TODAY - timedelta(days=1): DayInventory(100, 100, 1.0),  # a Sunday
        TODAY - timedelta(weeks=5): DayInventory(100, 100, 1.0),  # a Monday, too long ago
    }
    (monday,) = forecast(history, TODAY, [TODAY + timedelta(weeks=1)], weeks=4)
    assert monday.breaks == 0
    assert monday.filled == 0


def test_no_history_forecasts_nothing() -> None:
    days = [TODAY + timedelta(days=n) for n in range(1, 8)]
    assert all(d.breaks == 0 and d.filled == 0 for d in forecast({}, TODAY, days))
