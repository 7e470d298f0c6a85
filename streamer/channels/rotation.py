"""Rotation: the tracks a pool plays from a slot's start, deterministic on every node.

A pool plays in CYCLES: each cycle plays every track of the pool once, so every cycle lasts
the same period P (the pool's total duration) and the track at any offset from the slot's
start is found by arithmetic (cycle = offset // P, then a bisection inside the cycle),
never by replaying what came before.

- ``sequential``: every cycle is the playlist's running order. The repetition rules do not
  reorder a running order (it is the curator's); a play that breaks one says so in its
  reason.
- ``shuffle``: cycle ``c`` is a permutation ranked by SHA-256 of (seed, c, position, track
  id) - not Python's ``random``, whose state is per process - built greedily: each step
  takes the best-ranked remaining track that keeps the rules (no track again within
  ``track_minutes``, no artist again within ``artist_minutes``; tracks without an artist
  never match another), relaxing the artist rule, then the track rule, when no track keeps
  them.
- Across the junction of two cycles: the opening of cycle ``c`` (its first N or M minutes)
  is repaired against the closing tracks of cycle ``c - 1`` by swapping a clashing track
  with one of the cycle's middle (never its closing stretch). The closing stretch of a
  cycle therefore depends on that cycle's own greedy order alone, and cycle ``c`` depends on
  cycles ``c`` and ``c - 1`` only: nothing chains back through the channel's history.

Where the pool cannot keep a rule (too short, one artist), the play goes ahead and its
reason says which rule was relaxed.

With an artist rule, each step takes, among the tracks that keep the rules, one by the
artist with the most tracks left (the greedy that spaces repeats best), the rank breaking
ties. A cycle's order is cached (``functools.lru_cache``); computing it costs O(n) steps
over a pool of n tracks without an artist rule, O(n^2) with one or when rules are relaxed.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from streamer.channels.model import Order, PoolTrack, RepeatRules

__all__ = ["Placed", "Rotation", "segment_edges_us"]

MICROSECONDS = 1_000_000
_MINUTE_US = 60 * MICROSECONDS


@lru_cache(maxsize=65536)
def segment_edges_us(track: PoolTrack) -> tuple[int, ...]:
    """The offsets in whole microseconds of the track's segment boundaries from its start:
    ``len(segments) + 1`` values from 0 to its duration. Rounded from a running float sum,
    as packager.media prints EXTINF, so the timeline and the playlists agree."""
    edges = [0]
    elapsed = 0.0
    for duration in track.segments:
        elapsed += duration
        edges.append(round(elapsed * MICROSECONDS))
    return tuple(edges)


def _hash(*parts: object) -> bytes:
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).digest()


def _artist(track: PoolTrack) -> str:
    # No artist: a key no other track has, so an unknown artist never blocks another.
    return track.artist.casefold() if track.artist else f"\x00{track.id}"


def _same_artist(one: PoolTrack, other: PoolTrack) -> bool:
    """Two plays by one known artist (a track without an artist has only the track rule)."""
    return bool(one.artist) and _artist(one) == _artist(other)


@dataclass(frozen=True, slots=True)
class Placed:
    """A track laid out at ``start_us`` microseconds from the slot's start."""

    track: PoolTrack
    start_us: int
    edges_us: tuple[int, ...]
    reason: str

    @property
    def end_us(self) -> int:
        return self.start_us + self.edges_us[-1]


def _windows(rules: RepeatRules) -> tuple[int, int]:
    return round(rules.track_minutes * _MINUTE_US), round(rules.artist_minutes * _MINUTE_US)


def _broken(
    pool: tuple[PoolTrack, ...],
    order: Sequence[int],
    rules: RepeatRules,
    before: Sequence[tuple[int, int]] = (),
) -> list[set[str]]:
    """Per position of ``order``, the rules it breaks against the tracks before it: earlier
    positions of the cycle and ``before``, the previous cycle's closing tracks as (pool
    index, end offset from this cycle's start, at most 0)."""
    track_us, artist_us = _windows(rules)
    window = max(track_us, artist_us)
    played: list[tuple[int, int]] = list(before)  # (pool index, end offset)
    broken: list[set[str]] = []
    offset = 0
    for index in order:
        track = pool[index]
        rules_broken: set[str] = set()
        for other, ended in reversed(played):
            gap = offset - ended
            if gap >= window:
                break
            if gap < track_us and pool[other].id == track.id:
                rules_broken.add("track")
            if gap < artist_us and _same_artist(pool[other], track):
                rules_broken.add("artist")
        broken.append(rules_broken)
        offset += segment_edges_us(track)[-1]
        played.append((index, offset))
    return broken


