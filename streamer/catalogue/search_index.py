"""Rebuilding the track search index from the tracks table (`streamer reindex`).

Search (catalogue.search) reads an index of its own, which migration 0007 created:

- SQLite: the FTS5 table ``tracks_fts``, whose rowid is the track's rowid, filled by three
  triggers on ``tracks``. It holds its own copy of the searched text, so it can drift from
  the tracks: a VACUUM may renumber the rowids of ``tracks`` (it has no INTEGER PRIMARY
  KEY), a copied or damaged file, triggers dropped by hand. The rebuild drops the table
  and its triggers, creates them as the migration did and fills the table from
  ``tracks``, all in one IMMEDIATE transaction: searches see the old index until it
  commits, and a failure changes nothing. Dropping rather than deleting rows also clears
  an index too damaged to read, and brings back a missing table or trigger.
- PostgreSQL: the GIN expression index ``ix_tracks_search``, kept by PostgreSQL itself; it
  can only be damaged (a crash on a storage fault, a bug). ``REINDEX INDEX CONCURRENTLY``
  builds a new one beside it and swaps them, so searches and writes go on meanwhile
  (a plain REINDEX would block every query on ``tracks``: the planner locks each index).
  It cannot run in a transaction; a run that fails or is killed leaves an invalid
  ``ix_tracks_search_ccnew``, which the next run (or the failing one) drops. A missing
  index is created, the same way.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from streamer.catalogue.search import PG_DOCUMENT

__all__ = ["SQLITE_SEARCH_INDEX", "ReindexReport", "rebuild_search_index"]

Backend = Literal["sqlite", "postgresql"]

_PG_INDEX = "ix_tracks_search"

# The searched text of a track, as the FTS5 table holds it (labels: a JSON array of words).
_FTS_LABELS = "(SELECT group_concat(value, ' ') FROM json_each({row}.labels))"
_FTS_VALUES = f"new.title, new.artist, new.album, {_FTS_LABELS.format(row='new')}, new.key"
_FTS_COLUMNS = "rowid, title, artist, album, labels, path"

# The FTS5 table and its triggers exactly as migration 0007 creates them (a test compares
# the two schemas): dropped, then created again in this order.
SQLITE_SEARCH_INDEX = (
    "CREATE VIRTUAL TABLE tracks_fts USING fts5("
    "title, artist, album, labels, path, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN"
    f" INSERT INTO tracks_fts ({_FTS_COLUMNS}) VALUES (new.rowid, {_FTS_VALUES}); END",
    "CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN"
    " DELETE FROM tracks_fts WHERE rowid = old.rowid; END",
    "CREATE TRIGGER tracks_fts_update AFTER UPDATE OF title, artist, album, labels, key"
    " ON tracks BEGIN DELETE FROM tracks_fts WHERE rowid = old.rowid;"
    f" INSERT INTO tracks_fts ({_FTS_COLUMNS}) VALUES (new.rowid, {_FTS_VALUES}); END",
)
_SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS tracks_fts_insert",
    "DROP TRIGGER IF EXISTS tracks_fts_delete",
    "DROP TRIGGER IF EXISTS tracks_fts_update",
    "DROP TABLE IF EXISTS tracks_fts",
)
_SQLITE_FILL = (
    f"INSERT INTO tracks_fts ({_FTS_COLUMNS}) SELECT rowid, title, artist, album,"
    f" {_FTS_LABELS.format(row='tracks')}, key FROM tracks"
)
# FTS5's own check that its index matches the text it holds (SQLITE_CORRUPT_VTAB if not).
_SQLITE_INTEGRITY = "INSERT INTO tracks_fts (tracks_fts, rank) VALUES ('integrity-check', 0)"
# Tracks whose entry is missing or differs from what the triggers would write.
_SQLITE_STALE = (
    "SELECT count(*) FROM tracks WHERE NOT EXISTS (SELECT 1 FROM tracks_fts AS f"
    " WHERE f.rowid = tracks.rowid AND f.title IS tracks.title AND f.artist IS tracks.artist"
    " AND f.album IS tracks.album"
    f" AND f.labels IS {_FTS_LABELS.format(row='tracks')} AND f.path IS tracks.key)"
)
# Entries whose track is gone (or now has another rowid).
_SQLITE_ORPHANS = (
    "SELECT count(*) FROM tracks_fts"
    " WHERE NOT EXISTS (SELECT 1 FROM tracks WHERE tracks.rowid = tracks_fts.rowid)"
)


@dataclass(frozen=True)
class ReindexReport:
    """What a rebuild did."""

    backend: Backend
    tracks: int  # tracks in the index now
    seconds: float
    # SQLite, read before the rebuild: tracks the old index missed or held out of date,
    # and its entries that belonged to no track; None when it could not be read.
    stale: int | None = None
    orphans: int | None = None
    unreadable: str | None = None  # why the old index could not be read
    created: bool = False  # PostgreSQL: the index was missing, and was created

    def describe(self) -> str:
        """The command's one line."""
        if self.backend == "postgresql":
            how = (
                f"PostgreSQL: {_PG_INDEX} was missing and was created"
                if self.created
                else f"PostgreSQL REINDEX INDEX CONCURRENTLY {_PG_INDEX}"
            )
        elif self.unreadable is not None:
            how = f"SQLite FTS5; the old index could not be read: {self.unreadable}"
        elif not self.stale and not self.orphans:
            how = "SQLite FTS5; the old index was in step"
        else:
            how = (
                f"SQLite FTS5; {self.stale} tracks were missing from the old index or out of"
                f" date, {self.orphans} of its entries matched no track"
            )
        return f"search index rebuilt: {self.tracks} tracks in {self.seconds:.1f} s ({how})"


