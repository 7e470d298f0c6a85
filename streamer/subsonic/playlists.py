"""Playlists over /rest: the same playlists as /api/v1 (streamer.playlists), every change
a revision with its audit entry, as an edit in the admin is. A playlist belongs to a
library: players see those of the libraries they may read and change those they may
write. Smart playlists are listed and played (their rule's result) but their items are
not edited here (error 50, as on /api/v1's 409)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from streamer.auth.audit import Actor
from streamer.db import Library, Playlist
from streamer.playlists import repository
from streamer.playlists.edits import ComputedItems, EditError, Snapshot, insert, replace_items
from streamer.playlists.smart import evaluate, rule_of, scope_of, track_ids_of
from streamer.subsonic.browsing import marks_for
from streamer.subsonic.call import Call
from streamer.subsonic.responses import GENERIC, NOT_AUTHORISED, NOT_FOUND, SubsonicError
from streamer.subsonic.views import iso, song_view

__all__ = [
    "create_playlist",
    "delete_playlist",
    "get_playlist",
    "get_playlists",
    "update_playlist",
]


def _actor(call: Call) -> Actor:
    principal = call.caller.principal
    return Actor(principal.kind, principal.id, principal.name, call.ip)


async def _visible(call: Call, playlist_id: str) -> Playlist:
    async with call.services.db.session() as session:
        playlist = await session.get(Playlist, playlist_id)
    if playlist is None or not call.caller.principal.allows(playlist.library_id, "read"):
        raise SubsonicError(NOT_FOUND, "no such playlist")
    return playlist


def _writable(call: Call, playlist: Playlist) -> None:
    if not call.caller.principal.allows(playlist.library_id, "write"):
        raise SubsonicError(NOT_AUTHORISED, "write access to this playlist's library is needed")


async def _track_ids(call: Call, playlist: Playlist) -> list[str]:
    async with call.services.db.session() as session:
        rule = rule_of(playlist)
        if rule is None:
            return await track_ids_of(session, playlist)
        readable = call.caller.principal.readable_libraries()
        found = await evaluate(session, rule, scope_of(rule, playlist.library_id, readable))
        return [t.id for t in found]


async def _view(call: Call, playlist: Playlist, *, songs: bool) -> dict[str, Any]:
    tracks = await call.catalog.songs(call.scope_all(), await _track_ids(call, playlist))
    view: dict[str, Any] = {
        "id": playlist.id,
        "name": playlist.name,
        "comment": playlist.description,
        "owner": playlist.created_by or "",
        "public": True,  # everyone who may read its library sees it
        "songCount": len(tracks),
        "duration": round(sum(t.duration or 0.0 for t in tracks)),
        "created": iso(playlist.created_at),
        "changed": iso(playlist.updated_at),
        "coverArt": next((t.id for t in tracks if t.cover_key), None),
        "readonly": not call.caller.principal.allows(playlist.library_id, "write")
        or playlist.rules is not None,
    }
    if songs:
        marks = await marks_for(call, tracks)
        view["entry"] = [song_view(t, marks) for t in tracks]
    return view


async def get_playlists(call: Call) -> dict[str, Any]:
    readable = call.caller.principal.readable_libraries()
    found, _total = await repository.list_playlists(
        call.services.db, library_ids=readable, library_id=None, limit=500, offset=0
    )
    views = [await _view(call, playlist, songs=False) for playlist, _n, _s in found]
    return {"playlists": {"playlist": views}}


async def get_playlist(call: Call) -> dict[str, Any]:
    playlist = await _visible(call, call.required("id"))
    return {"playlist": await _view(call, playlist, songs=True)}


async def _readable_songs(call: Call, ids: list[str]) -> tuple[str, ...]:
    found = {t.id for t in await call.catalog.songs(call.scope_all(), ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise SubsonicError(NOT_FOUND, f"no such song: {missing[0][:40]}")
    return tuple(ids)


async def _library_for(call: Call, ids: tuple[str, ...]) -> str:
    """Where a new playlist goes: its first song's library if the caller may write
    there, else the first library (by name) they may write."""
    principal = call.caller.principal
    if ids:
        first = await call.catalog.songs(call.scope_all(), [ids[0]])
        if first and principal.allows(first[0].library_id, "write"):
            return first[0].library_id
    async with call.services.db.session() as session:
        libraries = list(await session.scalars(select(Library).order_by(Library.name)))
    for library in libraries:
        if principal.allows(library.id, "write"):
            return library.id
    raise SubsonicError(NOT_AUTHORISED, "making playlists needs write access to a library")


async def _change(call: Call, playlist: Playlist, action: str, edit: Any) -> None:
    principal = call.caller.principal
    try:
        await repository.change(
            call.services.db,
            _actor(call),
            playlist.id,
            action,
            edit,
            check=lambda p: _writable(call, p),
            can_read=lambda library_id: principal.allows(library_id, "read"),
        )
    except ComputedItems as exc:
        raise SubsonicError(NOT_AUTHORISED, str(exc)) from None
    except (EditError, repository.UnknownTracks) as exc:
        raise SubsonicError(GENERIC, str(exc)) from None
    except LookupError:
        raise SubsonicError(NOT_FOUND, "no such playlist") from None


async def create_playlist(call: Call) -> dict[str, Any]:
    """A new playlist (``name``) or new contents for one (``playlistId``), with the songs
    ``songId`` in that order; answers the playlist (OpenSubsonic)."""
    ids = await _readable_songs(call, call.all("songId"))
    existing = call.get("playlistId")
    if existing:
        playlist = await _visible(call, existing)
        _writable(call, playlist)
        name = call.get("name")

        def edit(state: Snapshot) -> Snapshot:
            changed = replace_items(state, ids)
            return Snapshot(name or changed.name, changed.description, changed.track_ids)

        await _change(call, playlist, "playlist.items", edit)
        playlist = await _visible(call, existing)
    else:
        name = call.required("name")
        if len(name) > 200:
            raise SubsonicError(GENERIC, "a playlist's name is at most 200 characters")
        library = await _library_for(call, ids)
        principal = call.caller.principal
        state = await repository.create(
            call.services.db,
            _actor(call),
            library,
            Snapshot(name, "", ids),
            lambda library_id: principal.allows(library_id, "read"),
        )
        playlist = state.playlist
    return {"playlist": await _view(call, playlist, songs=True)}


async def update_playlist(call: Call) -> dict[str, Any]:
    """Rename, describe, add songs at the end and remove songs by index, as one revision."""
    playlist = await _visible(call, call.required("playlistId"))
    _writable(call, playlist)
    add = await _readable_songs(call, call.all("songIdToAdd"))
    try:
        remove = sorted({int(i) for i in call.all("songIndexToRemove")}, reverse=True)
    except ValueError:
        raise SubsonicError(GENERIC, "songIndexToRemove takes integers") from None
    name, comment = call.get("name"), call.get("comment")

    def edit(state: Snapshot) -> Snapshot:
        items = list(state.track_ids)
        for index in remove:
            if not 0 <= index < len(items):
                raise EditError(f"no song at index {index}")
            del items[index]
        changed = Snapshot(state.name, state.description, tuple(items), state.rules)
        if add:
            changed = insert(changed, add)
        return Snapshot(
            name if name else changed.name,
            comment if comment is not None else changed.description,
            changed.track_ids,
            changed.rules,
        )

    if name is not None and len(name) > 200:
        raise SubsonicError(GENERIC, "a playlist's name is at most 200 characters")
    items_change = bool(add or remove)
    if items_change and playlist.rules is not None:
        raise SubsonicError(NOT_AUTHORISED, str(ComputedItems()))
    await _change(call, playlist, "playlist.items" if items_change else "playlist.update", edit)
    return {}


async def delete_playlist(call: Call) -> dict[str, Any]:
    playlist = await _visible(call, call.required("id"))
    _writable(call, playlist)
    try:
        await repository.delete_playlist(
            call.services.db, _actor(call), playlist.id, check=lambda p: _writable(call, p)
        )
    except LookupError:
        raise SubsonicError(NOT_FOUND, "no such playlist") from None
    return {}
