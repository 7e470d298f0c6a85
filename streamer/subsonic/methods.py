"""The /rest methods this server answers: each takes the call (its caller and
parameters) and returns the elements of its ``subsonic-response``, or the media URL a
binary answer comes from (stream, download, getCoverArt), or raises SubsonicError.

Left out, and why (docs/subsonic.md keeps the list): podcasts, internet radio, shares,
chat, jukebox, video, bookmarks and play queues, user administration and
lyrics; playlists, stars, scrobbles and now-playing come in the next step of issue 18."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamer.subsonic.catalog import Catalog, Scope, of_album, of_artist
from streamer.subsonic.credentials import Caller
from streamer.subsonic.ids import artist_id, parse_album_id, parse_artist_id
from streamer.subsonic.names import IGNORED_ARTICLES
from streamer.subsonic.responses import (
    MISSING_PARAMETER,
    NOT_AUTHORISED,
    NOT_FOUND,
    SubsonicError,
)
from streamer.subsonic.views import (
    ArtistRow,
    album_view,
    artist_indexes,
    artist_view,
    folder_id,
    song_view,
)

__all__ = ["METHODS", "OPEN_SUBSONIC_EXTENSIONS", "Call", "MediaAnswer", "open_answer"]

OPEN_SUBSONIC_EXTENSIONS = [
    {"name": "apiKeyAuthentication", "versions": [1]},
    {"name": "formPost", "versions": [1]},
]


@dataclass(frozen=True)
class Call:
    caller: Caller
    params: Mapping[str, list[str]]
    catalog: Catalog

    def get(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise SubsonicError(MISSING_PARAMETER, f"required parameter is missing: {name}")
        return value

    def integer(self, name: str, default: int | None, *, low: int = 0) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise SubsonicError(0, f"{name} must be an integer, not {value[:40]!r}") from None
        if number < low:
            raise SubsonicError(0, f"{name} must be at least {low}")
        return number

    def scope(self) -> Scope:
        return Scope(
            self.caller.principal.readable_libraries(), self.integer("musicFolderId", None)
        )


@dataclass(frozen=True)
class MediaAnswer:
    """Answer with the media endpoint's answer for ``path`` (ranges, conditional
    requests and delivery events as for /media)."""

    path: str


Method = Callable[[Call], Awaitable[dict[str, Any] | MediaAnswer]]


async def ping(call: Call) -> dict[str, Any]:
    return {}


async def get_license(call: Call) -> dict[str, Any]:
    return {"license": {"valid": True}}


async def get_extensions(call: Call) -> dict[str, Any]:
    return {"openSubsonicExtensions": OPEN_SUBSONIC_EXTENSIONS}


async def get_music_folders(call: Call) -> dict[str, Any]:
    libraries = await call.catalog.libraries(Scope(call.caller.principal.readable_libraries()))
    folders = [{"id": folder_id(lib.id), "name": lib.name} for lib in libraries]
    return {"musicFolders": {"musicFolder": folders}}


async def get_indexes(call: Call) -> dict[str, Any]:
    artists = await call.catalog.artists(call.scope())
    modified = int(datetime.now(UTC).timestamp() * 1000)
    indexes = [
        {
            "name": group["name"],
            "artist": [{"id": a["id"], "name": a["name"]} for a in group["artist"]],
        }
        for group in artist_indexes(artists)
    ]
    return {
        "indexes": {"ignoredArticles": IGNORED_ARTICLES, "lastModified": modified, "index": indexes}
    }


async def get_artists(call: Call) -> dict[str, Any]:
    artists = await call.catalog.artists(call.scope())
    return {"artists": {"ignoredArticles": IGNORED_ARTICLES, "index": artist_indexes(artists)}}


async def _artist(call: Call) -> dict[str, Any]:
    name = parse_artist_id(call.required("id"))
    if name is None:
        raise SubsonicError(NOT_FOUND, "no such artist")
    scope = call.scope()
    albums = await call.catalog.albums_of(scope, name)
    if not albums:
        raise SubsonicError(NOT_FOUND, "no such artist")
    cover = next((a.cover for a in albums if a.cover), None)
    return artist_view(ArtistRow(name, len(albums), cover), albums)


async def get_artist(call: Call) -> dict[str, Any]:
    return {"artist": await _artist(call)}


async def get_album(call: Call) -> dict[str, Any]:
    key = parse_album_id(call.required("id"))
    found = await call.catalog.album(call.scope(), key) if key is not None else None
    if found is None:
        raise SubsonicError(NOT_FOUND, "no such album")
    row, songs = found
    return {"album": album_view(row, songs)}


async def get_song(call: Call) -> dict[str, Any]:
    track = await call.catalog.song(call.scope(), call.required("id"))
    if track is None:
        raise SubsonicError(NOT_FOUND, "no such song")
    return {"song": song_view(track)}


async def get_music_directory(call: Call) -> dict[str, Any]:
    """Folder-style browsing over the same groups: an artist holds albums, an album songs."""
    ident = call.required("id")
    if parse_artist_id(ident) is not None:
        artist = await _artist(call)
        children = [dict(album, isDir=True, title=album["name"]) for album in artist["album"]]
        directory = {"id": ident, "name": artist["name"], "child": children}
        return {"directory": directory}
    key = parse_album_id(ident)
    found = await call.catalog.album(call.scope(), key) if key is not None else None
    if found is None:
        raise SubsonicError(NOT_FOUND, "no such directory")
    row, songs = found
    view = album_view(row, songs)
    return {
        "directory": {
            "id": ident,
            "parent": artist_id(row.artist),
            "name": row.name,
            "child": view["song"],
        }
    }


_LIST_TYPES = frozenset(
    {
        "random",
        "newest",
        "highest",
        "frequent",
        "recent",
        "alphabeticalByName",
        "alphabeticalByArtist",
        "starred",
        "byYear",
        "byGenre",
    }
)


async def get_album_list2(call: Call) -> dict[str, Any]:
    kind = call.required("type")
    if kind not in _LIST_TYPES:
        raise SubsonicError(0, f"unknown album list type: {kind[:40]!r}")
    from_year = to_year = None
    genre = None
    if kind == "byYear":
        from_year = call.integer("fromYear", None, low=-(10**6))
        to_year = call.integer("toYear", None, low=-(10**6))
        if from_year is None or to_year is None:
            raise SubsonicError(MISSING_PARAMETER, "byYear needs fromYear and toYear")
    if kind == "byGenre":
        genre = call.required("genre")
    albums = await call.catalog.album_list(
        call.scope(),
        kind,
        size=call.integer("size", 10) or 0,
        offset=call.integer("offset", 0) or 0,
        from_year=from_year,
        to_year=to_year,
        genre=genre,
    )
    return {"albumList2": {"album": [album_view(a) for a in albums]}}


async def get_random_songs(call: Call) -> dict[str, Any]:
    songs = await call.catalog.random_songs(
        call.scope(),
        size=call.integer("size", 10) or 0,
        genre=call.get("genre") or None,
        from_year=call.integer("fromYear", None, low=-(10**6)),
        to_year=call.integer("toYear", None, low=-(10**6)),
    )
    return {"randomSongs": {"song": [song_view(t) for t in songs]}}


async def get_genres(call: Call) -> dict[str, Any]:
    genres = await call.catalog.genres(call.scope())
    return {
        "genres": {"genre": [{"value": g, "songCount": s, "albumCount": a} for g, s, a in genres]}
    }


async def search3(call: Call) -> dict[str, Any]:
    query = (call.get("query") or "").strip().strip('"')
    words = [w for w in query.replace("*", " ").split() if w]

    def page(kind: str) -> tuple[int, int]:
        return call.integer(f"{kind}Count", 20) or 0, call.integer(f"{kind}Offset", 0) or 0

    artists, albums, songs = await call.catalog.search(
        call.scope(), words, artists=page("artist"), albums=page("album"), songs=page("song")
    )
    return {
        "searchResult3": {
            "artist": [artist_view(a) for a in artists],
            "album": [album_view(a) for a in albums],
            "song": [song_view(t) for t in songs],
        }
    }


async def _track_media(call: Call, suffix: str) -> MediaAnswer:
    track = await call.catalog.song(call.scope(), call.required("id"))
    if track is None:
        raise SubsonicError(NOT_FOUND, "no such song")
    return MediaAnswer(f"/media/{track.id}/{suffix}")


async def stream(call: Call) -> MediaAnswer:
    # The original, as it is: transcoding on demand (format, maxBitRate) is the next step.
    return await _track_media(call, "original")


async def download(call: Call) -> MediaAnswer:
    return await _track_media(call, "original")


async def get_cover_art(call: Call) -> MediaAnswer:
    ident = call.required("id")
    scope = call.scope()
    artist = parse_artist_id(ident)
    album = parse_album_id(ident)
    if artist is not None:
        track_id = await call.catalog.cover_track(scope, of_artist(artist))
    elif album is not None:
        track_id = await call.catalog.cover_track(scope, of_album(album))
    else:
        track = await call.catalog.song(scope, ident)
        track_id = track.id if track is not None and track.cover_key else None
    if track_id is None:
        raise SubsonicError(NOT_FOUND, "no cover art for this id")
    return MediaAnswer(f"/media/{track_id}/cover")


def _user_view(call: Call) -> dict[str, Any]:
    principal = call.caller.principal
    writer = principal.can_write
    return {
        "username": call.caller.username,
        "scrobblingEnabled": False,
        "adminRole": principal.is_admin,
        "settingsRole": False,
        "downloadRole": True,
        "uploadRole": writer,
        "playlistRole": writer,
        "coverArtRole": False,
        "commentRole": False,
        "podcastRole": False,
        "streamRole": True,
        "jukeboxRole": False,
        "shareRole": False,
        "videoConversionRole": False,
    }


async def get_user(call: Call) -> dict[str, Any]:
    if call.required("username") != call.caller.username:
        # User administration stays in the admin; players ask for their own user.
        raise SubsonicError(NOT_AUTHORISED, "only your own user is shown here")
    libraries = await call.catalog.libraries(Scope(call.caller.principal.readable_libraries()))
    return {"user": {**_user_view(call), "folder": [folder_id(lib.id) for lib in libraries]}}


async def token_info(call: Call) -> dict[str, Any]:
    return {"tokenInfo": {"username": call.caller.username}}


METHODS: dict[str, Method] = {
    "ping": ping,
    "getLicense": get_license,
    "getOpenSubsonicExtensions": get_extensions,
    "getMusicFolders": get_music_folders,
    "getIndexes": get_indexes,
    "getArtists": get_artists,
    "getArtist": get_artist,
    "getAlbum": get_album,
    "getSong": get_song,
    "getMusicDirectory": get_music_directory,
    "getAlbumList2": get_album_list2,
    "getRandomSongs": get_random_songs,
    "getGenres": get_genres,
    "search3": search3,
    "stream": stream,
    "download": download,
    "getCoverArt": get_cover_art,
    "getUser": get_user,
    "tokenInfo": token_info,
}


def open_answer(name: str) -> dict[str, Any] | None:
    """The answer of a method a client may call without credentials (OpenSubsonic lets
    a client ask for the extensions before it signs in), or None."""
    if name == "getOpenSubsonicExtensions":
        return {"openSubsonicExtensions": OPEN_SUBSONIC_EXTENSIONS}
    return None
