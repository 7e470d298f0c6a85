"""With 100k tracks, the catalogue's list, filter, sort and search queries use indexes:
no plan scans the whole tracks table (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert, text

from streamer.catalogue.search import TrackFilter, filtered_query, page_query
from streamer.db import Database, Library, Track, TrackLabel, migrate

pytestmark = pytest.mark.slow
N = 100_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('plans')}/plans.db"
    # One database for the module (postgres_url is per test): filled once, read only.
    server: str = request.getfixturevalue("postgres_server")
    name = f"plans_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/{name}?ssl=disable"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await asyncio.to_thread(Database, database_url)
    async with database.engine.connect() as conn:
        empty = not (
            await conn.execute(
                text("SELECT to_regclass('tracks') IS NOT NULL")
                if database.engine.dialect.name == "postgresql"
                else text("SELECT 1 FROM sqlite_master WHERE name='tracks'")
            )
        ).scalar()
    if empty:
        await asyncio.to_thread(migrate, database_url)
        await _fill(database)
    try:
        yield database
    finally:
        await database.dispose()


async def _fill(db: Database) -> None:
    rows: list[dict[str, Any]] = [
        {"id": f"t{n:07d}", "library_id": "lib", "key": f"a/{n}.mp3", "status": "ok",
         "size": 1, "mtime": 0.0, "version": "v", "content_type": "audio/mpeg",
         "codec": ("mp3", "flac", "aac")[n % 3], "title": f"title {n}",
         "artist": f"artist {n % 997}",
         "album": f"album {n % 5003}", "genre": f"genre {n % 50}", "year": 1950 + n % 75,
         "duration": float(n % 600), "tags": {}, "labels": [f"l{n % 100}"], "overrides": {},
         "row_version": 1, "created_at": T0 + timedelta(seconds=n), "updated_at": T0,
         "scanned_at": T0 + timedelta(seconds=n)}
        for n in range(N)
    ]  # fmt: skip
    async with db.session() as session, session.begin():
        await session.execute(insert(Library), [{"id": "lib", "name": "l", "root": "/l"}])
        for start in range(0, N, 10_000):  # executemany in batches
            await session.execute(insert(Track), rows[start : start + 10_000])
            await session.execute(
                insert(TrackLabel),
                [
                    {"track_id": r["id"], "label": r["labels"][0]}
                    for r in rows[start : start + 10_000]
                ],
            )
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()


CASES = [
    (TrackFilter(), "-scanned_at"),
    (TrackFilter(), "title"),
    (TrackFilter(), "-year"),
    (TrackFilter(readable=["lib"]), "artist"),
    (TrackFilter(genre="genre 7"), "-scanned_at"),
    (TrackFilter(codec="flac", status="ok"), "duration"),
    (TrackFilter(year_min=2000, year_max=2001), "year"),
    (TrackFilter(q="title 4242"), "title"),
    (TrackFilter(tags=["l7"]), "-created_at"),
]


@pytest.mark.parametrize(("where", "sort"), CASES, ids=[f"{w}-{s}" for w, s in CASES])
async def test_no_query_scans_the_whole_tracks_table(
    db: Database, where: TrackFilter, sort: str
) -> None:
    dialect = db.engine.dialect.name
    query = page_query(filtered_query(where, dialect), sort, dialect).limit(50)
    compiled = query.compile(db.engine.sync_engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    async with db.engine.connect() as conn:
        plan = "\n".join(str(row[-1]) for row in await conn.execute(text(explain + str(compiled))))
    if dialect == "sqlite":
        assert not any(
            line.strip().split()[:2] == ["SCAN", "tracks"] and "USING" not in line
            for line in plan.splitlines()
        ), plan
    else:
        assert "Seq Scan on tracks" not in plan, plan
