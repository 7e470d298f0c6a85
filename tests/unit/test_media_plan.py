"""The media routes' planner as a function: each test is one rule of RFC 9110 (or of the
windows that HLS segments are), without a server or ASGI."""

from __future__ import annotations

import time

import pytest

from streamer.http import ByteRange, format_http_date, parse_http_date
from streamer.routes.media_files import ObjectState
from streamer.routes.media_plan import Plan, StateChanged, Window, WindowStale, plan_response

MTIME = 1_700_000_000.0
CACHE_CONTROL = b"public, max-age=3600"
STATE = ObjectState(size=1000, mtime=MTIME, version="v1")
WHOLE = Window(key="a.flac", content_type="audio/flac", version="v1", etag="hash1")
SEGMENT = Window(
    key="r.m4a", content_type="audio/mp4", version="v1", offset=100, length=200, exact=True
)


def plan(
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    window: Window = WHOLE,
    state: ObjectState = STATE,
    max_ranges: int = 8,
) -> Plan:
    return plan_response(
        method, headers or {}, [(b"x-cors", b"1")], window, state, CACHE_CONTROL, max_ranges
    )


def fields(result: Plan) -> dict[bytes, bytes]:
    return dict(result.headers)


def test_a_get_without_range_sends_the_whole_window_with_its_validators() -> None:
    result = plan()
    assert result.status == 200
    assert result.body is None
    assert result.segments == [(b"", ByteRange(0, 999))]
    assert fields(result)[b"etag"] == b'"hash1"'
    assert fields(result)[b"last-modified"] == format_http_date(int(MTIME)).encode()
    assert fields(result)[b"content-length"] == b"1000"
    assert fields(result)[b"cache-control"] == CACHE_CONTROL
    assert fields(result)[b"x-cors"] == b"1"


def test_head_has_the_get_fields_and_an_empty_body() -> None:
    get, head = plan({"range": "bytes=0-9"}), plan({"range": "bytes=0-9"}, method="HEAD")
    assert head.body == b""
    # Range applies to GET only (RFC 9110 section 14.2): HEAD answers for the whole.
    assert head.status == 200
    assert get.status == 206
    assert fields(head)[b"content-length"] == b"1000"


def test_etag_is_the_object_version_once_the_window_version_is_gone() -> None:
    result = plan(state=ObjectState(size=1000, mtime=MTIME, version="v2"))
    assert fields(result)[b"etag"] == b'"v2"'


def test_last_modified_is_never_in_the_future() -> None:
    future = ObjectState(size=1000, mtime=time.time() + 3600, version="v1")
    sent = parse_http_date(fields(plan(state=future))[b"last-modified"].decode())
    assert sent is not None
    assert sent <= time.time()


@pytest.mark.parametrize("if_none_match", ['"hash1"', 'W/"hash1"', '"other", "hash1"', "*"])
def test_if_none_match_that_matches_weakly_answers_304(if_none_match: str) -> None:
    result = plan({"if-none-match": if_none_match})
    assert result.status == 304
    assert result.body == b""


def test_a_304_carries_validator_and_caching_fields_but_not_last_modified() -> None:
    names = {name for name, _ in plan({"if-none-match": '"hash1"'}).headers}
    assert names == {b"cache-control", b"etag", b"x-cors"}


@pytest.mark.parametrize("if_match", ['"other"', 'W/"hash1"'])
def test_if_match_compares_strongly_and_fails_with_412(if_match: str) -> None:
    result = plan({"if-match": if_match})
    assert result.status == 412
    assert result.kind is None  # a 412 is not a range request to count
    assert b"cache-control" not in fields(result)  # a CDN must not keep it as the file


def test_one_range_is_a_206_with_content_range() -> None:
    result = plan({"range": "bytes=10-19"})
    assert result.status == 206
    assert fields(result)[b"content-range"] == b"bytes 10-19/1000"
    assert result.segments == [(b"", ByteRange(10, 19))]
    assert result.kind == "single"


def test_several_ranges_are_multipart_byteranges() -> None:
    result = plan({"range": "bytes=0-0,-1"})
    assert result.status == 206
    assert fields(result)[b"content-type"].startswith(b"multipart/byteranges; boundary=")
    assert [part for _, part in result.segments] == [ByteRange(0, 0), ByteRange(999, 999), None]
    assert int(fields(result)[b"content-length"]) == sum(
        len(head) + (part.length if part else 0) for head, part in result.segments
    )


def test_an_unsatisfiable_range_is_416_with_the_size() -> None:
    result = plan({"range": "bytes=5000-"})
    assert result.status == 416
    assert fields(result)[b"content-range"] == b"bytes */1000"
    assert result.kind == "unsatisfiable"


def test_a_malformed_range_is_ignored() -> None:
    result = plan({"range": "bytes=oops"})
    assert (result.status, result.kind) == (200, "ignored")


def test_a_range_with_an_if_range_that_no_longer_matches_sends_the_whole() -> None:
    result = plan({"range": "bytes=0-9", "if-range": '"old"'})
    assert (result.status, result.kind) == (200, "ignored")


def test_ranges_and_lengths_are_those_of_the_window() -> None:
    result = plan({"range": "bytes=-10"}, window=SEGMENT)
    assert fields(result)[b"content-range"] == b"bytes 190-199/200"
    assert result.segments == [(b"", ByteRange(190, 199))]  # the caller adds window.offset


def test_an_exact_window_of_another_version_is_stale() -> None:
    with pytest.raises(WindowStale):
        plan(window=SEGMENT, state=ObjectState(size=1000, mtime=MTIME, version="v2"))


def test_an_exact_window_past_the_end_of_its_object_is_stale() -> None:
    with pytest.raises(WindowStale):
        plan(window=SEGMENT, state=ObjectState(size=250, mtime=MTIME, version="v1"))


def test_a_window_past_the_end_of_a_changed_object_is_answered_afresh() -> None:
    window = Window(key="a.flac", content_type="audio/flac", version="v1", length=2000)
    with pytest.raises(StateChanged):
        plan(window=window)


def test_a_window_may_name_its_own_cache_control() -> None:
    window = Window(key="r.m4a", content_type="audio/mp4", version="v1", cache_control=b"immutable")
    assert fields(plan(window=window))[b"cache-control"] == b"immutable"
