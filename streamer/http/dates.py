"""HTTP-date (RFC 9110 §5.6.7): format IMF-fixdate, parse all three historical forms."""

from __future__ import annotations

import calendar
import functools
import math
import re
import time

__all__ = ["format_http_date", "parse_http_date"]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # time.struct_time.tm_wday order
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}

# The earliest and latest instants an IMF-fixdate can write (4-digit years 0001-9999).
_MIN_SECOND = calendar.timegm((1, 1, 1, 0, 0, 0))
_MAX_SECOND = calendar.timegm((9999, 12, 31, 23, 59, 59))

_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_L = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = f"(?P<month>{'|'.join(_MONTHS)})"
_TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
# The grammar is case-sensitive (%s"Mon", %s"GMT") and uses single spaces; re.ASCII keeps
# \d from matching non-ASCII digits.
_IMF_FIXDATE = re.compile(
    rf"{_DAY}, (?P<day>\d\d) {_MONTH} (?P<year>\d{{4}}) {_TIME} GMT", re.ASCII
)
_RFC850_DATE = re.compile(rf"{_DAY_L}, (?P<day>\d\d)-{_MONTH}-(?P<year>\d\d) {_TIME} GMT", re.ASCII)
_ASCTIME_DATE = re.compile(
    rf"{_DAY} {_MONTH} (?P<day>\d\d| \d) {_TIME} (?P<year>\d{{4}})", re.ASCII
)


def format_http_date(ts: float) -> str:
    """Format a POSIX timestamp as an IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``.

    Fractions of a second are dropped (rounding down), since HTTP-dates have one-second
    resolution. Raises ``ValueError`` outside the years 0001-9999.
    """
    if not math.isfinite(ts):
        raise ValueError(f"not a finite timestamp: {ts!r}")
    return _format_second(math.floor(ts))


@functools.lru_cache(maxsize=64)
def _format_second(second: int) -> str:
    # Called for every response's Date header: within one second the answer is a cache hit.
    if not _MIN_SECOND <= second <= _MAX_SECOND:
        raise ValueError(f"timestamp outside the years 0001-9999: {second}")
    tm = time.gmtime(second)
    return (
        f"{_DAY_NAMES[tm.tm_wday]}, {tm.tm_mday:02d} {_MONTHS[tm.tm_mon - 1]} {tm.tm_year:04d} "
        f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} GMT"
    )


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Parse an HTTP-date into integer epoch seconds, or return None if it is not one.

    Accepts the three forms of RFC 9110 §5.6.7: IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``),
    the obsolete RFC 850 form (``Sunday, 06-Nov-94 08:49:37 GMT``) and ANSI C's asctime
    (``Sun Nov  6 08:49:37 1994``). The grammar is followed exactly (case, single spaces,
    GMT) apart from surrounding whitespace; the day name is not checked against the date.
    A two-digit RFC 850 year more than 50 years in the future of ``now`` (default: the clock)
    means the most recent past year with the same last two digits, as the RFC requires.
    """
    value = value.strip(" \t")
    match = _IMF_FIXDATE.fullmatch(value) or _ASCTIME_DATE.fullmatch(value)
    if match is not None:
        year = int(match["year"])
    else:
        match = _RFC850_DATE.fullmatch(value)
        if match is None:
            return None
        year = _expand_two_digit_year(int(match["year"]), time.time() if now is None else now)
    month = _MONTH_NUMBER[match["month"]]
    day = int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if year < 1 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    # second may be 60: the grammar allows a leap second, which timegm carries over.
    if hour > 23 or minute > 59 or second > 60:
        return None
    return calendar.timegm((year, month, day, hour, minute, second))


def _expand_two_digit_year(two_digits: int, now: float) -> int:
    """The year within (now - 50, now + 50] whose last two digits are ``two_digits``."""
    this_year = time.gmtime(now).tm_year
    year = this_year - this_year % 100 + two_digits
    if year > this_year + 50:
        year -= 100
    elif year <= this_year - 50:
        year += 100
    return year
