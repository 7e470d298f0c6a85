"""HTTP-dates under generated input: any text parses or gives None; the forms agree.

The oracle is the standard library: ``email.utils.parsedate_to_datetime`` for IMF-fixdate,
and ``datetime`` for which calendar dates exist.
"""

from __future__ import annotations

import calendar
import datetime as dt
import email.utils

from hypothesis import given
from hypothesis import strategies as st

from streamer.http.dates import format_http_date, parse_http_date

MIN_SECOND = calendar.timegm((1, 1, 1, 0, 0, 0))
MAX_SECOND = calendar.timegm((9999, 12, 31, 23, 59, 59))
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
instants = st.datetimes(
    min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0, tzinfo=dt.UTC))

# Pieces of the three forms shuffled, besides arbitrary text.
pieces = st.sampled_from(
    ["Sun", "Sunday", ",", " ", "-", ":", "GMT", "Nov", "06", "6", "1994", "94", "08", "60",
     "99", "\t", "٣", "gmt"]
)  # fmt: skip
near_dates = st.lists(pieces, max_size=14).map("".join)


@given(st.one_of(st.text(), near_dates))
def test_any_text_is_a_date_in_range_or_none(value: str) -> None:
    parsed = parse_http_date(value)
    assert parsed is None or MIN_SECOND <= parsed <= MAX_SECOND + 1  # +1: a leap second


@given(st.integers(MIN_SECOND, MAX_SECOND), st.floats(0, 0.999))
def test_format_then_parse_round_trips_to_the_whole_second(second: int, fraction: float) -> None:
    assert parse_http_date(format_http_date(second + fraction)) == second


@given(instants)
def test_imf_fixdate_agrees_with_the_email_parser(instant: dt.datetime) -> None:
    text = format_http_date(instant.timestamp())
    assert email.utils.parsedate_to_datetime(text) == instant
    assert email.utils.format_datetime(instant, usegmt=True) == text


@given(instants)
def test_the_three_forms_name_the_same_instant(instant: dt.datetime) -> None:
    day, month = DAYS[instant.weekday()], MONTHS[instant.month - 1]
    clock = instant.strftime("%H:%M:%S")
    rfc850 = f"{LONG_DAYS[instant.weekday()]}, {instant.day:02d}-{month}-{instant.year % 100:02d}"
    forms = [
        f"{day}, {instant.day:02d} {month} {instant.year:04d} {clock} GMT",
        f"{rfc850} {clock} GMT",
        f"{day} {month} {instant.day:2d} {clock} {instant.year:04d}",
    ]
    # The two-digit year is read within 50 years of "now": put now near the instant.
    now = instant.timestamp()
    assert {parse_http_date(form, now=now) for form in forms} == {int(instant.timestamp())}


@given(
    st.integers(0, 9999),
    st.integers(1, 12),
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 99),
)
def test_an_imf_fixdate_is_valid_exactly_when_its_calendar_date_and_time_exist(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> None:
    text = f"Sun, {day:02d} {MONTHS[month - 1]} {year:04d} {hour:02d}:{minute:02d}:{second:02d} GMT"
    try:
        # The grammar allows a leap second (60): it names the next minute's first second.
        expected: int | None = calendar.timegm(
            dt.datetime(year, month, day, hour, minute, min(second, 59)).timetuple()
        ) + (second == 60)
        if second > 60:
            expected = None
    except ValueError:
        expected = None
    assert parse_http_date(text) == expected
