"""multipart/byteranges framing under generated ranges: the body reads back part by part."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from streamer.http.multipart import MultipartPlan
from streamer.http.ranges import ByteRange, RangeError, parse_range
from tests.unit.test_multipart import assemble, split_parts

BOUNDARY_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'+_-."
boundaries = st.text(alphabet=BOUNDARY_CHARS, min_size=1, max_size=70)
# Representations of every byte value, CR and LF included, so framing cannot lean on them.
representations = st.binary(min_size=1, max_size=400)
range_headers = st.lists(
    st.tuples(st.integers(0, 420), st.integers(0, 60)), min_size=1, max_size=16
).map(lambda specs: "bytes=" + ",".join(f"{a}-{a + n}" for a, n in specs))
_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)")


@given(representations, range_headers, boundaries)
def test_the_body_splits_back_into_the_ranges_with_their_bytes(
    data: bytes, header: str, boundary: str
) -> None:
    try:
        ranges = parse_range(header, len(data))
    except RangeError:
        return
    plan = MultipartPlan(ranges, "audio/mpeg", len(data), boundary)
    body = assemble(plan, data)
    assert len(body) == plan.content_length
    if any(boundary.encode() in data[r.start : r.end + 1] for r in ranges):
        return  # a fixed boundary may occur in the bytes; make_boundary's never does
    parts = split_parts(body, boundary)
    assert len(parts) == len(ranges)
    for (fields, content), r in zip(parts, ranges, strict=True):
        assert fields["Content-Type"] == "audio/mpeg"
        match = _CONTENT_RANGE.fullmatch(fields["Content-Range"])
        assert match is not None
        assert ByteRange(int(match[1]), int(match[2])) == r
        assert int(match[3]) == len(data)
        assert content == data[r.start : r.end + 1]


@given(st.text(max_size=80), st.text(max_size=40))
def test_a_bad_boundary_or_content_type_is_a_value_error(boundary: str, content_type: str) -> None:
    try:
        plan = MultipartPlan([ByteRange(0, 0)], content_type, 1, boundary)
    except ValueError:
        return
    header, _ = plan.parts[0]
    # Whatever is accepted cannot add header lines to a part.
    assert header.count(b"\r\n") == 4
