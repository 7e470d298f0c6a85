"""Every album and artist of the catalogue, in memory: what getAlbumList2, getArtists,
getIndexes and search3's artists and albums read, so that a list or a search over 100,000
tracks costs a walk over the albums (thousands) instead of a GROUP BY over the tracks.

One query groups the tracks by library, album artist and album; the snapshot keeps the
albums in each order the lists use. It is read again in the background once older than
``fresh_for`` seconds (the answer meanwhile is the snapshot in hand), so a scan's changes
show in the lists within about that time, and no request waits for a reload but the very
first. An album found in several libraries a caller may read is one album, its parts
added up."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from streamer.catalogue.search import search_terms
from streamer.db import Database, Track
from streamer.subsonic.grouping import ALBUM, ARTIST
from streamer.subsonic.ids import AlbumKey
from streamer.subsonic.names import sort_name
from streamer.subsonic.views import AlbumRow, ArtistRow

__all__ = ["AlbumIndex", "Snapshot", "fold", "matches"]

logger = logging.getLogger("streamer.subsonic")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a name or query."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def matches(words: Sequence[str], name_words: Sequence[str]) -> bool:
    """Every query word begins a word of the name (as the track search does)."""
    return all(any(w.startswith(q) for w in name_words) for q in words)


@dataclass(slots=True)
class _Album:
    key: AlbumKey
    parts: dict[str, AlbumRow]  # library id -> the album's tracks there
    words: tuple[str, ...]
    artist_words: tuple[str, ...]

    def row(self, libraries: Callable[[str], bool]) -> AlbumRow | None:
        """The album as the libraries ``libraries`` admits hold it, or None."""
        found = [part for lib, part in self.parts.items() if libraries(lib)]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        years = [p.year for p in found if p.year is not None]
        return AlbumRow(
            self.key.artist,
            self.key.album,
            sum(p.songs for p in found),
            sum(p.seconds for p in found),
            min(p.created for p in found),
            max(years) if years else None,
            next((p.genre for p in found if p.genre), None),
            next((p.cover for p in found if p.cover), None),
        )


@dataclass
class Snapshot:
    albums: list[_Album] = field(default_factory=list)
    newest: list[_Album] = field(default_factory=list)
    by_name: list[_Album] = field(default_factory=list)
    by_artist: list[_Album] = field(default_factory=list)
    by_key: dict[AlbumKey, _Album] = field(default_factory=dict)
    of_artist: dict[str, list[_Album]] = field(default_factory=dict)
    artist_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    artist_order: list[str] = field(default_factory=list)  # by folded name
    # (word of an album's name, the album's place in by_name), sorted: the albums whose
    # names have a word beginning with a prefix are one bisected run of it.
    album_words: list[tuple[str, int]] = field(default_factory=list)

    def named(self, words: Sequence[str]) -> Iterator[_Album]:
        """The albums whose names match ``words``, in by_name order (all without words)."""
        if not words:
            yield from self.by_name
            return
        chosen: set[int] | None = None
        for prefix in words:
            places: set[int] = set()
            at = bisect_left(self.album_words, (prefix, -1))
            while at < len(self.album_words) and self.album_words[at][0].startswith(prefix):
                places.add(self.album_words[at][1])
                at += 1
            chosen = places if chosen is None else chosen & places
            if not chosen:
                return
        for place in sorted(chosen or ()):
            yield self.by_name[place]

    def rows(self, order: Iterable[_Album], libraries: Callable[[str], bool]) -> Iterator[AlbumRow]:
        for album in order:
            row = album.row(libraries)
            if row is not None:
                yield row

    def artists(
        self, libraries: Callable[[str], bool], words: Sequence[str] = ()
    ) -> list[ArtistRow]:
        """The artists with albums in ``libraries`` (whose names match ``words``), by
        name."""
        found = []
        for name in self.artist_order:
            if words and not matches(words, self.artist_words[name]):
                continue
            albums = self.of_artist[name]
            rows = [r for a in albums if (r := a.row(libraries)) is not None]
            if rows:
                cover = next((r.cover for r in rows if r.cover), None)
                found.append(ArtistRow(name, len(rows), cover))
        return found

    def random(self, libraries: Callable[[str], bool], size: int) -> list[AlbumRow]:
        rows = list(self.rows(self.albums, libraries))
        return random.sample(rows, min(size, len(rows)))


_Row = tuple[str, str, str, int, float, datetime, int | None, str | None, str | None]


def _first_added(album: _Album) -> datetime:
    return min(p.created for p in album.parts.values())


def _build(rows: Sequence[_Row]) -> Snapshot:
    snapshot = Snapshot()
    for library_id, artist, name, songs, seconds, added, year, genre, cover in rows:
        key = AlbumKey(artist, name)
        entry = snapshot.by_key.get(key)
        if entry is None:
            words = tuple(search_terms(fold(name)))
            entry = _Album(key, {}, words, tuple(search_terms(fold(artist))))
            snapshot.by_key[key] = entry
            snapshot.albums.append(entry)
            snapshot.of_artist.setdefault(artist, []).append(entry)
        part = AlbumRow(artist, name, songs, seconds or 0.0, added, year, genre, cover)
        entry.parts[library_id] = part
    albums = snapshot.albums
    snapshot.newest = sorted(
        albums, key=lambda a: (_first_added(a), a.key.artist, a.key.album), reverse=True
    )
    snapshot.by_name = sorted(albums, key=lambda a: (a.key.album.casefold(), a.key.artist))
    snapshot.by_artist = sorted(
        albums, key=lambda a: (sort_name(a.key.artist), a.key.album.casefold())
    )
    for of_one in snapshot.of_artist.values():
        of_one.sort(key=lambda a: (max((p.year or 0) for p in a.parts.values()), a.key.album))
    snapshot.album_words = sorted(
        (word, place) for place, album in enumerate(snapshot.by_name) for word in set(album.words)
    )
    snapshot.artist_words = {name: tuple(search_terms(fold(name))) for name in snapshot.of_artist}
    snapshot.artist_order = sorted(snapshot.of_artist, key=lambda n: (fold(n), n))
    return snapshot


class AlbumIndex:
    def __init__(self, db: Database, *, fresh_for: float = 10.0) -> None:
        self.db = db
        self.fresh_for = fresh_for
        self._snapshot: Snapshot | None = None
        self._loaded_at = 0.0
        self._loading: asyncio.Task[Snapshot] | None = None

    async def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            return await asyncio.shield(self._load())
        if time.monotonic() - self._loaded_at > self.fresh_for and self._loading is None:
            self._load()  # in the background; this answer uses the snapshot in hand
        return self._snapshot

    def invalidate(self) -> None:
        """Read again at the next request (after a change this process made)."""
        self._loaded_at = 0.0

    def _load(self) -> asyncio.Task[Snapshot]:
        if self._loading is None:
            self._loading = asyncio.create_task(self._read())
            self._loading.add_done_callback(self._loaded)
        return self._loading

    def _loaded(self, task: asyncio.Task[Snapshot]) -> None:
        self._loading = None
        if task.cancelled():
            return
        if task.exception() is not None:
            logger.warning("could not read the albums", exc_info=task.exception())
            return
        self._snapshot = task.result()
        self._loaded_at = time.monotonic()

    async def _read(self) -> Snapshot:
        query = (
            select(
                Track.library_id,
                ARTIST,
                ALBUM,
                func.count(),
                func.sum(Track.duration),
                func.min(Track.created_at),
                func.max(Track.year),
                func.min(Track.genre),
                func.max(func.nullif(func.coalesce(Track.cover_key, ""), "")),
            )
            .where(Track.status == "ok")
            .group_by(Track.library_id, ARTIST, ALBUM)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        # Thousands of albums to sort: off the loop.
        return await asyncio.to_thread(_build, [tuple(r) for r in rows])
