"""Catalogue rows as the Subsonic elements players read: songs (``Child``), albums
(``AlbumID3``), artists (``ArtistID3``), music folders. Pure: rows in, dicts out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from streamer.db import Track
from streamer.subsonic.ids import album_id, artist_id
from streamer.subsonic.listening import Marks
from streamer.subsonic.names import index_letter, sort_name

__all__ = [
    "UNKNOWN_ALBUM",
    "UNKNOWN_ARTIST",
    "AlbumRow",
    "ArtistRow",
    "album_view",
    "artist_indexes",
    "artist_view",
    "folder_id",
    "iso",
    "song_view",
]

UNKNOWN_ARTIST = "[Unknown Artist]"
UNKNOWN_ALBUM = "[Unknown Album]"


@dataclass(frozen=True, slots=True)
class AlbumRow:
    """An album: the tracks sharing an album artist and an album name."""

    artist: str
    name: str
    songs: int
    seconds: float
    created: datetime
    year: int | None
    genre: str | None
    cover: str | None  # a track of the album with a cover


@dataclass(frozen=True, slots=True)
class ArtistRow:
    name: str
    albums: int
    cover: str | None


def iso(moment: datetime) -> str:
    """Subsonic's date-time: UTC with a Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def folder_id(library_id: str) -> int:
    """A music folder's id: Subsonic wants an integer; a library's id is 12 hex digits
    made from its root, so its first seven give a stable positive 28-bit integer."""
    return int(library_id[:7], 16)


def album_artist_of(track: Track) -> str:
    return track.album_artist or track.artist or UNKNOWN_ARTIST


def _first(tags: Mapping[str, Any], key: str) -> str | None:
    values = tags.get(key)
    if isinstance(values, list) and values and isinstance(values[0], str) and values[0]:
        return values[0]
    return None


def _starred(marks: Marks | None, ident: str) -> str | None:
    at = marks.starred.get(ident) if marks is not None else None
    return iso(at) if at is not None else None


def song_view(track: Track, marks: Marks | None = None) -> dict[str, Any]:
    artist = album_artist_of(track)
    album = track.album or UNKNOWN_ALBUM
    key = PurePosixPath(track.key)
    tags = track.tags or {}
    return {
        "id": track.id,
        "parent": album_id(artist, album),
        "isDir": False,
        "title": track.title or key.stem,
        "album": album,
        "artist": track.artist or artist,
        "track": track.track_number,
        "year": track.year,
        "genre": track.genre,
        "coverArt": track.id if track.cover_key else None,
        "size": track.size,
        "contentType": track.content_type,
        "suffix": key.suffix.lstrip(".").lower() or None,
        "duration": round(track.duration) if track.duration is not None else None,
        "bitRate": round(track.bitrate / 1000) if track.bitrate else None,
        "bitDepth": track.bits_per_sample,
        "samplingRate": track.sample_rate,
        "channelCount": track.channels,
        "path": track.key,
        "isVideo": False,
        "discNumber": track.disc_number,
        "created": iso(track.created_at),
        "albumId": album_id(artist, album),
        "artistId": artist_id(artist),
        "type": "music",
        "mediaType": "song",
        "musicBrainzId": _first(tags, "musicbrainz_trackid") or "",
        "genres": [{"name": track.genre}] if track.genre else [],
        "displayArtist": track.artist or artist,
        "displayAlbumArtist": artist,
        "starred": _starred(marks, track.id),
        **_plays(marks, track.id),
    }


def _plays(marks: Marks | None, track_id: str) -> dict[str, Any]:
    played = marks.plays.get(track_id) if marks is not None else None
    if played is None:
        return {"playCount": 0}
    return {"playCount": played[0], "played": iso(played[1])}


def album_view(
    row: AlbumRow, songs: Sequence[Track] | None = None, marks: Marks | None = None
) -> dict[str, Any]:
    ident = album_id(row.artist, row.name)
    view: dict[str, Any] = {
        "id": ident,
        "parent": artist_id(row.artist),
        "isDir": True,
        "name": row.name,
        "title": row.name,
        "album": row.name,
        "artist": row.artist,
        "artistId": artist_id(row.artist),
        "coverArt": album_id(row.artist, row.name) if row.cover else None,
        "songCount": row.songs,
        "duration": round(row.seconds),
        "created": iso(row.created),
        "year": row.year,
        "genre": row.genre,
        "genres": [{"name": row.genre}] if row.genre else [],
        "sortName": sort_name(row.name),
        "displayArtist": row.artist,
        "isCompilation": row.artist.casefold() == "various artists",
        "starred": _starred(marks, ident),
    }
    if songs is not None:
        view["song"] = [song_view(track, marks) for track in songs]
    return view


def artist_view(
    row: ArtistRow, albums: Sequence[AlbumRow] | None = None, marks: Marks | None = None
) -> dict[str, Any]:
    ident = artist_id(row.name)
    view: dict[str, Any] = {
        "id": ident,
        "name": row.name,
        "albumCount": row.albums,
        "coverArt": ident if row.cover else None,
        "sortName": sort_name(row.name),
        "starred": _starred(marks, ident),
    }
    if albums is not None:
        view["album"] = [album_view(album, marks=marks) for album in albums]
    return view


def artist_indexes(
    artists: Iterable[ArtistRow], marks: Marks | None = None
) -> list[dict[str, Any]]:
    """Artists grouped under their index letters, letters and names in sort order."""
    groups: dict[str, list[ArtistRow]] = {}
    for row in sorted(artists, key=lambda a: (sort_name(a.name), a.name)):
        groups.setdefault(index_letter(row.name), []).append(row)
    return [
        {"name": letter, "artist": [artist_view(a, marks=marks) for a in groups[letter]]}
        for letter in sorted(groups, key=lambda k: (k == "#", k))
    ]