@lru_cache(maxsize=1024)
def _base(
    pool: tuple[PoolTrack, ...], seed: str, cycle: int, rules: RepeatRules
) -> tuple[int, ...]:
    """Cycle ``cycle`` on its own: a greedy permutation keeping the rules inside the cycle."""
    track_us, artist_us = _windows(rules)
    remaining = sorted(
        range(len(pool)), key=lambda index: _hash(seed, cycle, index, pool[index].id)
    )
    artists = [_artist(track) for track in pool]
    artist_left = Counter(artists)
    last_track: dict[str, int] = {}
    last_artist: dict[str, int] = {}
    order: list[int] = []
    offset = 0

    def keeps(index: int, level: int) -> bool:
        if level < 2 and track_us and offset - last_track.get(pool[index].id, -track_us) < track_us:
            return False
        return not (
            level < 1
            and artist_us
            and offset - last_artist.get(artists[index], -artist_us) < artist_us
        )

    def pick(level: int) -> int | None:
        if not artist_us:
            return next((index for index in remaining if keeps(index, level)), None)
        # With an artist rule, the artist with most tracks left goes first (the greedy
        # that spaces repeated items best); the rank order breaks ties.
        best: int | None = None
        best_left = 0
        most = max(artist_left.values())
        for index in remaining:
            left = artist_left[artists[index]]
            if left > best_left and keeps(index, level):
                best, best_left = index, left
                if left == most:
                    break
        return best

    while remaining:
        chosen = next(found for level in range(3) if (found := pick(level)) is not None)
        remaining.remove(chosen)
        artist_left[artists[chosen]] -= 1
        offset += segment_edges_us(pool[chosen])[-1]
        last_track[pool[chosen].id] = offset
        last_artist[artists[chosen]] = offset
        order.append(chosen)
    return tuple(order)


def _closing(
    pool: tuple[PoolTrack, ...], order: Sequence[int], rules: RepeatRules
) -> list[tuple[int, int]]:
    """The tracks ending in the last window of a cycle, as (pool index, end offset from the
    NEXT cycle's start, at most 0)."""
    window = max(_windows(rules))
    lengths = [segment_edges_us(pool[index])[-1] for index in order]
    period = sum(lengths)
    closing = []
    end = period
    for index, length in zip(reversed(order), reversed(lengths), strict=True):
        if end <= period - window:
            break
        closing.append((index, end - period))
        end -= length
    closing.reverse()
    return closing


def _local_breaks(
    pool: tuple[PoolTrack, ...],
    order: Sequence[int],
    start_of: Callable[[int], int],
    rules: RepeatRules,
    before: Sequence[tuple[int, int]],
    positions: Iterable[int],
) -> int:
    """How many rules the tracks at ``positions`` break against those before them."""
    track_us, artist_us = _windows(rules)
    window = max(track_us, artist_us)
    count = 0
    for position in positions:
        track = pool[order[position]]
        begins = start_of(position)
        earlier: Iterator[tuple[int, int]] = (
            (order[at], start_of(at + 1)) for at in range(position - 1, -1, -1)
        )
        for other, ended in (*earlier, *reversed(before)):
            gap = begins - ended
            if gap >= window:
                break
            count += gap < track_us and pool[other].id == track.id
            count += gap < artist_us and _same_artist(pool[other], track)
    return count


def _repair_opening(
    pool: tuple[PoolTrack, ...],
    order: list[int],
    rules: RepeatRules,
    before: Sequence[tuple[int, int]],
) -> None:
    """Swap tracks of the cycle's opening that clash with ``before`` with tracks of its
    middle, in place. The closing tracks, which the next cycle is built against, never
    move, so a cycle depends on the previous cycle's own order only, not on history."""
    window = max(_windows(rules))
    lengths = [segment_edges_us(pool[index])[-1] for index in order]
    period = sum(lengths)
    starts = [0]
    for length in lengths:
        starts.append(starts[-1] + length)

    def near(position: int, ordered: Sequence[int], start_of: Callable[[int], int]) -> list[int]:
        # The position and those after it within the window (whose look-back may see it).
        found = []
        at = position
        while at < len(ordered) and start_of(at) < start_of(position) + window + lengths[position]:
            found.append(at)
            at += 1
        return found

    middle = [
        at for at in range(len(order)) if starts[at] >= window and starts[at + 1] <= period - window
    ]
    for position in range(len(order)):
        if starts[position] >= window:
            break
        if not _local_breaks(pool, order, starts.__getitem__, rules, before, [position]):
            continue
        for other in middle:
            delta = lengths[other] - lengths[position]

            def trial_start(at: int, low: int = position, high: int = other, d: int = delta) -> int:
                return starts[at] + d if low < at <= high else starts[at]

            trial = list(order)
            trial[position], trial[other] = trial[other], trial[position]
            touched = sorted(
                set(near(position, order, starts.__getitem__))
                | set(near(other, order, starts.__getitem__))
            )
            now = _local_breaks(pool, order, starts.__getitem__, rules, before, touched)
            then = _local_breaks(pool, trial, trial_start, rules, before, touched)
            if then < now:
                order[:] = trial
                lengths[position], lengths[other] = lengths[other], lengths[position]
                for at in range(position + 1, other + 1):
                    starts[at] += delta
                break


