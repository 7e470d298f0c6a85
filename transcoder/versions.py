"""Which ffmpeg releases the transcoder supports, and how they differ: rules on ``ffmpeg -version``.

Pure: :func:`parse_version` reads the first line ``ffmpeg -version`` prints, and the rules
below answer questions about the result. Every difference between ffmpeg releases that the
pipeline or its tests must know about is decided here, in one place, and nowhere else.

The supported range is the one the suite runs with (docs/transcoding.md): Debian 12's 5.1
and imageio-ffmpeg's static 9.0. 5.1 is also the oldest release the filter graph works
with: ``aresample``'s ``ochl`` option (a channel layout by name) arrived with 5.1's channel
layout API (swresample 4.5); older releases were not run. Git snapshots (``N-12345-g…``)
name no release; they are taken to be newer than every release, as they are ahead of the
last one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MINIMUM",
    "TESTED",
    "FfmpegVersion",
    "UnsupportedFfmpeg",
    "check_supported",
    "demuxer_keeps_fragment_durations",
    "hls_stops_after_first_byte_range",
    "parse_version",
]

# The oldest release the pipeline supports (module docstring).
MINIMUM = (5, 1)
# The release lines the suite runs against (scripts/test); others in range are expected to work.
TESTED = ((5, 1), (9, 0))

_FIRST_LINE = re.compile(r"^ffmpeg version (\S+)")
_RELEASE = re.compile(r"^n?(\d+)\.(\d+)(?:\.(\d+))?")
_SNAPSHOT = re.compile(r"^N-\d+")


class UnsupportedFfmpeg(Exception):
    """The ffmpeg found is not one the transcoder supports (or not ffmpeg at all)."""


@dataclass(frozen=True)
class FfmpegVersion:
    """A parsed ``ffmpeg -version``: the release, or a snapshot (``release`` None)."""

    text: str  # as ffmpeg prints it, e.g. "5.1.9-0+deb12u1", "9.0.2-static", "N-118000-g…"
    release: tuple[int, int, int] | None

    def at_least(self, major: int, minor: int = 0) -> bool:
        """True for this release or a newer one; snapshots count as newest."""
        return self.release is None or self.release[:2] >= (major, minor)


def parse_version(output: str) -> FfmpegVersion:
    """The version in ``ffmpeg -version``'s output; raise :class:`UnsupportedFfmpeg` when the
    output is not ffmpeg's or names a version that cannot be read."""
    first = output.lstrip().split("\n", 1)[0].strip()
    match = _FIRST_LINE.match(first)
    if match is None:
        shown = first[:80] or "nothing"
        raise UnsupportedFfmpeg(f"not ffmpeg: '-version' printed {shown!r}")
    text = match.group(1)
    release = _RELEASE.match(text)
    if release is not None:
        major, minor, micro = release.groups()
        return FfmpegVersion(text, (int(major), int(minor), int(micro or 0)))
    if _SNAPSHOT.match(text):
        return FfmpegVersion(text, None)
    raise UnsupportedFfmpeg(f"cannot read the ffmpeg version {text!r}")


def check_supported(version: FfmpegVersion) -> None:
    """Raise :class:`UnsupportedFfmpeg`, saying why, for a release older than :data:`MINIMUM`."""
    if not version.at_least(*MINIMUM):
        need = ".".join(map(str, MINIMUM))
        raise UnsupportedFfmpeg(
            f"ffmpeg {version.text} is too old: the transcoder needs ffmpeg {need} or newer"
            " (Debian 12's ffmpeg or imageio-ffmpeg's static build; docs/transcoding.md)"
        )


# --- known bugs of ffmpeg as a client (the tests decode with the ffmpeg under test) --------


def hls_stops_after_first_byte_range(version: FfmpegVersion) -> bool:
    """ffmpeg 9's HLS demuxer stops after the first byte-range fMP4 segment over HTTP (6 s
    of ``index_br.m3u8``), whether nginx or the streamer serves the same bytes; 5.1 decodes
    all of it from both."""
    return version.at_least(9)


def demuxer_keeps_fragment_durations(version: FfmpegVersion) -> bool:
    """Whether ffmpeg's MP4 demuxer gives each packet of a fragmented file the duration its
    ``trun`` holds. 5.1 does not (no duration for Opus packets, a whole frame for a short
    last AAC frame) though it places packets right; 9.0 does. Releases between are untested
    and taken not to."""
    return version.at_least(9)
