"""Checks of what an editor writes into a channel (pure): time zones, wall times,
recurrence rules. Each raises :class:`InvalidSchedule` with a sentence the API returns
as its 422 detail; nothing is stored until every check passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

__all__ = [
    "MAX_DURATION",
    "YEARS",
    "InvalidSchedule",
    "check_rrule",
    "check_timezone",
    "format_local",
    "parse_local",
    "zone",
]

MAX_DURATION = timedelta(days=31)
YEARS = (1971, 2200)  # what a schedule or a question about one may name
# Recurrences finer than hourly would make thousands of slots a day: not a schedule.
_FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")


class InvalidSchedule(ValueError):
    """A time zone, wall time or recurrence rule that cannot be used (HTTP 422)."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; InvalidSchedule when there is none by that name."""
    check_timezone(name)
    return ZoneInfo(name)


def check_timezone(name: str) -> None:
    # ZoneInfo accepts relative paths of the tz database only; refuse anything else
    # before it touches the file system.
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise InvalidSchedule(f"not an IANA time zone: {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSchedule(f"not an IANA time zone: {name!r}") from None


def parse_local(value: str, what: str = "start") -> datetime:
    """A wall time ``YYYY-MM-DDTHH:MM[:SS]`` without offset (local to the channel)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidSchedule(f"{what}: not an ISO date and time: {value!r}") from None
    if parsed.tzinfo is not None:
        raise InvalidSchedule(
            f"{what}: a wall time in the channel's time zone has no offset: {value!r}"
        )
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise InvalidSchedule(f"{what}: the year must be from {YEARS[0]} to {YEARS[1]}")
    return parsed.replace(microsecond=0)


def format_local(value: datetime) -> str:
    return value.replace(tzinfo=None, microsecond=0).isoformat()


def check_rrule(rule: str, start: datetime) -> None:
    """An RFC 5545 RRULE value (``FREQ=WEEKLY;BYDAY=MO,WE``) that dateutil can expand
    from ``start``; its own DTSTART, finer than hourly, or unparseable: InvalidSchedule."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or "\r" in text:
        raise InvalidSchedule("rrule: empty, or more than one line")
    upper = text.upper()
    if "DTSTART" in upper:
        raise InvalidSchedule("rrule: the entry's start is the DTSTART; do not repeat it")
    try:
        parsed = rrulestr(f"RRULE:{text}", dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidSchedule(f"rrule: {exc or 'not a valid RFC 5545 RRULE'}") from None
    frequency = next(
        (part.split("=", 1)[1] for part in upper.split(";") if part.startswith("FREQ=")), ""
    )
    if frequency not in _FREQUENCIES:
        raise InvalidSchedule(f"rrule: FREQ must be one of {', '.join(_FREQUENCIES)}")
    try:
        parsed.after(start, inc=True)
    except (ValueError, OverflowError) as exc:
        raise InvalidSchedule(f"rrule: {exc}") from None
