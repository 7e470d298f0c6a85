"""Where a track's or a playlist's ad breaks fall in its stream (pure).

A break is stored as ``{"position": "pre"|"mid"|"post", "at": seconds|None, "seconds":
seconds to fill}``. In the stream, ads go between two of the programme's segments (the
programme is never cut inside a segment, so its segments stay the shared, cached ones):
a pre-roll before the first, a post-roll after the last, a mid-roll at the segment
boundary nearest its ``at`` (a time or a cue point), never at either end. Breaks that
land on one boundary become one, as long as the longest of them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Literal

__all__ = ["BreakSpec", "PlacedBreak", "place_between_items", "place_breaks", "specs_of"]

Position = Literal["pre", "mid", "post", "between"]


@dataclass(frozen=True, slots=True)
class BreakSpec:
    position: Position
    seconds: float
    at: float | None = None  # mid-rolls: seconds into the programme
    every: int = 1  # a playlist's "between" breaks: after every this many items


@dataclass(frozen=True, slots=True)
class PlacedBreak:
    position: Position
    boundary: int  # the programme segment the ads go before (len(segments): after the last)
    offset: float  # programme seconds before the break
    seconds: float


def specs_of(stored: Sequence[Mapping[str, Any]]) -> list[BreakSpec]:
    return [
        BreakSpec(b["position"], float(b["seconds"]), b.get("at"), int(b.get("every") or 1))
        for b in stored
    ]


def place_breaks(specs: Sequence[BreakSpec], durations: Sequence[float]) -> list[PlacedBreak]:
    """The breaks of ``specs`` on a programme of segments lasting ``durations``, in
    stream order (see the module docstring)."""
    count = len(durations)
    if count == 0:
        return []
    edges = [0.0, *accumulate(durations)]
    found: dict[int, PlacedBreak] = {}
    for spec in specs:
        if spec.position == "pre":
            boundary = 0
        elif spec.position == "post":
            boundary = count
        else:
            if count < 2 or spec.at is None:
                continue  # a one-segment programme has no inside boundary
            boundary = min(max(_nearest(edges, spec.at), 1), count - 1)
        position: Position = spec.position
        earlier = found.get(boundary)
        seconds = max(spec.seconds, earlier.seconds) if earlier is not None else spec.seconds
        if earlier is not None:
            position = earlier.position
        found[boundary] = PlacedBreak(position, boundary, edges[boundary], seconds)
    return [found[b] for b in sorted(found)]


def place_between_items(
    specs: Sequence[BreakSpec], items: Sequence[Sequence[float]]
) -> list[PlacedBreak]:
    """The breaks of a playlist played as one stream, whose items' segments last
    ``items``: a pre-roll before the first item, a post-roll after the last, a "between"
    break after every ``every`` items (never after the last: that is the post-roll's).
    Mid-rolls inside items are not offered for playlists. Boundaries count segments
    across the items."""
    counts = [len(durations) for durations in items]
    if not counts or not all(counts):
        return []
    edges = [0, *accumulate(counts)]
    offsets = [0.0, *accumulate(sum(d) for d in items)]
    found: dict[int, PlacedBreak] = {}

    def add(position: Position, index: int, seconds: float) -> None:
        earlier = found.get(edges[index])
        if earlier is not None:
            position, seconds = earlier.position, max(seconds, earlier.seconds)
        found[edges[index]] = PlacedBreak(position, edges[index], offsets[index], seconds)

    for spec in specs:
        if spec.position == "pre":
            add("pre", 0, spec.seconds)
        elif spec.position == "post":
            add("post", len(counts), spec.seconds)
        elif spec.position == "between":
            for index in range(max(spec.every, 1), len(counts), max(spec.every, 1)):
                add("between", index, spec.seconds)
    return [found[b] for b in sorted(found)]


def _nearest(edges: Sequence[float], at: float) -> int:
    index = bisect_left(edges, at)
    if index == 0:
        return 0
    if index == len(edges):
        return len(edges) - 1
    return index if edges[index] - at < at - edges[index - 1] else index - 1
