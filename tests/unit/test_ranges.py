"""Range requests, RFC 9110 §14.1-14.2: each test is named for the rule it checks."""

from __future__ import annotations

import pytest

from streamer.http.ranges import (
    ByteRange,
    MalformedRange,
    RangeError,
    RangeNotSatisfiable,
    parse_range,
    unsatisfied_content_range,
)

SIZE = 1000


def spans(header: str, size: int = SIZE, **kwargs: int) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in parse_range(header, size, **kwargs)]


# --- ByteRange ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "length"), [(0, 0, 1), (0, 999, 1000), (10, 19, 10), (999, 999, 1)]
)
def test_byte_range_end_is_inclusive(start: int, end: int, length: int) -> None:
    assert ByteRange(start, end).length == length


def test_byte_range_content_range_is_bytes_start_end_slash_size() -> None:
    assert ByteRange(0, 99).content_range(1000) == "bytes 0-99/1000"


def test_unsatisfied_content_range_is_bytes_star_slash_size() -> None:
    assert unsatisfied_content_range(1000) == "bytes */1000"
    assert RangeNotSatisfiable(1000).content_range == "bytes */1000"


@pytest.mark.parametrize(("start", "end"), [(-1, 0), (5, 4)])
def test_byte_range_rejects_empty_or_negative_spans(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(start, end)


def test_byte_range_is_frozen() -> None:
    r = ByteRange(0, 1)
    with pytest.raises(AttributeError):
        r.start = 5  # type: ignore[misc]


def test_range_errors_share_a_base() -> None:
    assert issubclass(MalformedRange, RangeError)
    assert issubclass(RangeNotSatisfiable, RangeError)


# --- int-range and suffix-range (§14.1.1, §14.1.3) ----------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-0", [(0, 0)], id="first-byte"),
        pytest.param("bytes=0-499", [(0, 499)], id="first-half"),
        pytest.param("bytes=500-999", [(500, 999)], id="second-half"),
        pytest.param("bytes=999-999", [(999, 999)], id="last-byte"),
        pytest.param("bytes=0-999", [(0, 999)], id="whole-exact"),
        pytest.param("bytes=0-", [(0, 999)], id="open-from-zero"),
        pytest.param("bytes=900-", [(900, 999)], id="open-ended"),
        pytest.param("bytes=999-", [(999, 999)], id="open-at-last-byte"),
        pytest.param("bytes=0000-0009", [(0, 9)], id="leading-zeros"),
    ],
)
def test_int_range_selects_first_pos_to_last_pos_inclusive(
    header: str, expected: list[tuple[int, int]]
) -> None:
    assert spans(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-1000", [(0, 999)], id="one-past-end"),
        pytest.param("bytes=500-5000", [(500, 999)], id="far-past-end"),
        pytest.param("bytes=999-1000", [(999, 999)], id="last-byte-past-end"),
    ],
)
def test_int_range_last_pos_past_the_end_is_clamped(
    header: str, expected: list[tuple[int, int]]
) -> None:
    assert spans(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=-1", [(999, 999)], id="last-byte"),
        pytest.param("bytes=-500", [(500, 999)], id="last-half"),
        pytest.param("bytes=-1000", [(0, 999)], id="exactly-size"),
        pytest.param("bytes=-1001", [(0, 999)], id="size-plus-one"),
        pytest.param("bytes=-99999999", [(0, 999)], id="much-longer"),
    ],
)
def test_suffix_range_selects_the_last_n_bytes_or_the_whole_representation(
    header: str, expected: list[tuple[int, int]]
) -> None:
    assert spans(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=1000-", id="open-at-size"),
        pytest.param("bytes=1000-1000", id="first-pos-equals-size"),
        pytest.param("bytes=5000-6000", id="far-past-end"),
        pytest.param("bytes=-0", id="zero-suffix"),
        pytest.param("bytes=1000-,-0,2000-3000", id="all-unsatisfiable"),
    ],
)
def test_no_satisfiable_range_is_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range(header, SIZE)
    assert info.value.size == SIZE


def test_unsatisfiable_specs_are_dropped_when_another_is_satisfiable() -> None:
    assert spans("bytes=5000-6000,-0,0-9") == [(0, 9)]


