"""A channel's live playlist across successive requests: the window slides over track
changes with sequence numbers that hold (RFC 8216 §6.2.1-2), parsed back with m3u8."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import m3u8
import pytest

from streamer.channels.model import ChannelPlan, Fill, PlanRevision, PoolTrack, RepeatRules
from streamer.channels.sequence import on_air, origin
from streamer.channels.window import live_text

POOLS = {"music": [PoolTrack(f"t{n}", None, (6.0,) * (3 + n) + (1.5,)) for n in range(4)]}
REVISIONS = [
    PlanRevision(
        datetime(2020, 1, 1, tzinfo=UTC),
        ChannelPlan("c", "UTC", (), Fill("fallback", "music"), RepeatRules(), "seed"),
    )
]
START = datetime(2026, 6, 1, 12, tzinfo=UTC)


CHECKPOINT = origin(REVISIONS, POOLS, START)


def text_at(now: datetime) -> str:
    checkpoint = CHECKPOINT
    window = on_air(checkpoint, REVISIONS, POOLS, now, 18)
    return live_text(
        window,
        init_uri=lambda track: f"/hls/{track}/aac/init.mp4",
        segment_uri=lambda track, index: f"/hls/{track}/aac/seg_{index}.m4s",
        target_duration_s=6,
    )


def parsed(text: str) -> Any:
    m3u8.parse(text, strict=True)
    return m3u8.loads(text)


def test_window_slides_over_track_changes_with_consistent_numbers() -> None:
    # The pool repeats every two minutes: a segment is its URI and when it went out.
    seen: dict[tuple[str, int], tuple[int, int]] = {}
    previous = (-1, -1)
    for step in range(1, 45):
        now = START + timedelta(minutes=1, seconds=step * 4.5)
        playlist = parsed(text_at(now))
        assert not playlist.is_endlist
        assert playlist.target_duration == 6
        disc = playlist.discontinuity_sequence or 0
        assert (playlist.media_sequence, disc) >= previous
        previous = (playlist.media_sequence, disc)
        for number, segment in enumerate(playlist.segments, start=playlist.media_sequence):
            # A segment keeps its media sequence number and its discontinuity sequence
            # number as the window slides (RFC 8216 §6.2.2).
            disc += segment.discontinuity
            went_out = round(segment.current_program_date_time.timestamp() * 10)
            assert seen.setdefault((segment.uri, went_out), (number, disc)) == (number, disc)
        changes = [s for s in playlist.segments if s.discontinuity]
        assert all(s.init_section is not None for s in changes)
        assert all(s.program_date_time is not None for s in changes)
        assert playlist.segments[0].program_date_time is not None
    assert len(seen) > 30


def test_two_calls_give_the_same_bytes() -> None:
    now = START + timedelta(minutes=3, seconds=1)
    assert text_at(now) == text_at(now)


def test_nothing_gone_out_yet_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nothing has gone out"):
        live_text([], init_uri=str, segment_uri=lambda t, i: t, target_duration_s=6)
