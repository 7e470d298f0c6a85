"""Lines shared by the media playlists (VOD/stitched in ``packager.media``, live in
``packager.live``): EXTINF durations, EXT-X-TARGETDURATION and EXT-X-MAP.

EXTINF durations are written in microseconds with error diffusion: each printed duration is
the difference between the rounded end times of the segment and of the one before, measured
from the start of the playlist (VOD, stitched) or of the segment's track (live), so
the printed durations add up to the rounded total (within 0.5 µs however many segments
there are) and a player's idea of where each segment starts matches the media. Rounding
each duration on its own would drift by up to 0.5 µs a segment (0.9 ms over a 3-hour track
of 6-second segments, more with shorter ones). A live window prints for each segment the
same value as the track's own playlist, whatever the window's first segment is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from packager.types import InitSection

MICROSECONDS = 1_000_000


def edge_us(elapsed: float) -> int:
    """A boundary ``elapsed`` seconds from the track's start, in whole microseconds."""
    return round(elapsed * MICROSECONDS)


def printed_duration_us(offset: float, duration: float) -> int:
    """The EXTINF (µs) of a segment ``offset`` seconds from its track's start.

    ``offset`` must be the running float sum of the durations before it (as
    ``printed_durations_us`` adds them), so that both give the same value."""
    return edge_us(offset + duration) - edge_us(offset)


def printed_durations_us(durations: Iterable[float]) -> list[int]:
    """Each segment's duration in whole microseconds, diffusing the rounding error."""
    printed: list[int] = []
    elapsed = 0.0
    for duration in durations:
        # The running float sum drifts by about 1e-12 s a segment: far below a microsecond.
        printed.append(printed_duration_us(elapsed, duration))
        elapsed += duration
    return printed


def target_duration(durations_us: Sequence[int]) -> int:
    """EXT-X-TARGETDURATION: the largest printed EXTINF rounded to the nearest integer."""
    # Nearest integer with halves rounded up (6.5 -> 7), as a client checking §4.3.3.1
    # would; Python's round() would take 6.5 to 6. Computed on the printed values, since
    # those are what clients check. Never 0, even for a playlist of one short segment.
    longest_us = max(durations_us)
    return max(1, (longest_us + MICROSECONDS // 2) // MICROSECONDS)


def format_duration(duration_us: int) -> str:
    """Microseconds as a decimal-floating-point, trailing zeros trimmed to 3 decimals."""
    seconds, fraction = divmod(duration_us, MICROSECONDS)
    digits = f"{fraction:06d}".rstrip("0").ljust(3, "0")
    return f"{seconds}.{digits}"


def map_tag(init: InitSection) -> str:
    """The EXT-X-MAP line of ``init``."""
    tag = f'#EXT-X-MAP:URI="{init.uri}"'
    if init.byterange is not None:
        tag += f',BYTERANGE="{init.byterange}"'
    return tag
