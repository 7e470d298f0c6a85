"""The live media playlist of a channel's window: numbered segments to playlist text.

``live_text`` turns ``sequence.on_air``'s segments into ``packager.live`` values: each track
change is a discontinuity with the new track's init section, EXT-X-DISCONTINUITY-SEQUENCE is
the number of discontinuities before the window's first segment, and the URIs come from the
caller (the routes know the URL layout and signing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from packager import InitSection, LiveSegment, Segment, live_playlist
from streamer.channels.sequence import AirSegment

__all__ = ["live_segments", "live_text"]


def live_segments(
    window: Sequence[AirSegment],
    init_uri: Callable[[str], str],
    segment_uri: Callable[[str, int], str],
) -> list[LiveSegment]:
    """The packager's values for ``window``: ``init_uri(track_id)`` names a track's init
    section, ``segment_uri(track_id, index)`` one of its segments."""
    result: list[LiveSegment] = []
    for position, item in enumerate(window):
        starts_track = position == 0 or item.discontinuity
        result.append(
            LiveSegment(
                Segment(
                    item.duration,
                    segment_uri(item.track_id, item.index),
                    discontinuity=item.discontinuity,
                    init=InitSection(init_uri(item.track_id)) if starts_track else None,
                ),
                sequence=item.media_sequence,
                start=item.start,
                end=item.end,
                offset=item.offset,
            )
        )
    return result


def live_text(
    window: Sequence[AirSegment],
    *,
    init_uri: Callable[[str], str],
    segment_uri: Callable[[str, int], str],
    target_duration_s: int,
) -> str:
    """The live media playlist of ``window`` (not empty; ``ValueError`` otherwise)."""
    if not window:
        raise ValueError("nothing has gone out yet: a live playlist needs a segment")
    return live_playlist(
        live_segments(window, init_uri, segment_uri),
        discontinuity_sequence=window[0].discontinuity_sequence,
        target_duration_s=target_duration_s,
    )
