"""How tracks group into the artists and albums players browse, in SQL: an album is the
tracks sharing an album artist (the albumartist tag, else the artist) and an album name
(streamer.subsonic.views.album_artist_of is the same rule in Python)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_

from streamer.db import Track
from streamer.subsonic.ids import AlbumKey
from streamer.subsonic.views import UNKNOWN_ALBUM, UNKNOWN_ARTIST

__all__ = ["ALBUM", "ARTIST", "of_album", "of_artist"]

ARTIST: ColumnElement[str] = func.coalesce(
    func.nullif(Track.album_artist, ""), func.nullif(Track.artist, ""), UNKNOWN_ARTIST
)
ALBUM: ColumnElement[str] = func.coalesce(func.nullif(Track.album, ""), UNKNOWN_ALBUM)


def of_artist(name: str) -> ColumnElement[bool]:
    return ARTIST.is_not_distinct_from(name)


def of_album(key: AlbumKey) -> ColumnElement[bool]:
    """The album's tracks; by the album column first, so its index narrows the search."""
    if key.album == UNKNOWN_ALBUM:
        named = or_(Track.album.is_(None), Track.album == "", Track.album == UNKNOWN_ALBUM)
    else:
        named = Track.album == key.album
    return and_(named, of_artist(key.artist))
