"""Ids of the artists and albums players browse, made from the tags that group tracks
(album artist, album) so they stay the same across rescans and on every node, and can be
read back without a table: the id is the group's key, base64url-encoded. Songs are
tracks and use the track's id (16 hex digits, which neither prefix can be)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

__all__ = ["AlbumKey", "album_id", "artist_id", "parse_album_id", "parse_artist_id"]

_ARTIST = "ar-"
_ALBUM = "al-"
MAX_ID_LENGTH = 2048  # longer ids are not ours


@dataclass(frozen=True, slots=True)
class AlbumKey:
    artist: str
    album: str


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def artist_id(name: str) -> str:
    return _ARTIST + _encode(name)


def album_id(artist: str, album: str) -> str:
    return _ALBUM + _encode(json.dumps([artist, album], ensure_ascii=False))


def parse_artist_id(value: str) -> str | None:
    """The artist name of an artist id, or None if it is not one."""
    if not value.startswith(_ARTIST) or len(value) > MAX_ID_LENGTH:
        return None
    return _decode(value[len(_ARTIST) :])


def parse_album_id(value: str) -> AlbumKey | None:
    """The album key of an album id, or None if it is not one."""
    if not value.startswith(_ALBUM) or len(value) > MAX_ID_LENGTH:
        return None
    text = _decode(value[len(_ALBUM) :])
    if text is None:
        return None
    try:
        artist, album = json.loads(text)
    except (ValueError, TypeError):
        return None
    if not isinstance(artist, str) or not isinstance(album, str):
        return None
    return AlbumKey(artist, album)
