"""Browsing, searching and playing: the /rest methods over the catalogue (and the
system ones), each answering with the caller's stars and play counts on what it lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from streamer.db import Track
from streamer.subsonic.call import Call, CoverAnswer, MediaAnswer, TranscodeAnswer
from streamer.subsonic.catalog import Scope
from streamer.subsonic.grouping import of_album, of_artist
from streamer.subsonic.ids import album_id, artist_id, parse_album_id, parse_artist_id
from streamer.subsonic.listening import Marks
from streamer.subsonic.names import IGNORED_ARTICLES
from streamer.subsonic.responses import (
    GENERIC,
    MISSING_PARAMETER,
    NOT_AUTHORISED,
    NOT_FOUND,
    SubsonicError,
)
from streamer.subsonic.views import (
    AlbumRow,
    ArtistRow,
    album_view,
    artist_indexes,
    artist_view,
    folder_id,
    song_view,
)
from transcoder.progressive import choose

__all__ = ["OPEN_SUBSONIC_EXTENSIONS", "marks_for"]

OPEN_SUBSONIC_EXTENSIONS = [
    {"name": "apiKeyAuthentication", "versions": [1]},
    {"name": "formPost", "versions": [1]},
]


async def marks_for(
    call: Call,
    songs: Sequence[Track] = (),
    albums: Sequence[AlbumRow] = (),
    artists: Sequence[ArtistRow] = (),
) -> Marks:
    """The caller's stars and play counts on the items of one answer."""
    ids = [t.id for t in songs]
    ids += [album_id(a.artist, a.name) for a in albums]
    ids += [artist_id(a.name) for a in artists]
    return await call.listening.marks(call.owner, ids, [t.id for t in songs])


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
        {"name": g["name"], "artist": [{"id": a["id"], "name": a["name"]} for a in g["artist"]]}
        for g in artist_indexes(artists)
    ]
    return {
        "indexes": {"ignoredArticles": IGNORED_ARTICLES, "lastModified": modified, "index": indexes}
    }


async def get_artists(call: Call) -> dict[str, Any]:
    artists = await call.catalog.artists(call.scope())
    marks = await marks_for(call, artists=artists)
    return {
        "artists": {"ignoredArticles": IGNORED_ARTICLES, "index": artist_indexes(artists, marks)}
    }


async def _artist(call: Call) -> dict[str, Any]:
    name = parse_artist_id(call.required("id"))
    if name is None:
        raise SubsonicError(NOT_FOUND, "no such artist")
    albums = await call.catalog.albums_of(call.scope(), name)
    if not albums:
        raise SubsonicError(NOT_FOUND, "no such artist")
    cover = next((a.cover for a in albums if a.cover), None)
    artist = ArtistRow(name, len(albums), cover)
    marks = await marks_for(call, albums=albums, artists=[artist])
    return artist_view(artist, albums, marks)


async def get_artist(call: Call) -> dict[str, Any]:
    return {"artist": await _artist(call)}


async def _album(call: Call, what: str) -> dict[str, Any]:
    key = parse_album_id(call.required("id"))
    found = await call.catalog.album(call.scope(), key) if key is not None else None
    if found is None:
        raise SubsonicError(NOT_FOUND, f"no such {what}")
    row, songs = found
    return album_view(row, songs, await marks_for(call, songs, [row]))


async def get_album(call: Call) -> dict[str, Any]:
    return {"album": await _album(call, "album")}


async def get_song(call: Call) -> dict[str, Any]:
    track = await call.catalog.song(call.scope(), call.required("id"))
    if track is None:
        raise SubsonicError(NOT_FOUND, "no such song")
    return {"song": song_view(track, await marks_for(call, [track]))}


async def get_music_directory(call: Call) -> dict[str, Any]:
    """Folder-style browsing over the same groups: an artist holds albums, an album songs."""
    ident = call.required("id")
    if parse_artist_id(ident) is not None:
        artist = await _artist(call)
        children = [dict(album, isDir=True, title=album["name"]) for album in artist["album"]]
        return {"directory": {"id": ident, "name": artist["name"], "child": children}}
    album = await _album(call, "directory")
    directory = {
        "id": ident,
        "parent": album["artistId"],
        "name": album["name"],
        "starred": album["starred"],
        "child": album["song"],
    }
    return {"directory": directory}


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


async def _starred_albums(call: Call, size: int, offset: int) -> list[AlbumRow]:
    starred = await call.listening.starred(call.owner, "album")
    keys = [k for ident, _ in starred if (k := parse_album_id(ident)) is not None]
    rows = await call.catalog.album_rows(call.scope(), keys)
    return rows[offset : offset + size]