@lru_cache(maxsize=1024)
def _cycle(
    pool: tuple[PoolTrack, ...], seed: str, cycle: int, rules: RepeatRules
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Cycle ``cycle`` as played: its own greedy order, with the opening repaired against
    the previous cycle's closing tracks; and per position what could not be kept."""
    window = max(_windows(rules))
    order = list(_base(pool, seed, cycle, rules))
    before = _closing(pool, _base(pool, seed, cycle - 1, rules), rules) if window else []
    if window:
        _repair_opening(pool, order, rules, before)
    notes = []
    for rules_broken in _broken(pool, order, rules, before):
        what = " and ".join(sorted(rules_broken))
        notes.append(f"the {what} rule was relaxed: the pool is too small" if what else "")
    return tuple(order), tuple(notes)


@lru_cache(maxsize=1024)
def _sequential_notes(pool: tuple[PoolTrack, ...], rules: RepeatRules) -> tuple[str, ...]:
    """Per position of the running order, which rule it breaks (it is kept anyway)."""
    track_us = round(rules.track_minutes * _MINUTE_US)
    artist_us = round(rules.artist_minutes * _MINUTE_US)
    window_us = max(track_us, artist_us)
    lengths = [segment_edges_us(track)[-1] for track in pool]
    notes: list[str] = []
    for index, track in enumerate(pool):
        broken: set[str] = set()
        # Back over the ring (the order repeats every cycle) while within the window; the
        # last step is the track itself one cycle before.
        gap = 0
        for step in range(1, len(pool) + 1):
            if gap >= window_us:
                break
            other = pool[(index - step) % len(pool)]
            if gap < track_us and other.id == track.id:
                broken.add("track")
            if gap < artist_us and _same_artist(other, track):
                broken.add("artist")
            gap += lengths[(index - step) % len(pool)]
        notes.append(
            f"the running order is kept though it breaks the {' and '.join(sorted(broken))} rule"
            if broken
            else ""
        )
    return tuple(notes)


@dataclass(frozen=True, slots=True)
class Rotation:
    """How a pool plays from a slot's start: ``order``, ``seed`` and ``rules``.

    ``label`` starts every reason (such as "entry morning, playlist p1").
    """

    pool: tuple[PoolTrack, ...]
    order: Order
    seed: str
    rules: RepeatRules
    label: str

    @property
    def period_us(self) -> int:
        """The duration of one cycle in microseconds."""
        return sum(segment_edges_us(track)[-1] for track in self.pool)

    def cycle(self, number: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """Pool indices of cycle ``number`` in play order, and per position the rule that
        was relaxed or broken ("" when none)."""
        if self.order == "sequential":
            return tuple(range(len(self.pool))), _sequential_notes(self.pool, self.rules)
        return _cycle(self.pool, self.seed, number, self.rules)

    def placed_from(self, offset_us: int) -> Iterator[Placed]:
        """The tracks from the one playing at ``offset_us`` (>= 0) from the slot's start,
        onwards without end. Needs a non-empty pool."""
        if not self.pool:
            raise ValueError("an empty pool plays nothing")
        if offset_us < 0:
            raise ValueError("a rotation starts at its slot's start")
        period = self.period_us
        number, _ = divmod(offset_us, period)
        first = True
        while True:
            indices, notes = self.cycle(number)
            base = number * period
            starts: list[int] = []
            elapsed = 0
            for index in indices:
                starts.append(elapsed)
                elapsed += segment_edges_us(self.pool[index])[-1]
            position = bisect_right(starts, offset_us - base) - 1 if first else 0
            first = False
            for at in range(position, len(indices)):
                track = self.pool[indices[at]]
                how = (
                    f"in order, track {indices[at] + 1} of {len(self.pool)}"
                    if self.order == "sequential"
                    else f"shuffled, cycle {number + 1}, track {at + 1} of {len(self.pool)}"
                )
                reason = f"{self.label}: {how}"
                if notes[at]:
                    reason += f" ({notes[at]})"
                yield Placed(track, base + starts[at], segment_edges_us(track), reason)
            number += 1
