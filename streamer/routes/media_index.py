"""Which object a media URL names: track ids resolved from the catalogue, kept in memory.

The hot path must not query the database per request, so entries are cached for a few
seconds (a scan's changes show within that time), misses are coalesced, and unknown ids are
remembered briefly so random ids cannot hammer the database.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select

from streamer.db import Database, Library, Track

TRACK_ID = re.compile(r"^[0-9a-f]{16}$")


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
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, MediaEntry | None]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[MediaEntry | None]] = {}

    async def get(self, track_id: str) -> MediaEntry | None:
        """The servable entry of a track, or None if unknown, gone or failed."""
        cached = self._entries.get(track_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if not TRACK_ID.match(track_id):
            return None
        pending = self._loading.get(track_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[MediaEntry | None] = asyncio.get_running_loop().create_future()
        self._loading[track_id] = future
        try:
            entry = await self._load(track_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else needs to
            raise
        else:
            future.set_result(entry)
            ttl = self.ttl if entry is not None else self.negative_ttl
            self._remember(track_id, time.monotonic() + ttl, entry)
            return entry
        finally:
            del self._loading[track_id]

    def invalidate(self, track_id: str | None = None) -> None:
        if track_id is None:
            self._entries.clear()
        else:
            self._entries.pop(track_id, None)

    def _remember(self, track_id: str, expires: float, entry: MediaEntry | None) -> None:
        self._entries[track_id] = (expires, entry)
        self._entries.move_to_end(track_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

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
        )
