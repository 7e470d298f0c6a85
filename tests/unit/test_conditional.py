"""Conditional requests, RFC 9110 §8.8.3 and §13: each test is named for the rule it checks."""

from __future__ import annotations

import time

import pytest

from streamer.http.conditional import (
    NOT_MODIFIED_HEADERS,
    evaluate_preconditions,
    if_match_matches,
    if_none_match_matches,
    if_range_allows,
    make_etag,
    not_modified_headers,
    parse_etag_list,
)
from streamer.http.dates import format_http_date

ETAG = '"v1"'
LAST_MODIFIED = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
AT = format_http_date(LAST_MODIFIED)
BEFORE = format_http_date(LAST_MODIFIED - 1)
AFTER = format_http_date(LAST_MODIFIED + 1)
RFC850_AT = "Sunday, 06-Nov-94 08:49:37 GMT"
ASCTIME_AT = "Sun Nov  6 08:49:37 1994"


# --- entity-tags (§8.8.3) ------------------------------------------------------------------


@pytest.mark.parametrize("token", ["v1", "abc-123_x.y", "a,b", "!#$%&'()*+/:;<=>?@[]^`{|}~"])
def test_make_etag_quotes_a_strong_tag(token: str) -> None:
    assert make_etag(token) == f'"{token}"'


@pytest.mark.parametrize(
    "token", ["", 'a"b', "a b", "tab\there", "new\nline", "\x7f", "caf\u00e9", "nul\x00"]
)
def test_make_etag_rejects_what_is_not_etagc(token: str) -> None:
    with pytest.raises(ValueError, match="entity-tag"):
        make_etag(token)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"a"', [(False, '"a"')], id="strong"),
        pytest.param('W/"a"', [(True, '"a"')], id="weak"),
        pytest.param('"a", W/"b"', [(False, '"a"'), (True, '"b"')], id="list"),
        pytest.param('  "a" ,\t, "b"  ', [(False, '"a"'), (False, '"b"')], id="ows-and-empty"),
        pytest.param(',"a",', [(False, '"a"')], id="leading-trailing-commas"),
        pytest.param('"a,b", "c"', [(False, '"a,b"'), (False, '"c"')], id="comma-inside-tag"),
        pytest.param('""', [(False, '""')], id="empty-opaque-tag"),
        pytest.param("", [], id="empty-value"),
        pytest.param(" , ", [], id="only-commas"),
    ],
)
def test_parse_etag_list_keeps_quotes_and_flags_weak_tags(
    value: str, expected: list[tuple[bool, str]]
) -> None:
    assert parse_etag_list(value) == expected


@pytest.mark.parametrize("value", ["*", " * ", "\t*"])
def test_parse_etag_list_star_is_any(value: str) -> None:
    assert parse_etag_list(value) == "*"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a", id="unquoted"),
        pytest.param('"a', id="unterminated"),
        pytest.param('"a" "b"', id="no-comma-between"),
        pytest.param('"a"b', id="trailing-junk"),
        pytest.param('w/"a"', id="lowercase-weak-prefix"),
        pytest.param('W/ "a"', id="space-after-weak-prefix"),
        pytest.param("W/", id="weak-prefix-alone"),
        pytest.param('"a b"', id="space-inside"),
        pytest.param('"caf\u00e9"', id="non-ascii-inside"),
        pytest.param('*, "a"', id="star-in-list"),
        pytest.param('"a", *', id="star-after-tag"),
        pytest.param('"a", garbage', id="one-bad-member-spoils-all"),
    ],
)
def test_parse_etag_list_garbage_is_an_empty_list(value: str) -> None:
    assert parse_etag_list(value) == []


# --- the evaluation order of §13.2.2 -----------------------------------------------------

