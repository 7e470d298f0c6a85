"""A track's renditions, their segment indexes and playlists, kept in memory for the hot path.

Segment and playlist requests must cost no database query and no storage read, so a track's
renditions are loaded once (one query, then each segment index JSON from storage), their
playlists built then, and the whole kept for ``ttl`` seconds (new renditions show within that
time). Loads are coalesced per track, unknown ids are remembered for ``negative_ttl``, and
parsed segment indexes are kept apart, keyed by the rendition file's version, so a reload
after the TTL queries the database only.

Which renditions: those of the track's newest ladder (by creation time), so that a
re-transcode with a new ladder replaces the old set as a whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from streamer.coalescing_cache import CoalescingCache
from streamer.db import Database, Library, Rendition, Track
from streamer.db.availability import serving_cache
from streamer.db.models import TRACK_ID
from streamer.errors import ObjectNotFound
from streamer.renditions.ladder import newest_ladder
from streamer.renditions.playlists import (
    VariantInfo,
    byterange_playlist,
    master_for,
    segment_playlist,
    version_token,
)
from streamer.storage.base import ObjectStore
from streamer.storage.registry import StoreLookup
from transcoder.fmp4 import Fragment, SegmentIndex

__all__ = ["Playlist", "RenditionCatalog", "RenditionEntry", "TrackRenditions"]

logger = logging.getLogger("streamer.renditions")


# The most a segment index JSON may be: about 40 bytes a fragment, so 8 MB is over 100
# hours of 6-second segments. Anything larger is not one we wrote.
_MAX_INDEX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Playlist:
    """A playlist's text and its strong validator."""

    body: bytes
    etag: str  # quoted

    @classmethod
    def of(cls, text: str) -> Playlist:
        body = text.encode()
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


@dataclass(frozen=True, slots=True)
class RenditionEntry:
    """One rendition: its file, its segment index and its media playlists."""

    name: str
    key: str
    version: str  # the rendition file's version when it was indexed
    token: str  # its version_token: the ?v= of every URL the playlists give
    index: SegmentIndex
    playlist: Playlist  # index.m3u8
    byterange_playlist: Playlist  # index_br.m3u8
    # Seconds of content (priming excluded), worked out once: analytics records it with
    # every delivery of the rendition file.
    seconds: float | None = None

    def fragment(self, n: int) -> Fragment | None:
        """Fragment ``n`` (from 0), or None past the end."""
        fragments = self.index.fragments
        return fragments[n] if 0 <= n < len(fragments) else None


@dataclass(frozen=True, slots=True)
class TrackRenditions:
    """What HLS and the rendition downloads of one track need, resolved from memory."""

    track_id: str
    library_root: str
    renditions: Mapping[str, RenditionEntry]
    master: Playlist
    modified: float  # when the newest rendition was stored (seconds since the epoch)


class RenditionCatalog:
    """Track id -> :class:`TrackRenditions`, cached (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        store_for: StoreLookup,
        *,
        ttl: float = 5.0,
        negative_ttl: float = 1.0,
        max_entries: int = 10_000,
        max_indexes: int = 50_000,
    ) -> None:
        self.db = db
        self.store_for = store_for
        self.max_indexes = max_indexes
        self._cache: CoalescingCache[str, TrackRenditions] = serving_cache(
            self._load, ttl=ttl, negative_ttl=negative_ttl, max_entries=max_entries
        )
        self._indexes: OrderedDict[tuple[str, str, str], RenditionEntry] = OrderedDict()

    async def get(self, track_id: str) -> TrackRenditions | None:
        """The track's renditions, or None if it has none (or is unknown, gone, failed).

        Raises StorageError when a segment index cannot be read from an unreachable store.
        """
        if not TRACK_ID.match(track_id):
            return None
        return await self._cache.get(track_id)

    def peek(self, track_id: str) -> TrackRenditions | None:
        """The track's renditions if they are cached and fresh, else None; never queries."""
        return self._cache.peek(track_id)[1]

    def invalidate(self, track_id: str | None = None) -> None:
        """Forget one track (its files changed under us), or every track."""
        self._cache.invalidate(track_id)

    async def _load(self, track_id: str) -> TrackRenditions | None:
        query = (
            select(Rendition, Library.root)
            .join(Track, Track.id == Rendition.track_id)
            .join(Library, Library.id == Track.library_id)
            .where(Rendition.track_id == track_id, Track.status == "ok")
        )
        async with asyncio.timeout(5.0), self.db.session() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return None
        root = rows[0][1]
        chosen = newest_ladder([row[0] for row in rows])
        store = await self.store_for(root)
        renditions: dict[str, RenditionEntry] = {}
        variants = []
        for rendition in chosen:
            entry = await self._entry(store, root, track_id, rendition)
            if entry is None:
                continue
            renditions[rendition.name] = entry
            variants.append(
                VariantInfo(
                    name=rendition.name,
                    token=entry.token,
                    codec=rendition.codec,
                    codecs=rendition.codecs,
                    bitrate=rendition.bitrate,
                    peak_bitrate=rendition.peak_bitrate,
                    average_bitrate=rendition.average_bitrate,
                )
            )
        if not renditions:
            return None
        return TrackRenditions(
            track_id=track_id,
            library_root=root,
            renditions=renditions,
            master=Playlist.of(master_for(variants)),
            modified=max(r.created_at for r in chosen).timestamp(),
        )

    async def _entry(
        self, store: ObjectStore, root: str, track_id: str, rendition: Rendition
    ) -> RenditionEntry | None:
        cache_key = (root, rendition.key, rendition.version)
        entry = self._indexes.get(cache_key)
        if entry is not None:
            self._indexes.move_to_end(cache_key)
            return entry
        try:
            info = await store.stat(rendition.index_key)
            if info.size > _MAX_INDEX_BYTES:
                raise ValueError(f"{info.size} bytes is too large for a segment index")
            data = await store.read(rendition.index_key, 0, info.size)
            index = await asyncio.to_thread(SegmentIndex.from_json, data)
        except (ObjectNotFound, ValueError):
            # One broken rendition must not take the track's others down with it.
            logger.warning(
                "segment index unusable; rendition skipped",
                exc_info=True,
                extra={"track": track_id, "rendition": rendition.name},
            )
            return None
        token = version_token(rendition.version)
        media_uri = f"../../../media/{track_id}/{rendition.name}.m4a?v={token}"
        entry = RenditionEntry(
            name=rendition.name,
            key=rendition.key,
            version=rendition.version,
            token=token,
            index=index,
            playlist=Playlist.of(segment_playlist(index, token)),
            byterange_playlist=Playlist.of(byterange_playlist(index, media_uri)),
            seconds=index.content_seconds,
        )
        self._indexes[cache_key] = entry
        while len(self._indexes) > self.max_indexes:
            self._indexes.popitem(last=False)
        return entry
