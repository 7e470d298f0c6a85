"""The catalogue query (streamer.catalogue.search) on SQLite and PostgreSQL: full-text
search, combined filters, sorts with ties, and cursors that neither repeat nor skip rows
while the table changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from streamer.catalogue.search import (
    InvalidCursor,
    TrackFilter,
    encode_cursor,
    search_tracks,
)
from streamer.db import Database, Library, Track, TrackLabel, migrate

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/search.db"
    else:
        url = request.getfixturevalue("postgres_url")
    await asyncio.to_thread(migrate, url)
    database = await asyncio.to_thread(Database, url)
    try:
        yield database
    finally:
        await database.dispose()


def _row(n: int, library: str = "lib1", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"t{n:04d}",
        "library_id": library,
        "key": f"music/track-{n:04d}.mp3",
        "status": "ok",
        "size": 1000,
        "mtime": 0.0,
        "version": "v",
        "content_type": "audio/mpeg",
        "codec": "mp3",
        "title": f"Song {n}",
        "artist": "Nobody",
        "album": None,
        "genre": None,
        "year": None,
        "duration": 10.0,
        "tags": {},
        "labels": [],
        "overrides": {},
        "row_version": 1,
        "created_at": T0 + timedelta(seconds=n),
        "updated_at": T0,
        "scanned_at": T0 + timedelta(seconds=n),
    }
    row.update(fields)
    return row


async def _load(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.session() as session, session.begin():
        for library in sorted({row["library_id"] for row in rows}):
            await session.execute(
                insert(Library), [{"id": library, "name": library, "root": f"/{library}"}]
            )
        await session.execute(insert(Track), rows)
        labels = [
            {"track_id": row["id"], "label": label} for row in rows for label in row["labels"]
        ]
        if labels:
            await session.execute(insert(TrackLabel), labels)


async def _ids(db: Database, where: TrackFilter, **kwargs: Any) -> list[str]:
    return [track.id for track in (await search_tracks(db, where, limit=500, **kwargs)).tracks]


CATALOGUE = [
    _row(1, title="Ça va", artist="Björk", album="Début", genre="Pop", year=1993, duration=200.0,
         labels=["favourite", "90s"]),
    _row(2, title="Hyperballad", artist="Björk", album="Post", genre="Pop", year=1995,
         duration=321.5, labels=["90s"]),
    _row(3, title="Windowlicker", artist="Aphex Twin", album=None, genre="Electronic",
         year=1999, duration=370.0, codec="flac", labels=["favourite"]),
    _row(4, title="日本語のタイトル", artist="Unknown", genre="Electronic", year=2020,
         duration=61.0),
    _row(5, library="lib2", title="Foreign Song", artist="Björk", genre="Pop", year=1995),
    _row(6, title="Broken", status="error", codec=None, duration=None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (TrackFilter(q="björk"), ["t0001", "t0002", "t0005"]),
        (TrackFilter(q="bjö"), ["t0001", "t0002", "t0005"]),  # words match by prefix
        (TrackFilter(q="HYPER post"), ["t0002"]),  # every word must match, any column
        (TrackFilter(q="favourite"), ["t0001", "t0003"]),  # labels are searched
        (TrackFilter(q="track 0003"), ["t0003"]),  # so is the path
        (TrackFilter(q="日本語のタイトル"), ["t0004"]),
        (TrackFilter(q="%_%"), []),  # no word: nothing, and no LIKE wildcards
        (TrackFilter(q='" OR *'), []),  # query syntax is not passed through
        (TrackFilter(q="nothing like this"), []),
        (TrackFilter(readable=["lib1"], q="björk"), ["t0001", "t0002"]),
        (TrackFilter(library="lib2"), ["t0005"]),
        (TrackFilter(tags=["favourite", "90s"]), ["t0001", "t0002", "t0003"]),
        (TrackFilter(tags=["favourite", "90s"], tags_mode="all"), ["t0001"]),
        (TrackFilter(tags=["nope"]), []),
        (TrackFilter(genre="Pop", year_min=1994), ["t0002", "t0005"]),
        (TrackFilter(year_min=1993, year_max=1995), ["t0001", "t0002", "t0005"]),
        (TrackFilter(duration_min=300, duration_max=370), ["t0002", "t0003"]),
        (TrackFilter(codec="flac"), ["t0003"]),
        (TrackFilter(status="error"), ["t0006"]),
        (
            TrackFilter(
                q="björk",
                tags=["90s"],
                genre="Pop",
                year_max=1995,
                codec="mp3",
                status="ok",
                library="lib1",
                readable=["lib1", "lib2"],
            ),
            ["t0001", "t0002"],
        ),
    ],
)
async def test_filters_and_search_combine(
    db: Database, where: TrackFilter, expected: list[str]
) -> None:
    await _load(db, CATALOGUE)
    assert sorted(await _ids(db, where)) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("year", None),
        ("-year", None),
        ("duration", None),
        ("-duration", None),
        ("title", None),
        ("-created_at", ["t0006", "t0005", "t0004", "t0003", "t0002", "t0001"]),
        ("created_at", ["t0001", "t0002", "t0003", "t0004", "t0005", "t0006"]),
    ],
)
async def test_sorts_order_by_the_field_then_id(
    db: Database, sort: str, expected: list[str] | None
) -> None:
    await _load(db, CATALOGUE)
    tracks = (await search_tracks(db, TrackFilter(), sort=sort, limit=100)).tracks
    if expected is not None:
        assert [t.id for t in tracks] == expected
    name, descending = sort.lstrip("-"), sort.startswith("-")
    present = [(getattr(t, name), t.id) for t in tracks if getattr(t, name) is not None]
    assert present == sorted(present, reverse=descending)


@pytest.mark.parametrize("sort", ["year", "-year", "title", "-title", "duration", "-scanned_at"])
async def test_a_cursor_walks_every_row_once_even_with_ties_and_nulls(
    db: Database, sort: str
) -> None:
    # Many ties (years repeat, a third have none) and equal scan times.
    rows = [
        _row(n, year=None if n % 3 == 0 else 1990 + n % 4, title=None if n % 5 == 0 else "Same",
             scanned_at=T0 + timedelta(seconds=n % 2), duration=float(n % 7))
        for n in range(1, 48)
    ]  # fmt: skip
    await _load(db, rows)
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page = await search_tracks(db, TrackFilter(), sort=sort, limit=5, cursor=cursor)
        assert page.total == 47
        seen += [t.id for t in page.tracks]
        cursor = page.next_cursor
        if cursor is None:
            break
    everything = await _ids(db, TrackFilter(), sort=sort)
    assert seen == everything
    assert len(set(seen)) == 47


async def test_rows_changing_between_pages_are_neither_repeated_nor_skipped(
    db: Database,
) -> None:
    await _load(db, [_row(n, year=2000 + n % 3) for n in range(1, 31)])
    first = await search_tracks(db, TrackFilter(), sort="year", limit=10)
    shown = [t.id for t in first.tracks]
    # Meanwhile: a row not yet shown goes, a new row comes before the cursor and one after.
    async with db.session() as session, session.begin():
        await session.execute(delete(Track).where(Track.id == "t0029"))
        await session.execute(insert(Track), [_row(90, year=1999), _row(91, year=2002)])
        await session.execute(update(Track).where(Track.id == "t0030").values(title="Changed"))
    cursor = first.next_cursor
    while cursor is not None:
        page = await search_tracks(db, TrackFilter(), sort="year", limit=10, cursor=cursor)
        shown += [t.id for t in page.tracks]
        cursor = page.next_cursor
    assert len(shown) == len(set(shown))
    expected = {f"t{n:04d}" for n in range(1, 31)} - {"t0029"} | {"t0091"}
    assert set(shown) == expected  # t0090 sorts before the first page's cursor


async def test_search_follows_edits_of_the_searched_fields(db: Database) -> None:
    await _load(db, CATALOGUE)
    async with db.session() as session, session.begin():
        await session.execute(
            update(Track).where(Track.id == "t0003").values(title="Renamed", labels=["späť"])
        )
    assert await _ids(db, TrackFilter(q="windowlicker")) == []
    assert await _ids(db, TrackFilter(q="renamed")) == ["t0003"]
    assert await _ids(db, TrackFilter(q="späť")) == ["t0003"]
    async with db.session() as session, session.begin():
        await session.execute(delete(Track).where(Track.id == "t0003"))
    assert await _ids(db, TrackFilter(q="renamed")) == []


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bm90IGpzb24", encode_cursor("title", Track(id="x", title="a"))],
)
async def test_a_foreign_or_broken_cursor_is_refused(db: Database, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await search_tracks(db, TrackFilter(), sort="year", cursor=cursor or "e30")