PRECEDENCE = [
    # method, headers, expected
    pytest.param("GET", {}, None, id="no-preconditions"),
    # Step 1: If-Match, strong comparison.
    pytest.param("GET", {"if-match": '"v1"'}, None, id="if-match-matches"),
    pytest.param("GET", {"if-match": '"v0", "v1"'}, None, id="if-match-matches-in-list"),
    pytest.param("GET", {"if-match": "*"}, None, id="if-match-star-matches-existing"),
    pytest.param("GET", {"if-match": '"v2"'}, 412, id="if-match-differs"),
    pytest.param("PUT", {"if-match": '"v2"'}, 412, id="if-match-differs-put"),
    pytest.param("GET", {"if-match": 'W/"v1"'}, 412, id="if-match-weak-never-matches"),
    pytest.param("GET", {"if-match": "garbage"}, 412, id="if-match-garbage-matches-nothing"),
    pytest.param("GET", {"if-match": ""}, 412, id="if-match-empty-list"),
    # Step 2: If-Unmodified-Since, only without If-Match.
    pytest.param("GET", {"if-unmodified-since": AT}, None, id="ius-equal"),
    pytest.param("GET", {"if-unmodified-since": AFTER}, None, id="ius-later"),
    pytest.param("GET", {"if-unmodified-since": BEFORE}, 412, id="ius-modified-since"),
    pytest.param("PUT", {"if-unmodified-since": BEFORE}, 412, id="ius-modified-since-put"),
    pytest.param("GET", {"if-unmodified-since": "garbage"}, None, id="ius-invalid-ignored"),
    pytest.param(
        "GET", {"if-unmodified-since": f"{AT}, {AT}"}, None, id="ius-list-of-dates-ignored"
    ),
    pytest.param(
        "GET",
        {"if-match": '"v1"', "if-unmodified-since": BEFORE},
        None,
        id="ius-ignored-when-if-match-present",
    ),
    pytest.param(
        "GET",
        {"if-match": '"v2"', "if-unmodified-since": AFTER},
        412,
        id="if-match-fails-despite-ius",
    ),
    # Step 3: If-None-Match, weak comparison.
    pytest.param("GET", {"if-none-match": '"v1"'}, 304, id="inm-matches-get"),
    pytest.param("HEAD", {"if-none-match": '"v1"'}, 304, id="inm-matches-head"),
    pytest.param("GET", {"if-none-match": 'W/"v1"'}, 304, id="inm-weak-matches"),
    pytest.param("GET", {"if-none-match": '"v0", W/"v1"'}, 304, id="inm-matches-in-list"),
    pytest.param("GET", {"if-none-match": "*"}, 304, id="inm-star-get"),
    pytest.param("POST", {"if-none-match": '"v1"'}, 412, id="inm-matches-post"),
    pytest.param("PUT", {"if-none-match": "*"}, 412, id="inm-star-put"),
    pytest.param("DELETE", {"if-none-match": '"v1"'}, 412, id="inm-matches-delete"),
    pytest.param("GET", {"if-none-match": '"v2"'}, None, id="inm-differs"),
    pytest.param("GET", {"if-none-match": "garbage"}, None, id="inm-garbage-matches-nothing"),
    pytest.param("get", {"if-none-match": '"v1"'}, 412, id="methods-are-case-sensitive"),
    # Step 4: If-Modified-Since, only without If-None-Match and only for GET/HEAD.
    pytest.param("GET", {"if-modified-since": AT}, 304, id="ims-equal"),
    pytest.param("HEAD", {"if-modified-since": AT}, 304, id="ims-equal-head"),
    pytest.param("GET", {"if-modified-since": AFTER}, 304, id="ims-later"),
    pytest.param("GET", {"if-modified-since": BEFORE}, None, id="ims-modified-since"),
    pytest.param("GET", {"if-modified-since": RFC850_AT}, 304, id="ims-rfc850"),
    pytest.param("GET", {"if-modified-since": ASCTIME_AT}, 304, id="ims-asctime"),
    pytest.param("GET", {"if-modified-since": "garbage"}, None, id="ims-invalid-ignored"),
    pytest.param("GET", {"if-modified-since": f"{AT}, {AT}"}, None, id="ims-list-ignored"),
    pytest.param("POST", {"if-modified-since": AT}, None, id="ims-ignored-for-post"),
    pytest.param(
        "GET",
        {"if-none-match": '"v2"', "if-modified-since": AT},
        None,
        id="ims-ignored-when-inm-present",
    ),
    pytest.param(
        "GET",
        {"if-none-match": '"v1"', "if-modified-since": BEFORE},
        304,
        id="inm-decides-over-ims",
    ),
    # Steps in order: an earlier failing step wins.
    pytest.param(
        "GET", {"if-match": '"v2"', "if-none-match": '"v1"'}, 412, id="if-match-before-inm"
    ),
    pytest.param(
        "GET",
        {"if-unmodified-since": BEFORE, "if-none-match": '"v1"'},
        412,
        id="ius-before-inm",
    ),
    pytest.param(
        "GET",
        {"if-unmodified-since": BEFORE, "if-modified-since": AT},
        412,
        id="ius-before-ims",
    ),
    pytest.param(
        "GET", {"if-match": '"v1"', "if-none-match": '"v1"'}, 304, id="if-match-then-inm-get"
    ),
    pytest.param(
        "PUT", {"if-match": '"v1"', "if-none-match": '"v1"'}, 412, id="if-match-then-inm-put"
    ),
    pytest.param(
        "GET",
        {"if-unmodified-since": AT, "if-modified-since": AT},
        304,
        id="ius-passes-then-ims",
    ),
    pytest.param(
        "GET",
        {
            "if-match": '"v1"',
            "if-unmodified-since": BEFORE,
            "if-none-match": '"v2"',
            "if-modified-since": AT,
        },
        None,
        id="all-four-pass",
    ),
]


