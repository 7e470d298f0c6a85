"""What a listener's players tell: stars (star, unstar, getStarred2), plays and what is
playing (scrobble, getNowPlaying). Stars and plays are the caller's own; now playing
shows every listener's players, as Subsonic servers do, limited to songs the caller may
read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streamer.subsonic.browsing import marks_for
from streamer.subsonic.call import Call
from streamer.subsonic.ids import parse_album_id, parse_artist_id
from streamer.subsonic.listening import Marks
from streamer.subsonic.responses import GENERIC, NOT_FOUND, SubsonicError
from streamer.subsonic.views import album_view, artist_view, song_view

__all__ = ["get_now_playing", "get_starred2", "scrobble", "star", "unstar"]


async def _items(call: Call) -> list[tuple[str, str]]:
    """The (kind, id) pairs named by ``id``, ``albumId`` and ``artistId``; ``id`` may
    name any kind. Every one must exist for the caller (70 otherwise)."""
    pairs: list[tuple[str, str]] = []
    for ident in call.all("id") + call.all("albumId") + call.all("artistId"):
        if parse_artist_id(ident) is not None:
            pairs.append(("artist", ident))
        elif parse_album_id(ident) is not None:
            pairs.append(("album", ident))
        else:
            pairs.append(("song", ident))
    if not pairs:
        raise SubsonicError(10, "name what to star: id, albumId or artistId")
    scope = call.scope_all()
    songs = {t.id for t in await call.catalog.songs(scope, [i for k, i in pairs if k == "song"])}
    albums = await call.catalog.album_rows(
        scope, [key for k, i in pairs if k == "album" if (key := parse_album_id(i)) is not None]
    )
    album_keys = {(a.artist, a.name) for a in albums}
    artists = await call.catalog.artist_rows(
        scope, [n for k, i in pairs if k == "artist" if (n := parse_artist_id(i)) is not None]
    )
    artist_names = {a.name for a in artists}
    for kind, ident in pairs:
        if kind == "song":
            known = ident in songs
        elif kind == "album":
            key = parse_album_id(ident)
            known = key is not None and (key.artist, key.album) in album_keys
        else:
            known = parse_artist_id(ident) in artist_names
        if not known:
            raise SubsonicError(NOT_FOUND, f"no such {kind}: {ident[:60]}")
    return pairs


async def star(call: Call) -> dict[str, Any]:
    await call.listening.star(call.owner, await _items(call))
    return {}


async def unstar(call: Call) -> dict[str, Any]:
    await call.listening.unstar(call.owner, await _items(call))
    return {}


async def get_starred2(call: Call) -> dict[str, Any]:
    listening, scope = call.listening, call.scope()
    song_ids = [i for i, _ in await listening.starred(call.owner, "song")]
    album_ids = [i for i, _ in await listening.starred(call.owner, "album")]
    artist_ids = [i for i, _ in await listening.starred(call.owner, "artist")]
    songs = await call.catalog.songs(scope, song_ids)
    albums = await call.catalog.album_rows(
        scope, [k for i in album_ids if (k := parse_album_id(i)) is not None]
    )
    artists = await call.catalog.artist_rows(
        scope, [n for i in artist_ids if (n := parse_artist_id(i)) is not None]
    )
    marks = await marks_for(call, songs, albums, artists)
    return {
        "starred2": {
            "artist": [artist_view(a, marks=marks) for a in artists],
            "album": [album_view(a, marks=marks) for a in albums],
            "song": [song_view(t, marks) for t in songs],
        }
    }


def _boolean(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise SubsonicError(GENERIC, f"submission must be true or false, not {value[:20]!r}")


async def scrobble(call: Call) -> dict[str, Any]:
    """``submission`` (the default): the songs ``id`` were played, at ``time`` (ms since
    the epoch, one per id) or now. Without: the caller's player plays ``id`` now."""
    ids = call.all("id")
    if not ids:
        raise SubsonicError(10, "required parameter is missing: id")
    times = call.all("time")
    if times and len(times) != len(ids):
        raise SubsonicError(GENERIC, "give one time per id, or none")
    submission = _boolean(call.get("submission"), True)
    found = {t.id for t in await call.catalog.songs(call.scope_all(), ids)}
    for ident in ids:
        if ident not in found:
            raise SubsonicError(NOT_FOUND, f"no such song: {ident[:40]}")
    client = (call.get("c") or "")[:100]
    if not submission:
        await call.listening.playing(call.owner, call.caller.username, client, ids[-1])
        return {}
    for n, ident in enumerate(ids):
        at = datetime.now(UTC)
        if times:
            try:
                at = datetime.fromtimestamp(int(times[n]) / 1000, UTC)
            except (ValueError, OverflowError, OSError):
                raise SubsonicError(GENERIC, "time is milliseconds since the epoch") from None
        await call.listening.played(call.owner, ident, at, client)
    return {}


async def get_now_playing(call: Call) -> dict[str, Any]:
    playing = await call.listening.now_playing()
    songs = {
        t.id: t for t in await call.catalog.songs(call.scope_all(), [p.track_id for p in playing])
    }
    now = datetime.now(UTC)
    entries = []
    players: dict[str, int] = {}
    for item in playing:
        track = songs.get(item.track_id)
        if track is None:
            continue  # a song the caller may not read
        at = item.at if item.at.tzinfo is not None else item.at.replace(tzinfo=UTC)
        entries.append(
            {
                **song_view(track, Marks()),
                "username": item.username,
                "minutesAgo": max(0, int((now - at).total_seconds() // 60)),
                "playerId": players.setdefault(
                    f"{item.username}\x1f{item.client}", len(players) + 1
                ),
                "playerName": item.client,
            }
        )
    return {"nowPlaying": {"entry": entries}}
