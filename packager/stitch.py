"""Several tracks' media playlists joined into one stream (a playlist played as one), pure.

Each part is one track's rendition: its initialization section and its segments, in order.
The stitched playlist lists them one after another with EXT-X-DISCONTINUITY before every
part but the first (timestamps, encoder settings and the init section change there,
RFC 8216 §4.3.2.3) and an EXT-X-MAP at the start of every part, since each track's file has
an init section of its own. Segment URIs are whatever the caller gives (the streamer points
them at the tracks' own segment URLs, so nothing new is stored and a CDN caches each segment
once, whichever stream it was fetched through).

The master playlist of a stitched stream offers the renditions every part has: a variant
missing from one track would leave a hole, and switching variants mid-stream needs them
aligned. ``common_renditions`` picks those names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from packager.media import media_playlist
from packager.types import InitSection, Segment

__all__ = ["Part", "common_renditions", "stitched_playlist", "stitched_segments"]


@dataclass(frozen=True, slots=True)
class Part:
    """One track's rendition in a stitched stream."""

    init: InitSection
    segments: Sequence[Segment]

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a part of a stitched stream needs at least one segment")


def stitched_segments(parts: Sequence[Part]) -> list[Segment]:
    """The segments of ``parts`` in order: each part's first segment starts a discontinuity
    (but the stream's first) and names the part's init section."""
    joined: list[Segment] = []
    for number, part in enumerate(parts):
        first, *rest = part.segments
        joined.append(replace(first, discontinuity=number > 0, init=part.init))
        joined.extend(replace(segment, discontinuity=False, init=None) for segment in rest)
    return joined


def stitched_playlist(parts: Sequence[Part], *, version: int = 7) -> str:
    """The VOD media playlist playing ``parts`` one after another.

    Raises ``ValueError`` for no parts (and whatever ``media_playlist`` rejects).
    """
    if not parts:
        raise ValueError("a stitched playlist needs at least one part")
    return media_playlist(parts[0].init, stitched_segments(parts), version=version)


def common_renditions(renditions: Iterable[Iterable[str]]) -> list[str]:
    """The rendition names every part has, in the first part's order."""
    sets = [list(names) for names in renditions]
    if not sets:
        return []
    shared = set(sets[0]).intersection(*sets[1:])
    return [name for name in sets[0] if name in shared]
