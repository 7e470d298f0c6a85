"""The HLS playlists of one track's renditions, from their segment indexes (pure).

URLs (DESIGN.md, "Public surface"), all relative so that a CDN or a path prefix in front
of the origin keeps working::

    /hls/{track}/master.m3u8               variants: "{rendition}/index.m3u8?v={token}"
    /hls/{track}/{rendition}/index.m3u8    EXT-X-MAP "init.mp4?v={token}",
                                           segments "seg_{n}.m4s?v={token}"
    /hls/{track}/{rendition}/index_br.m3u8 byte ranges of
                                           "../../../media/{track}/{rendition}.m4a?v={token}"

``token`` names the rendition file's version (:func:`version_token`). Everything a master
playlist points at is then named by its content, so CDNs may keep it for a year
(``immutable``): a re-transcode changes the token, hence every URL, and only the master
playlist, short-lived, has to be fetched again.

Priming and EXTINF. Stored AAC renditions carry an edit list that hides the encoder's
priming samples (streamer.renditions.outputs), so players present fragment 0 from media
time ``priming`` on. Each EXTINF is therefore what the player presents: the fragment's exact
duration from its sample counts, minus the priming for the first one. The EXTINF values add
up to the content's duration (the source's), and a segment's playlist time is where its
samples are presented.

The start variant (listed first, where clients begin) is the middle AAC rendition by
bitrate: good enough to sound right at once, small enough to start fast on a weak link
(Apple's HLS authoring guidance); the other variants follow by ascending bandwidth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from packager import ByteRange, InitSection, Segment, Variant, master_playlist, media_playlist
from transcoder.fmp4 import SegmentIndex

__all__ = [
    "VariantInfo",
    "byterange_playlist",
    "master_for",
    "presented_durations",
    "segment_playlist",
    "version_token",
]


@dataclass(frozen=True, slots=True)
class VariantInfo:
    """What the master playlist says of one rendition."""

    name: str
    token: str  # version_token of the rendition file
    codec: str  # aac | flac | opus
    codecs: str  # RFC 6381
    bitrate: int | None  # the ladder's target
    peak_bitrate: int
    average_bitrate: int


def version_token(version: str) -> str:
    """A short, URL-safe name of a rendition file's version, for ``?v=``."""
    return hashlib.sha256(version.encode()).hexdigest()[:16]


def presented_durations(index: SegmentIndex) -> list[float]:
    """Each fragment's presented duration in seconds: the first loses the priming."""
    durations = [fragment.duration for fragment in index.fragments]
    # A track shorter than its priming would present nothing; keep one sample so the
    # playlist stays valid (such a track is silence anyway).
    durations[0] = max(durations[0] - index.priming, 1)
    return [duration / index.timescale for duration in durations]


def segment_playlist(index: SegmentIndex, token: str) -> str:
    """The media playlist of ``init.mp4`` and ``seg_{n}.m4s`` resources at ``token``."""
    segments = [
        Segment(duration, f"seg_{n}.m4s?v={token}")
        for n, duration in enumerate(presented_durations(index))
    ]
    return media_playlist(InitSection(f"init.mp4?v={token}"), segments)


def byterange_playlist(index: SegmentIndex, uri: str) -> str:
    """The media playlist of byte ranges of the whole rendition file at ``uri``."""
    segments = [
        Segment(duration, uri, byterange=ByteRange(fragment.size, fragment.offset))
        for fragment, duration in zip(index.fragments, presented_durations(index), strict=True)
    ]
    return media_playlist(InitSection(uri, ByteRange(index.init_size, 0)), segments)


def master_for(variants: Sequence[VariantInfo]) -> str:
    """The master playlist, the start variant first (see the module docstring)."""
    ordered = sorted(variants, key=lambda v: (v.peak_bitrate, v.name))
    aac = [v for v in ordered if v.codec == "aac"]
    if aac:
        start = aac[(len(aac) - 1) // 2]  # of an even count, the lower middle
        ordered.remove(start)
        ordered.insert(0, start)
    return master_playlist(
        [
            Variant(
                uri=f"{v.name}/index.m3u8?v={v.token}",
                bandwidth=v.peak_bitrate,
                average_bandwidth=min(v.average_bitrate, v.peak_bitrate) or None,
                codecs=v.codecs,
                name=v.name,
            )
            for v in ordered
        ]
    )
