"""Report periods in a time zone: buckets of an hour, day, ISO week or month (pure).

Rollup rows are stored per UTC hour and UTC day. A report in a time zone puts each stored
hour into the local bucket its start falls in, so days, weeks and months follow the zone's
midnight, daylight saving included. Hour buckets are UTC hours shown in the zone (a local
wall hour repeated when clocks go back is two buckets). In a zone whose offset is not a
whole number of hours (India, Nepal), a local day starts mid-hour: the stored hour that
straddles it is counted in the day its start falls in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "INTERVALS",
    "Interval",
    "bucket_start",
    "buckets",
    "load_zone",
    "moving_average",
    "previous_range",
    "utc_hour",
    "zone",
]

Interval = Literal["hour", "day", "week", "month"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)
_MAX_BUCKETS = 10_000


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError when there is none. The first use of a zone
    reads its file (ZoneInfo caches it after): async code loads it with ``load_zone``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


async def load_zone(name: str) -> ZoneInfo:
    """``zone(name)`` with its file read off the event loop (a no-op once cached)."""
    return await asyncio.to_thread(zone, name)


def utc_hour(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` (aware) falls in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def bucket_start(at: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """The start (aware, in ``tz``) of the bucket the instant ``at`` falls in."""
    if interval == "hour":
        return utc_hour(at).astimezone(tz)
    local = at.astimezone(tz)
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _next(start: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    if interval == "hour":
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    day = start.date()
    if interval == "day":
        day += timedelta(days=1)
    elif interval == "week":
        day += timedelta(days=7)
    else:
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def buckets(start: datetime, end: datetime, interval: Interval, tz: ZoneInfo) -> list[datetime]:
    """Bucket starts covering [start, end); ValueError past 10,000 buckets."""
    out: list[datetime] = []
    current = bucket_start(start, interval, tz)
    while current < end:
        out.append(current)
        if len(out) > _MAX_BUCKETS:
            raise ValueError("too many points: choose a longer interval or a shorter range")
        current = _next(current, interval, tz)
    return out


def previous_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period of the same length just before [start, end)."""
    return start - (end - start), start


def moving_average(values: Sequence[float], window: int) -> list[float | None]:
    """The trailing mean of ``window`` values at each point (None before there are enough)."""
    out: list[float | None] = []
    total = 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / window if i >= window - 1 else None)
    return out
