"""The track catalogue's query: full-text search, combinable filters, sorts and cursors.

Every sort is a (column, id) pair with an index of the same shape (models.Track), walked
forwards or backwards, so a page costs an index range whatever its depth. A cursor is the
last row's (column value, id), opaque to clients; the next page starts strictly after it,
so rows inserted or deleted meanwhile never duplicate nor skip the rows that stay.

NULLs sort where the database puts them: first ascending on SQLite, last ascending on
PostgreSQL (each walks its own index that way); cursors follow the same rule.

Search (``q``) matches words: every word of the query must begin a word of the title,
artist, album, labels or path, case- and (on SQLite) accent-insensitively. It uses the
FTS5 table of migration 0007 on SQLite and its GIN expression index on PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, TextClause, and_, false, func, or_, select, text

from streamer.db.engine import Database
from streamer.db.models import Track, TrackLabel

__all__ = [
    "DEFAULT_SORT",
    "PG_DOCUMENT",
    "SORTS",
    "InvalidCursor",
    "TrackFilter",
    "TrackResults",
    "decode_cursor",
    "encode_cursor",
    "filtered_query",
    "page_query",
    "search_terms",
    "search_tracks",
]

SORTS: dict[str, Any] = {
    "title": Track.title,
    "artist": Track.artist,
    "album": Track.album,
    "year": Track.year,
    "duration": Track.duration,
    "created_at": Track.created_at,
    "scanned_at": Track.scanned_at,
}
DEFAULT_SORT = "-scanned_at"
# The exact expression of PostgreSQL's ix_tracks_search (migration 0007): a query must
# repeat it character for character for the planner to use the index.
PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(artist, '')"
    " || ' ' || coalesce(album, '') || ' ' || coalesce(labels::jsonb::text, '')"
    " || ' ' || translate(key, '/._-', '    '))"
)
_WORD = re.compile(r"[^\W_]+")  # letters and digits; "_" splits words as FTS5 does


class InvalidCursor(ValueError):
    """A cursor that this server did not make for this sort."""


@dataclass(frozen=True)
class TrackFilter:
    """What GET /tracks narrows by; every field combines with the others (AND)."""

    readable: Collection[str] | None = None  # libraries the caller may read; None: all
    library: str | None = None
    q: str | None = None
    tags: Sequence[str] = ()
    tags_mode: Literal["any", "all"] = "any"
    genre: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    duration_min: float | None = None
    duration_max: float | None = None
    codec: str | None = None
    status: str | None = None


@dataclass
class TrackResults:
    tracks: list[Track]
    total: int
    next_cursor: str | None = None


def search_terms(q: str) -> list[str]:
    """The words of a query: runs of letters and digits, everything else a separator."""
    return _WORD.findall(q)


def _search_clause(terms: list[str], dialect: str) -> ColumnElement[bool] | TextClause:
    if not terms:
        return false()  # only punctuation: nothing can match a word
    if dialect == "postgresql":
        # Each term is letters and digits only, so it cannot inject tsquery syntax.
        query = " & ".join(f"{term}:*" for term in terms)
        return text(f"{PG_DOCUMENT} @@ to_tsquery('simple'::regconfig, :tsquery)").bindparams(
            tsquery=query
        )
    # FTS5: each term a quoted prefix; juxtaposed terms must all match.
    match = " ".join(f'"{term}"*' for term in terms)
    return text(
        "tracks.rowid IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH :match)"
    ).bindparams(match=match)


def filtered_query(where: TrackFilter, dialect: str) -> Select[Track]:
    """SELECT the tracks ``where`` admits, unordered."""
    query = select(Track)
    if where.readable is not None:
        query = query.where(Track.library_id.in_(list(where.readable)))
    if where.library is not None:
        query = query.where(Track.library_id == where.library)
    if where.codec is not None:
        query = query.where(Track.codec == where.codec)
    if where.status is not None:
        query = query.where(Track.status == where.status)
    if where.genre is not None:
        query = query.where(Track.genre == where.genre)
    if where.year_min is not None:
        query = query.where(Track.year >= where.year_min)
    if where.year_max is not None:
        query = query.where(Track.year <= where.year_max)
    if where.duration_min is not None:
        query = query.where(Track.duration >= where.duration_min)
    if where.duration_max is not None:
        query = query.where(Track.duration <= where.duration_max)
    tags = sorted(set(where.tags))
    if tags:
        labelled = select(TrackLabel.track_id).where(TrackLabel.label.in_(tags))
        if where.tags_mode == "all" and len(tags) > 1:
            labelled = labelled.group_by(TrackLabel.track_id).having(
                func.count(TrackLabel.label) == len(tags)
            )
        query = query.where(Track.id.in_(labelled))
    if where.q:
        query = query.where(_search_clause(search_terms(where.q), dialect))
    return query


def _parse_sort(sort: str) -> tuple[str, bool]:
    name, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if name not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    return name, descending


def encode_cursor(sort: str, track: Track) -> str:
    """The cursor that resumes ``sort`` after ``track``."""
    name, _ = _parse_sort(sort)
    value = getattr(track, name)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, track.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """(sort value, track id) of ``cursor``; InvalidCursor unless made for ``sort``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, track_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor("the cursor is not one this server made") from exc
    if made_for != sort:
        raise InvalidCursor(f"the cursor was made for sort={made_for!r}, not {sort!r}")
    if not isinstance(track_id, str):
        raise InvalidCursor("the cursor is not one this server made")
    name, _ = _parse_sort(sort)
    expected: tuple[type, ...] = {
        "year": (int,),
        "duration": (int, float),
        "created_at": (str,),
        "scanned_at": (str,),
    }.get(name, (str,))
    if value is not None and (isinstance(value, bool) or not isinstance(value, expected)):
        raise InvalidCursor("the cursor is not one this server made")
    if isinstance(value, str) and name in ("created_at", "scanned_at"):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidCursor("the cursor is not one this server made") from exc
    return value, track_id


