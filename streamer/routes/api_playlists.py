"""/api/v1/playlists: playlists with ordered items, revision history, undo and redo.

A playlist belongs to a library, which decides access: read to see it, write to change it
(404 without read access, 403 without write). Tracks put into a playlist must exist in
libraries the caller can read (422 otherwise, without telling which reason).

A smart playlist is a playlist with ``rules`` (streamer.playlists.rules): its items are
the rule's result, computed when read (the item edits answer 409); the libraries a rule
names must be readable by the writer (422 otherwise), and a reader sees the part of the
result in libraries they may read. ``POST /playlists/preview`` evaluates a rule unsaved,
``GET /playlists/{id}/tracks`` any playlist's tracks now. Rule edits are revisions like
item edits (audit action ``playlist.rules``).

Optimistic concurrency: every response about one playlist carries ``ETag: "{revision}"``;
a write with ``If-Match`` that no longer matches answers 412 with the current ETag. Every
mutation leaves exactly one audit entry (``playlist.create``, ``playlist.update``,
``playlist.items``, ``playlist.rules``, ``playlist.undo``, ``playlist.redo``,
``playlist.delete``) and publishes one live ``playlist`` event (created, updated,
deleted) with the new revision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from streamer.auth.access import Principal
from streamer.catalogue.repository import get_library
from streamer.db import Database, Library, Playlist, PlaylistRevision, Track
from streamer.events.publish import Outgoing, playlist_event
from streamer.http.signing import make_token
from streamer.playlists import repository
from streamer.playlists.edits import (
    ComputedItems,
    EditError,
    Snapshot,
    insert,
    move,
    remove,
)
from streamer.playlists.edits import (
    replace_items as replaced,
)
from streamer.playlists.repository import (
    MAX_ITEMS,
    NothingToStep,
    PlaylistState,
    RevisionConflict,
    UnknownTracks,
)
from streamer.playlists.rules import RULE_EXAMPLES, Rule
from streamer.playlists.smart import ResultTrack, evaluate, rule_of, scope_of
from streamer.routes.api_common import (
    CONFLICT_RESPONSES,
    PROBLEM,
    PROBLEM_RESPONSES,
    DatabaseDep,
    PrincipalDep,
    Problem,
    SettingsDep,
    actor,
    events,
    require_access,
)
from streamer.routes.revision_tags import (
    if_match_revisions,
    precondition_failed,
    revision_etag,
)

__all__ = ["PlaylistOut", "PlaylistPage", "TracksOut", "playlists_router"]

TrackIds = Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=MAX_ITEMS)]
IfMatch = Annotated[str | None, Header(description='"{revision}" as the ETag gave it')]
WRITE_RESPONSES = {
    **CONFLICT_RESPONSES,
    412: {"model": Problem, "content": {PROBLEM: {}}},
}
SMART_EXAMPLE = {
    "library_id": "3f2a9c0d1b7e",
    "name": "Jazz shuffle",
    "rules": RULE_EXAMPLES["jazz"]["value"],
}


class ItemOut(BaseModel):
    position: int
    track_id: str
    title: str | None
    artist: str | None
    duration: float | None


class PlaylistOut(BaseModel):
    id: str
    library_id: str
    name: str
    description: str
    # A smart playlist's rule (its items are computed); None: an ordinary playlist.
    rules: Rule | None = None
    revision: int
    item_count: int
    # Listed on single-playlist responses only (None in pages).
    items: list[ItemOut] | None = None
    duration: float | None = None  # of the tracks that have one
    can_undo: bool | None = None
    can_redo: bool | None = None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    urls: dict[str, str]

    @classmethod
    def of(cls, playlist: Playlist, item_count: int) -> PlaylistOut:
        return cls(
            id=playlist.id,
            library_id=playlist.library_id,
            name=playlist.name,
            description=playlist.description,
            rules=rule_of(playlist),
            revision=playlist.revision,
            item_count=item_count,
            created_by=playlist.created_by,
            created_at=playlist.created_at,
            updated_at=playlist.updated_at,
            urls={
                "self": f"/api/v1/playlists/{playlist.id}",
                "hls": f"/hls/playlists/{playlist.id}/master.m3u8",
                "revisions": f"/api/v1/playlists/{playlist.id}/revisions",
            },
        )


class PlaylistPage(BaseModel):
    items: list[PlaylistOut]
    total: int
    limit: int
    offset: int


class TracksOut(BaseModel):
    """A playlist's tracks now (a smart playlist's: its rule's result), in order."""

    items: list[ItemOut]
    count: int
    duration: float | None = Field(description="seconds, of the tracks that have one")


class PreviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"rules": RULE_EXAMPLES["jazz"]["value"]}]}
    )

    rules: Rule
    library_id: Annotated[
        str | None,
        Field(
            max_length=32,
            description="the library of the playlist to be: the rule's scope when it names "
            "no libraries (none: every library the caller can read)",
        ),
    ] = None


class RevisionOut(BaseModel):
    revision: int
    current: bool
    action: str
    actor: str | None
    name: str
    description: str
    track_ids: list[str]
    rules: dict[str, Any] | None = None
    created_at: datetime


class RevisionPage(BaseModel):
    items: list[RevisionOut]
    total: int
    limit: int
    offset: int


class PlaylistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    library_id: Annotated[str, Field(max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    track_ids: TrackIds = []
    rules: Annotated[
        Rule | None,
        Field(description="makes a smart playlist (its items computed; no track_ids then)"),
    ] = None


class PlaylistPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    description: Annotated[str | None, Field(max_length=5000)] = None
    rules: Annotated[
        Rule | None,
        Field(
            description="a new rule (an ordinary playlist becomes smart, its items go); "
            "null makes a smart playlist an ordinary, empty one; absent: unchanged"
        ),
    ] = None


class ItemsReplace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_ids: TrackIds


class ItemsInsert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_ids: Annotated[TrackIds, Field(min_length=1)]
    position: Annotated[
        int | None, Field(ge=0, description="before this item; None: at the end")
    ] = None


class ItemMove(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: Annotated[int, Field(ge=0, alias="from")]
    target: Annotated[int, Field(ge=0, alias="to")]


class SignedOut(BaseModel):
    expires: int
    token: str
    urls: dict[str, str]


def playlists_router() -> APIRouter:
    router = APIRouter(prefix="/playlists", tags=["playlists"])

    @router.get("", response_model=PlaylistPage, responses=PROBLEM_RESPONSES)
    async def list_playlists(
        db: DatabaseDep,
        principal: PrincipalDep,
        library: Annotated[str | None, Query(max_length=32, description="library id")] = None,
        q: Annotated[
            str | None,
            Query(max_length=200, description="part of the name (case-insensitive)"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> PlaylistPage:
        """Playlists in the libraries the caller can read, most recently changed first."""
        rows, total = await repository.list_playlists(
            db,
            library_ids=principal.readable_libraries(),
            library_id=library,
            name=q,
            limit=limit,
            offset=offset,
        )
        items = []
        for playlist, count, seconds in rows:
            out = PlaylistOut.of(playlist, count)
            out.duration = seconds
            if out.rules is not None:
                found = await _computed(db, principal, playlist, out.rules)
                out.item_count, out.duration = len(found), _seconds(found)
            items.append(out)
        return PlaylistPage(items=items, total=total, limit=limit, offset=offset)

    @router.post("", response_model=PlaylistOut, status_code=201, responses=WRITE_RESPONSES)
    async def create_playlist(
        body: Annotated[
            PlaylistCreate,
            Body(
                openapi_examples={
                    "smart": {"summary": "A smart playlist", "value": SMART_EXAMPLE},
                    "ordinary": {
                        "summary": "An ordinary playlist",
                        "value": {"library_id": "3f2a9c0d1b7e", "name": "Mix", "track_ids": []},
                    },
                }
            ),
        ],
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> PlaylistOut:
        """Create a playlist in a library the caller may write to; with ``rules``, a smart
        playlist."""
        require_access(principal, body.library_id, "write", "library")
        if await get_library(db, body.library_id) is None:
            raise HTTPException(404, "no such library")
        rules = None
        if body.rules is not None:
            if body.track_ids:
                raise HTTPException(
                    422, "a smart playlist's items are computed: send rules or track_ids"
                )
            await _check_libraries(db, principal, body.rules)
            rules = body.rules.stored()
        snapshot = Snapshot(body.name, body.description, tuple(body.track_ids), rules)
        try:
            state = await repository.create(
                db, actor(request, principal), body.library_id, snapshot, _reader(principal)
            )
        except UnknownTracks as exc:
            raise HTTPException(422, str(exc)) from None
        await _publish(request, _event(state, "created"))
        response.headers["location"] = f"/api/v1/playlists/{state.playlist.id}"
        return await _answer(db, principal, response, state)

    @router.post("/preview", response_model=TracksOut, responses=PROBLEM_RESPONSES)
    async def preview_rules(body: PreviewIn, db: DatabaseDep, principal: PrincipalDep) -> TracksOut:
        """A rule's result now, unsaved: what a smart playlist with it would play (in the
        libraries the caller can read)."""
        readable = principal.readable_libraries()
        if body.rules.libraries is not None:
            await _check_libraries(db, principal, body.rules)
            scope: list[str] | None = list(body.rules.libraries)
        elif body.library_id is not None:
            require_access(principal, body.library_id, "read", "library")
            scope = [body.library_id]
        else:
            scope = None if readable is None else sorted(readable)
        async with db.session() as session:
            found = await evaluate(session, body.rules, scope)
        items = _result_items(found)
        return TracksOut(items=items, count=len(items), duration=_seconds(found))

    @router.get("/{playlist_id}", response_model=PlaylistOut, responses=PROBLEM_RESPONSES)
    async def get_playlist(
        playlist_id: str, response: Response, db: DatabaseDep, principal: PrincipalDep
    ) -> PlaylistOut:
        """One playlist with its items in order."""
        state = await repository.get(db, playlist_id)
        if state is None:
            raise HTTPException(404, "no such playlist")
        require_access(principal, state.playlist.library_id, "read", "playlist")
        return await _answer(db, principal, response, state)

    @router.patch("/{playlist_id}", response_model=PlaylistOut, responses=WRITE_RESPONSES)
    async def patch_playlist(
        playlist_id: str,
        body: PlaylistPatch,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> PlaylistOut:
        """Rename or describe the playlist, or change its rules (a new revision)."""
        new_rules = "rules" in body.model_fields_set
        if body.rules is not None:
            await _check_libraries(db, principal, body.rules)
        stored = body.rules.stored() if body.rules is not None else None

        def edit(state: Snapshot) -> Snapshot:
            rules, track_ids = state.rules, state.track_ids
            if new_rules and (stored is not None or state.rules is not None):
                # Smart items are computed; those of an ordinary playlist turned smart go
                # (its revision keeps them: undo brings them back). rules: null on an
                # ordinary playlist changes nothing.
                rules, track_ids = stored, ()
            return Snapshot(
                body.name if body.name is not None else state.name,
                body.description if body.description is not None else state.description,
                track_ids,
                rules,
            )

        action = "playlist.rules" if new_rules else "playlist.update"
        return await _change(request, response, db, principal, playlist_id, if_match, action, edit)

    @router.delete("/{playlist_id}", status_code=204, responses=WRITE_RESPONSES)
    async def delete_playlist(
        playlist_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> Response:
        """Delete the playlist and its history."""
        try:
            gone = await repository.delete_playlist(
                db,
                actor(request, principal),
                playlist_id,
                check=_writer(principal),
                if_match=if_match_revisions(if_match),
            )
        except LookupError:
            raise HTTPException(404, "no such playlist") from None
        except RevisionConflict as exc:
            raise precondition_failed(exc) from None
        await _publish(request, playlist_event(gone.id, gone.library_id, "deleted", None))
        return Response(status_code=204)

    @router.put("/{playlist_id}/items", response_model=PlaylistOut, responses=WRITE_RESPONSES)
    async def replace_items(
        playlist_id: str,
        body: ItemsReplace,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> PlaylistOut:
        """Replace the items: the tracks in this order."""

        def edit(state: Snapshot) -> Snapshot:
            return replaced(state, body.track_ids)

        return await _change(
            request, response, db, principal, playlist_id, if_match, "playlist.items", edit
        )

    @router.post("/{playlist_id}/items", response_model=PlaylistOut, responses=WRITE_RESPONSES)
    async def insert_items(
        playlist_id: str,
        body: ItemsInsert,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> PlaylistOut:
        """Insert tracks before ``position`` (at the end without one)."""
        return await _change(
            request, response, db, principal, playlist_id, if_match, "playlist.items",
            lambda state: insert(state, body.track_ids, body.position),
        )  # fmt: skip

    @router.post("/{playlist_id}/items/move", response_model=PlaylistOut, responses=WRITE_RESPONSES)
    async def move_item(
        playlist_id: str,
        body: ItemMove,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> PlaylistOut:
        """Move the item at ``from`` so that it ends up at ``to``."""
        return await _change(
            request, response, db, principal, playlist_id, if_match, "playlist.items",
            lambda state: move(state, body.source, body.target),
        )  # fmt: skip

    @router.delete(
        "/{playlist_id}/items/{position}", response_model=PlaylistOut, responses=WRITE_RESPONSES
    )
    async def remove_item(
        playlist_id: str,
        position: int,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> PlaylistOut:
        """Remove the item at ``position``."""
        return await _change(
            request, response, db, principal, playlist_id, if_match, "playlist.items",
            lambda state: remove(state, position),
        )  # fmt: skip

    @router.get(
        "/{playlist_id}/revisions", response_model=RevisionPage, responses=PROBLEM_RESPONSES
    )
    async def list_revisions(
        playlist_id: str,
        db: DatabaseDep,
        principal: PrincipalDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> RevisionPage:
        """The playlist's history, newest first; ``current`` marks where undo/redo stand."""
        state = await repository.get(db, playlist_id)
        if state is None:
            raise HTTPException(404, "no such playlist")
        require_access(principal, state.playlist.library_id, "read", "playlist")
        rows, total = await repository.list_revisions(db, playlist_id, limit=limit, offset=offset)
        items = [_revision_out(row, state.playlist.revision) for row in rows]
        return RevisionPage(items=items, total=total, limit=limit, offset=offset)

    @router.get("/{playlist_id}/tracks", response_model=TracksOut, responses=PROBLEM_RESPONSES)
    async def playlist_tracks(
        playlist_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> TracksOut:
        """The tracks the playlist plays now, with their count and total duration: the
        stored items, or a smart playlist's rule evaluated now (in the libraries the
        caller can read)."""
        state = await repository.get(db, playlist_id)
        if state is None:
            raise HTTPException(404, "no such playlist")
        require_access(principal, state.playlist.library_id, "read", "playlist")
        items = await _items(db, principal, state)
        durations = [item.duration for item in items if item.duration is not None]
        return TracksOut(items=items, count=len(items), duration=sum(durations) or None)

    for direction in ("undo", "redo"):
        _add_step(router, direction)

    @router.get(
        "/{playlist_id}/signed",
        response_model=SignedOut,
        responses={**PROBLEM_RESPONSES, 409: {"content": {PROBLEM: {}}}},
    )
    async def sign_playlist(
        playlist_id: str,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        seconds: Annotated[int | None, Query(ge=60, le=7 * 86400)] = None,
    ) -> SignedOut:
        """A signed URL of the playlist's HLS stream (409 when URL signing is off)."""
        if not settings.url_signing_secret:
            raise HTTPException(409, "URL signing is off (url_signing_secret is not set)")
        state = await repository.get(db, playlist_id)
        if state is None:
            raise HTTPException(404, "no such playlist")
        require_access(principal, state.playlist.library_id, "read", "playlist")
        expires = int(time.time()) + (seconds or settings.signed_url_seconds)
        prefix = f"/hls/playlists/{playlist_id}/"
        # playlist:{id} opens the stream and its stream with ads (/hls/ads/playlists/{id}/).
        token = make_token(settings.url_signing_secret.encode(), f"playlist:{playlist_id}", expires)
        return SignedOut(
            expires=expires, token=token, urls={"hls": f"{prefix}master.m3u8?token={token}"}
        )

    return router


def _add_step(router: APIRouter, direction: str) -> None:
    @router.post(
        f"/{{playlist_id}}/{direction}",
        response_model=PlaylistOut,
        responses=WRITE_RESPONSES,
        name=f"{direction}_playlist",
        summary=f"{direction.capitalize()} the last change"
        if direction == "undo"
        else "Redo an undone change",
    )
    async def step(
        playlist_id: str,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> PlaylistOut:
        try:
            state = await repository.step(
                db,
                actor(request, principal),
                playlist_id,
                "undo" if direction == "undo" else "redo",
                check=_writer(principal),
                if_match=if_match_revisions(if_match),
            )
        except LookupError:
            raise HTTPException(404, "no such playlist") from None
        except NothingToStep as exc:
            raise HTTPException(409, str(exc), headers=revision_etag(exc.revision)) from None
        except RevisionConflict as exc:
            raise precondition_failed(exc) from None
        await _publish(request, _event(state, "updated"))
        return await _answer(db, principal, response, state)


async def _change(
    request: Request,
    response: Response,
    db: Database,
    principal: Principal,
    playlist_id: str,
    if_match: str | None,
    action: str,
    edit: Callable[[Snapshot], Snapshot],
) -> PlaylistOut:
    try:
        state = await repository.change(
            db,
            actor(request, principal),
            playlist_id,
            action,
            edit,
            check=_writer(principal),
            can_read=_reader(principal),
            if_match=if_match_revisions(if_match),
        )
    except LookupError:
        raise HTTPException(404, "no such playlist") from None
    except RevisionConflict as exc:
        raise precondition_failed(exc) from None
    except (EditError, UnknownTracks) as exc:
        raise HTTPException(422, str(exc)) from None
    except ComputedItems as exc:
        raise HTTPException(409, str(exc)) from None
    if len(state.track_ids) > MAX_ITEMS:  # pragma: no cover - bounded by the request models
        raise HTTPException(422, f"a playlist holds at most {MAX_ITEMS} items")
    await _publish(request, _event(state, "updated"))
    return await _answer(db, principal, response, state)


def _event(state: PlaylistState, action: Literal["created", "updated"]) -> Outgoing:
    playlist = state.playlist
    return playlist_event(playlist.id, playlist.library_id, action, playlist.revision)


async def _publish(request: Request, event: Outgoing) -> None:
    await events(request).publish(event)


def _writer(principal: Principal) -> Callable[[Playlist], None]:
    def check(playlist: Playlist) -> None:
        require_access(principal, playlist.library_id, "write", "playlist")

    return check


def _reader(principal: Principal) -> Callable[[str], bool]:
    return lambda library_id: principal.allows(library_id, "read")


def _revision_out(row: PlaylistRevision, current: int) -> RevisionOut:
    return RevisionOut(
        revision=row.revision,
        current=row.revision == current,
        action=row.action,
        actor=row.actor_name,
        name=row.name,
        description=row.description,
        track_ids=list(row.track_ids),
        rules=row.rules,
        created_at=row.created_at,
    )


async def _answer(
    db: Database, principal: Principal, response: Response, state: PlaylistState
) -> PlaylistOut:
    """The full representation of one playlist, with its ETag."""
    response.headers.update(revision_etag(state.playlist.revision))
    out = PlaylistOut.of(state.playlist, len(state.track_ids))
    out.items = await _items(db, principal, state)
    out.item_count = len(out.items)
    durations = [item.duration for item in out.items if item.duration is not None]
    out.duration = sum(durations) if durations else None
    out.can_undo, out.can_redo = state.can_undo, state.can_redo
    return out


async def _items(db: Database, principal: Principal, state: PlaylistState) -> list[ItemOut]:
    """The playlist's items: stored, or (smart) its rule's result in readable libraries."""
    rule = rule_of(state.playlist)
    if rule is not None:
        return _result_items(await _computed(db, principal, state.playlist, rule))
    tracks: dict[str, Track] = {}
    if state.track_ids:
        async with db.session() as session:
            found = await session.scalars(select(Track).where(Track.id.in_(set(state.track_ids))))
            tracks = {track.id: track for track in found}
    return [
        ItemOut(
            position=n,
            track_id=track_id,
            title=tracks[track_id].title if track_id in tracks else None,
            artist=tracks[track_id].artist if track_id in tracks else None,
            duration=tracks[track_id].duration if track_id in tracks else None,
        )
        for n, track_id in enumerate(state.track_ids)
    ]


async def _computed(
    db: Database, principal: Principal, playlist: Playlist, rule: Rule
) -> list[ResultTrack]:
    scope = scope_of(rule, playlist.library_id, principal.readable_libraries())
    async with db.session() as session:
        return await evaluate(session, rule, scope)


def _result_items(found: list[ResultTrack]) -> list[ItemOut]:
    return [
        ItemOut(
            position=n,
            track_id=track.id,
            title=track.title,
            artist=track.artist,
            duration=track.duration,
        )
        for n, track in enumerate(found)
    ]


def _seconds(found: list[ResultTrack]) -> float | None:
    durations = [track.duration for track in found if track.duration is not None]
    return sum(durations) if durations else None


async def _check_libraries(db: Database, principal: Principal, rule: Rule) -> None:
    """The libraries a rule names exist and the caller may read them (422 otherwise,
    without telling which reason, as for tracks)."""
    if rule.libraries is None:
        return
    wanted = set(rule.libraries)
    async with db.session() as session:
        found = set(await session.scalars(select(Library.id).where(Library.id.in_(wanted))))
    missing = {lib for lib in wanted if lib not in found or not principal.allows(lib, "read")}
    if missing:
        raise HTTPException(422, f"unknown libraries: {', '.join(sorted(missing))}")
