"""Occurrences of schedule entries in a UTC interval: RFC 5545 recurrence and time zones.

Recurrence is python-dateutil's ``rrule``: an entry's RRULE is expanded over NAIVE local wall
times from the entry's ``start`` (so "daily at 01:30" stays at 01:30 on the wall clock all
year), EXDATEs remove generated wall times that match exactly, and each remaining wall time
becomes an instant in the channel's zone by the daylight-saving rule below. An occurrence
lasts the entry's ``duration`` of elapsed time from that instant.

Daylight saving time (the rule, tested in tests/unit/test_channel_recurrence.py):

- A wall time that happens twice (the night the clocks go back; 01:30 in Europe/London on
  the last Sunday of October) plays ONCE, at its first instant (``fold=0``: 01:30 BST,
  00:30 UTC). The repeated hour is not a second occurrence.
- A wall time that does not exist (the night the clocks go forward; 01:30 in Europe/London
  on the last Sunday of March) is not lost: the occurrence starts at the first instant
  after the gap (02:00 BST, 01:00 UTC) and lasts its full duration from there, so it ends
  later on the wall clock than usual (a 1-hour 01:30 show runs 02:00-03:00 BST).
- Zones with 30- or 45-minute offsets or a 30-minute shift (Asia/Kolkata, Australia/Lord_Howe)
  follow the same two rules; nothing assumes whole hours.

Cost: ``rrule.between`` iterates from the rule's DTSTART, so an entry that started in 2000
would walk 26 years of days for a window in 2026. For rules whose period has a fixed length
in wall time (FREQ=DAILY, WEEKLY, HOURLY, MINUTELY, SECONDLY without COUNT), the expansion
starts from a DTSTART moved forward by a whole number of periods to just before the window,
which generates the same wall times there (the set is periodic with that period, aligned on
DTSTART). MONTHLY and YEARLY rules are expanded from the real DTSTART (at most 12 steps a
year of age), and so are rules with COUNT (bounded by COUNT), since moving DTSTART would
change which occurrences are counted.

dateutil's semantics apply where RFC 5545 leaves a choice: a DTSTART that does not match
its rule is not an occurrence (RFC 5545 calls that set undefined).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from streamer.channels.model import Occurrence, ScheduleEntry, check_utc

__all__ = [
    "check_entry",
    "entry_occurrences",
    "local_to_utc",
    "occurrences",
    "zone",
]

# Fixed-length periods of wall time, by RRULE FREQ; MONTHLY and YEARLY have none.
_FIXED_PERIODS = {
    "WEEKLY": timedelta(weeks=1),
    "DAILY": timedelta(days=1),
    "HOURLY": timedelta(hours=1),
    "MINUTELY": timedelta(minutes=1),
    "SECONDLY": timedelta(seconds=1),
}
_PART = re.compile(r"^([A-Z]+)=(.*)$")
# Wall-clock offsets are at most 26 hours apart (UTC-12 to UTC+14): a margin that covers
# any offset when turning a UTC window into a local one.
_OFFSET_MARGIN = timedelta(hours=27)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def local_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of the naive wall time ``wall`` in ``tz`` by the daylight-saving rule
    of this module: the first instant of an ambiguous time, the end of the gap for a time
    that does not exist."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=0 reads the wall time with the offset before the change (an instant
    # after the gap), fold=1 with the offset after it (an instant before the gap). The first
    # instant whose wall time is past ``wall`` is the transition; transitions fall on whole
    # seconds, so a binary search over seconds finds it in a few steps.
    low = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    high = int(first.timestamp())
    low, high = min(low, high), max(low, high)
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(high, UTC)


def _parts(value: str) -> dict[str, str]:
    text = value.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts: dict[str, str] = {}
    for part in text.split(";"):
        match = _PART.match(part.strip().upper())
        if match is None:
            raise ValueError(f"malformed RRULE part {part!r}")
        parts[match.group(1)] = match.group(2)
    if "DTSTART" in parts:
        raise ValueError("the RRULE cannot carry DTSTART: the entry's start is DTSTART")
    return parts


@lru_cache(maxsize=4096)
def _parse(value: str, start: datetime) -> tuple[rrule, timedelta | None]:
    """The rule from ``start`` and, where the rule allows moving DTSTART, its period."""
    parts = _parts(value)
    text = value.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    try:
        rule = rrulestr(text, dtstart=start)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid RRULE {value!r}: {exc}") from exc
    if not isinstance(rule, rrule):  # pragma: no cover - a bare RRULE value is one rule
        raise ValueError(f"invalid RRULE {value!r}")
    period = None
    if "COUNT" not in parts and parts.get("FREQ") in _FIXED_PERIODS:
        interval = int(parts.get("INTERVAL", "1"))
        period = _FIXED_PERIODS[parts["FREQ"]] * interval
    return rule, period


def check_entry(entry: ScheduleEntry, timezone: str) -> None:
    """Raise ``ValueError`` (a message for the editor) if the entry cannot be expanded:
    an unknown zone or an invalid RRULE."""
    zone(timezone)
    if entry.rrule is not None:
        rule, _ = _parse(entry.rrule, entry.start)
        # An UNTIL in UTC with a naive start fails only when iterated; try one step.
        try:
            rule.after(entry.start, inc=True)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid RRULE {entry.rrule!r}: {exc}") from exc


def _local_starts(entry: ScheduleEntry, low: datetime, high: datetime) -> list[datetime]:
    """Naive local start wall times of ``entry`` in ``[low, high]``."""
    if entry.rrule is None:
        starts = [entry.start] if low <= entry.start <= high else []
    else:
        rule, period = _parse(entry.rrule, entry.start)
        if period is not None and entry.start < low - period:
            # Whole periods forward, to the last aligned start before the window.
            steps = (low - entry.start) // period
            rule = rule.replace(dtstart=entry.start + steps * period)
        starts = list(rule.between(low, high, inc=True))
    if entry.exdates:
        excluded = set(entry.exdates)
        starts = [start for start in starts if start not in excluded]
    return starts


def entry_occurrences(
    entry: ScheduleEntry, timezone: str, start: datetime, end: datetime
) -> list[Occurrence]:
    """The occurrences of ``entry`` that overlap ``[start, end)`` (aware instants), sorted
    by start; each in UTC."""
    check_utc(start, "window start")
    check_utc(end, "window end")
    tz = zone(timezone)
    low = start.astimezone(UTC).replace(tzinfo=None) - entry.duration - _OFFSET_MARGIN
    high = end.astimezone(UTC).replace(tzinfo=None) + _OFFSET_MARGIN
    found: list[Occurrence] = []
    for wall in _local_starts(entry, low, high):
        begins = local_to_utc(wall, tz)
        ends = begins + entry.duration
        if ends > start and begins < end:
            found.append(
                Occurrence(
                    entry_id=entry.id,
                    playlist_id=entry.playlist_id,
                    priority=entry.priority,
                    start=begins,
                    end=ends,
                    local_start=wall,
                )
            )
    return found


def occurrences(
    entries: tuple[ScheduleEntry, ...] | list[ScheduleEntry],
    timezone: str,
    start: datetime,
    end: datetime,
) -> list[Occurrence]:
    """The occurrences of all ``entries`` overlapping ``[start, end)``, sorted by start,
    then entry id."""
    found = [
        occurrence
        for entry in entries
        for occurrence in entry_occurrences(entry, timezone, start, end)
    ]
    found.sort(key=lambda occurrence: (occurrence.start, occurrence.entry_id))
    return found
