"""When scheduled reports run and which period each run covers (pure).

A daily report runs after each local midnight of its time zone and covers the local day
that just ended; a weekly one runs after Monday's midnight and covers the ISO week
(Monday to Monday) that ended. Runs wait ``delay`` past midnight so that the rollup has
read the period's last events (it lags the clock by its own margin).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from streamer.analytics.periods import zone

__all__ = ["Cadence", "covered", "next_run"]

Cadence = Literal["daily", "weekly"]


def _boundary_after(at: datetime, cadence: Cadence, tz: str) -> datetime:
    local = at.astimezone(zone(tz))
    day = local.date() + timedelta(days=1)
    if cadence == "weekly":
        day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, tzinfo=zone(tz))


def next_run(after: datetime, cadence: Cadence, tz: str, delay: timedelta) -> datetime:
    """The first run time (UTC) strictly after ``after``."""
    boundary = _boundary_after(after - delay, cadence, tz)
    return (boundary + delay).astimezone(UTC)


def covered(
    run_at: datetime, cadence: Cadence, tz: str, delay: timedelta
) -> tuple[datetime, datetime]:
    """The period [start, end) a run due at ``run_at`` reports on."""
    end_local = (run_at - delay).astimezone(zone(tz))
    end_day = end_local.date()
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone(tz))
    start_day = end_day - timedelta(days=7 if cadence == "weekly" else 1)
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=zone(tz))
    return start, end