@pytest.mark.parametrize(("method", "headers", "expected"), PRECEDENCE)
def test_preconditions_are_evaluated_in_rfc_9110_order(
    method: str, headers: dict[str, str], expected: int | None
) -> None:
    assert evaluate_preconditions(method, headers, ETAG, LAST_MODIFIED) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"if-match": '"v1"'}, 412, id="if-match-strong-fails-on-weak-etag"),
        pytest.param({"if-match": 'W/"v1"'}, 412, id="if-match-weak-fails-on-weak-etag"),
        pytest.param({"if-match": "*"}, None, id="if-match-star-still-matches"),
        pytest.param({"if-none-match": '"v1"'}, 304, id="inm-weak-comparison-matches"),
        pytest.param({"if-none-match": 'W/"v1"'}, 304, id="inm-weak-matches-weak"),
    ],
)
def test_a_weak_etag_only_matches_by_weak_comparison(
    headers: dict[str, str], expected: int | None
) -> None:
    assert evaluate_preconditions("GET", headers, 'W/"v1"', LAST_MODIFIED) == expected


def test_last_modified_is_compared_in_whole_seconds() -> None:
    # The caller truncates mtime; a date in the same second counts as "not modified".
    assert evaluate_preconditions("GET", {"if-modified-since": AT}, ETAG, LAST_MODIFIED) == 304
    assert evaluate_preconditions("GET", {"if-modified-since": BEFORE}, ETAG, LAST_MODIFIED) is None


# --- If-Range (§13.1.5) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, True, id="absent"),
        pytest.param('"v1"', True, id="etag-strong-match"),
        pytest.param(' "v1"\t', True, id="etag-with-ows"),
        pytest.param('"v2"', False, id="etag-differs"),
        pytest.param('W/"v1"', False, id="weak-etag-never-matches"),
        pytest.param('"v1", "v2"', False, id="list-is-not-an-entity-tag"),
        pytest.param('"v1', False, id="unterminated-etag"),
        pytest.param(AT, True, id="date-equal"),
        pytest.param(RFC850_AT, True, id="date-equal-rfc850"),
        pytest.param(ASCTIME_AT, True, id="date-equal-asctime"),
        pytest.param(BEFORE, False, id="date-earlier"),
        pytest.param(AFTER, False, id="date-later-is-not-equal"),
        pytest.param("garbage", False, id="garbage"),
        pytest.param("*", False, id="star"),
        pytest.param("", False, id="empty"),
        pytest.param("v1", False, id="unquoted-etag"),
    ],
)
def test_if_range_allows_a_range_only_for_an_exact_validator(
    value: str | None, expected: bool
) -> None:
    assert if_range_allows(value, ETAG, LAST_MODIFIED) is expected


