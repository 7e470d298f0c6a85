"""The timeline: plays segment-exact, history-free, with revisions and fills."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from streamer.channels.model import (
    ChannelPlan,
    Fill,
    PlanRevision,
    Play,
    PoolTrack,
    RepeatRules,
    ScheduleEntry,
)
from streamer.channels.rotation import segment_edges_us
from streamer.channels.timeline import air_boundaries_us, plan_plays, plays

SEGMENT = 6.0


def track(name: str, segments: int, artist: str | None = None) -> PoolTrack:
    return PoolTrack(name, artist, (SEGMENT,) * segments)


POOLS: dict[str, list[PoolTrack]] = {
    # Tracks of 2:00, 2:06, 2:12, ... so boundaries fall everywhere.
    "music": [track(f"m{n}", 20 + n) for n in range(6)],
    "news": [track(f"n{n}", 25) for n in range(3)],
    "fallback": [track(f"f{n}", 30) for n in range(4)],
    "empty": [],
}
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def plan(*entries: ScheduleEntry, fill: Fill | None = None, zone: str = "UTC") -> ChannelPlan:
    return ChannelPlan(
        "c", zone, entries, fill or Fill("fallback", "fallback"), RepeatRules(), "seed"
    )


def revisions(*plans: ChannelPlan, at: Sequence[datetime] = ()) -> list[PlanRevision]:
    instants = [LONG_AGO, *at]
    return [PlanRevision(instant, p) for instant, p in zip(instants, plans, strict=True)]


def entry(
    name: str,
    playlist: str,
    start: datetime,
    minutes: float,
    rule: str | None = "FREQ=DAILY",
    **kwargs: object,
) -> ScheduleEntry:
    return ScheduleEntry(name, playlist, start, timedelta(minutes=minutes), rule, **kwargs)  # type: ignore[arg-type]


def media_seconds(play: Play, pools: Mapping[str, Sequence[PoolTrack]] = POOLS) -> float:
    (found,) = {t for pool in pools.values() for t in pool if t.id == play.track_id}
    edges = segment_edges_us(found)
    return (edges[play.first_segment + play.segment_count] - edges[play.first_segment]) / 1e6


def assert_contiguous(found: Sequence[Play]) -> None:
    for before, after in pairwise(found):
        assert before.end == after.start, (before, after)
    for play in found:
        assert play.segment_count > 0
        assert play.start < play.end
        # Media and air agree within half a segment (a cut) or exactly.
        assert abs(media_seconds(play) - (play.end - play.start).total_seconds()) <= SEGMENT


MORNING = entry("morning", "music", datetime(2020, 1, 1, 8), 60)
NEWS = entry("news", "news", datetime(2020, 1, 1, 8, 20), 10, priority=5, order="shuffle")


def test_plays_are_contiguous_with_reasons() -> None:
    found = plays(revisions(plan(MORNING, NEWS)), POOLS, utc(2026, 6, 1, 7), utc(2026, 6, 1, 10))
    assert_contiguous(found)
    assert found[0].start <= utc(2026, 6, 1, 7) < found[-1].end
    assert {p.entry_id for p in found} == {None, "morning", "news"}
    assert all(p.reason for p in found)
    news = [p for p in found if p.entry_id == "news"]
    assert news[0].start == utc(2026, 6, 1, 8, 20)
    assert "priority 5" in news[0].reason


def test_the_winner_takes_the_air_and_the_loser_resumes_where_its_order_is() -> None:
    found = plays(revisions(plan(MORNING, NEWS)), POOLS, utc(2026, 6, 1, 8), utc(2026, 6, 1, 9))
    after_news = next(p for p in found if p.start == utc(2026, 6, 1, 8, 30))
    assert after_news.entry_id == "morning"
    # Without the news, the same track was playing at 08:30: the morning show went on
    # underneath and resumes from the segment boundary nearest 08:30.
    alone = plays(revisions(plan(MORNING)), POOLS, utc(2026, 6, 1, 8, 30), utc(2026, 6, 1, 8, 31))
    assert alone[0].track_id == after_news.track_id
    edges = segment_edges_us(next(t for t in POOLS["music"] if t.id == alone[0].track_id))
    offset_us = (utc(2026, 6, 1, 8, 30) - alone[0].start) // timedelta(microseconds=1)
    assert abs(edges[after_news.first_segment] - offset_us) <= SEGMENT * 1e6 / 2


def test_a_slot_end_cuts_at_the_nearest_segment_boundary() -> None:
    found = plays(revisions(plan(MORNING)), POOLS, utc(2026, 6, 1, 8, 50), utc(2026, 6, 1, 9))
    last = [p for p in found if p.entry_id == "morning"][-1]
    assert last.end == utc(2026, 6, 1, 9)
    cut_error = media_seconds(last) - (last.end - last.start).total_seconds()
    assert abs(cut_error) <= SEGMENT / 2


def test_the_same_inputs_give_the_same_plays_whatever_the_window() -> None:
    revs = revisions(plan(MORNING, NEWS))
    wide = plays(revs, POOLS, utc(2026, 6, 1, 6), utc(2026, 6, 1, 12))
    narrow = plays(revs, POOLS, utc(2026, 6, 1, 8, 25), utc(2026, 6, 1, 8, 26))
    assert narrow
    assert all(p in wide for p in narrow)
    assert plays(revs, POOLS, utc(2026, 6, 1, 6), utc(2026, 6, 1, 12)) == wide


def test_cost_does_not_grow_with_the_schedules_age() -> None:
    revs = revisions(plan(entry("old", "music", datetime(2000, 1, 1, 8), 60), NEWS))
    began = time.perf_counter()
    found = plays(revs, POOLS, utc(2026, 6, 1, 7), utc(2026, 6, 1, 8))
    assert found
    assert time.perf_counter() - began < 1.0


@pytest.mark.parametrize(
    ("fill", "playlist", "entry_id"),
    [
        (Fill("fallback", "fallback"), "fallback", None),
        (Fill("shuffle"), "music", None),
        (Fill("loop"), "music", None),
    ],
)
def test_gaps_are_filled(fill: Fill, playlist: str, entry_id: str | None) -> None:
    found = plays(
        revisions(plan(MORNING, fill=fill)), POOLS, utc(2026, 6, 1, 12), utc(2026, 6, 1, 13)
    )
    assert_contiguous(found)
    assert all(p.playlist_id == playlist for p in found)
    assert all(p.entry_id is None or fill.mode == "loop" for p in found)
    assert all("gap filled" in p.reason for p in found if p.entry_id is None)


def test_loop_fill_continues_the_track_in_progress_seamlessly() -> None:
    found = plays(
        revisions(plan(MORNING, fill=Fill("loop"))),
        POOLS,
        utc(2026, 6, 1, 8, 55),
        utc(2026, 6, 1, 9, 5),
    )
    at_nine = next(p for p in found if p.start < utc(2026, 6, 1, 9) < p.end)
    # One play across the slot's end: no cut, no discontinuity.
    assert at_nine.entry_id == "morning"
    assert media_seconds(at_nine) == (at_nine.end - at_nine.start).total_seconds()


def test_an_entry_with_an_empty_pool_leaves_the_air_to_the_fill() -> None:
    empty = entry("empty", "empty", datetime(2020, 1, 1, 12), 60, priority=9)
    found = plays(revisions(plan(MORNING, empty)), POOLS, utc(2026, 6, 1, 12), utc(2026, 6, 1, 13))
    assert all(p.playlist_id == "fallback" for p in found)


def test_nothing_to_fill_is_silence() -> None:
    silent = plan(MORNING, fill=Fill("loop"))
    found = plan_plays(
        silent, {"music": POOLS["music"]}, utc(2026, 6, 1, 7), utc(2026, 6, 1, 7, 59)
    )
    assert found  # the loop of the previous day's morning show
    lonely = plan(entry("once", "music", datetime(2026, 6, 1, 8), 30, rule=None), fill=Fill("loop"))
    before = plan_plays(lonely, POOLS, utc(2026, 6, 1, 6), utc(2026, 6, 1, 7))
    assert before == []


def test_dst_night_in_london_keeps_the_daily_slot() -> None:
    night = entry("night", "news", datetime(2020, 1, 1, 1, 30), 60)
    revs = revisions(plan(night, zone="Europe/London"))
    spring = plays(revs, POOLS, utc(2026, 3, 29, 0), utc(2026, 3, 29, 3))
    autumn = plays(revs, POOLS, utc(2026, 10, 25, 0), utc(2026, 10, 25, 3))
    assert min(p.start for p in spring if p.entry_id == "night") == utc(2026, 3, 29, 1)
    assert min(p.start for p in autumn if p.entry_id == "night") == utc(2026, 10, 25, 0, 30)
    assert max(p.end for p in autumn if p.entry_id == "night") == utc(2026, 10, 25, 1, 30)


# --- revisions ------------------------------------------------------------------------------


EDIT = utc(2026, 6, 1, 8, 5, 1, 500_000)


def test_an_edit_mid_track_switches_at_the_next_segment_boundary() -> None:
    before = plan(MORNING)
    after = plan(entry("other", "news", datetime(2020, 1, 1, 8), 60))
    old = plays(revisions(before), POOLS, utc(2026, 6, 1, 8), utc(2026, 6, 1, 8, 10))
    new = plays(
        revisions(before, after, at=[EDIT]), POOLS, utc(2026, 6, 1, 8), utc(2026, 6, 1, 8, 10)
    )
    assert_contiguous(new)
    switch = next(p.start for p in new if p.entry_id == "other")
    # What went out before the edit is unchanged.
    assert [p for p in new if p.end <= EDIT] == [p for p in old if p.end <= EDIT]
    cut = next(p for p in new if p.end == switch)
    original = next(p for p in old if p.start == cut.start)
    assert cut.track_id == original.track_id
    assert EDIT <= switch < EDIT + timedelta(seconds=SEGMENT)
    # The switch is one of the old track's segment boundaries.
    assert media_seconds(cut) == (cut.end - cut.start).total_seconds()


def test_an_edit_that_does_not_touch_the_slot_changes_nothing() -> None:
    before = plan(MORNING)
    after = plan(MORNING, entry("later", "news", datetime(2026, 6, 2, 8), 10, rule=None))
    old = plays(revisions(before), POOLS, utc(2026, 6, 1, 8), utc(2026, 6, 1, 9))
    new = plays(revisions(before, after, at=[EDIT]), POOLS, utc(2026, 6, 1, 8), utc(2026, 6, 1, 9))
    assert new == old


def test_two_edits_within_one_segment_the_second_wins() -> None:
    before = plan(MORNING)
    first = plan(entry("first", "news", datetime(2020, 1, 1, 8), 60))
    second = plan(entry("second", "fallback", datetime(2020, 1, 1, 8), 60))
    found = plays(
        revisions(before, first, second, at=[EDIT, EDIT + timedelta(seconds=1)]),
        POOLS,
        utc(2026, 6, 1, 8),
        utc(2026, 6, 1, 8, 10),
    )
    assert_contiguous(found)
    assert "first" not in {p.entry_id for p in found}
    assert "second" in {p.entry_id for p in found}


def test_an_edit_joining_a_track_on_another_grid_keeps_every_segment_on_air() -> None:
    """The case CI met live: one 8.02 s track (4 s, 4 s, 0.02 s) looping under two plans
    whose loops are 0.92 s apart. The edit joins the new plan's play 0.92 s after its
    segment boundary; its segments must keep their own grid (a join moving the whole play
    ended its 0.02 s last segment before it started)."""
    short = {"p": [PoolTrack("t", None, (4.0, 4.0, 0.02))]}
    old = plan(entry("e", "p", datetime(2026, 3, 27, 2, 57), 1, rule=None), fill=Fill("loop", None))
    new = plan(fill=Fill("fallback", "p"))
    edit = utc(2026, 3, 28, 0, 0, 1) + timedelta(microseconds=123)
    found = plays(
        revisions(old, new, at=[edit]),
        short,
        edit - timedelta(seconds=20),
        edit + timedelta(seconds=20),
    )
    edges = segment_edges_us(short["p"][0])
    for play in found:
        boundaries = air_boundaries_us(play, edges)
        assert all(a < b for a, b in pairwise(boundaries)), play
    joined = next(p for p in found if p.start > edit)
    assert joined.first_segment == 1
    assert joined.anchor is not None
    assert joined.anchor < joined.start  # the join's difference falls on its first segment


def test_plays_needs_aware_instants_and_revisions() -> None:
    assert plays([], POOLS, utc(2026, 1, 1), utc(2026, 1, 2)) == []
    with pytest.raises(ValueError, match="aware"):
        plays(revisions(plan(MORNING)), POOLS, datetime(2026, 1, 1), utc(2026, 1, 2))


def _grid(play: Play) -> datetime:
    return play.start if play.anchor is None else play.anchor


def _whole_to_its_end(play: Play, pools: Mapping[str, Sequence[PoolTrack]] = POOLS) -> bool:
    (found,) = {t for pool in pools.values() for t in pool if t.id == play.track_id}
    return play.first_segment + play.segment_count == len(found.segments)


def test_after_an_edit_each_whole_play_runs_on_from_the_one_before_in_media_time() -> None:
    """The decode timeline a player sees (``Play.anchor``, else ``start``) runs on from one
    play to the next unless the first was cut or the second joined mid-track. Edits land at
    every second across a track, so some switch finds the new plan's track in progress
    within half a segment of its end: its next track then starts early, at the switch, and
    keeps its own grid (it once took the switch as its grid, which left a forward gap of
    the difference in the decode timeline at its end)."""
    before = plan(MORNING)
    after = plan(entry("other", "news", datetime(2020, 1, 1, 8, 0, 2), 60))
    early = 0
    for second in range(160):
        edit = utc(2026, 6, 1, 8, 2) + timedelta(seconds=second, microseconds=250_000)
        found = plays(
            revisions(before, after, at=[edit]), POOLS, utc(2026, 6, 1, 8), utc(2026, 6, 1, 8, 12)
        )
        assert_contiguous(found)
        for previous, play in pairwise(found):
            if play.first_segment != 0 or not _whole_to_its_end(previous):
                continue
            media = timedelta(seconds=media_seconds(previous))
            assert _grid(previous) + media == _grid(play), (edit, previous, play)
        early += sum(1 for p in found if p.first_segment == 0 and p.start < _grid(p))
    assert early > 0, "no edit met a track in progress within half a segment of its end"