# --- syntax (§14.1.1, §14.2): a malformed Range is ignored --------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty-value"),
        pytest.param("bytes", id="no-equals"),
        pytest.param("bytes=", id="empty-range-set"),
        pytest.param("bytes=,", id="only-commas"),
        pytest.param("bytes= , ,", id="only-empty-elements"),
        pytest.param("bytes=-", id="dash-only"),
        pytest.param("bytes=5", id="no-dash"),
        pytest.param("bytes=a-b", id="letters"),
        pytest.param("bytes=0x10-20", id="hex"),
        pytest.param("bytes=+1-2", id="plus-sign"),
        pytest.param("bytes=--1", id="negative-suffix"),
        pytest.param("bytes=1--2", id="negative-last-pos"),
        pytest.param("bytes=1-2-3", id="two-dashes"),
        pytest.param("bytes=1 -2", id="space-before-dash"),
        pytest.param("bytes=1- 2", id="space-after-dash"),
        pytest.param("bytes=1 2-3", id="space-inside-number"),
        pytest.param("bytes=1.5-2", id="decimal"),
        pytest.param("bytes=\u00b9-2", id="superscript-digit"),
        pytest.param("bytes=\u0661-2", id="arabic-indic-digit"),
        pytest.param("bytes=0-1;2-3", id="semicolon-separator"),
        pytest.param("bytes=0-1,garbage", id="one-bad-spec-spoils-all"),
        pytest.param("bytes =0-1", id="space-before-equals"),
        pytest.param("=0-1", id="no-unit"),
    ],
)
def test_bad_syntax_is_malformed(header: str) -> None:
    with pytest.raises(MalformedRange):
        parse_range(header, SIZE)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=500-499", id="one-before"),
        pytest.param("bytes=10-0", id="far-before"),
        pytest.param("bytes=2000-1000", id="both-past-end"),
    ],
)
def test_int_range_with_last_pos_before_first_pos_is_malformed(header: str) -> None:
    with pytest.raises(MalformedRange, match="last-pos before first-pos"):
        parse_range(header, SIZE)


@pytest.mark.parametrize("header", ["items=0-1", "none=0-1", "bytess=0-1", "byte=0-1"])
def test_unknown_range_unit_is_ignored(header: str) -> None:
    with pytest.raises(MalformedRange, match="unsupported range unit"):
        parse_range(header, SIZE)


@pytest.mark.parametrize("header", ["Bytes=0-1", "BYTES=0-1", "bYtEs=0-1"])
def test_range_unit_is_case_insensitive(header: str) -> None:
    assert spans(header) == [(0, 1)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(" bytes=0-1", [(0, 1)], id="leading-space"),
        pytest.param("bytes=0-1 \t", [(0, 1)], id="trailing-ows"),
        pytest.param("bytes= 0-1", [(0, 1)], id="ows-before-first-element"),
        pytest.param("bytes=0-1 , 5-6", [(0, 1), (5, 6)], id="ows-around-comma"),
        pytest.param("bytes=0-1,\t5-6", [(0, 1), (5, 6)], id="tab-after-comma"),
        pytest.param("bytes=0-1,,5-6", [(0, 1), (5, 6)], id="empty-element"),
        pytest.param("bytes=,0-1", [(0, 1)], id="leading-empty-element"),
        pytest.param("bytes=0-1,", [(0, 1)], id="trailing-empty-element"),
        pytest.param("bytes=0-1, ,5-6", [(0, 1), (5, 6)], id="blank-element"),
    ],
)
def test_list_syntax_allows_ows_and_empty_elements(
    header: str, expected: list[tuple[int, int]]
) -> None:
    assert spans(header) == expected


# --- huge numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-99999999999999999999", [(0, 999)], id="last-pos-20-digits"),
        pytest.param("bytes=0-" + "9" * 5000, [(0, 999)], id="last-pos-5000-digits"),
        pytest.param("bytes=-" + "9" * 5000, [(0, 999)], id="suffix-5000-digits"),
        pytest.param("bytes=" + "0" * 5000 + "1-2", [(1, 2)], id="many-leading-zeros"),
        pytest.param(f"bytes={2**63}-{2**64}", None, id="first-pos-past-any-file"),
        pytest.param("bytes=" + "9" * 5000 + "-", None, id="first-pos-5000-digits"),
    ],
)
def test_huge_numbers_saturate_instead_of_failing(
    header: str, expected: list[tuple[int, int]] | None
) -> None:
    if expected is None:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, SIZE)
    else:
        assert spans(header) == expected


def test_huge_last_pos_before_huge_first_pos_is_still_malformed() -> None:
    with pytest.raises(MalformedRange):
        parse_range(f"bytes={10**19}-{10**18}", SIZE)


def test_large_real_sizes_are_exact() -> None:
    size = 2**40 + 7
    assert spans(f"bytes={size - 2}-", size) == [(size - 2, size - 1)]
    assert spans("bytes=-3", size) == [(size - 3, size - 1)]


