"""Live media playlists (RFC 8216 §6.2.1-2): a sliding window over a channel's segments.

The channel's timeline (streamer.channels) decides which segments are on air and numbers
them; this module only writes the window it is given, so two nodes given the same values
write the same bytes. A live playlist has no EXT-X-PLAYLIST-TYPE and no EXT-X-ENDLIST
(it is neither VOD nor EVENT: segments leave the window).

What it writes, in order:

- EXT-X-TARGETDURATION: the value the caller passes (RFC 8216 §6.2.1: it MUST NOT change
  between reloads, so it is the channel's, not the window's), raised for this window if a
  printed EXTINF would exceed it (a wrong input that must not make an invalid playlist);
- EXT-X-MEDIA-SEQUENCE: the first segment's sequence number (the numbers must follow
  each other, a segment keeps its number as the window slides);
- EXT-X-DISCONTINUITY-SEQUENCE: the number of discontinuities before the first segment
  (those that left the window);
- EXT-X-INDEPENDENT-SEGMENTS (every fMP4 audio fragment starts with a sync sample);
- per segment: EXT-X-DISCONTINUITY where a new track starts (``Segment.discontinuity``),
  EXT-X-MAP for the first segment and after each discontinuity or init change,
  EXT-X-PROGRAM-DATE-TIME (UTC, milliseconds) on the first segment and at each
  discontinuity, with the segment's ``level`` there as an EXT-X-DATERANGE (below), then
  EXTINF, an optional EXT-X-BYTERANGE and the URI.

Levels (loudness-matched playout): HLS has no gain tag, but an EXT-X-DATERANGE may carry
client attributes (RFC 8216bis §4.4.5.1). A ``Level`` is written as
``#EXT-X-DATERANGE:ID="level-{ms}",CLASS="org.streamer.level",START-DATE="{since}",
X-GAIN-DB="{gain}"``: from ``since`` (the air start of the track's play, so the same range
has the same ID and START-DATE in every window) the player applies ``gain`` dB. The value
is a quoted string: attribute decimals cannot be negative.

EXTINF values come from ``packager.lines`` measured from the start of each segment's
track (``LiveSegment.offset``), so a segment prints the same EXTINF in every window and in
its track's own playlist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from packager.lines import format_duration, map_tag, printed_duration_us, target_duration
from packager.media import MIN_MEDIA_VERSION
from packager.types import Segment

__all__ = ["Level", "LiveSegment", "live_playlist", "live_window", "program_date_time"]


@dataclass(frozen=True, slots=True)
class Level:
    """A gain in dB for the player to apply from ``since`` (aware) on (module docstring)."""

    gain_db: float
    since: datetime

    def __post_init__(self) -> None:
        if not math.isfinite(self.gain_db):
            raise ValueError(f"a gain is finite, not {self.gain_db!r}")
        if self.since.tzinfo is None:
            raise ValueError("a level's start must be aware (UTC)")

    def tag(self) -> str:
        """Its EXT-X-DATERANGE line."""
        millis = int(self.since.timestamp() * 1000)
        return (
            f'#EXT-X-DATERANGE:ID="level-{millis}",CLASS="org.streamer.level",'
            f'START-DATE="{program_date_time(self.since)}",X-GAIN-DB="{self.gain_db:+.2f}"'
        )


@dataclass(frozen=True, slots=True)
class LiveSegment:
    """A segment of a live stream.

    ``sequence`` is its media sequence number; ``start`` (aware) the instant it goes on air;
    ``end`` when the next one does (its air end, used to find the live edge); ``offset`` the
    seconds of its track before it (the running sum of the earlier segments' durations).
    ``segment.init`` must be set on a segment with ``discontinuity`` (the new track's
    initialization section) and on the first segment of a window.
    """

    segment: Segment
    sequence: int
    start: datetime
    end: datetime
    offset: float = 0.0
    level: Level | None = None  # the gain of its track's play (module docstring)

    def __post_init__(self) -> None:
        if isinstance(self.sequence, bool) or self.sequence < 0:
            raise ValueError(f"media sequence numbers are not negative: {self.sequence!r}")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("live segment instants must be aware (UTC)")
        if self.end < self.start:
            raise ValueError("a live segment cannot end before it starts")
        if not math.isfinite(self.offset) or self.offset < 0:
            raise ValueError(f"offset must be finite and not negative: {self.offset!r}")


def program_date_time(instant: datetime) -> str:
    """``instant`` as EXT-X-PROGRAM-DATE-TIME writes it: UTC, milliseconds (truncated, so
    the same instant is always the same text), ``Z``."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def live_window(
    segments: Sequence[LiveSegment], now: datetime, seconds: float
) -> list[LiveSegment]:
    """The segments of a live window at ``now``: those on air up to the live edge (the last
    segment whose air ``end`` is at or before ``now``: a player joins at a segment that has
    fully gone out, as from a live encoder), going back until they last ``seconds``.

    ``segments`` are in order. An empty list when no segment has ended yet."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a live window lasts a positive time, not {seconds!r}")
    edge = 0
    while edge < len(segments) and segments[edge].end <= now:
        edge += 1
    chosen: list[LiveSegment] = []
    total = timedelta(0)
    wanted = timedelta(seconds=seconds)
    for item in reversed(segments[:edge]):
        if total >= wanted:
            break
        chosen.append(item)
        total += item.end - item.start
    chosen.reverse()
    return chosen


def live_playlist(
    segments: Sequence[LiveSegment],
    *,
    discontinuity_sequence: int,
    target_duration_s: int,
    version: int = 7,
    independent: bool = True,
) -> str:
    """The text of a live media playlist over ``segments`` (a window), lines ending in
    ``\\n``.

    Raises ``ValueError`` for an empty window, sequence numbers that do not follow each
    other, a first segment or discontinuity without ``init``, a version below 6, a negative
    discontinuity sequence or a segment under the microsecond EXTINF is written in.
    """
    if not segments:
        raise ValueError("a live playlist needs at least one segment")
    if version < MIN_MEDIA_VERSION:
        raise ValueError(
            f"EXT-X-MAP needs EXT-X-VERSION {MIN_MEDIA_VERSION} or more, not {version}"
        )
    if discontinuity_sequence < 0:
        raise ValueError("the discontinuity sequence is never negative")
    if target_duration_s < 1:
        raise ValueError("the target duration is a positive integer")
    first = segments[0]
    if first.segment.init is None:
        raise ValueError("the first segment of a live window needs its init section")
    for before, after in pairwise(segments):
        if after.sequence != before.sequence + 1:
            raise ValueError(
                f"media sequence numbers must follow each other: {before.sequence} then "
                f"{after.sequence}"
            )
        if after.segment.discontinuity and after.segment.init is None:
            raise ValueError(f"segment {after.sequence} starts a track without its init")

    durations_us = [printed_duration_us(item.offset, item.segment.duration) for item in segments]
    for item, duration_us in zip(segments, durations_us, strict=True):
        if duration_us <= 0:
            raise ValueError(f"segment {item.sequence} is under a microsecond long")

    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{max(target_duration_s, target_duration(durations_us))}",
        f"#EXT-X-MEDIA-SEQUENCE:{first.sequence}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}",
    ]
    if independent:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    current_init = None
    for index, (item, duration_us) in enumerate(zip(segments, durations_us, strict=True)):
        segment = item.segment
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if segment.init is not None and (
            index == 0 or segment.discontinuity or segment.init != current_init
        ):
            current_init = segment.init
            lines.append(map_tag(current_init))
        if index == 0 or segment.discontinuity:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(item.start)}")
            if item.level is not None:
                lines.append(item.level.tag())
        lines.append(f"#EXTINF:{format_duration(duration_us)},")
        if segment.byterange is not None:
            lines.append(f"#EXT-X-BYTERANGE:{segment.byterange}")
        lines.append(segment.uri)
    lines.append("")
    return "\n".join(lines)
