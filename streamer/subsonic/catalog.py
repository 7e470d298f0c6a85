"""The catalogue as Subsonic players browse it: music folders (libraries), artists and
albums grouped from the tracks' tags (held in memory: streamer.subsonic.album_index),
songs, genres, album lists and search, each within the libraries the caller may read."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

from sqlalchemy import ColumnElement, and_, distinct, func, select

from streamer.catalogue.search import TrackFilter, filtered_query, search_terms
from streamer.db import Database, Library, SubsonicPlay, Track
from streamer.subsonic.album_index import AlbumIndex, fold
from streamer.subsonic.grouping import ALBUM, ARTIST, of_album
from streamer.subsonic.ids import AlbumKey
from streamer.subsonic.views import AlbumRow, ArtistRow, album_artist_of, folder_id

__all__ = ["MAX_PAGE", "Catalog", "Scope", "album_row"]

MAX_PAGE = 500


class Scope:
    """The libraries a call may see: the caller's readable ones (None: all), narrowed to
    one music folder when the call names one."""

    def __init__(self, readable: frozenset[str] | None, folder: int | None = None) -> None:
        self.readable = readable
        self.folder = folder

    def allows(self, library_id: str) -> bool:
        return (self.readable is None or library_id in self.readable) and (
            self.folder is None or folder_id(library_id) == self.folder
        )

    def where(self, libraries: Sequence[str]) -> ColumnElement[bool]:
        chosen = [lib for lib in libraries if self.allows(lib)]
        return and_(Track.status == "ok", Track.library_id.in_(chosen))


def album_row(tracks: Sequence[Track]) -> AlbumRow:
    """The album the tracks (one album's, at least one) make."""
    first = tracks[0]
    years = [t.year for t in tracks if t.year is not None]
    return AlbumRow(
        album_artist_of(first),
        first.album or "[Unknown Album]",
        len(tracks),
        sum(t.duration or 0.0 for t in tracks),
        min(t.created_at for t in tracks),
        max(years) if years else None,
        min((t.genre for t in tracks if t.genre), default=None),
        max((t.cover_key for t in tracks if t.cover_key), default=None),
    )


class Catalog:
    def __init__(self, db: Database, albums: AlbumIndex | None = None) -> None:
        self.db = db
        self.albums = albums or AlbumIndex(db)

    async def libraries(self, scope: Scope) -> list[Library]:
        async with self.db.session() as session:
            rows = list(await session.scalars(select(Library).order_by(Library.name)))
        return [lib for lib in rows if scope.allows(lib.id)]

    async def _where(self, scope: Scope) -> ColumnElement[bool]:
        return scope.where([lib.id for lib in await self.libraries(scope)])

    async def artists(self, scope: Scope) -> list[ArtistRow]:
        return (await self.albums.snapshot()).artists(scope.allows)

    async def albums_of(self, scope: Scope, artist: str) -> list[AlbumRow]:
        snapshot = await self.albums.snapshot()
        return list(snapshot.rows(snapshot.of_artist.get(artist, ()), scope.allows))

    async def album(self, scope: Scope, key: AlbumKey) -> tuple[AlbumRow, list[Track]] | None:
        where = and_(await self._where(scope), of_album(key))
        async with self.db.session() as session:
            songs = list(
                await session.scalars(
                    select(Track)
                    .where(where)
                    .order_by(
                        func.coalesce(Track.disc_number, 1),
                        func.coalesce(Track.track_number, 0),
                        Track.title,
                        Track.key,
                    )
                )
            )
        if not songs:
            return None
        return album_row(songs), songs

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
        snapshot = await self.albums.snapshot()
        found = [snapshot.by_key.get(key) for key in keys]
        return list(snapshot.rows((a for a in found if a is not None), scope.allows))

    async def artist_rows(self, scope: Scope, names: Sequence[str]) -> list[ArtistRow]:
        """The artists of ``names`` that the scope holds, in that order."""
        snapshot = await self.albums.snapshot()
        found = []
        for name in names:
            rows = list(snapshot.rows(snapshot.of_artist.get(name, ()), scope.allows))
            if rows:
                found.append(
                    ArtistRow(name, len(rows), next((r.cover for r in rows if r.cover), None))
                )
        return found

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
        snapshot = await self.albums.snapshot()
        size = min(size, MAX_PAGE)
        if kind == "random":
            return snapshot.random(scope.allows, size)
        if kind == "newest":
            rows = snapshot.rows(snapshot.newest, scope.allows)
        elif kind == "alphabeticalByName":
            rows = snapshot.rows(snapshot.by_name, scope.allows)
        elif kind == "alphabeticalByArtist":
            rows = snapshot.rows(snapshot.by_artist, scope.allows)
        elif kind == "byYear":
            assert from_year is not None
            assert to_year is not None
            low, high = sorted((from_year, to_year))
            within = [
                r
                for r in snapshot.rows(snapshot.by_artist, scope.allows)
                if r.year is not None and low <= r.year <= high
            ]
            within.sort(key=lambda r: r.year or 0, reverse=from_year > to_year)
            rows = iter(within)
        elif kind == "byGenre":
            rows = (r for r in snapshot.rows(snapshot.by_artist, scope.allows) if r.genre == genre)
        else:  # recent, frequent and starred are the listener's (streamer.subsonic.browsing)
            return []
        return list(islice(rows, offset, offset + size))

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
        query: str,
        *,
        artists: tuple[int, int],
        albums: tuple[int, int],
        songs: tuple[int, int],
    ) -> tuple[list[ArtistRow], list[AlbumRow], list[Track]]:
        """Artists, albums and songs where every word of ``query`` begins a word of the
        name (of the title, artist or album for songs), case- and accent-insensitively,
        as the admin's track search; an empty query: everything (players sync a whole
        library that way). Each kind with its (count, offset)."""
        snapshot = await self.albums.snapshot()
        words = search_terms(fold(query))
        found_artists: list[ArtistRow] = []
        if artists[0]:
            named = snapshot.artists(scope.allows, words)
            found_artists = named[artists[1] : artists[1] + min(artists[0], MAX_PAGE)]
        found_albums: list[AlbumRow] = []
        if albums[0]:
            rows = snapshot.rows(snapshot.named(words), scope.allows)
            found_albums = list(islice(rows, albums[1], albums[1] + min(albums[0], MAX_PAGE)))
        found_songs: list[Track] = []
        if songs[0]:
            libraries = [lib.id for lib in await self.libraries(scope)]
            where = TrackFilter(readable=libraries, q=query or None, status="ok")
            statement = (
                filtered_query(where, self.db.engine.dialect.name)
                .order_by(Track.id)
                .limit(min(songs[0], MAX_PAGE))
                .offset(songs[1])
            )
            async with self.db.session() as session:
                found_songs = list(await session.scalars(statement))
        return found_artists, found_albums, found_songs