# --- coalescing and ordering (§14.2) -----------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-9,5-14", [(0, 14)], id="overlapping"),
        pytest.param("bytes=0-9,10-19", [(0, 19)], id="adjacent"),
        pytest.param("bytes=0-9,0-9", [(0, 9)], id="duplicate"),
        pytest.param("bytes=0-99,10-19", [(0, 99)], id="contained"),
        pytest.param("bytes=0-9,5-,-10", [(0, 999)], id="open-ended-swallows"),
        pytest.param("bytes=0-9,20-29,8-21", [(0, 29)], id="bridge-merges-three"),
        pytest.param("bytes=0-0,1-1,2-2,3-3", [(0, 3)], id="run-of-single-bytes"),
        pytest.param("bytes=-500,0-", [(0, 999)], id="suffix-and-open"),
        pytest.param("bytes=990-,-5", [(990, 999)], id="suffix-inside-open"),
    ],
)
def test_overlapping_and_adjacent_ranges_are_coalesced(
    header: str, expected: list[tuple[int, int]]
) -> None:
    assert spans(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-9,20-29", [(0, 9), (20, 29)], id="wide-gap"),
        pytest.param("bytes=0-9,11-19", [(0, 9), (11, 19)], id="gap-of-one"),
    ],
)
def test_ranges_separated_by_a_gap_stay_apart(header: str, expected: list[tuple[int, int]]) -> None:
    assert spans(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=500-599,0-99", [(500, 599), (0, 99)], id="descending"),
        pytest.param("bytes=-100,0-99", [(900, 999), (0, 99)], id="suffix-first"),
        pytest.param(
            "bytes=500-599,0-99,550-650", [(500, 650), (0, 99)], id="merged-takes-first-place"
        ),
        pytest.param(
            "bytes=900-909,0-9,905-950,5-20", [(900, 950), (0, 20)], id="two-merges-unsorted"
        ),
    ],
)
def test_parts_keep_the_order_of_the_request(header: str, expected: list[tuple[int, int]]) -> None:
    # RFC 9110 §14.2: parts SHOULD come in the order the range-specs appeared, except where
    # ranges were coalesced.
    assert spans(header) == expected


def test_coalesced_payload_never_exceeds_the_representation() -> None:
    header = "bytes=" + ",".join(["0-"] * 16)
    assert sum(r.length for r in parse_range(header, SIZE)) == SIZE


# --- anti-amplification -----------------------------------------------------------------


def test_up_to_max_ranges_specs_are_accepted() -> None:
    header = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(16))
    assert len(parse_range(header, SIZE)) == 16


def test_more_than_max_ranges_specs_is_malformed() -> None:
    # Ignored and served as 200, like nginx max_ranges and Apache's CVE-2011-3192 fix.
    header = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(17))
    with pytest.raises(MalformedRange, match="more than 16 ranges"):
        parse_range(header, SIZE)


def test_max_ranges_counts_specs_before_coalescing() -> None:
    with pytest.raises(MalformedRange):
        parse_range("bytes=" + ",".join(["0-0"] * 3), SIZE, max_ranges=2)


def test_max_ranges_counts_unsatisfiable_specs() -> None:
    with pytest.raises(MalformedRange):
        parse_range("bytes=0-0,5000-,6000-", SIZE, max_ranges=2)


def test_empty_elements_do_not_count_towards_max_ranges() -> None:
    assert spans("bytes=0-0,,,,,,2-2", max_ranges=2) == [(0, 0), (2, 2)]


def test_max_ranges_is_configurable() -> None:
    assert spans("bytes=0-0,2-2,4-4", max_ranges=3) == [(0, 0), (2, 2), (4, 4)]
    with pytest.raises(MalformedRange):
        parse_range("bytes=0-0", SIZE, max_ranges=0)


# --- tiny representations ---------------------------------------------------------------


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=0-0", "bytes=-1", "bytes=-0", "bytes=5-"])
def test_any_range_on_a_zero_length_representation_is_ignored(header: str) -> None:
    # No byte can be selected, and a 206 for a suffix-range could not write Content-Range.
    with pytest.raises(MalformedRange, match="zero-length"):
        parse_range(header, 0)


def test_bad_syntax_on_a_zero_length_representation_is_malformed() -> None:
    with pytest.raises(MalformedRange, match="unsupported range unit"):
        parse_range("items=0-1", 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", [(0, 0)]),
        ("bytes=0-", [(0, 0)]),
        ("bytes=0-5", [(0, 0)]),
        ("bytes=-1", [(0, 0)]),
        ("bytes=-5", [(0, 0)]),
        ("bytes=0-0,-1", [(0, 0)]),
    ],
)
def test_one_byte_representation(header: str, expected: list[tuple[int, int]]) -> None:
    assert spans(header, 1) == expected


@pytest.mark.parametrize("header", ["bytes=1-", "bytes=1-1", "bytes=-0"])
def test_one_byte_representation_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1)


@pytest.mark.parametrize("size", [-1, 2**63])
def test_size_must_be_a_file_size(size: int) -> None:
    with pytest.raises(ValueError, match="size out of range"):
        parse_range("bytes=0-1", size)


_FAST_PATH_SIZES = [1, 2, 100, 1000, 10**12]
_FAST_PATH_HEADERS = [
    f"bytes={a}-{b}"
    for a in (0, 1, 5, 99, 100, 999, 1000, 10**12 - 1, 10**12)
    for b in ("", 0, 1, 4, 99, 100, 998, 999, 1000, 10**12, "000", "0099")
]


@pytest.mark.parametrize("size", _FAST_PATH_SIZES)
@pytest.mark.parametrize("header", _FAST_PATH_HEADERS)
def test_fast_path_agrees_with_the_general_parser(header: str, size: int) -> None:
    # A leading space is field OWS: it takes the general path to the same answer.
    def outcome(value: str) -> object:
        try:
            return parse_range(value, size)
        except RangeError as exc:
            return type(exc)

    assert outcome(header) == outcome(" " + header)
