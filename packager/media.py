"""Media playlists (RFC 8216 §4.3.3, draft-pantos-hls-rfc8216bis) for fMP4 segments.

The playlist is written by hand rather than through ``m3u8.M3U8.dumps``: the text must be
exact (EXTINF digits, an explicit offset on every byte range, the order of tags), the
library's writer is untyped and chooses number formats itself, and a playlist is a few
lines per segment. The tests parse every playlist back with ``m3u8``.

EXTINF durations are diffused (``packager.lines``): printed durations add up to the rounded
total however many segments there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from packager.lines import format_duration, map_tag, printed_durations_us, target_duration
from packager.types import InitSection, Segment

# EXT-X-MAP in a playlist without EXT-X-I-FRAMES-ONLY needs version 6 (RFC 8216 §7);
# the floating-point EXTINF (3) and EXT-X-BYTERANGE (4) need less.
MIN_MEDIA_VERSION = 6


def media_playlist(
    init: InitSection,
    segments: Sequence[Segment],
    *,
    version: int = 7,
    independent: bool = True,
    playlist_type: Literal["VOD", "EVENT"] | None = "VOD",
    end_list: bool = True,
) -> str:
    """Return the text of a media playlist over ``segments``, lines ending in ``\\n``.

    ``init`` is the initialization section of the first segment (the playlist's first
    EXT-X-MAP); a segment's own ``init`` changes it from there on. The media sequence starts
    at 0. EXT-X-TARGETDURATION is the smallest integer that every printed EXTINF, rounded to
    the nearest integer (halves up), does not exceed (RFC 8216 §4.3.3.1), and at least 1.

    Raises ``ValueError`` for an empty segment list, a version below 6, an unknown playlist
    type, a VOD playlist without EXT-X-ENDLIST (a VOD playlist never changes, so it is
    complete), or a segment too short to print (under a microsecond).
    """
    if not segments:
        raise ValueError("a media playlist needs at least one segment")
    if version < MIN_MEDIA_VERSION:
        raise ValueError(
            f"EXT-X-MAP needs EXT-X-VERSION {MIN_MEDIA_VERSION} or more, not {version}"
        )
    if playlist_type not in ("VOD", "EVENT", None):
        raise ValueError(f"playlist type must be 'VOD', 'EVENT' or None, not {playlist_type!r}")
    if playlist_type == "VOD" and not end_list:
        raise ValueError("a VOD playlist never changes, so it must end with EXT-X-ENDLIST")

    durations_us = printed_durations_us(segment.duration for segment in segments)
    for index, duration_us in enumerate(durations_us):
        if duration_us <= 0:
            raise ValueError(
                f"segment {index} lasts {segments[index].duration!r} s, under the "
                "microsecond that EXTINF is written in"
            )

    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{target_duration(durations_us)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    if playlist_type is not None:
        lines.append(f"#EXT-X-PLAYLIST-TYPE:{playlist_type}")
    if independent:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    lines.append(map_tag(init))

    current_init = init
    for segment, duration_us in zip(segments, durations_us, strict=True):
        # A discontinuity comes first: the new EXT-X-MAP already belongs to the new content.
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        # After a discontinuity the init section is named again even if unchanged (the
        # same track twice in a row): each joined part then reads on its own.
        if segment.init is not None and (segment.init != current_init or segment.discontinuity):
            current_init = segment.init
            lines.append(map_tag(current_init))
        lines.extend(segment.marks)
        lines.append(f"#EXTINF:{format_duration(duration_us)},")
        if segment.byterange is not None:
            lines.append(f"#EXT-X-BYTERANGE:{segment.byterange}")
        lines.append(segment.uri)

    if end_list:
        lines.append("#EXT-X-ENDLIST")
    lines.append("")
    return "\n".join(lines)
