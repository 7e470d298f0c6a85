"""HLS playlists from segment indexes: pure functions, no I/O.

``media_playlist`` writes a rendition's media playlist (fMP4 segments, EXT-X-MAP, optional
byte ranges and discontinuities); ``master_playlist`` lists the renditions as variants;
``stitched_playlist`` joins several tracks' segments into one stream.
Invalid input raises ``ValueError``.
"""

from __future__ import annotations

from packager.master import master_playlist
from packager.media import media_playlist
from packager.stitch import Part, common_renditions, stitched_playlist, stitched_segments
from packager.types import ByteRange, InitSection, Segment, Variant

__all__ = [
    "ByteRange",
    "InitSection",
    "Part",
    "Segment",
    "Variant",
    "common_renditions",
    "master_playlist",
    "media_playlist",
    "stitched_playlist",
    "stitched_segments",
]
