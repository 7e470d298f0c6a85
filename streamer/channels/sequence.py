"""Segments on air and their sequence numbers, counted forward from a checkpoint.

A live media playlist numbers its segments (EXT-X-MEDIA-SEQUENCE) and its discontinuities
(EXT-X-DISCONTINUITY-SEQUENCE) from the start of the stream, and every node must give the
same numbers at every request. Counting from the channel's first segment would grow with its
age, so counting starts from a ``Checkpoint``: at a segment boundary ``at`` of the timeline,
the segment starting there has media sequence ``media_sequence`` and
``discontinuity_sequence`` discontinuities before it. From there the numbers follow from
the plays alone: each play adds ``segment_count`` segments and one discontinuity (its first
segment carries EXT-X-DISCONTINUITY: a new track, or the same track from another point).

How the service uses it (chserve), so that the numbers agree across nodes and requests:

1. When a channel is created, store ``origin(revisions, pools, created_at)``: the first
   segment boundary at or after the creation instant, numbered 0 and 0.
2. Store further checkpoints with ``advance(checkpoint, revisions, pools, target)`` for a
   ``target`` in the PAST (at least the live window behind now), e.g. once an hour or a
   day. Every node computes the same value from the same rows, so concurrent writers
   insert the same row (insert-or-ignore on (channel, at)).
3. For a request at ``now``, take the latest checkpoint at or before ``now`` minus the
   window, and call ``on_air(checkpoint, revisions, pools, now, window)``. The cost is the
   plays since the checkpoint (one step per play, one per segment only inside the window),
   so it is bounded by the checkpoint interval, not the channel's age.

The numbers stay valid because what went out never changes: an edit's ``effective_from``
must be the instant it is made (never earlier), and it switches at a later segment boundary,
so plays before ``now`` are the same under every later revision. A silent gap (nothing to
play) has no segments: the sequence simply continues after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from streamer.channels.model import Checkpoint, PlanRevision, Play, PoolTrack, check_utc
from streamer.channels.rotation import segment_edges_us
from streamer.channels.timeline import air_boundaries_us, plays, to_datetime, to_us

__all__ = ["AirSegment", "advance", "air_segments", "on_air", "origin", "segment_offsets"]

# How far past its target a checkpoint looks for the next segment boundary: a short look
# first (the boundary is usually seconds away), then longer than any track, so only a silent
# stretch finds none (then keep the older checkpoint: silence has no segments to count).
_SLACKS = (timedelta(minutes=15), timedelta(hours=6))


@dataclass(frozen=True, slots=True)
class AirSegment:
    """Segment ``index`` of ``track_id`` on air over ``[start, end)``.

    ``duration`` is its media duration (seconds), ``offset`` the running sum of the
    durations of the track's segments before it (for ``packager.live.LiveSegment``);
    ``discontinuity`` is true on the first segment of each play. ``media_sequence`` and
    ``discontinuity_sequence`` number it (the latter counts the discontinuities BEFORE it).
    """

    track_id: str
    index: int
    start: datetime
    end: datetime
    duration: float
    offset: float
    discontinuity: bool
    media_sequence: int
    discontinuity_sequence: int
    play: Play


@lru_cache(maxsize=65536)
def segment_offsets(track: PoolTrack) -> tuple[float, ...]:
    """The running float sums of the track's segment durations (0, d0, d0+d1, ...), added
    in the order packager.lines adds them."""
    offsets = [0.0]
    for duration in track.segments:
        offsets.append(offsets[-1] + duration)
    return tuple(offsets)


def _tracks(pools: Mapping[str, Sequence[PoolTrack]]) -> dict[str, PoolTrack]:
    return {track.id: track for pool in pools.values() for track in pool}


def _segments(
    found: Sequence[Play],
    tracks: Mapping[str, PoolTrack],
    checkpoint: Checkpoint,
    low: int,
) -> Iterator[AirSegment]:
    """The segments from the checkpoint on, numbered, skipping by whole plays to ``low``
    (the first segment ending after ``low`` and all later ones are produced)."""
    at = to_us(checkpoint.at)
    media = checkpoint.media_sequence
    discontinuities = checkpoint.discontinuity_sequence
    for play in found:
        if to_us(play.end) <= at:
            continue
        track = tracks[play.track_id]
        boundaries = air_boundaries_us(play, segment_edges_us(track))
        skip = 0
        if to_us(play.start) < at:
            # The checkpoint lies inside this play, on one of its boundaries.
            skip = boundaries.index(at) if at in boundaries else _raise_not_boundary(checkpoint)
        if boundaries[-1] <= low:
            # Whole play before the window: count it without listing its segments.
            media += play.segment_count - skip
            if skip == 0:
                discontinuities += 1
            continue
        offsets = segment_offsets(track)
        for position in range(skip, play.segment_count):
            index = play.first_segment + position
            first = position == 0
            if boundaries[position + 1] > low:
                yield AirSegment(
                    track_id=play.track_id,
                    index=index,
                    start=to_datetime(boundaries[position]),
                    end=to_datetime(boundaries[position + 1]),
                    duration=track.segments[index],
                    offset=offsets[index],
                    discontinuity=first,
                    media_sequence=media,
                    discontinuity_sequence=discontinuities,
                    play=play,
                )
            media += 1
            if first:
                discontinuities += 1


def _raise_not_boundary(checkpoint: Checkpoint) -> int:
    raise ValueError(f"checkpoint {checkpoint.at.isoformat()} is not a segment boundary")


def air_segments(
    checkpoint: Checkpoint,
    revisions: Sequence[PlanRevision],
    pools: Mapping[str, Sequence[PoolTrack]],
    start: datetime,
    end: datetime,
) -> list[AirSegment]:
    """The numbered segments on air over ``[start, end)`` (``start`` at or after the
    checkpoint), whole: the first may start before ``start``."""
    check_utc(start, "start")
    check_utc(end, "end")
    if start < checkpoint.at:
        raise ValueError("segments are numbered from a checkpoint before them")
    found = plays(revisions, pools, checkpoint.at, end)
    tracks = _tracks(pools)
    result = []
    for segment in _segments(found, tracks, checkpoint, to_us(start)):
        if segment.start >= end:
            break
        result.append(segment)
    return result


def on_air(
    checkpoint: Checkpoint,
    revisions: Sequence[PlanRevision],
    pools: Mapping[str, Sequence[PoolTrack]],
    now: datetime,
    seconds: float,
) -> list[AirSegment]:
    """The live window at ``now``: the segments that have fully gone out (air ``end`` at or
    before ``now``), the last ones lasting at least ``seconds`` (fewer if the stream is
    younger than that). The checkpoint must be at least ``seconds`` (plus a segment)
    before ``now``."""
    check_utc(now, "now")
    found = [
        segment
        for segment in air_segments(
            checkpoint,
            revisions,
            pools,
            max(checkpoint.at, to_datetime(to_us(now) - round(seconds * 2_000_000))),
            now,
        )
        if segment.end <= now
    ]
    chosen: list[AirSegment] = []
    total = 0
    for segment in reversed(found):
        if total >= seconds * 1_000_000:
            break
        chosen.append(segment)
        total += to_us(segment.end) - to_us(segment.start)
    chosen.reverse()
    return chosen


def advance(
    checkpoint: Checkpoint,
    revisions: Sequence[PlanRevision],
    pools: Mapping[str, Sequence[PoolTrack]],
    target: datetime,
) -> Checkpoint:
    """The checkpoint at the first segment boundary at or after ``target`` (numbered from
    ``checkpoint``). ``ValueError`` if nothing is on air then (a silent stretch): keep
    the older checkpoint."""
    check_utc(target, "target")
    if target < checkpoint.at:
        raise ValueError("a checkpoint advances forwards")
    tracks = _tracks(pools)
    for slack in _SLACKS:
        found = plays(revisions, pools, checkpoint.at, target + slack)
        for segment in _segments(found, tracks, checkpoint, to_us(target)):
            if segment.start >= target:
                return Checkpoint(
                    segment.start, segment.media_sequence, segment.discontinuity_sequence
                )
    raise ValueError("nothing is on air after the target: cannot place a checkpoint")


def origin(
    revisions: Sequence[PlanRevision],
    pools: Mapping[str, Sequence[PoolTrack]],
    at: datetime,
) -> Checkpoint:
    """The first checkpoint of a channel: the first segment boundary at or after ``at``,
    numbered 0 and 0."""
    check_utc(at, "at")
    tracks = _tracks(pools)
    for slack in _SLACKS:
        for play in plays(revisions, pools, at, at + slack):
            edges = segment_edges_us(tracks[play.track_id])
            for boundary in air_boundaries_us(play, edges):
                if boundary >= to_us(at):
                    return Checkpoint(to_datetime(boundary), 0, 0)
    raise ValueError("nothing is on air after that instant: cannot place a checkpoint")
