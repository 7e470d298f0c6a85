"""The catalogue as Subsonic players browse it: music folders (libraries), artists and
albums grouped from the tracks' tags, songs, genres, album lists and search, each within
the libraries the caller may read. Queries only; the shapes are streamer.subsonic.views."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, distinct, func, or_, select, true

from streamer.db import Database, Library, SubsonicPlay, Track
from streamer.subsonic.ids import AlbumKey
from streamer.subsonic.views import UNKNOWN_ALBUM, UNKNOWN_ARTIST, AlbumRow, ArtistRow, folder_id

__all__ = ["ALBUM", "ARTIST", "Catalog", "Scope", "of_album", "of_artist"]

# The grouping of streamer.subsonic.views.album_artist_of, in SQL.
ARTIST: ColumnElement[str] = func.coalesce(
    func.nullif(Track.album_artist, ""), func.nullif(Track.artist, ""), UNKNOWN_ARTIST
)
ALBUM: ColumnElement[str] = func.coalesce(func.nullif(Track.album, ""), UNKNOWN_ALBUM)
MAX_PAGE = 500


def of_artist(name: str) -> ColumnElement[bool]:
    return ARTIST.is_not_distinct_from(name)


def of_album(key: AlbumKey) -> ColumnElement[bool]:
    return and_(ARTIST.is_not_distinct_from(key.artist), ALBUM.is_not_distinct_from(key.album))


class Scope:
    """The libraries a call may see: the caller's readable ones (None: all), narrowed to
    one music folder when the call names one."""

    def __init__(self, readable: frozenset[str] | None, folder: int | None = None) -> None:
        self.readable = readable
        self.folder = folder

    def where(self, libraries: Sequence[str]) -> ColumnElement[bool]:
        chosen = [
            lib
            for lib in libraries
            if (self.readable is None or lib in self.readable)
            and (self.folder is None or folder_id(lib) == self.folder)
        ]
        return and_(Track.status == "ok", Track.library_id.in_(chosen))


def _album_rows(rows: Sequence[Any]) -> list[AlbumRow]:
    return [
        AlbumRow(r.artist, r.album, r.songs, r.seconds or 0.0, r.created, r.year, r.genre, r.cover)
        for r in rows
    ]


class Catalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def libraries(self, scope: Scope) -> list[Library]:
        async with self.db.session() as session:
            rows = list(await session.scalars(select(Library).order_by(Library.name)))
        return [
            lib
            for lib in rows
            if (scope.readable is None or lib.id in scope.readable)
            and (scope.folder is None or folder_id(lib.id) == scope.folder)
        ]

    async def _where(self, scope: Scope) -> ColumnElement[bool]:
        return scope.where([lib.id for lib in await self.libraries(scope)])

    async def artists(self, scope: Scope) -> list[ArtistRow]:
        where = await self._where(scope)
        query = (
            select(
                ARTIST.label("artist"),
                func.count(distinct(ALBUM)).label("albums"),
                func.max(func.nullif(func.coalesce(Track.cover_key, ""), "")).label("cover"),
            )
            .where(where)
            .group_by(ARTIST)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [ArtistRow(r.artist, r.albums, r.cover) for r in rows]

    def _albums(self, where: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
        return (
            select(
                ARTIST.label("artist"),
                ALBUM.label("album"),
                func.count().label("songs"),
                func.sum(Track.duration).label("seconds"),
                func.min(Track.created_at).label("created"),
                func.max(Track.year).label("year"),
                func.min(Track.genre).label("genre"),
                func.max(func.nullif(func.coalesce(Track.cover_key, ""), "")).label("cover"),
            )
            .where(where)
            .group_by(ARTIST, ALBUM)
        )

    async def albums_of(self, scope: Scope, artist: str) -> list[AlbumRow]:
        where = and_(await self._where(scope), of_artist(artist))
        query = self._albums(where).order_by(func.max(Track.year), ALBUM)
        async with self.db.session() as session:
            return _album_rows((await session.execute(query)).all())

    async def album(self, scope: Scope, key: AlbumKey) -> tuple[AlbumRow, list[Track]] | None:
        where = and_(await self._where(scope), of_album(key))
        async with self.db.session() as session:
            found = _album_rows((await session.execute(self._albums(where))).all())
            if not found:
                return None
            songs = await session.scalars(
                select(Track)
                .where(where)
                .order_by(
                    func.coalesce(Track.disc_number, 1),
                    func.coalesce(Track.track_number, 0),
                    Track.title,
                    Track.key,
                )
            )
            return found[0], list(songs)

    async def song(self, scope: Scope, track_id: str) -> Track | None:
        where = and_(await self._where(scope), Track.id == track_id)
        async with self.db.session() as session:
            return await session.scalar(select(Track).where(where))

    async def songs(self, scope: Scope, track_ids: Sequence[str]) -> list[Track]:
        """The readable tracks among ``track_ids``, in that order (repeats kept)."""
        if not track_ids:
            return []
        where = and_(await self._where(scope), Track.id.in_(set(track_ids)))
        async with self.db.session() as session:
            found = {t.id: t for t in await session.scalars(select(Track).where(where))}
        return [found[i] for i in track_ids if i in found]

    async def album_rows(self, scope: Scope, keys: Sequence[AlbumKey]) -> list[AlbumRow]:
        """The albums of ``keys`` that the scope holds, in that order."""
        if not keys:
            return []
        where = and_(await self._where(scope), or_(*(of_album(k) for k in keys)))
        async with self.db.session() as session:
            rows = _album_rows((await session.execute(self._albums(where))).all())
        found = {AlbumKey(r.artist, r.name): r for r in rows}
        return [found[k] for k in keys if k in found]

    async def artist_rows(self, scope: Scope, names: Sequence[str]) -> list[ArtistRow]:
        """The artists of ``names`` that the scope holds, in that order."""
        if not names:
            return []
        where = and_(await self._where(scope), or_(*(of_artist(n) for n in names)))
        query = (
            select(
                ARTIST.label("artist"),
                func.count(distinct(ALBUM)).label("albums"),
                func.max(func.nullif(func.coalesce(Track.cover_key, ""), "")).label("cover"),
            )
            .where(where)
            .group_by(ARTIST)
        )
        async with self.db.session() as session:
            found = {
                r.artist: ArtistRow(r.artist, r.albums, r.cover)
                for r in (await session.execute(query)).all()
            }
        return [found[n] for n in names if n in found]

    async def played_albums(
        self, scope: Scope, owner: str, *, by: str, size: int, offset: int
    ) -> list[AlbumRow]:
        """The listener's played albums, most recently (``by="recent"``) or most often
        (``by="frequent"``) played first."""
        last = func.max(SubsonicPlay.played_at)
        count = func.count()
        query = (
            select(ARTIST.label("artist"), ALBUM.label("album"))
            .select_from(SubsonicPlay)
            .join(Track, Track.id == SubsonicPlay.track_id)
            .where(await self._where(scope), SubsonicPlay.owner == owner)
            .group_by(ARTIST, ALBUM)
            .order_by(*((last.desc(),) if by == "recent" else (count.desc(), last.desc())))
            .limit(min(size, MAX_PAGE))
            .offset(offset)
        )
        async with self.db.session() as session:
            keys = [AlbumKey(r.artist, r.album) for r in (await session.execute(query)).all()]
        return await self.album_rows(scope, keys)

    async def cover_track(self, scope: Scope, where: ColumnElement[bool]) -> str | None:
        """The id of a track with a cover among ``where`` (an album's, an artist's)."""
        query = (
            select(Track.id)
            .where(await self._where(scope), where, Track.cover_key.is_not(None))
            .order_by(func.coalesce(Track.disc_number, 1), func.coalesce(Track.track_number, 0))
            .limit(1)
        )
        async with self.db.session() as session:
            return await session.scalar(query)

    async def album_list(
        self,
        scope: Scope,
        kind: str,
        *,
        size: int,
        offset: int,
        from_year: int | None = None,
        to_year: int | None = None,
        genre: str | None = None,
    ) -> list[AlbumRow]:
        where = await self._where(scope)
        query = self._albums(where)
        if kind == "random":
            query = query.order_by(func.random())
        elif kind == "newest":
            query = query.order_by(func.min(Track.created_at).desc(), ARTIST, ALBUM)
        elif kind == "alphabeticalByName":
            query = query.order_by(func.lower(ALBUM), ARTIST)
        elif kind == "alphabeticalByArtist":
            query = query.order_by(func.lower(ARTIST), func.lower(ALBUM))
        elif kind == "byYear":
            assert from_year is not None
            assert to_year is not None
            low, high = sorted((from_year, to_year))
            year = func.max(Track.year)
            query = query.having(and_(year >= low, year <= high))
            descending = from_year > to_year
            query = query.order_by(year.desc() if descending else year, ARTIST, ALBUM)
        elif kind == "byGenre":
            query = query.having(func.min(Track.genre) == genre).order_by(ARTIST, ALBUM)
        else:  # recent, frequent and starred are the listener's (streamer.subsonic.browsing)
            return []
        query = query.limit(min(size, MAX_PAGE)).offset(offset)
        async with self.db.session() as session:
            return _album_rows((await session.execute(query)).all())

    async def random_songs(
        self,
        scope: Scope,
        *,
        size: int,
        genre: str | None,
        from_year: int | None,
        to_year: int | None,
    ) -> list[Track]:
        conditions = [await self._where(scope)]
        if genre is not None:
            conditions.append(Track.genre == genre)
        if from_year is not None:
            conditions.append(Track.year >= from_year)
        if to_year is not None:
            conditions.append(Track.year <= to_year)
        query = select(Track).where(*conditions).order_by(func.random()).limit(min(size, MAX_PAGE))
        async with self.db.session() as session:
            return list(await session.scalars(query))

    async def genres(self, scope: Scope) -> list[tuple[str, int, int]]:
        """(genre, songs, albums), by name."""
        where = and_(await self._where(scope), Track.genre.is_not(None), Track.genre != "")
        album_key = ARTIST + "\x1f" + ALBUM
        query = (
            select(Track.genre, func.count(), func.count(distinct(album_key)))
            .where(where)
            .group_by(Track.genre)
            .order_by(Track.genre)
        )
        async with self.db.session() as session:
            return [(str(g), int(s), int(a)) for g, s, a in (await session.execute(query)).all()]

    async def search(
        self,
        scope: Scope,
        words: Sequence[str],
        *,
        artists: tuple[int, int],
        albums: tuple[int, int],
        songs: tuple[int, int],
    ) -> tuple[list[ArtistRow], list[AlbumRow], list[Track]]:
        """Artists, albums and songs whose names hold every word (case-insensitive);
        no words: everything (players sync a whole library that way). Each kind with
        its (count, offset)."""
        where = await self._where(scope)

        def holds(*columns: Any) -> ColumnElement[bool]:
            if not words:
                return true()
            return and_(
                *(
                    or_(*(func.lower(c).contains(word.lower(), autoescape=True) for c in columns))
                    for word in words
                )
            )

        artist_query = (
            select(
                ARTIST.label("artist"),
                func.count(distinct(ALBUM)).label("albums"),
                func.max(func.nullif(func.coalesce(Track.cover_key, ""), "")).label("cover"),
            )
            .where(where)
            .group_by(ARTIST)
            .having(holds(ARTIST))
            .order_by(func.lower(ARTIST))
            .limit(min(artists[0], MAX_PAGE))
            .offset(artists[1])
        )
        album_query = (
            self._albums(where)
            .having(holds(ALBUM))
            .order_by(func.lower(ALBUM), ARTIST)
            .limit(min(albums[0], MAX_PAGE))
            .offset(albums[1])
        )
        song_query = (
            select(Track)
            .where(where, holds(func.coalesce(Track.title, Track.key), Track.artist, Track.album))
            .order_by(func.lower(Track.title), Track.id)
            .limit(min(songs[0], MAX_PAGE))
            .offset(songs[1])
        )
        async with self.db.session() as session:
            found_artists = (await session.execute(artist_query)).all() if artists[0] else []
            found_albums = (await session.execute(album_query)).all() if albums[0] else []
            found_songs = list(await session.scalars(song_query)) if songs[0] else []
        return (
            [ArtistRow(r.artist, r.albums, r.cover) for r in found_artists],
            _album_rows(found_albums),
            found_songs,
        )
