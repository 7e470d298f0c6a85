"""A playlist as one HLS stream: stitched playlists built from the tracks' renditions.

    /hls/playlists/{id}/master.m3u8              variants: "{rendition}/index.m3u8?v={token}"
    /hls/playlists/{id}/{rendition}/index.m3u8   every track's segments of that rendition

The media playlists point at the tracks' init sections (``../../../{track}/{rendition}/
init.mp4?v={token}``, the track's own URL) and at each segment of a track as the stream
serves it, ``seg/{track}/{n}.m4s?v={token}&t={decode time}``: the track's fragment, from
the same segment cache entry as its own URL, at the decode time it has in the stream, so
decode time runs on across tracks as players that follow timestamps need
(streamer.routes.retimed_segments). Nothing new is stored.

Which tracks and renditions: tracks without renditions yet (not transcoded, gone, failed)
are skipped, so a playlist plays what is ready; the variants offered are the renditions
every remaining track has (a variant missing from one track would leave a hole).

Validators: a media playlist's ``?v=`` token hashes its text, which names every track's
file version, so a playlist at a token never changes (immutable, like the tracks' files).
The master's ETag names the playlist's revision and a hash of its text (hence of the
tracks' versions). Built streams are cached for ``ttl`` seconds per playlist (loads
coalesced): edits and new transcodes show within that time on every node, and so does a
smart playlist's new result (its rule is evaluated at each load).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import select

from packager import InitSection, Part, Segment, common_renditions, stitched_playlist
from streamer.coalescing_cache import CoalescingCache
from streamer.db import Database, Playlist, Rendition
from streamer.db.availability import serving_cache
from streamer.http.signing import make_token
from streamer.playlists.smart import track_ids_of
from streamer.renditions.catalog import Playlist as PlaylistText
from streamer.renditions.catalog import RenditionCatalog, TrackRenditions
from streamer.renditions.playlists import VariantInfo, master_for, presented_durations

__all__ = ["PLAYLIST_ID", "PlaylistStreams", "StitchedStream", "sign_stitched"]

PLAYLIST_ID = re.compile(r"^[0-9a-f]{16}$")
_TRACK_URI = re.compile(r"(\.\./\.\./\.\./([0-9a-f]{16})/[^\"\s]*)")


@dataclass(frozen=True, slots=True)
class StitchedStream:
    """What the /hls/playlists/{id}/ route needs, resolved from memory."""

    playlist_id: str
    revision: int
    master: PlaylistText
    media: Mapping[str, tuple[str, PlaylistText]]  # rendition -> (token, playlist)
    modified: float  # seconds since the epoch: the playlist's or a rendition's change
    track_ids: tuple[str, ...]  # those played (the skipped ones left out)


class PlaylistStreams:
    """Playlist id -> :class:`StitchedStream`, cached (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        catalog: RenditionCatalog,
        *,
        ttl: float = 2.0,
        negative_ttl: float = 1.0,
        max_entries: int = 2_000,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self._cache: CoalescingCache[str, StitchedStream] = serving_cache(
            self._load, ttl=ttl, negative_ttl=negative_ttl, max_entries=max_entries
        )

    async def get(self, playlist_id: str) -> StitchedStream | None:
        """The stream, or None (unknown playlist, or nothing playable in it).

        Raises StorageError when a track's segment index cannot be read."""
        if not PLAYLIST_ID.match(playlist_id):
            return None
        return await self._cache.get(playlist_id)

    def invalidate(self, playlist_id: str | None = None) -> None:
        self._cache.invalidate(playlist_id)

    async def _load(self, playlist_id: str) -> StitchedStream | None:
        async with asyncio.timeout(5.0), self.db.session() as session:
            playlist = await session.get(Playlist, playlist_id)
            if playlist is None:
                return None
            # A smart playlist plays its rule's result as of this load (kept ``ttl``).
            track_ids = await track_ids_of(session, playlist)
        found: dict[str, TrackRenditions | None] = {}
        for track_id in dict.fromkeys(track_ids):
            found[track_id] = await self.catalog.get(track_id)
        tracks = [found[t] for t in track_ids if found[t] is not None]
        ready: list[TrackRenditions] = [t for t in tracks if t is not None]
        names = common_renditions([list(track.renditions) for track in ready])
        if not names:
            return None
        details = await self._details(ready, names)
        # A rendition row replaced between the catalog's load and ours (a re-transcode)
        # leaves a name undescribed for a moment: leave it out until the next load.
        names = [n for n in names if any((t.track_id, n) in details for t in ready)]
        if not names:
            return None
        media: dict[str, tuple[str, PlaylistText]] = {}
        variants = []
        for name in names:
            text = stitched_playlist(_parts(ready, name))
            token = hashlib.sha256(text.encode()).hexdigest()[:16]
            media[name] = (token, PlaylistText.of(text))
            variants.append(_variant(name, token, ready, details))
        master_text = master_for(variants)
        digest = hashlib.sha256(master_text.encode()).hexdigest()[:24]
        return StitchedStream(
            playlist_id=playlist_id,
            revision=playlist.revision,
            master=PlaylistText(master_text.encode(), f'"r{playlist.revision}.{digest}"'),
            media=media,
            modified=max([playlist.updated_at.timestamp(), *(t.modified for t in ready)]),
            track_ids=tuple(track.track_id for track in ready),
        )

    async def _details(
        self, tracks: Sequence[TrackRenditions], names: Sequence[str]
    ) -> dict[tuple[str, str], Rendition]:
        """The rendition rows of the files the catalog serves, for codecs and bit rates."""
        query = select(Rendition).where(
            Rendition.track_id.in_({t.track_id for t in tracks}), Rendition.name.in_(names)
        )
        async with asyncio.timeout(5.0), self.db.session() as session:
            rows = list(await session.scalars(query))
        served = {(t.track_id, n): t.renditions[n].version for t in tracks for n in names}
        return {
            (row.track_id, row.name): row
            for row in rows
            if served.get((row.track_id, row.name)) == row.version
        }


def _parts(tracks: Sequence[TrackRenditions], name: str) -> list[Part]:
    """Each track's rendition ``name`` as a part of the stream: its init section (the
    track's own URL) and its segments at the decode times they have in the stream, each
    track starting where the one before ended (its media, priming included), so decode
    time runs on across tracks (streamer.routes.retimed_segments)."""
    parts = []
    elapsed = Fraction(0)  # seconds of media before the track
    for track in tracks:
        entry = track.renditions[name]
        index = entry.index
        start = round(elapsed * index.timescale)
        first = index.fragments[0].start if index.fragments else 0
        # From /hls/playlists/{id}/{rendition}/ up three levels is /hls/.
        init = InitSection(f"../../../{track.track_id}/{name}/init.mp4?v={entry.token}")
        segments = [
            Segment(
                duration,
                f"seg/{track.track_id}/{n}.m4s?v={entry.token}"
                f"&t={start + index.fragments[n].start - first}",
            )
            for n, duration in enumerate(presented_durations(index))
        ]
        parts.append(Part(init, segments))
        elapsed += Fraction(index.total_duration, index.timescale)
    return parts


def _variant(
    name: str,
    token: str,
    tracks: Sequence[TrackRenditions],
    details: Mapping[tuple[str, str], Rendition],
) -> VariantInfo:
    rows = [details[key] for t in tracks if (key := (t.track_id, name)) in details]
    seconds = sum(row.duration for row in rows) or 1.0
    average = sum(row.average_bitrate * row.duration for row in rows) / seconds
    peak = max(row.peak_bitrate for row in rows)
    first = rows[0]
    return VariantInfo(
        name=name,
        token=token,
        codec=first.codec,
        codecs=first.codecs,
        bitrate=first.bitrate,
        peak_bitrate=peak,
        average_bitrate=min(round(average), peak),
    )


def sign_stitched(text: str, secret: bytes, expires: int, request_token: str) -> str:
    """A stitched playlist for a signed request: URLs under the playlist carry the
    request's token, each track's URLs a token of that track expiring at the same time
    (the request's token opens /hls/playlists/{id}/ only)."""
    tokens: dict[str, str] = {}

    def track_token(track_id: str) -> str:
        if track_id not in tokens:
            tokens[track_id] = make_token(secret, f"track:{track_id}", expires)
        return tokens[track_id]

    def sign(match: re.Match[str]) -> str:
        uri = match.group(1)
        return f"{uri}{'&' if '?' in uri else '?'}token={track_token(match.group(2))}"

    lines = []
    for line in text.split("\n"):
        if _TRACK_URI.search(line):
            line = _TRACK_URI.sub(sign, line)
        elif line and not line.startswith("#"):
            line = f"{line}{'&' if '?' in line else '?'}token={request_token}"
        lines.append(line)
    return "\n".join(lines)
