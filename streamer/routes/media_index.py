"""Which object a media URL names: track ids resolved from the catalogue, kept in memory.

The hot path must not query the database per request, so entries are cached for a few
seconds (a scan's changes show within that time), misses are coalesced, and unknown ids are
remembered briefly so random ids cannot hammer the database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select

from streamer.coalescing_cache import CoalescingCache
from streamer.db import Database, Library, Track
from streamer.db.availability import serving_cache
from streamer.db.models import TRACK_ID


@dataclass(frozen=True, slots=True)
class MediaEntry:
    """What serving a track's original needs from its catalogue row."""

    track_id: str
    library_id: str
    library_root: str
    key: str
    content_type: str
    version: str
    content_hash: str | None
    cover_key: str | None = None
    cover_mime: str | None = None
    duration: float | None = None  # seconds of audio, when the scan could tell


class MediaIndex:
    def __init__(
        self,
        db: Database,
        *,
        ttl: float = 5.0,
        negative_ttl: float = 1.0,
        max_entries: int = 100_000,
    ) -> None:
        self.db = db
        self._cache: CoalescingCache[str, MediaEntry] = serving_cache(
            self._load, ttl=ttl, negative_ttl=negative_ttl, max_entries=max_entries
        )

    async def get(self, track_id: str) -> MediaEntry | None:
        """The servable entry of a track, or None if unknown, gone or failed."""
        if not TRACK_ID.match(track_id):
            return None
        return await self._cache.get(track_id)

    def peek(self, track_id: str) -> MediaEntry | None:
        """The entry if it is cached and fresh, else None; never queries."""
        return self._cache.peek(track_id)[1]

    def invalidate(self, track_id: str | None = None) -> None:
        self._cache.invalidate(track_id)

    async def _load(self, track_id: str) -> MediaEntry | None:
        query = (
            select(Track, Library.root)
            .join(Library, Library.id == Track.library_id)
            .where(Track.id == track_id, Track.status == "ok")
        )
        async with asyncio.timeout(5.0), self.db.session() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None
        track, root = row
        return MediaEntry(
            track_id=track.id,
            library_id=track.library_id,
            library_root=root,
            key=track.key,
            content_type=track.content_type,
            version=track.version,
            content_hash=track.content_hash,
            cover_key=track.cover_key,
            cover_mime=track.cover_mime,
            duration=track.duration,
        )
