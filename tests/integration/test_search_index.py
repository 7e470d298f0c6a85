"""Rebuilding the track search index (streamer.catalogue.search_index, `streamer reindex`)
on SQLite and PostgreSQL: an index that drifted from the tracks table misses tracks until
the rebuild, after which search finds every track again and keeps up with later changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, make_url, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from streamer.catalogue.search import TrackFilter, search_tracks
from streamer.catalogue.search_index import rebuild_search_index
from streamer.cli import main
from streamer.db import Database, Library, Track, migrate
from streamer.settings import Settings

Drift = Callable[[Database], Awaitable[None]]


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database holding CATALOGUE, SQLite unless the test asks for PostgreSQL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/search.sqlite3"
    else:
        url = request.getfixturevalue("postgres_url")
    database = await _prepared(url)
    try:
        yield database
    finally:
        await database.dispose()


async def _prepared(url: str) -> Database:
    await asyncio.to_thread(migrate, url)
    database = await asyncio.to_thread(Database, url)
    if not database.is_sqlite:
        # With a handful of rows the planner would read the table rather than the search
        # index, and a drifted index would go unnoticed: make it use the index.
        name = make_url(url).database
        async with database.engine.begin() as conn:
            for setting in ("enable_seqscan", "enable_indexscan"):
                await conn.execute(text(f'ALTER DATABASE "{name}" SET {setting} = off'))
        await database.engine.dispose()  # new sessions take the settings
    await _load(database, CATALOGUE)
    return database


def _track(n: int, title: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"t{n:04d}",
        "library_id": "lib",
        "key": f"music/track-{n:04d}.mp3",
        "size": 1000,
        "mtime": 0.0,
        "version": "v",
        "content_type": "audio/mpeg",
        "title": title,
        "artist": "Nobody",
        "labels": [],
    }
    row.update(fields)
    return row


CATALOGUE = [
    _track(1, "Hyperballad", artist="Björk", album="Post", labels=["favourite"]),
    _track(2, "Windowlicker", artist="Aphex Twin"),
    _track(3, "Ça va", album="Début"),
]


async def _load(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.session() as session, session.begin():
        await session.execute(insert(Library), [{"id": "lib", "name": "lib", "root": "/lib"}])
        await session.execute(insert(Track), rows)


async def _found(db: Database, q: str) -> list[str]:
    return [track.id for track in (await search_tracks(db, TrackFilter(q=q))).tracks]


async def _sql(db: Database, *statements: str) -> None:
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)


# --- ways an index drifts -----------------------------------------------------------------


async def _emptied(db: Database) -> None:
    await _sql(db, "DELETE FROM tracks_fts")


async def _renumbered(db: Database) -> None:
    # What a VACUUM may do to the rowids of tracks, seen from the index's side.
    await _sql(db, "UPDATE tracks_fts SET rowid = rowid + 1000")


async def _stale(db: Database) -> None:
    await _sql(
        db,
        "UPDATE tracks_fts SET title = 'x', artist = 'x', album = 'x', labels = ''"
        " WHERE rowid = (SELECT rowid FROM tracks WHERE id = 't0002')",
    )


async def _rename(db: Database) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            update(Track).where(Track.id == "t0001").values(title="Isobel", artist="B")
        )


async def _unmaintained(db: Database) -> None:
    # A trigger dropped by hand: changes to the tracks no longer reach the index.
    await _sql(db, "DROP TRIGGER tracks_fts_update")
    await _rename(db)


async def _missing_entries(db: Database) -> None:
    # PostgreSQL maintains its index itself; a damaged index that lacks entries is made by
    # switching its maintenance off (pg_index.indisready) while a track is renamed.
    flag = "UPDATE pg_index SET indisready = {} WHERE indexrelid = 'ix_tracks_search'::regclass"
    await _sql(db, flag.format("false"))
    await _rename(db)
    await _sql(db, flag.format("true"))


DRIFTS = [
    pytest.param("sqlite", _emptied, "windowlicker", "t0002", id="sqlite-emptied"),
    pytest.param("sqlite", _renumbered, "windowlicker", "t0002", id="sqlite-rowids-renumbered"),
    pytest.param("sqlite", _stale, "aphex", "t0002", id="sqlite-stale-text"),
    pytest.param("sqlite", _unmaintained, "isobel", "t0001", id="sqlite-trigger-dropped"),
    pytest.param("postgresql", _missing_entries, "isobel", "t0001", id="postgresql-lost-entries"),
]


@pytest.mark.parametrize(("db", "drift", "q", "track"), DRIFTS, indirect=["db"])
async def test_a_drifted_index_misses_tracks_until_it_is_rebuilt(
    db: Database, drift: Drift, q: str, track: str
) -> None:
    await drift(db)
    assert await _found(db, q) == []

    report = await rebuild_search_index(db.engine)

    assert report.tracks == len(CATALOGUE)
    assert await _found(db, q) == [track]
    async with db.session() as session:
        titles = list(await session.execute(select(Track.id, Track.title)))
    for track_id, title in titles:  # every track, by every word of its title
        for word in title.split():
            assert track_id in await _found(db, word), (title, word)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
async def test_the_rebuilt_index_follows_later_changes(db: Database) -> None:
    await rebuild_search_index(db.engine)
    await _load_more(db, [_track(4, "Roygbiv", library_id="lib")])
    async with db.session() as session, session.begin():
        await session.execute(update(Track).where(Track.id == "t0002").values(labels=["idm"]))
        await session.execute(delete(Track).where(Track.id == "t0003"))
    assert await _found(db, "roygbiv") == ["t0004"]
    assert await _found(db, "idm") == ["t0002"]
    assert await _found(db, "debut") == []


async def _load_more(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.session() as session, session.begin():
        await session.execute(insert(Track), rows)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
async def test_the_rebuilt_index_is_the_one_the_migration_made(db: Database) -> None:
    query = (
        "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'tracks_fts%' ORDER BY name"
        if db.is_sqlite
        else "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tracks'"
        " ORDER BY indexname"
    )

    async def schema() -> list[Any]:
        async with db.engine.connect() as conn:
            return list(await conn.exec_driver_sql(query))

    migrated = await schema()
    assert any(
        "tracks_fts_insert" in str(row) or "ix_tracks_search" in str(row) for row in migrated
    )
    await rebuild_search_index(db.engine)
    assert await schema() == migrated


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            # Pages of the index overwritten (a copied or damaged file).
            "UPDATE tracks_fts_data SET block = x'00010203' WHERE id > 10",
            "database disk image is malformed",
        ),
        ("DROP TABLE tracks_fts", "no such table: tracks_fts"),
    ],
    ids=["damaged", "dropped"],
)
async def test_a_damaged_or_missing_sqlite_index_is_rebuilt(
    db: Database, damage: str, reason: str
) -> None:
    await _sql(db, damage)
    with pytest.raises(DBAPIError, match=reason):
        await _found(db, "windowlicker")

    report = await rebuild_search_index(db.engine)

    assert report.unreadable is not None
    assert reason in report.unreadable
    assert "could not be read" in report.describe()
    assert await _found(db, "windowlicker") == ["t0002"]


async def test_a_failed_sqlite_rebuild_changes_nothing(db: Database) -> None:
    # A track the fill cannot index (labels that are not JSON), stored behind the triggers'
    # back: the rebuild fails after it has dropped and created the table.
    await _sql(
        db,
        "DROP TRIGGER tracks_fts_update",
        "UPDATE tracks SET labels = 'not json' WHERE id = 't0003'",
    )
    schema = "SELECT name, sql FROM sqlite_master WHERE name LIKE 'tracks_fts%' ORDER BY name"
    async with db.engine.connect() as conn:
        before = list(await conn.exec_driver_sql(schema))

    with pytest.raises(DBAPIError, match="malformed JSON"):
        await rebuild_search_index(db.engine)

    async with db.engine.connect() as conn:
        assert list(await conn.exec_driver_sql(schema)) == before
    assert await _found(db, "windowlicker") == ["t0002"]  # the old index, as it was


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
async def test_a_postgresql_reindex_that_cannot_lock_fails_and_changes_nothing(
    db: Database,
) -> None:
    engine = await asyncio.to_thread(
        create_async_engine, db.url, connect_args={"server_settings": {"lock_timeout": "200"}}
    )
    try:
        async with db.engine.connect() as holder:
            # A session holding the lock REINDEX CONCURRENTLY needs (as another one would).
            await holder.exec_driver_sql("LOCK TABLE tracks IN SHARE UPDATE EXCLUSIVE MODE")
            with pytest.raises(DBAPIError, match="lock timeout"):
                await rebuild_search_index(engine)
            await holder.rollback()
    finally:
        await engine.dispose()
    async with db.engine.connect() as conn:
        names = list((await conn.exec_driver_sql("SELECT indexname FROM pg_indexes")).scalars())
    assert [n for n in names if n.startswith("ix_tracks_search")] == ["ix_tracks_search"]
    assert await _found(db, "windowlicker") == ["t0002"]


@pytest.mark.parametrize(
    ("drift", "stale", "orphans"),
    [(None, 0, 0), (_emptied, 3, 0), (_renumbered, 3, 3), (_stale, 1, 0)],
    ids=["in-step", "emptied", "renumbered", "stale"],
)
async def test_the_sqlite_report_says_how_far_the_index_had_drifted(
    db: Database, drift: Drift | None, stale: int, orphans: int
) -> None:
    if drift is not None:
        await drift(db)
    report = await rebuild_search_index(db.engine)
    assert (report.stale, report.orphans, report.unreadable) == (stale, orphans, None)
    line = report.describe()
    assert line.startswith("search index rebuilt: 3 tracks in ")
    if drift is None:
        assert line.endswith("(SQLite FTS5; the old index was in step)")
    else:
        assert f"{stale} tracks were missing from the old index or out of date" in line
        assert f"{orphans} of its entries matched no track" in line


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
async def test_a_missing_postgresql_index_is_created(db: Database) -> None:
    await _sql(db, "DROP INDEX ix_tracks_search")
    report = await rebuild_search_index(db.engine)
    assert report.created
    assert "ix_tracks_search was missing and was created" in report.describe()
    assert await _found(db, "windowlicker") == ["t0002"]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
async def test_an_index_left_invalid_by_a_failed_build_is_rebuilt(db: Database) -> None:
    await _sql(
        db,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_tracks_search'::regclass",
    )
    await rebuild_search_index(db.engine)
    async with db.engine.connect() as conn:
        valid = await conn.exec_driver_sql(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_tracks_search'::regclass"
        )
        assert valid.scalar_one() is True
    assert await _found(db, "windowlicker") == ["t0002"]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
async def test_an_invalid_copy_left_by_an_interrupted_reindex_is_dropped(db: Database) -> None:
    await _sql(
        db,
        "CREATE INDEX ix_tracks_search_ccnew ON tracks (title)",
        "UPDATE pg_index SET indisvalid = false"
        " WHERE indexrelid = 'ix_tracks_search_ccnew'::regclass",
    )
    report = await rebuild_search_index(db.engine)
    assert not report.created
    async with db.engine.connect() as conn:
        names = set((await conn.exec_driver_sql("SELECT indexname FROM pg_indexes")).scalars())
    assert "ix_tracks_search" in names
    assert "ix_tracks_search_ccnew" not in names


# --- the command ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_reindex_command_rebuilds_and_prints_one_line(
    request: pytest.FixtureRequest,
    dialect: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    if dialect == "sqlite":
        url = Settings.load({}, data_dir=data).effective_database_url
        drift, q, track = _emptied, "windowlicker", "t0002"
    else:
        url = request.getfixturevalue("postgres_url")
        # The database named as every command takes it, here from the environment.
        monkeypatch.setenv("STREAMER_DATABASE_URL", url)
        drift, q, track = _missing_entries, "isobel", "t0001"

    async def drifted() -> list[str]:
        database = await _prepared(url)
        try:
            await drift(database)
            return await _found(database, q)
        finally:
            await database.dispose()

    async def found() -> list[str]:
        database = await asyncio.to_thread(Database, url)
        try:
            return await _found(database, q)
        finally:
            await database.dispose()

    assert asyncio.run(drifted()) == []

    assert main(["reindex", "--data-dir", str(data)]) == 0

    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert line.startswith("search index rebuilt: 3 tracks in ")
    assert ("SQLite FTS5" if dialect == "sqlite" else "REINDEX INDEX CONCURRENTLY") in line
    assert err == ""
    assert asyncio.run(found()) == [track]


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (
            ["--database-url", "postgresql+asyncpg://postgres:x@127.0.0.1:9/none"],
            1,
            "cannot rebuild the search index: ",
        ),
        (["--data-dir", "MISSING"], 2, "no database at MISSING/streamer.db"),
    ],
    ids=["unreachable-postgresql", "no-sqlite-database"],
)
def test_reindex_command_failure_is_one_clear_line(
    tmp_path: Path,
    args: list[str],
    status: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = str(tmp_path / "mistyped")
    assert main(["reindex", *(arg.replace("MISSING", missing) for arg in args)]) == status
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"streamer: {message.replace('MISSING', missing)}")
    assert not (tmp_path / "mistyped").exists()  # nothing made where the path pointed
