"""Properties of the timeline under generated schedules, pools and edits: plays are
contiguous and do not overlap, the same inputs give the same plays whatever window is
asked, an edit never changes what went out before it, and sequence numbers never go
backwards as time advances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.channels.model import (
    ChannelPlan,
    Fill,
    PlanRevision,
    PoolTrack,
    RepeatRules,
    ScheduleEntry,
)
from streamer.channels.rotation import segment_edges_us
from streamer.channels.sequence import on_air, origin
from streamer.channels.timeline import air_boundaries_us, plays

BASE = datetime(2026, 3, 28, tzinfo=UTC)  # the night before London's clocks go forward
PLAYLISTS = ("p0", "p1", "p2")

durations = st.sampled_from([2.0, 4.0, 5.5, 6.0, 6.006])
tracks = st.builds(
    lambda artist, segments: PoolTrack("t", artist, tuple(segments)),
    st.sampled_from([None, "x", "y"]),
    st.lists(durations, min_size=5, max_size=40),
)
pool = st.lists(tracks, min_size=1, max_size=5)
# Track ids are unique: one id is one track, with one list of segments.
pools = st.fixed_dictionaries(dict.fromkeys(PLAYLISTS, pool)).map(
    lambda found: {
        name: [
            PoolTrack(f"{name}-{index}", track.artist, track.segments)
            for index, track in enumerate(listed)
        ]
        for name, listed in found.items()
    }
)

entries = st.builds(
    lambda index, playlist, minute, length, rule, priority, order: ScheduleEntry(
        f"e{index}",
        playlist,
        datetime(2026, 3, 27) + timedelta(minutes=minute),
        timedelta(minutes=length),
        rule,
        (),
        priority,
        order,
    ),
    st.integers(0, 1000),
    st.sampled_from(PLAYLISTS),
    st.integers(0, 24 * 60),
    st.integers(1, 240),
    st.sampled_from([None, "FREQ=DAILY", "FREQ=HOURLY;INTERVAL=3"]),
    st.integers(0, 2),
    st.sampled_from(["sequential", "shuffle"]),
)
plans = st.builds(
    lambda listed, fill, zone, track_minutes, artist_minutes: ChannelPlan(
        "c",
        zone,
        tuple({entry.id: entry for entry in listed}.values()),
        fill,
        RepeatRules(track_minutes, artist_minutes),
        "seed",
    ),
    st.lists(entries, max_size=4),
    st.sampled_from([Fill("fallback", "p0"), Fill("loop", "p1"), Fill("shuffle", "p2")]),
    st.sampled_from(["UTC", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]),
    st.sampled_from([0, 10]),
    st.sampled_from([0, 5]),
)
offsets = st.integers(0, 36 * 3600)


@settings(max_examples=20)
@given(plans, pools, offsets, st.integers(60, 3600))
def test_plays_are_contiguous_and_do_not_overlap(
    plan: ChannelPlan, pools: dict[str, list[PoolTrack]], offset: int, length: int
) -> None:
    start = BASE + timedelta(seconds=offset)
    found = plays(
        [PlanRevision(BASE - timedelta(days=400), plan)],
        pools,
        start,
        start + timedelta(seconds=length),
    )
    assert found
    assert found[0].start <= start
    for before, after in pairwise(found):
        assert before.end == after.start
    for play in found:
        assert play.start < play.end
        assert play.segment_count > 0
        track = next(t for p in pools.values() for t in p if t.id == play.track_id)
        assert play.first_segment + play.segment_count <= len(track.segments)


@settings(max_examples=20)
@given(plans, pools, offsets, st.integers(1, 3600), st.integers(1, 3600))
def test_the_same_plays_whatever_window_is_asked(
    plan: ChannelPlan, pools: dict[str, list[PoolTrack]], offset: int, before: int, after: int
) -> None:
    revisions = [PlanRevision(BASE - timedelta(days=400), plan)]
    start = BASE + timedelta(seconds=offset)
    narrow = plays(revisions, pools, start, start + timedelta(seconds=1))
    wide = plays(
        revisions, pools, start - timedelta(seconds=before), start + timedelta(seconds=after)
    )
    assert all(play in wide for play in narrow)
    assert plays(revisions, pools, start, start + timedelta(seconds=1)) == narrow


@settings(max_examples=20)
@given(plans, plans, pools, offsets, st.integers(0, 3600))
def test_an_edit_never_changes_what_went_out(
    old: ChannelPlan, new: ChannelPlan, pools: dict[str, list[PoolTrack]], offset: int, ahead: int
) -> None:
    edit = BASE + timedelta(seconds=offset, microseconds=123)
    original = [PlanRevision(BASE - timedelta(days=400), old)]
    edited = [*original, PlanRevision(edit, new)]
    low, high = edit - timedelta(hours=1), edit + timedelta(seconds=ahead + 1)
    before = [p for p in plays(original, pools, low, high) if p.end <= edit]
    after = plays(edited, pools, low, high)
    assert [p for p in after if p.end <= edit] == before
    for one, two in pairwise(after):
        assert one.end == two.start


@settings(max_examples=8)
@given(plans, pools, st.lists(st.integers(1, 40), min_size=3, max_size=12))
def test_sequence_numbers_never_go_backwards(
    plan: ChannelPlan, pools: dict[str, list[PoolTrack]], steps: list[int]
) -> None:
    revisions = [PlanRevision(BASE - timedelta(days=400), plan)]
    checkpoint = origin(revisions, pools, BASE)
    now = BASE + timedelta(minutes=2)
    previous = (-1, -1)
    last_segment = None
    for step in steps:
        now += timedelta(seconds=step)
        window = on_air(checkpoint, revisions, pools, now, 20)
        numbers = (window[0].media_sequence, window[0].discontinuity_sequence)
        assert numbers >= previous
        if last_segment is not None:
            assert window[-1].media_sequence >= last_segment
        previous, last_segment = numbers, window[-1].media_sequence


# A track's last segment is whatever is left after the whole ones: often a fraction of one.
tail_durations = st.sampled_from([0.02, 0.3, 1.5])
tailed_tracks = st.builds(
    lambda artist, segments, tail: PoolTrack("t", artist, (*segments, tail)),
    st.sampled_from([None, "x"]),
    st.lists(st.sampled_from([4.0, 6.0, 6.006]), min_size=2, max_size=6),
    tail_durations,
)
tailed_pools = st.fixed_dictionaries(
    dict.fromkeys(PLAYLISTS, st.lists(tailed_tracks, min_size=1, max_size=4))
).map(
    lambda found: {
        name: [
            PoolTrack(f"{name}-{index}", track.artist, track.segments)
            for index, track in enumerate(listed)
        ]
        for name, listed in found.items()
    }
)


@settings(max_examples=60)
@given(plans, plans, tailed_pools, offsets, st.integers(0, 600))
def test_every_segment_airs_for_some_time(
    old: ChannelPlan, new: ChannelPlan, pools: dict[str, list[PoolTrack]], offset: int, ahead: int
) -> None:
    """Joining a track in progress (a slot's start, an edit's switch) moves its segments by
    up to half a segment: no segment may end before it starts, however short the track's
    last one is."""
    edit = BASE + timedelta(seconds=offset, microseconds=123)
    revisions = [PlanRevision(BASE - timedelta(days=400), old), PlanRevision(edit, new)]
    low, high = edit - timedelta(minutes=30), edit + timedelta(seconds=ahead + 60)
    for play in plays(revisions, pools, low, high):
        track = next(t for p in pools.values() for t in p if t.id == play.track_id)
        boundaries = air_boundaries_us(play, segment_edges_us(track))
        assert all(a < b for a, b in pairwise(boundaries)), play