def _after(column: Any, descending: bool, value: Any, track_id: str, dialect: str) -> Any:
    """Rows strictly after (value, track_id) in the walk ORDER BY column, id (both in
    ``descending``'s direction), with NULLs where the database sorts them."""

    def beyond(a: Any, b: Any) -> Any:
        return a < b if descending else a > b

    # SQLite sorts NULL below every value, PostgreSQL above: which comes first in this walk?
    nulls_low = dialect != "postgresql"
    nulls_first = nulls_low != descending
    same_tie = beyond(Track.id, track_id)
    if value is None:
        in_nulls = and_(column.is_(None), same_tie)
        return or_(in_nulls, column.is_not(None)) if nulls_first else in_nulls
    later = or_(beyond(column, value), and_(column == value, same_tie))
    return later if nulls_first else or_(later, column.is_(None))


def page_query(
    query: Select[Track],
    sort: str,
    dialect: str,
    *,
    after: tuple[Any, str] | None = None,
) -> Select[Track]:
    """``query`` ordered by ``sort`` (a SORTS name, "-" first for descending), then id in
    the same direction, starting after the cursor position ``after``."""
    name, descending = _parse_sort(sort)
    column = SORTS[name]
    if after is not None:
        query = query.where(_after(column, descending, after[0], after[1], dialect))
    if descending:
        return query.order_by(column.desc(), Track.id.desc())
    return query.order_by(column.asc(), Track.id.asc())


async def search_tracks(
    db: Database,
    where: TrackFilter,
    *,
    sort: str = DEFAULT_SORT,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
) -> TrackResults:
    """One page of the tracks ``where`` admits, the total that match, and the cursor of
    the next page (None on the last). Raises InvalidCursor and ValueError (bad sort)."""
    dialect = db.engine.dialect.name
    after = decode_cursor(cursor, sort) if cursor else None
    query = filtered_query(where, dialect)
    count = select(func.count()).select_from(query.subquery())
    # One row more than asked tells whether a next page exists.
    page = page_query(query, sort, dialect, after=after).limit(limit + 1).offset(offset)
    async with db.session() as session:
        total = (await session.execute(count)).scalar_one()
        tracks = list((await session.scalars(page)).all())
    next_cursor = None
    if len(tracks) > limit:
        tracks = tracks[:limit]
        next_cursor = encode_cursor(sort, tracks[-1])
    return TrackResults(tracks, int(total), next_cursor)
