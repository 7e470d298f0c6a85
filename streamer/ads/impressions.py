"""Impressions and quartiles from delivery (pure).

An ad placed in a listener's session is an **impression** once its first segment was
delivered to that listener; it reaches quartile k (25, 50, 75, 100 %) once every segment
up to the one holding k/4 of the ad's duration was delivered too. Only deliveries that
analytics would count (``streamer.analytics.counting.event_reason``: a 200 or 206 of
audio, no bot, no preload) are passed here, each a whole segment.

Segment URLs name no session (they are shared), so a delivery is matched to a placement
by the listener (analytics' hash of the day: address and user agent), the ad's track and
time: at or after the session started and within ``WINDOW``. A delivery goes to the
listener's latest session started by then (the one being played) and, within it, to the
earliest placement of that ad still lacking the segment: the same ad in two breaks is two
impressions only once its segments came twice.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["WINDOW", "AdDelivery", "Impression", "Placement", "count_impressions"]

WINDOW = timedelta(hours=6)  # a session's ads are heard within this time of its start


@dataclass(frozen=True, slots=True)
class Placement:
    session: str
    listener: str
    started: datetime
    order: int  # the ad's place in the session (breaks in order, ads in order)
    campaign: str
    creative: str
    track: str
    durations: tuple[float, ...]  # the ad's segments, in seconds


@dataclass(frozen=True, slots=True)
class AdDelivery:
    at: datetime
    listener: str
    track: str
    segment: int


@dataclass(frozen=True, slots=True)
class Impression:
    placement: Placement
    quartiles: int  # 0 to 4: how many of 25, 50, 75 and 100 % were reached


def _quartile_segments(durations: Sequence[float]) -> list[int]:
    """For quartiles 1..4, the last segment that must have been delivered."""
    total = sum(durations)
    ends: list[float] = []
    elapsed = 0.0
    for duration in durations:
        elapsed += duration
        ends.append(elapsed)
    # The segment holding the point k/4 of the ad (an end exactly on it: that segment).
    return [min(bisect_left(ends, total * k / 4 - 1e-9), len(ends) - 1) for k in (1, 2, 3, 4)]


def count_impressions(
    placements: Iterable[Placement], deliveries: Iterable[AdDelivery], window: timedelta = WINDOW
) -> list[Impression]:
    """The impressions of ``placements`` (see the module docstring), in placement order."""
    ordered = sorted(placements, key=lambda p: (p.started, p.session, p.order))
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for number, placement in enumerate(ordered):
        by_key[(placement.listener, placement.track)].append(number)
    got: list[set[int]] = [set() for _ in ordered]
    for delivery in sorted(deliveries, key=lambda d: d.at):
        numbers = by_key.get((delivery.listener, delivery.track), [])
        # The latest session started by then (the one being played), the earliest ad of it
        # that still lacks this segment (and, past the first, has its first segment).
        best: int | None = None
        for number in numbers:
            placement = ordered[number]
            if not placement.started <= delivery.at < placement.started + window:
                continue
            if delivery.segment in got[number] or delivery.segment >= len(placement.durations):
                continue
            if delivery.segment > 0 and 0 not in got[number]:
                continue
            if best is None or placement.started > ordered[best].started:
                best = number
        if best is not None:
            got[best].add(delivery.segment)
    impressions: list[Impression] = []
    for number, placement in enumerate(ordered):
        segments = got[number]
        if 0 not in segments:
            continue
        reached = 0
        for last in _quartile_segments(placement.durations):
            if all(n in segments for n in range(last + 1)):
                reached += 1
            else:
                break
        impressions.append(Impression(placement, reached))
    return impressions
