"""The text/event-stream wire format (streamer.events.sse): pure functions, no server."""

from __future__ import annotations

import pytest

from streamer.events.sse import InvalidEventId, comment, message, parse_event_id, position


def test_a_message_has_id_event_and_one_line_of_compact_json() -> None:
    assert message(7, "job", {"id": "a", "progress": 0.5}) == (
        b'id: 7\nevent: job\ndata: {"id":"a","progress":0.5}\n\n'
    )


def test_newlines_inside_json_strings_stay_escaped_on_one_line() -> None:
    assert message(1, "track", {"title": "two\nlines"}) == (
        b'id: 1\nevent: track\ndata: {"title":"two\\nlines"}\n\n'
    )


def test_data_already_encoded_is_sent_as_it_is_but_never_over_several_lines() -> None:
    assert message(2, "scan", '{"a":1}') == b'id: 2\nevent: scan\ndata: {"a":1}\n\n'
    with pytest.raises(ValueError, match="one line"):
        message(3, "scan", '{"a":\n1}')


def test_a_position_sets_the_id_and_retry_without_data() -> None:
    assert position(41, retry_ms=3000) == b"retry: 3000\nid: 41\n\n"
    assert position(41) == b"id: 41\n\n"


def test_a_heartbeat_is_a_comment_that_may_carry_the_id() -> None:
    assert comment("ping") == b": ping\n\n"
    assert comment("ping", event_id=9) == b": ping\nid: 9\n\n"


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), (" ", None),
                                               ("0", 0), ("42", 42), (" 42 ", 42)])  # fmt: skip
def test_last_event_ids_that_parse(raw: str | None, expected: int | None) -> None:
    assert parse_event_id(raw) == expected


@pytest.mark.parametrize("raw", ["-1", "4.2", "abc", "١٢", str(2**63), "9" * 40])
def test_last_event_ids_this_server_never_gives_are_refused(raw: str) -> None:
    with pytest.raises(InvalidEventId):
        parse_event_id(raw)
