"""HTTP-date, RFC 9110 §5.6.7."""

from __future__ import annotations

import calendar
import email.utils

import pytest

from streamer.http.dates import format_http_date, parse_http_date

# The RFC's own example instant, in all three forms.
EXAMPLE = 784111777
NOW_2026 = calendar.timegm((2026, 6, 1, 0, 0, 0))


def test_format_is_imf_fixdate() -> None:
    assert format_http_date(EXAMPLE) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        pytest.param(0, "Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(EXAMPLE + 0.999, "Sun, 06 Nov 1994 08:49:37 GMT", id="fraction-dropped"),
        pytest.param(-0.5, "Wed, 31 Dec 1969 23:59:59 GMT", id="negative-floors"),
        pytest.param(951782400, "Tue, 29 Feb 2000 00:00:00 GMT", id="leap-day"),
        pytest.param(253402300799, "Fri, 31 Dec 9999 23:59:59 GMT", id="last-second"),
    ],
)
def test_format_drops_fractions_of_a_second(ts: float, expected: str) -> None:
    assert format_http_date(ts) == expected


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), 253402300800, -62135596801])
def test_format_rejects_what_imf_fixdate_cannot_write(ts: float) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        format_http_date(ts)


@pytest.mark.parametrize("ts", [0, 1, 59, 86399, 784111777, 1_700_000_000, 4_102_444_800])
def test_format_agrees_with_the_stdlib(ts: int) -> None:
    assert format_http_date(ts) == email.utils.formatdate(ts, usegmt=True)


@pytest.mark.parametrize("ts", [0, EXAMPLE, 1_700_000_000, 4_102_444_799])
def test_format_then_parse_round_trips(ts: int) -> None:
    assert parse_http_date(format_http_date(ts)) == ts


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", id="imf-fixdate"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", id="rfc850"),
        pytest.param("Sun Nov  6 08:49:37 1994", id="asctime"),
        pytest.param("  Sun, 06 Nov 1994 08:49:37 GMT\t", id="surrounding-ows"),
    ],
)
def test_parse_accepts_the_three_forms(value: str) -> None:
    assert parse_http_date(value, now=NOW_2026) == EXAMPLE


def test_parse_asctime_with_two_digit_day() -> None:
    assert parse_http_date("Thu Nov 16 08:49:37 1994") == EXAMPLE + 10 * 86400


def test_parse_does_not_check_the_day_name_against_the_date() -> None:
    # Recipients are encouraged to be robust (§5.6.7); a wrong weekday is still a date.
    assert parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT") == EXAMPLE


def test_parse_leap_second_carries_into_the_next_minute() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT") == EXAMPLE + 23


@pytest.mark.parametrize(
    ("two_digits", "year"),
    [
        pytest.param("94", 1994, id="more-than-50-years-ahead-is-past"),
        pytest.param("77", 1977, id="51-years-ahead-is-past"),
        pytest.param("76", 2076, id="exactly-50-years-ahead-stays"),
        pytest.param("26", 2026, id="this-year"),
        pytest.param("00", 2000, id="century"),
    ],
)
def test_rfc850_two_digit_year_more_than_50_years_ahead_is_in_the_past(
    two_digits: str, year: int
) -> None:
    value = f"Sunday, 06-Nov-{two_digits} 08:49:37 GMT"
    expected = calendar.timegm((year, 11, 6, 8, 49, 37))
    assert parse_http_date(value, now=NOW_2026) == expected


def test_rfc850_year_window_follows_the_clock_into_the_next_century() -> None:
    now_2080 = calendar.timegm((2080, 1, 1, 0, 0, 0))
    expected = calendar.timegm((2120, 11, 6, 8, 49, 37))
    assert parse_http_date("Sunday, 06-Nov-20 08:49:37 GMT", now=now_2080) == expected


def test_rfc850_uses_the_clock_by_default() -> None:
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == EXAMPLE


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("784111777", id="epoch-number"),
        pytest.param("1994-11-06T08:49:37Z", id="iso-8601"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", id="numeric-zone"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", id="utc-not-gmt"),
        pytest.param("Sun, 06 Nov 1994 08:49:37", id="no-zone"),
        pytest.param("Sun, 6 Nov 1994 08:49:37 GMT", id="one-digit-day"),
        pytest.param("Sun, 06 Nov 94 08:49:37 GMT", id="two-digit-year-in-fixdate"),
        pytest.param("Sun,  06 Nov 1994 08:49:37 GMT", id="double-space"),
        pytest.param("sun, 06 nov 1994 08:49:37 gmt", id="lowercase"),
        pytest.param("Sunday, 06 Nov 1994 08:49:37 GMT", id="long-day-in-fixdate"),
        pytest.param("Sun, 06-Nov-94 08:49:37 GMT", id="short-day-in-rfc850"),
        pytest.param("Sun Nov 6 08:49:37 1994", id="asctime-single-space"),
        pytest.param("Sun, 06 Foo 1994 08:49:37 GMT", id="bad-month"),
        pytest.param("Sun, 31 Nov 1994 08:49:37 GMT", id="31-november"),
        pytest.param("Tue, 29 Feb 2100 08:49:37 GMT", id="not-a-leap-year"),
        pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", id="day-zero"),
        pytest.param("Sun, 06 Nov 0000 08:49:37 GMT", id="year-zero"),
        pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", id="hour-24"),
        pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", id="minute-60"),
        pytest.param("Sun, 06 Nov 1994 08:49:61 GMT", id="second-61"),
        pytest.param("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", id="non-ascii-digits"),
        pytest.param(
            "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", id="list-of-dates"
        ),
    ],
)
def test_parse_returns_none_for_anything_else(value: str) -> None:
    assert parse_http_date(value, now=NOW_2026) is None


def test_parse_accepts_29_february_in_a_leap_year() -> None:
    assert parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT") == 951782400
