"""Sequence numbers from checkpoints: the same on every request, never going backwards."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from streamer.channels.model import (
    ChannelPlan,
    Checkpoint,
    Fill,
    PlanRevision,
    PoolTrack,
    RepeatRules,
    ScheduleEntry,
)
from streamer.channels.sequence import advance, air_segments, on_air, origin, segment_offsets

POOLS = {
    "music": [PoolTrack(f"m{n}", None, (6.0,) * (10 + n) + (2.5,)) for n in range(4)],
    "news": [PoolTrack(f"n{n}", None, (4.0,) * 12) for n in range(3)],
}
PLAN = ChannelPlan(
    "c",
    "UTC",
    (ScheduleEntry("news", "news", datetime(2020, 1, 1, 8), timedelta(minutes=5), "FREQ=HOURLY"),),
    Fill("fallback", "music"),
    RepeatRules(),
    "seed",
)
REVISIONS = [PlanRevision(datetime(2020, 1, 1, tzinfo=UTC), PLAN)]
CREATED = datetime(2026, 6, 1, 6, 0, 3, tzinfo=UTC)


def test_origin_is_the_first_boundary_after_creation_numbered_zero() -> None:
    checkpoint = origin(REVISIONS, POOLS, CREATED)
    assert checkpoint.at >= CREATED
    assert (checkpoint.media_sequence, checkpoint.discontinuity_sequence) == (0, 0)
    first = air_segments(
        checkpoint, REVISIONS, POOLS, checkpoint.at, checkpoint.at + timedelta(seconds=1)
    )
    assert first[0].start == checkpoint.at


def test_segments_are_numbered_consecutively_with_a_discontinuity_per_play() -> None:
    checkpoint = origin(REVISIONS, POOLS, CREATED)
    segments = air_segments(
        checkpoint, REVISIONS, POOLS, checkpoint.at, checkpoint.at + timedelta(hours=1)
    )
    assert [s.media_sequence for s in segments] == list(range(len(segments)))
    for before, after in itertools.pairwise(segments):
        assert after.start == before.end
        assert after.discontinuity_sequence == before.discontinuity_sequence + before.discontinuity
        assert after.discontinuity == (after.play is not before.play)


def test_a_later_checkpoint_gives_the_same_numbers() -> None:
    start = origin(REVISIONS, POOLS, CREATED)
    later = advance(start, REVISIONS, POOLS, datetime(2026, 6, 1, 8, 2, 1, tzinfo=UTC))
    now = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
    assert on_air(start, REVISIONS, POOLS, now, 30) == on_air(later, REVISIONS, POOLS, now, 30)
    assert later.media_sequence > 0
    assert later.discontinuity_sequence > 0


def test_the_window_ends_at_the_live_edge_and_lasts_the_asked_seconds() -> None:
    start = origin(REVISIONS, POOLS, CREATED)
    now = datetime(2026, 6, 1, 9, 0, 1, tzinfo=UTC)
    window = on_air(start, REVISIONS, POOLS, now, 20)
    assert window[-1].end <= now
    total = sum((s.end - s.start).total_seconds() for s in window)
    assert total >= 20
    assert total - (window[0].end - window[0].start).total_seconds() < 20


def test_sequence_numbers_never_go_backwards_as_now_advances() -> None:
    start = origin(REVISIONS, POOLS, CREATED)
    previous = (0, 0)
    now = datetime(2026, 6, 1, 7, 55, tzinfo=UTC)
    for _ in range(25):
        now += timedelta(seconds=11)
        window = on_air(start, REVISIONS, POOLS, now, 18)
        numbers = (window[0].media_sequence, window[0].discontinuity_sequence)
        assert numbers >= previous
        previous = numbers


def test_offsets_are_running_sums() -> None:
    assert segment_offsets(PoolTrack("x", None, (1.5, 2.0))) == (0.0, 1.5, 3.5)


def test_a_checkpoint_off_a_boundary_is_refused() -> None:
    start = origin(REVISIONS, POOLS, CREATED)
    wrong = Checkpoint(start.at + timedelta(seconds=1), 0, 0)
    with pytest.raises(ValueError, match="not a segment boundary"):
        air_segments(wrong, REVISIONS, POOLS, wrong.at, wrong.at + timedelta(minutes=1))


def test_checkpoints_go_forwards_only() -> None:
    start = origin(REVISIONS, POOLS, CREATED)
    with pytest.raises(ValueError, match="forwards"):
        advance(start, REVISIONS, POOLS, start.at - timedelta(seconds=1))
    with pytest.raises(ValueError, match="checkpoint before"):
        air_segments(start, REVISIONS, POOLS, start.at - timedelta(seconds=1), start.at)


def test_silence_has_no_checkpoint() -> None:
    lonely = ChannelPlan("c", "UTC", (), Fill("loop"), RepeatRules(), "s")
    revisions = [PlanRevision(datetime(2020, 1, 1, tzinfo=UTC), lonely)]
    with pytest.raises(ValueError, match="nothing is on air"):
        origin(revisions, POOLS, CREATED)
