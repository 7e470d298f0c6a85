"""Range parsing under generated input: only RangeError escapes, and what it returns holds.

The example-based rules are in test_ranges.py; these properties check the same parser over
arbitrary text and generated range sets, with a naive byte-set model as the oracle.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.http.ranges import (
    ByteRange,
    MalformedRange,
    RangeError,
    RangeNotSatisfiable,
    parse_range,
)

MAX_SIZE = 2**63 - 1
sizes = st.integers(min_value=0, max_value=MAX_SIZE)
small_sizes = st.integers(min_value=1, max_value=300)
ows = st.sampled_from(["", " ", "\t", "  "])

# Text near the grammar finds more than uniform text: pieces of valid headers shuffled.
header_pieces = st.sampled_from(
    ["bytes", "BYTES", "=", "-", ",", " ", "\t", "0", "1", "9", "00", "18446744073709551616",
     "9" * 25, "²", "+", "*", "x", ""]
)  # fmt: skip
near_headers = st.lists(header_pieces, max_size=20).map("".join)
any_headers = st.one_of(st.text(), near_headers)


def _spec(first: int | None, last: int | None) -> str:
    """A range-spec: (first, None) is ``first-``, (None, n) a suffix, else ``first-last``."""
    if first is None:
        return f"-{last}"
    return f"{first}-" if last is None else f"{first}-{last}"


Specs = list[tuple[int | None, int | None]]


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, Specs, str]:
    """A small size, valid range-specs for it (some beyond it) and a header naming them."""
    size = draw(small_sizes)
    bound = size + 5
    specs: Specs = []
    for _ in range(draw(st.integers(1, 12))):  # within the default cap of 16
        # Mostly short int-ranges, so that many requests leave gaps, touch or overlap.
        kind = draw(st.sampled_from(["open", "suffix", "int", "int", "int", "int"]))
        first = draw(st.integers(0, bound))
        if kind == "open":
            specs.append((first, None))
        elif kind == "suffix":
            specs.append((None, draw(st.integers(0, 20))))
        else:
            specs.append((first, first + draw(st.integers(0, 20))))
    unit = draw(st.sampled_from(["bytes", "Bytes", "BYTES"]))
    elements = [draw(ows) + _spec(*spec) + draw(ows) for spec in specs]
    return size, specs, f"{unit}={','.join(elements)}"


def _selected(specs: Specs, size: int) -> set[int]:
    """The model: every byte position some spec selects (RFC 9110 §14.1.2)."""
    chosen: set[int] = set()
    for first, last in specs:
        if first is None:
            assert last is not None
            chosen.update(range(max(size - last, 0), size))
        else:
            chosen.update(range(first, size if last is None else min(last + 1, size)))
    return chosen


def _positions(ranges: list[ByteRange]) -> set[int]:
    return {i for r in ranges for i in range(r.start, r.end + 1)}


@given(any_headers, sizes, st.integers(min_value=0, max_value=32))
def test_only_range_errors_escape_for_any_header(header: str, size: int, max_ranges: int) -> None:
    try:
        ranges = parse_range(header, size, max_ranges=max_ranges)
    except RangeError:
        return
    assert 1 <= len(ranges) <= max_ranges


@given(any_headers, sizes, st.integers(min_value=1, max_value=32))
def test_satisfiable_ranges_lie_within_the_representation_and_do_not_touch(
    header: str, size: int, max_ranges: int
) -> None:
    try:
        ranges = parse_range(header, size, max_ranges=max_ranges)
    except RangeError:
        return
    _assert_within_and_apart(ranges, size)


def _assert_within_and_apart(ranges: list[ByteRange], size: int) -> None:
    """Inside the representation, neither overlapping nor touching (they are coalesced)."""
    assert all(0 <= r.start <= r.end < size for r in ranges)
    ordered = sorted(ranges, key=lambda r: r.start)
    assert all(a.end + 1 < b.start for a, b in itertools.pairwise(ordered))
    assert sum(r.length for r in ranges) <= size


@given(requests())
def test_the_ranges_select_exactly_the_bytes_the_specs_select(
    request: tuple[int, Specs, str],
) -> None:
    size, specs, header = request
    expected = _selected(specs, size)
    if not expected:
        with pytest.raises(RangeNotSatisfiable) as refused:
            parse_range(header, size)
        assert refused.value.content_range == f"bytes */{size}"
        return
    ranges = parse_range(header, size)
    assert _positions(ranges) == expected
    _assert_within_and_apart(ranges, size)


@given(requests())
def test_parts_keep_the_order_in_which_the_request_first_named_them(
    request: tuple[int, Specs, str],
) -> None:
    size, specs, header = request
    try:
        ranges = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    # The first spec that touches each merged range decides that range's place.
    firsts = []
    for first, last in specs:
        picked = _selected([(first, last)], size)
        for index, r in enumerate(ranges):
            if picked & set(range(r.start, r.end + 1)) and index not in firsts:
                firsts.append(index)
    assert firsts == list(range(len(ranges)))


@given(st.integers(min_value=1, max_value=MAX_SIZE), st.integers(min_value=0, max_value=2**70))
def test_a_suffix_at_least_the_size_means_the_whole_representation(size: int, extra: int) -> None:
    assert parse_range(f"bytes=-{size + extra}", size) == [ByteRange(0, size - 1)]


@given(
    st.integers(min_value=1, max_value=MAX_SIZE),
    st.integers(min_value=0, max_value=20),
    st.integers(min_value=1, max_value=40),
)
def test_more_specs_than_the_cap_are_ignored_however_they_overlap(
    size: int, max_ranges: int, count: int
) -> None:
    header = "bytes=" + ",".join(["0-0"] * count)
    if count > max_ranges:
        try:
            parse_range(header, size, max_ranges=max_ranges)
        except MalformedRange:
            return
        raise AssertionError(f"{count} ranges passed a cap of {max_ranges}")
    assert parse_range(header, size, max_ranges=max_ranges) == [ByteRange(0, 0)]


@given(any_headers, st.integers(min_value=0, max_value=10_000))
def test_formatting_the_result_and_parsing_it_again_gives_the_same_ranges(
    header: str, size: int
) -> None:
    try:
        ranges = parse_range(header, size)
    except RangeError:
        return
    again = "bytes=" + ",".join(f"{r.start}-{r.end}" for r in ranges)
    assert parse_range(again, size) == ranges


_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)")


@given(st.integers(min_value=0, max_value=MAX_SIZE).flatmap(
    lambda start: st.tuples(st.just(start), st.integers(start, MAX_SIZE))
))  # fmt: skip
def test_content_range_round_trips(span: tuple[int, int]) -> None:
    start, end = span
    size = end + 1
    match = _CONTENT_RANGE.fullmatch(ByteRange(start, end).content_range(size))
    assert match is not None
    assert (int(match[1]), int(match[2]), int(match[3])) == (start, end, size)


@given(
    st.from_regex(r"bytes=[0-9]{1,18}-[0-9]{0,18}", fullmatch=True),
    st.integers(min_value=0, max_value=MAX_SIZE),
)
def test_the_fast_path_agrees_with_the_general_parser(header: str, size: int) -> None:
    # Leading OWS is valid and takes the general path.
    def outcome(value: str) -> object:
        try:
            return parse_range(value, size)
        except RangeError as exc:
            return type(exc)

    assert outcome(header) == outcome(" " + header)
