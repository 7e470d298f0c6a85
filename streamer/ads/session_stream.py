"""The HLS playlists of one ad session: the programme's segments with each break's ads
between them (pure, from the session's plan and the tracks' renditions).

    /hls/ads/{track}/master.m3u8                           starts a session (its variants)
    /hls/ads/{track}/s/{session}/{rendition}/index.m3u8    the session's media playlist
    /hls/ads/{track}/{rendition}/seg/{t}/{n}.m4s?v=&t=     a segment of t, retimed

Only playlists are per session. Segments are the tracks' own fragments at the decode time
they have in the stream (streamer.routes.retimed_segments), so decode time runs on across
ads and programme; their URLs name no session, so a CDN caches the programme's segments
once for every session whose ads last as long (the decode time after an ad depends on how
long the ads before it were), and each ad's once for every session it opens. Init sections
are the tracks' own URLs.

Every ad starts a discontinuity (new init section) and the programme after it another; an
``EXT-X-DATERANGE`` (CLASS ``com.streamer.ad``) marks each ad on the session's clock,
which ``EXT-X-PROGRAM-DATE-TIME`` starts at the session's start. Variants: the renditions
the programme and every ad of the session have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction

from packager import (
    InitSection,
    Part,
    Segment,
    common_renditions,
    daterange_tag,
    program_date_time_tag,
    stitched_playlist,
)
from streamer.renditions.catalog import TrackRenditions
from streamer.renditions.playlists import presented_durations

__all__ = ["AD_CLASS", "SessionAd", "SessionBreak", "session_playlist", "session_renditions"]

AD_CLASS = "com.streamer.ad"


@dataclass(frozen=True, slots=True)
class SessionAd:
    campaign: str
    creative: str
    version: int
    track: str


@dataclass(frozen=True, slots=True)
class SessionBreak:
    boundary: int  # the programme segment the ads go before
    ads: tuple[SessionAd, ...]


def session_renditions(
    programme: TrackRenditions, breaks: Sequence[SessionBreak], ads: Mapping[str, TrackRenditions]
) -> list[str]:
    """The rendition names the programme and every ad of the session have, of those cut
    like the programme's first (the breaks' boundaries are its segment numbers)."""
    tracks = [programme, *(ads[ad.track] for b in breaks for ad in b.ads if ad.track in ads)]
    names = common_renditions([list(t.renditions) for t in tracks])
    if not names:
        return []
    reference = len(programme.renditions[names[0]].index.fragments)
    return [n for n in names if len(programme.renditions[n].index.fragments) == reference]


def session_playlist(
    name: str,
    programme: TrackRenditions,
    breaks: Sequence[SessionBreak],
    ads: Mapping[str, TrackRenditions],
    started: datetime,
) -> str:
    """The media playlist of rendition ``name`` of the session (see the module docstring).
    An ad whose track has no such rendition (or no renditions any more) is left out."""
    entry = programme.renditions[name]
    count = len(entry.index.fragments)
    parts: list[Part] = []
    elapsed = Fraction(0)  # media seconds before the part (decode time)
    presented = 0.0  # presented seconds before the part (the session's clock)
    cursor = 0
    ad_number = 0
    for brk in sorted(breaks, key=lambda b: b.boundary):
        boundary = min(brk.boundary, count)
        if boundary > cursor:
            part, media, shown = _chunk(programme, name, cursor, boundary, elapsed)
            parts.append(part)
            elapsed, presented, cursor = elapsed + media, presented + shown, boundary
        for ad in brk.ads:
            track = ads.get(ad.track)
            if track is None or name not in track.renditions:
                continue
            part, media, shown = _chunk(
                track, name, 0, len(track.renditions[name].index.fragments), elapsed
            )
            mark = daterange_tag(
                f"ad-{ad_number}",
                started + timedelta(seconds=presented),
                shown,
                kind=AD_CLASS,
                attributes={
                    "X-CAMPAIGN": ad.campaign,
                    "X-CREATIVE": ad.creative,
                    "X-CREATIVE-VERSION": str(ad.version),
                },
            )
            first, *rest = part.segments
            parts.append(Part(part.init, [replace(first, marks=(*first.marks, mark)), *rest]))
            ad_number += 1
            elapsed, presented = elapsed + media, presented + shown
    if cursor < count:
        part, _, _ = _chunk(programme, name, cursor, count, elapsed)
        parts.append(part)
    first_part = parts[0]
    head, *tail = first_part.segments
    # EXT-X-PROGRAM-DATE-TIME first: the date ranges are on its clock.
    dated = replace(head, marks=(program_date_time_tag(started), *head.marks))
    parts[0] = Part(first_part.init, [dated, *tail])
    return stitched_playlist(parts)


def _chunk(
    track: TrackRenditions, name: str, first: int, end: int, elapsed: Fraction
) -> tuple[Part, Fraction, float]:
    """Segments ``first .. end - 1`` of the track's rendition ``name`` as a part starting at
    ``elapsed`` media seconds, with its media and presented seconds."""
    entry = track.renditions[name]
    index = entry.index
    fragments = index.fragments
    start = round(elapsed * index.timescale)
    # From /hls/ads/{track}/s/{session}/{rendition}/: up three is /hls/ads/{track}/, up
    # five is /hls/.
    init = InitSection(f"../../../../../{track.track_id}/{name}/init.mp4?v={entry.token}")
    durations = presented_durations(index)
    segments = [
        Segment(
            durations[n],
            f"../../../{name}/seg/{track.track_id}/{n}.m4s?v={entry.token}"
            f"&t={start + fragments[n].start - fragments[first].start}",
        )
        for n in range(first, end)
    ]
    media = Fraction(sum(f.duration for f in fragments[first:end]), index.timescale)
    return Part(init, segments), media, sum(durations[first:end])