async def rebuild_search_index(engine: AsyncEngine) -> ReindexReport:
    """Rebuild the search index of the database behind ``engine`` from its tracks (see the
    module docstring). Database errors propagate (sqlalchemy.exc.DBAPIError, OSError)."""
    started = time.monotonic()
    async with engine.connect() as conn:
        # Transactions are ours to begin: SQLite's driver would otherwise run the DROPs
        # outside one, and PostgreSQL's CONCURRENTLY refuses to run inside one.
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if conn.dialect.name != "postgresql":
            return await _rebuild_sqlite(conn, started)
        created = await _reindex_postgresql(conn)
        tracks = await _count(conn, "SELECT count(*) FROM tracks")
        return ReindexReport("postgresql", tracks, time.monotonic() - started, created=created)


async def _rebuild_sqlite(conn: AsyncConnection, started: float) -> ReindexReport:
    stale = orphans = None
    unreadable = None
    # How the old index stood, read before the rebuild's transaction: a damaged index may
    # fail these in ways that would end a transaction.
    try:
        await conn.exec_driver_sql(_SQLITE_INTEGRITY)
        stale = await _count(conn, _SQLITE_STALE)
        orphans = await _count(conn, _SQLITE_ORPHANS)
    except DBAPIError as exc:  # damaged or missing: rebuilt all the same
        unreadable = _first_line(exc.orig)
    # IMMEDIATE takes the write lock now (waiting out the busy timeout for a writer), so
    # the rebuild reads the tracks as they are when it commits.
    await conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        for statement in (*_SQLITE_DROP, *SQLITE_SEARCH_INDEX, _SQLITE_FILL):
            await conn.exec_driver_sql(statement)
        tracks = await _count(conn, "SELECT count(*) FROM tracks_fts")
    except Exception:
        # (A cancellation skips this: the pool rolls the connection back as it takes it.)
        await conn.exec_driver_sql("ROLLBACK")
        raise
    await conn.exec_driver_sql("COMMIT")
    return ReindexReport(
        "sqlite", tracks, time.monotonic() - started, stale, orphans, unreadable=unreadable
    )


async def _reindex_postgresql(conn: AsyncConnection) -> bool:
    """REINDEX the index (or create it when missing); True when it was created."""
    await _drop_leftovers(conn)
    present = await conn.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": _PG_INDEX})
    try:
        if present:
            await conn.exec_driver_sql(f"REINDEX INDEX CONCURRENTLY {_PG_INDEX}")
        else:
            await conn.exec_driver_sql(
                f"CREATE INDEX CONCURRENTLY {_PG_INDEX} ON tracks USING gin ({PG_DOCUMENT})"
            )
    except Exception:
        with contextlib.suppress(DBAPIError, OSError):  # the connection may be gone too
            await _drop_leftovers(conn)
        raise
    return not present


async def _drop_leftovers(conn: AsyncConnection) -> None:
    """Drop the invalid copies a failed or interrupted concurrent build left behind."""
    leftovers = await conn.scalars(
        text(
            "SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid"
            " WHERE NOT i.indisvalid AND c.relname LIKE :pattern"
        ),
        {"pattern": _PG_INDEX.replace("_", "\\_") + "\\_cc%"},
    )
    for name in list(leftovers):
        await conn.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


async def _count(conn: AsyncConnection, query: str) -> int:
    return int((await conn.exec_driver_sql(query)).scalar_one())


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
