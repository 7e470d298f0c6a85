"""Smart playlists in the database: a rule's tracks now, and what any playlist plays.

A rule draws from its ``libraries`` (None: the playlist's own library), which the writer
had to be able to read when saving it; readers of the API see the part of the result in
the libraries they may read (``readable``). Only tracks whose status is ``ok`` match.
The result holds at most ``limit`` tracks, and never more than MAX_ITEMS.

A random order is computed here, not in SQL (see streamer.playlists.compile): the ids of
the matching tracks (at most RANDOM_POOL, the lowest ids) are sorted by their shuffle key
for the rule's seed, so the same seed gives the same order on every node and database.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from streamer.db import Database, Playlist, PlaylistItem, Track
from streamer.db.models import utcnow
from streamer.playlists.compile import order_by, where_clause
from streamer.playlists.repository import MAX_ITEMS
from streamer.playlists.rules import Rule, shuffle_key

__all__ = [
    "RANDOM_POOL",
    "ResultTrack",
    "evaluate",
    "playlist_track_ids",
    "rule_of",
    "scope_of",
    "track_ids_of",
]

logger = logging.getLogger(__name__)

RANDOM_POOL = 100_000  # ids held in memory to shuffle: a bound, documented


@dataclass(frozen=True, slots=True)
class ResultTrack:
    """One track of a rule's result, with what lists show."""

    id: str
    library_id: str
    title: str | None
    artist: str | None
    album: str | None
    duration: float | None


def rule_of(playlist: Playlist) -> Rule | None:
    """The playlist's rule (None: an ordinary playlist). A stored rule that no longer
    validates (written by a later version, say) matches nothing rather than failing."""
    if playlist.rules is None:
        return None
    try:
        return Rule.model_validate(playlist.rules)
    except ValidationError as exc:
        logger.warning("playlist %s has a rule this version cannot read: %s", playlist.id, exc)
        return Rule.model_validate({"match": {"any": []}})


def scope_of(rule: Rule, library_id: str, readable: Collection[str] | None = None) -> list[str]:
    """The libraries a playlist's rule draws from, narrowed to ``readable`` (None: all)."""
    libraries = rule.libraries or [library_id]
    if readable is None:
        return list(libraries)
    return [lib for lib in libraries if lib in readable]


async def evaluate(
    session: AsyncSession,
    rule: Rule,
    libraries: Collection[str] | None,
    *,
    now: datetime | None = None,
) -> list[ResultTrack]:
    """The tracks the rule selects now, in order, limit applied. ``libraries`` None: every
    library (an admin's preview)."""
    where: list[ColumnElement[bool]] = [
        Track.status == "ok",
        where_clause(rule.match, now=now or utcnow()),
    ]
    if libraries is not None:
        where.append(Track.library_id.in_(list(libraries)))
    limit = min(rule.limit or MAX_ITEMS, MAX_ITEMS)
    columns = (Track.id, Track.library_id, Track.title, Track.artist, Track.album, Track.duration)
    ordering = order_by(rule)
    if ordering is not None:
        rows = await session.execute(
            select(*columns).where(*where).order_by(*ordering).limit(limit)
        )
        return [ResultTrack(*row) for row in rows.all()]
    seed = rule.order[0].seed or ""
    ids = await session.scalars(
        select(Track.id).where(*where).order_by(Track.id).limit(RANDOM_POOL)
    )
    chosen = sorted(ids, key=lambda track_id: shuffle_key(seed, track_id))[:limit]
    if not chosen:
        return []
    rows = await session.execute(select(*columns).where(Track.id.in_(chosen)))
    found = {row[0]: ResultTrack(*row) for row in rows.all()}
    return [found[track_id] for track_id in chosen if track_id in found]


async def track_ids_of(
    session: AsyncSession, playlist: Playlist, *, now: datetime | None = None
) -> list[str]:
    """What the playlist plays now: its stored items, or its rule's result."""
    rule = rule_of(playlist)
    if rule is None:
        items = await session.scalars(
            select(PlaylistItem.track_id)
            .where(PlaylistItem.playlist_id == playlist.id)
            .order_by(PlaylistItem.position)
        )
        return list(items)
    found = await evaluate(session, rule, scope_of(rule, playlist.library_id), now=now)
    return [track.id for track in found]


async def playlist_track_ids(db: Database, playlist_id: str) -> list[str] | None:
    """The ordered track ids a playlist plays now (stored items for an ordinary playlist;
    the rule's result, limit and order applied, for a smart one); None when no such
    playlist. For other services (channels): no access check, the caller decides."""
    async with db.session() as session:
        playlist = await session.get(Playlist, playlist_id)
        if playlist is None:
            return None
        return await track_ids_of(session, playlist)
