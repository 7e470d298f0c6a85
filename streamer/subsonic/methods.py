"""The /rest methods this server answers, by name (docs/subsonic.md lists those left out
and why). Each takes the call and returns the elements of its ``subsonic-response``, or
the media URL a binary answer comes from, or raises SubsonicError."""

from __future__ import annotations

from typing import Any

from streamer.subsonic import browsing, listeners, playlists
from streamer.subsonic.call import Method

__all__ = ["METHODS", "open_answer"]

METHODS: dict[str, Method] = {
    "ping": browsing.ping,
    "getLicense": browsing.get_license,
    "getOpenSubsonicExtensions": browsing.get_extensions,
    "getMusicFolders": browsing.get_music_folders,
    "getIndexes": browsing.get_indexes,
    "getArtists": browsing.get_artists,
    "getArtist": browsing.get_artist,
    "getAlbum": browsing.get_album,
    "getSong": browsing.get_song,
    "getMusicDirectory": browsing.get_music_directory,
    "getAlbumList2": browsing.get_album_list2,
    "getRandomSongs": browsing.get_random_songs,
    "getGenres": browsing.get_genres,
    "search3": browsing.search3,
    "stream": browsing.stream,
    "download": browsing.download,
    "getCoverArt": browsing.get_cover_art,
    "getUser": browsing.get_user,
    "tokenInfo": browsing.token_info,
    "getPlaylists": playlists.get_playlists,
    "getPlaylist": playlists.get_playlist,
    "createPlaylist": playlists.create_playlist,
    "updatePlaylist": playlists.update_playlist,
    "deletePlaylist": playlists.delete_playlist,
    "star": listeners.star,
    "unstar": listeners.unstar,
    "getStarred2": listeners.get_starred2,
    "scrobble": listeners.scrobble,
    "getNowPlaying": listeners.get_now_playing,
}


def open_answer(name: str) -> dict[str, Any] | None:
    """The answer of a method a client may call without credentials (OpenSubsonic lets
    a client ask for the extensions before it signs in), or None."""
    if name == "getOpenSubsonicExtensions":
        return {"openSubsonicExtensions": browsing.OPEN_SUBSONIC_EXTENSIONS}
    return None
