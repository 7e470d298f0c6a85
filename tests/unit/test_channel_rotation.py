"""Rotation: seeded shuffles, running orders and the repetition rules."""

from __future__ import annotations

from itertools import islice, pairwise

import pytest

from streamer.channels.model import PoolTrack, RepeatRules
from streamer.channels.rotation import Placed, Rotation, segment_edges_us

MINUTE_US = 60_000_000


def track(name: str, artist: str | None = None, minutes: float = 3) -> PoolTrack:
    return PoolTrack(name, artist, (6.0,) * int(minutes * 10))


def rotation(
    pool: list[PoolTrack], order: str = "shuffle", rules: RepeatRules | None = None, seed: str = "s"
) -> Rotation:
    return Rotation(tuple(pool), order, seed, rules or RepeatRules(), "entry e")  # type: ignore[arg-type]


def first(rot: Rotation, count: int, offset: int = 0) -> list[Placed]:
    return list(islice(rot.placed_from(offset), count))


POOL = [track(f"t{n}", f"artist{n % 5}") for n in range(20)]


def test_segment_edges_are_rounded_running_sums() -> None:
    assert segment_edges_us(PoolTrack("x", None, (0.1, 0.1, 0.1))) == (0, 100_000, 200_000, 300_000)


def test_shuffle_is_deterministic_and_depends_on_the_seed() -> None:
    once = [p.track.id for p in first(rotation(POOL), 40)]
    again = [p.track.id for p in first(rotation(POOL), 40)]
    other = [p.track.id for p in first(rotation(POOL, seed="other"), 40)]
    assert once == again
    assert once != other


def test_each_cycle_plays_every_track_once_and_cycles_differ() -> None:
    ids = [p.track.id for p in first(rotation(POOL), 40)]
    assert sorted(ids[:20]) == sorted(t.id for t in POOL)
    assert sorted(ids[20:]) == sorted(t.id for t in POOL)
    assert ids[:20] != ids[20:]


def test_placed_tracks_are_contiguous() -> None:
    placed = first(rotation(POOL), 45)
    for before, after in pairwise(placed):
        assert after.start_us == before.end_us


def test_position_far_away_is_arithmetic_and_matches_iterating() -> None:
    rot = rotation(POOL)
    period = rot.period_us
    walked = first(rot, 60)
    target = walked[47]
    jumped = first(rot, 1, target.start_us + 1)[0]
    assert (jumped.track.id, jumped.start_us) == (target.track.id, target.start_us)
    # A thousand cycles in: the same arithmetic, no walk.
    far = first(rot, 1, 1000 * period + 5)[0]
    assert far.start_us == 1000 * period


def test_sequential_is_the_running_order_each_cycle() -> None:
    ids = [p.track.id for p in first(rotation(POOL, "sequential"), 25)]
    assert ids == [t.id for t in POOL] + [t.id for t in POOL[:5]]
    assert "in order, track 1 of 20" in first(rotation(POOL, "sequential"), 1)[0].reason


def gaps_between_repeats(placed: list[Placed], key: str) -> list[int]:
    last: dict[str, int] = {}
    gaps = []
    for item in placed:
        name = item.track.id if key == "track" else (item.track.artist or item.track.id)
        if name in last:
            gaps.append(item.start_us - last[name])
        last[name] = item.end_us
    return gaps


# 10 artists x 3 tracks of 3 minutes: 90 minutes a cycle.
ARTISTS = [track(f"t{n}", f"artist{n % 10}") for n in range(30)]
RULES = RepeatRules(track_minutes=20, artist_minutes=9)


@pytest.mark.parametrize("seed", ["a", "b", "e", "f", "h"])
def test_rules_are_kept_where_the_pool_allows_it_across_cycles(seed: str) -> None:
    placed = first(rotation(ARTISTS, rules=RULES, seed=seed), 150)
    assert min(gaps_between_repeats(placed, "artist")) >= 9 * MINUTE_US
    assert min(gaps_between_repeats(placed, "track")) >= 20 * MINUTE_US
    assert all("relaxed" not in p.reason for p in placed)


@pytest.mark.parametrize("seed", ["a", "b", "c", "d", "e", "f", "g", "h"])
def test_every_broken_rule_is_said_in_the_reason(seed: str) -> None:
    placed = first(rotation(ARTISTS, rules=RULES, seed=seed), 150)
    last_track: dict[str, int] = {}
    last_artist: dict[str, int] = {}
    for item in placed:
        artist = item.track.artist or ""
        if item.start_us - last_track.get(item.track.id, -(10**12)) < 20 * MINUTE_US:
            assert "track rule was relaxed" in item.reason or "track and" in item.reason
        if item.start_us - last_artist.get(artist, -(10**12)) < 9 * MINUTE_US:
            assert "artist" in item.reason
            assert "relaxed" in item.reason
        last_track[item.track.id] = last_artist[artist] = item.end_us


def test_artist_rule_relaxed_and_said_when_one_artist() -> None:
    pool = [track(f"t{n}", "solo") for n in range(5)]
    placed = first(rotation(pool, rules=RepeatRules(artist_minutes=10)), 10)
    assert any("artist rule was relaxed" in p.reason for p in placed)


def test_track_rule_cannot_be_met_by_a_short_pool() -> None:
    pool = [track("a"), track("b")]
    placed = first(rotation(pool, rules=RepeatRules(track_minutes=60)), 6)
    assert {p.track.id for p in placed} == {"a", "b"}
    assert any("relaxed" in p.reason or "junction" in p.reason for p in placed)


def test_sequential_order_is_kept_and_the_broken_rule_named() -> None:
    pool = [track("a", "x"), track("b", "x"), track("c", "y")]
    placed = first(rotation(pool, "sequential", RepeatRules(artist_minutes=5)), 3)
    assert [p.track.id for p in placed] == ["a", "b", "c"]
    assert "breaks the artist rule" in placed[1].reason
    assert "breaks" not in placed[2].reason


def test_unknown_artists_never_clash() -> None:
    pool = [track(f"t{n}") for n in range(6)]
    placed = first(rotation(pool, rules=RepeatRules(artist_minutes=60)), 12)
    assert all("artist rule" not in p.reason for p in placed)


def test_empty_pool_and_negative_offset_are_errors() -> None:
    with pytest.raises(ValueError, match="empty pool"):
        first(rotation([]), 1)
    with pytest.raises(ValueError, match="slot's start"):
        first(rotation(POOL), 1, -1)