async def get_album_list2(call: Call) -> dict[str, Any]:
    kind = call.required("type")
    if kind not in _LIST_TYPES:
        raise SubsonicError(GENERIC, f"unknown album list type: {kind[:40]!r}")
    size = min(call.integer("size", 10) or 0, 500)
    offset = call.integer("offset", 0) or 0
    scope = call.scope()
    if kind == "starred":
        albums = await _starred_albums(call, size, offset)
    elif kind in ("recent", "frequent"):
        albums = await call.catalog.played_albums(
            scope, call.owner, by=kind, size=size, offset=offset
        )
    else:
        from_year = to_year = None
        if kind == "byYear":
            from_year = call.integer("fromYear", None, low=-(10**6))
            to_year = call.integer("toYear", None, low=-(10**6))
            if from_year is None or to_year is None:
                raise SubsonicError(MISSING_PARAMETER, "byYear needs fromYear and toYear")
        genre = call.required("genre") if kind == "byGenre" else None
        albums = await call.catalog.album_list(
            scope, kind, size=size, offset=offset, from_year=from_year, to_year=to_year, genre=genre
        )
    marks = await marks_for(call, albums=albums)
    return {"albumList2": {"album": [album_view(a, marks=marks) for a in albums]}}


async def get_random_songs(call: Call) -> dict[str, Any]:
    songs = await call.catalog.random_songs(
        call.scope(),
        size=call.integer("size", 10) or 0,
        genre=call.get("genre") or None,
        from_year=call.integer("fromYear", None, low=-(10**6)),
        to_year=call.integer("toYear", None, low=-(10**6)),
    )
    marks = await marks_for(call, songs)
    return {"randomSongs": {"song": [song_view(t, marks) for t in songs]}}


async def get_genres(call: Call) -> dict[str, Any]:
    genres = await call.catalog.genres(call.scope())
    return {
        "genres": {"genre": [{"value": g, "songCount": s, "albumCount": a} for g, s, a in genres]}
    }


async def search3(call: Call) -> dict[str, Any]:
    query = (call.get("query") or "").strip().strip('"').replace("*", " ").strip()

    def page(kind: str) -> tuple[int, int]:
        return call.integer(f"{kind}Count", 20) or 0, call.integer(f"{kind}Offset", 0) or 0

    artists, albums, songs = await call.catalog.search(
        call.scope(), query, artists=page("artist"), albums=page("album"), songs=page("song")
    )
    marks = await marks_for(call, songs, albums, artists)
    return {
        "searchResult3": {
            "artist": [artist_view(a, marks=marks) for a in artists],
            "album": [album_view(a, marks=marks) for a in albums],
            "song": [song_view(t, marks) for t in songs],
        }
    }


async def _track_media(call: Call, suffix: str) -> MediaAnswer:
    track = await call.catalog.song(call.scope(), call.required("id"))
    if track is None:
        raise SubsonicError(NOT_FOUND, "no such song")
    return MediaAnswer(f"/media/{track.id}/{suffix}")


async def stream(call: Call) -> MediaAnswer | TranscodeAnswer:
    """The original, or a transcode when ``format`` names another format or the original
    is above ``maxBitRate`` (kbps; 0 means no limit); ``timeOffset`` (seconds) starts a
    transcode that far in (an original is sought with a range instead)."""
    track = await call.catalog.song(call.scope(), call.required("id"))
    if track is None:
        raise SubsonicError(NOT_FOUND, "no such song")
    requested = call.get("format") or None
    max_kbps = call.integer("maxBitRate", 0) or 0
    offset = call.integer("timeOffset", 0) or 0
    if not call.services.transcodes_on:
        return MediaAnswer(f"/media/{track.id}/original")
    try:
        plan = choose(
            requested,
            max_kbps,
            source_codec=track.codec,
            source_kbps=round(track.bitrate / 1000) if track.bitrate else None,
        )
    except ValueError as exc:
        raise SubsonicError(GENERIC, str(exc)) from None
    if plan is None:
        return MediaAnswer(f"/media/{track.id}/original")
    return TranscodeAnswer(track.id, plan, float(offset))


async def download(call: Call) -> MediaAnswer:
    return await _track_media(call, "original")


async def get_cover_art(call: Call) -> MediaAnswer | CoverAnswer:
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
    size = call.integer("size", None, low=1)
    if size is not None:
        return CoverAnswer(track_id, min(size, 4096))
    return MediaAnswer(f"/media/{track_id}/cover")


async def get_user(call: Call) -> dict[str, Any]:
    if call.required("username") != call.caller.username:
        # User administration stays in the admin; players ask for their own user.
        raise SubsonicError(NOT_AUTHORISED, "only your own user is shown here")
    principal = call.caller.principal
    writer = principal.can_write
    libraries = await call.catalog.libraries(Scope(principal.readable_libraries()))
    user = {
        "username": call.caller.username,
        "scrobblingEnabled": True,
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
        "folder": [folder_id(lib.id) for lib in libraries],
    }
    return {"user": user}


async def token_info(call: Call) -> dict[str, Any]:
    return {"tokenInfo": {"username": call.caller.username}}
