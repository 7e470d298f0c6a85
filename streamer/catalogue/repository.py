"""Read queries over the catalogue, for the admin API and the media routes."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, or_, select

from streamer.db.engine import Database
from streamer.db.models import Library, Rendition, Track
from streamer.renditions.ladder import newest_ladder

__all__ = [
    "current_renditions",
    "get_library",
    "get_track",
    "get_track_with_root",
    "list_libraries",
    "list_tracks",
]

_LIKE_ESCAPE = "\\"


async def get_track(db: Database, track_id: str) -> Track | None:
    """The track with ``track_id`` (any status), or None."""
    async with db.session() as session:
        return await session.get(Track, track_id)


async def get_track_with_root(db: Database, track_id: str) -> tuple[Track, str] | None:
    """The track and its library's root, or None."""
    query = (
        select(Track, Library.root)
        .join(Library, Library.id == Track.library_id)
        .where(Track.id == track_id)
    )
    async with db.session() as session:
        row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def list_tracks(
    db: Database,
    *,
    library_id: str | None = None,
    library_ids: Collection[str] | None = None,
    codec: str | None = None,
    q: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Track], int]:
    """One page of tracks, most recently scanned first, and the total that match.

    ``q`` matches a case-insensitive substring of title, artist, album or key; ``%``, ``_``
    and ``\\`` in it match themselves. ``library_ids`` (None: all) are the libraries the
    caller may see.
    """
    query = select(Track)
    if library_ids is not None:
        query = query.where(Track.library_id.in_(list(library_ids)))
    if library_id is not None:
        query = query.where(Track.library_id == library_id)
    if codec is not None:
        query = query.where(Track.codec == codec)
    if status is not None:
        query = query.where(Track.status == status)
    if q:
        # Both sides folded by the database, so they fold alike (SQLite: ASCII only).
        pattern = func.lower(f"%{_escape_like(q)}%")
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape=_LIKE_ESCAPE)
                    for column in (Track.title, Track.artist, Track.album, Track.key)
                )
            )
        )
    count = select(func.count()).select_from(query.order_by(None).subquery())
    page = query.order_by(Track.scanned_at.desc(), Track.id).limit(limit).offset(offset)
    async with db.session() as session:
        total = (await session.execute(count)).scalar_one()
        tracks = list((await session.scalars(page)).all())
    return tracks, int(total)


async def list_libraries(db: Database, ids: Collection[str] | None = None) -> list[Library]:
    """Every library (or those of ``ids``), by name."""
    query = select(Library).order_by(Library.name, Library.id)
    if ids is not None:
        query = query.where(Library.id.in_(list(ids)))
    async with db.session() as session:
        return list((await session.scalars(query)).all())


async def get_library(db: Database, library_id: str) -> Library | None:
    """The library with ``library_id``, or None."""
    async with db.session() as session:
        return await session.get(Library, library_id)


def _escape_like(text: str) -> str:
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


async def current_renditions(db: Database, track_id: str) -> list[Rendition]:
    """The track's renditions of its newest ladder, by name."""
    async with db.session() as session:
        rows = await session.scalars(select(Rendition).where(Rendition.track_id == track_id))
        return newest_ladder(list(rows))
