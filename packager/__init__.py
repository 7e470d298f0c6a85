"""HLS playlists from segment indexes: pure functions, no I/O.

``media_playlist`` writes a rendition's media playlist (fMP4 segments, EXT-X-MAP, optional
byte ranges and discontinuities); ``master_playlist`` lists the renditions as variants;
``stitched_playlist`` joins several tracks' segments into one stream; ``live_playlist``
writes a sliding window of a live channel (``live_window`` chooses it).
Invalid input raises ``ValueError``.
"""

from __future__ import annotations

from packager.dateranges import daterange_tag, program_date_time_tag
from packager.live import Level, LiveSegment, live_playlist, live_window, program_date_time
from packager.master import master_playlist
from packager.media import media_playlist
from packager.stitch import Part, common_renditions, stitched_playlist, stitched_segments
from packager.types import ByteRange, InitSection, Segment, Variant

__all__ = [
    "ByteRange",
    "InitSection",
    "Level",
    "LiveSegment",
    "Part",
    "Segment",
    "Variant",
    "common_renditions",
    "daterange_tag",
    "live_playlist",
    "live_window",
    "master_playlist",
    "media_playlist",
    "program_date_time",
    "program_date_time_tag",
    "stitched_playlist",
    "stitched_segments",
]
