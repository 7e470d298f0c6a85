"""A forecast of ad inventory for coming days (pure): how many breaks, and seconds of
them, listeners will open, from what the same weekday brought in recent weeks.

Each future day gets the mean of the same weekday over the ``weeks`` weeks of history
before ``today`` (days without sessions count as zero: a quiet weekday is a quiet
weekday), and the fill rate expected is the history's (breaks filled over breaks). The
campaigns' goals still due are beside it, so a seller sees whether the inventory covers
them. A mean of few weeks is a plain, explainable forecast; seasonality beyond the week
is not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["DayInventory", "ForecastDay", "fill_rate", "forecast"]


@dataclass(frozen=True, slots=True)
class DayInventory:
    """What one past day's sessions offered: breaks, breaks filled, seconds of breaks."""

    breaks: int = 0
    filled: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ForecastDay:
    day: date
    breaks: float
    seconds: float
    filled: float  # breaks expected filled at the history's fill rate


def forecast(
    history: Mapping[date, DayInventory],
    today: date,
    days: Sequence[date],
    weeks: int = 4,
) -> list[ForecastDay]:
    """Each of ``days`` forecast from the ``weeks`` weeks before ``today``."""
    past = _past(today, weeks)
    rate = fill_rate(history, today, weeks) or 0.0
    found = []
    for day in days:
        same = [history.get(d, DayInventory()) for d in past if d.weekday() == day.weekday()]
        mean_breaks = sum(t.breaks for t in same) / len(same) if same else 0.0
        mean_seconds = sum(t.seconds for t in same) / len(same) if same else 0.0
        found.append(ForecastDay(day, mean_breaks, mean_seconds, mean_breaks * rate))
    return found


def fill_rate(history: Mapping[date, DayInventory], today: date, weeks: int = 4) -> float | None:
    """Breaks filled over breaks offered in the ``weeks`` weeks before ``today`` (None
    without any)."""
    totals = [history[day] for day in _past(today, weeks) if day in history]
    breaks = sum(t.breaks for t in totals)
    return sum(t.filled for t in totals) / breaks if breaks else None


def _past(today: date, weeks: int) -> list[date]:
    return [today - timedelta(days=n) for n in range(1, weeks * 7 + 1)]
