"""The HLS playlists of one ad session: the programme's segments with each break's ads
between them (pure, from the session's plan and the tracks' renditions).

    /hls/ads/{track}/master.m3u8                           starts a session (its variants)
    /hls/ads/{track}/s/{session}/{rendition}/index.m3u8    the session's media playlist
    /hls/ads/{track}/{rendition}/seg/{t}/{n}.m4s?v=&t=     a segment of t, retimed

and the same under /hls/ads/playlists/{playlist}/ for a playlist played as one stream
(its tracks one after another, a discontinuity before each, as /hls/playlists/ plays it).

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

__all__ = [
    "AD_CLASS",
    "PLAYLIST_TO_HLS",
    "TRACK_TO_HLS",
    "SessionAd",
    "SessionBreak",
    "session_playlist",
    "session_renditions",
]

AD_CLASS = "com.streamer.ad"
# From a session's media playlist (.../s/{session}/{rendition}/) up to /hls/.
TRACK_TO_HLS = "../" * 5  # /hls/ads/{track}/s/{session}/{rendition}/
PLAYLIST_TO_HLS = "../" * 6  # /hls/ads/playlists/{id}/s/{session}/{rendition}/


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
    programme: Sequence[TrackRenditions],
    breaks: Sequence[SessionBreak],
    ads: Mapping[str, TrackRenditions],
) -> list[str]:
    """The rendition names every programme track and every ad of the session have, of
    those cut like the first one's (the breaks' boundaries count its segments)."""
    tracks = [*programme, *(ads[ad.track] for b in breaks for ad in b.ads if ad.track in ads)]
    names = common_renditions([list(t.renditions) for t in tracks])
    if not names:
        return []
    return [
        n
        for n in names
        if all(
            len(t.renditions[n].index.fragments) == len(t.renditions[names[0]].index.fragments)
            for t in programme
        )
    ]


def session_playlist(
    name: str,
    programme: Sequence[TrackRenditions],
    breaks: Sequence[SessionBreak],
    ads: Mapping[str, TrackRenditions],
    started: datetime,
    *,
    to_hls: str = TRACK_TO_HLS,
) -> str:
    """The media playlist of rendition ``name`` of the session (see the module docstring):
    the programme's tracks in order, each break's ads before the segment its boundary
    counts to (across the tracks). An ad whose track has no such rendition (or no
    renditions any more) is left out. ``to_hls`` leads from the playlist's folder to
    /hls/ (the tracks' init sections are theirs)."""
    pending = sorted(breaks, key=lambda b: b.boundary)
    parts: list[Part] = []
    clock = _Clock()
    base = 0  # segments of the programme's tracks before this one
    ad_number = 0

    def play_ads(brk: SessionBreak) -> None:
        nonlocal ad_number
        for ad in brk.ads:
            track = ads.get(ad.track)
            if track is None or name not in track.renditions:
                continue
            count = len(track.renditions[name].index.fragments)
            part, media, shown = _chunk(track, name, 0, count, clock.elapsed, to_hls)
            mark = daterange_tag(
                f"ad-{ad_number}",
                started + timedelta(seconds=clock.presented),
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
            clock.advance(media, shown)

    for track in programme:
        count = len(track.renditions[name].index.fragments)
        cursor = 0
        while pending and pending[0].boundary - base < count:
            brk = pending.pop(0)
            local = max(brk.boundary - base, 0)
            if local > cursor:
                part, media, shown = _chunk(track, name, cursor, local, clock.elapsed, to_hls)
                parts.append(part)
                clock.advance(media, shown)
                cursor = local
            play_ads(brk)
        if cursor < count:
            part, media, shown = _chunk(track, name, cursor, count, clock.elapsed, to_hls)
            parts.append(part)
            clock.advance(media, shown)
        base += count
    for brk in pending:  # after the last segment: post-rolls
        play_ads(brk)
    first_part = parts[0]
    head, *tail = first_part.segments
    # EXT-X-PROGRAM-DATE-TIME first: the date ranges are on its clock.
    dated = replace(head, marks=(program_date_time_tag(started), *head.marks))
    parts[0] = Part(first_part.init, [dated, *tail])
    return stitched_playlist(parts)


class _Clock:
    """Where the stream is: media seconds (decode time) and presented seconds (the
    session's clock: each part's first segment loses its priming)."""

    def __init__(self) -> None:
        self.elapsed = Fraction(0)
        self.presented = 0.0

    def advance(self, media: Fraction, shown: float) -> None:
        self.elapsed += media
        self.presented += shown


def _chunk(
    track: TrackRenditions, name: str, first: int, end: int, elapsed: Fraction, to_hls: str
) -> tuple[Part, Fraction, float]:
    """Segments ``first .. end - 1`` of the track's rendition ``name`` as a part starting at
    ``elapsed`` media seconds, with its media and presented seconds."""
    entry = track.renditions[name]
    index = entry.index
    fragments = index.fragments
    start = round(elapsed * index.timescale)
    init = InitSection(f"{to_hls}{track.track_id}/{name}/init.mp4?v={entry.token}")
    durations = presented_durations(index)
    segments = [
        Segment(
            durations[n],
            # From .../s/{session}/{rendition}/ up three is the stream's own folder.
            f"../../../{name}/seg/{track.track_id}/{n}.m4s?v={entry.token}"
            f"&t={start + fragments[n].start - fragments[first].start}",
        )
        for n in range(first, end)
    ]
    media = Fraction(sum(f.duration for f in fragments[first:end]), index.timescale)
    return Part(init, segments), media, sum(durations[first:end])
