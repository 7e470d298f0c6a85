"""multipart/byteranges framing, RFC 9110 §14.6 and RFC 2046 §5.1.1."""

from __future__ import annotations

import email.parser
import email.policy
import re

import pytest

from streamer.http.multipart import MultipartPlan, make_boundary
from streamer.http.ranges import ByteRange, parse_range

# Every byte value, CR and LF included, so framing cannot lean on the data.
DATA = bytes(range(256)) * 4
SIZE = len(DATA)
CONTENT_TYPE = "audio/mpeg"
BOUNDARY = "3d6b6a416f9b5a0ffc9b2a3e6a1e3c5d"

RANGE_SETS = [
    pytest.param("bytes=0-0", id="one-byte"),
    pytest.param("bytes=0-9,20-29", id="two"),
    pytest.param("bytes=0-0,-1", id="first-and-last-byte"),
    pytest.param("bytes=500-599,0-99,-10", id="unsorted-three"),
    pytest.param("bytes=" + ",".join(f"{i * 60}-{i * 60 + 9}" for i in range(16)), id="sixteen"),
    pytest.param("bytes=0-", id="whole"),
]


def assemble(plan: MultipartPlan, data: bytes = DATA) -> bytes:
    """Write the body the way the media route streams it: headers, then bytes from storage."""
    chunks = []
    for header, r in plan:
        chunks.append(header)
        chunks.append(data[r.start : r.end + 1])
    chunks.append(plan.closing)
    return b"".join(chunks)


def split_parts(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """A strict RFC 2046 reader: no preamble, CRLF everywhere, close delimiter then CRLF."""
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary.encode())
    assert pieces[0] == b"", "no preamble expected"
    assert pieces[-1] == b"--\r\n", "close delimiter followed by CRLF"
    parts = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n")
        head, sep, content = piece[2:].partition(b"\r\n\r\n")
        assert sep, "part headers end with an empty line"
        fields = dict(line.decode("ascii").split(": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields, content))
    return parts


def plan_for(header: str, boundary: str = BOUNDARY) -> MultipartPlan:
    return MultipartPlan(parse_range(header, SIZE), CONTENT_TYPE, SIZE, boundary)


@pytest.mark.parametrize("header", RANGE_SETS)
def test_content_length_equals_the_bytes_produced(header: str) -> None:
    plan = plan_for(header)
    assert plan.content_length == len(assemble(plan))


@pytest.mark.parametrize("header", RANGE_SETS)
def test_each_part_carries_content_type_content_range_and_its_bytes(header: str) -> None:
    ranges = parse_range(header, SIZE)
    plan = MultipartPlan(ranges, CONTENT_TYPE, SIZE, BOUNDARY)
    parts = split_parts(assemble(plan), BOUNDARY)
    assert len(parts) == len(ranges)
    for (fields, content), r in zip(parts, ranges, strict=True):
        assert fields == {
            "Content-Type": CONTENT_TYPE,
            "Content-Range": f"bytes {r.start}-{r.end}/{SIZE}",
        }
        assert content == DATA[r.start : r.end + 1]


def test_the_stdlib_email_parser_reads_the_body() -> None:
    text = b"0123456789abcdef" * 64
    ranges = [ByteRange(0, 9), ByteRange(100, 199), ByteRange(1000, 1023)]
    plan = MultipartPlan(ranges, "audio/ogg; codecs=opus", len(text))
    raw = f"Content-Type: {plan.content_type}\r\n\r\n".encode() + assemble(plan, text)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.get_content_type() == "multipart/byteranges"
    assert message.defects == []
    parts = list(message.iter_parts())
    assert len(parts) == len(ranges)
    for part, r in zip(parts, ranges, strict=True):
        assert part.get_content_type() == "audio/ogg"
        assert part.get_param("codecs") == "opus"
        assert part["Content-Range"] == r.content_range(len(text))
        assert part.get_payload(decode=True) == text[r.start : r.end + 1]


def test_response_content_type_names_the_boundary() -> None:
    assert plan_for("bytes=0-1,5-6").content_type == f"multipart/byteranges; boundary={BOUNDARY}"


def test_first_part_starts_with_the_dash_boundary_and_uses_crlf() -> None:
    (header, _), *_ = plan_for("bytes=0-1,5-6")
    assert (
        header
        == (
            f"--{BOUNDARY}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n"
            f"Content-Range: bytes 0-1/{SIZE}\r\n"
            "\r\n"
        ).encode()
    )


def test_later_parts_start_with_crlf_before_the_delimiter() -> None:
    _, (header, _) = plan_for("bytes=0-1,5-6")
    assert header.startswith(f"\r\n--{BOUNDARY}\r\n".encode())


def test_body_ends_with_the_close_delimiter() -> None:
    assert plan_for("bytes=0-1,5-6").closing == f"\r\n--{BOUNDARY}--\r\n".encode()


def test_parts_follow_the_order_of_the_ranges_given() -> None:
    ranges = [ByteRange(500, 599), ByteRange(0, 99)]
    plan = MultipartPlan(ranges, CONTENT_TYPE, SIZE, BOUNDARY)
    assert [r for _, r in plan] == ranges
    assert [r for _, r in plan.parts] == ranges


def test_a_fresh_boundary_is_made_when_none_is_given() -> None:
    first = MultipartPlan([ByteRange(0, 1)], CONTENT_TYPE, SIZE)
    second = MultipartPlan([ByteRange(0, 1)], CONTENT_TYPE, SIZE)
    assert first.boundary != second.boundary
    assert first.content_type.endswith(first.boundary)


def test_make_boundary_is_long_random_and_token_safe() -> None:
    boundaries = {make_boundary() for _ in range(100)}
    assert len(boundaries) == 100
    for boundary in boundaries:
        assert len(boundary) >= 20
        assert re.fullmatch(r"[0-9a-f]+", boundary)


def test_repr_names_the_ranges() -> None:
    assert repr(plan_for("bytes=0-1,5-6")) == (
        f"MultipartPlan(boundary='{BOUNDARY}', ranges=[0-1, 5-6])"
    )


@pytest.mark.parametrize(
    "boundary",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 71, id="longer-than-70"),
        pytest.param("has space", id="space"),
        pytest.param('quo"te', id="quote"),
        pytest.param("semi;colon", id="tspecial"),
        pytest.param("line\r\nbreak", id="crlf"),
        pytest.param("caf\u00e9", id="non-ascii"),
    ],
)
def test_invalid_boundary_is_rejected(boundary: str) -> None:
    with pytest.raises(ValueError, match="boundary"):
        MultipartPlan([ByteRange(0, 1)], CONTENT_TYPE, SIZE, boundary)


def test_a_70_character_boundary_is_accepted() -> None:
    plan = MultipartPlan([ByteRange(0, 1)], CONTENT_TYPE, SIZE, "b" * 70)
    assert plan.content_length == len(assemble(plan))


@pytest.mark.parametrize("content_type", ["audio/mpeg\r\nX-Injected: 1", "audio/\tmpeg", "\u00e9"])
def test_content_type_that_could_inject_headers_is_rejected(content_type: str) -> None:
    with pytest.raises(ValueError, match="Content-Type"):
        MultipartPlan([ByteRange(0, 1)], content_type, SIZE, BOUNDARY)


def test_no_ranges_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one range"):
        MultipartPlan([], CONTENT_TYPE, SIZE, BOUNDARY)


def test_range_beyond_the_representation_is_rejected() -> None:
    with pytest.raises(ValueError, match="beyond"):
        MultipartPlan([ByteRange(0, SIZE)], CONTENT_TYPE, SIZE, BOUNDARY)