def test_if_range_with_our_weak_etag_never_matches() -> None:
    assert if_range_allows('"v1"', 'W/"v1"', LAST_MODIFIED) is False


# --- 304 responses (§15.4.5) -------------------------------------------------------------


def test_not_modified_headers_are_the_rfc_list() -> None:
    assert {"cache-control", "content-location", "date", "etag", "expires", "vary"} == (
        NOT_MODIFIED_HEADERS
    )


def test_a_304_keeps_validators_caching_and_non_representation_fields() -> None:
    ok = [
        ("ETag", ETAG),
        ("Cache-Control", "public, max-age=60"),
        ("Date", format_http_date(time.time())),
        ("Expires", AT),
        ("Vary", "Accept-Encoding"),
        ("Content-Location", "/media/1/original"),
        ("Access-Control-Allow-Origin", "*"),
        ("Accept-Ranges", "bytes"),
        ("X-Request-Id", "abc"),
    ]
    assert not_modified_headers(ok) == ok


@pytest.mark.parametrize(
    "name",
    [
        "Content-Type",
        "content-length",
        "Content-Range",
        "Content-Encoding",
        "Content-Language",
        "Transfer-Encoding",
    ],
)
def test_a_304_drops_representation_metadata(name: str) -> None:
    assert not_modified_headers([("ETag", ETAG), (name, "x")]) == [("ETag", ETAG)]


def test_a_304_drops_last_modified_when_an_etag_is_present() -> None:
    assert not_modified_headers([("Last-Modified", AT), ("etag", ETAG)]) == [("etag", ETAG)]


def test_a_304_keeps_last_modified_when_there_is_no_etag() -> None:
    assert not_modified_headers([("Last-Modified", AT)]) == [("Last-Modified", AT)]


# --- If-Match and If-None-Match alone, as the admin API and the web admin use them ----------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"v1"', True),
        (' "v0" , "v1" ', True),
        ('"v0",,"v1"', True),  # empty list elements are allowed
        ("*", True),
        ('W/"v1"', False),  # strong comparison: a weak tag never matches
        ('"v0"', False),
        ('"V1"', False),  # opaque-tags compare case-sensitively
        ('*, "v1"', False),  # "*" is valid only alone: the value does not parse
        ('"v1" junk', False),
        ('"v1" "v0"', False),  # two tags without a comma
        ("v1", False),  # an unquoted tag
        ("", False),
    ],
)
def test_if_match_is_true_for_star_or_a_strongly_equal_tag(value: str, expected: bool) -> None:
    assert if_match_matches(value, ETAG) is expected


def test_if_match_never_matches_a_weak_etag() -> None:
    assert not if_match_matches('W/"v1"', 'W/"v1"')
    assert if_match_matches("*", 'W/"v1"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"v1"', True),
        ('W/"v1"', True),  # weak comparison: weakness is ignored
        ('"v0", W/"v1"', True),
        ("*", True),
        ('"v0"', False),
        ('"v1", junk', False),  # a value that does not parse matches nothing
        ("", False),
    ],
)
def test_if_none_match_is_true_for_star_or_a_weakly_equal_tag(value: str, expected: bool) -> None:
    assert if_none_match_matches(value, ETAG) is expected


def test_if_none_match_compares_a_weak_etag_weakly() -> None:
    assert if_none_match_matches('"v1"', 'W/"v1"')
