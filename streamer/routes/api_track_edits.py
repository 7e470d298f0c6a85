"""Editing the catalogue: PATCH /tracks/{id} (metadata and labels, optimistic concurrency
with ETag/If-Match, optional tag write-back) and POST /tracks/batch.

Reading tracks lives in api.py; both share ``TrackOut``'s version and ``etag_of``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete

import streamer.catalogue.repository as repository
from streamer.auth import audit
from streamer.catalogue.editing import (
    EditError,
    VersionMismatch,
    apply_edit,
    etag_of,
    normalise_labels,
    snapshot,
)
from streamer.db import Database, Track
from streamer.events.publish import EventPublisher, track_event
from streamer.http.conditional import if_match_matches
from streamer.jobs import RunnerConfig
from streamer.jobs.queue import queue_transcodes
from streamer.routes.api_common import (
    CONFLICT_RESPONSES,
    PROBLEM,
    DatabaseDep,
    EventsDep,
    Principal,
    PrincipalDep,
    Problem,
    SettingsDep,
    StoresDep,
    actor,
    require_access,
)
from streamer.settings import Settings

__all__ = ["BatchRequest", "TrackPatch", "track_edits_router"]

_Text = Annotated[str | None, Field(max_length=500)]
_Number = Annotated[int | None, Field(ge=0, le=2**31 - 1)]
_Labels = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)]


class TrackPatch(BaseModel):
    """Fields to change; absent fields stay, ``null`` clears one."""

    model_config = ConfigDict(extra="forbid")

    title: _Text = None
    artist: _Text = None
    album: _Text = None
    album_artist: _Text = None
    genre: _Text = None
    year: Annotated[int | None, Field(ge=0, le=9999)] = None
    track_number: _Number = None
    disc_number: _Number = None
    labels: _Labels | None = None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["tag", "untag", "retranscode", "delete"]
    track_ids: Annotated[list[str], Field(min_length=1, max_length=500)]
    labels: _Labels | None = None  # for tag and untag


class BatchItem(BaseModel):
    track_id: str
    status: int  # the HTTP status this item alone would have had
    ok: bool
    changed: bool = False  # False: nothing to do (already tagged, say)
    version: int | None = None  # the track's row version after a tag or untag
    problem: Problem | None = None


class BatchOut(BaseModel):
    items: list[BatchItem]


def _precondition(track: Track, if_match: str | None) -> None:
    """428 without If-Match; 412 unless it names the current ETag (strong comparison)."""
    if if_match is None:
        raise HTTPException(428, "send If-Match with the track's ETag (from GET)")
    if not if_match_matches(if_match, etag_of(track.id, track.row_version)):
        raise VersionMismatch(track.row_version)


def _mismatch(track_id: str, exc: VersionMismatch) -> JSONResponse:
    etag = etag_of(track_id, exc.current)
    body = Problem(title=HTTPStatus(412).phrase, status=412, detail=str(exc)).model_dump(
        exclude_none=True
    )
    body["etag"] = etag  # the current one: GET the track again, merge, retry with it
    return JSONResponse(body, status_code=412, media_type=PROBLEM, headers={"ETag": etag})


def _problem(status: int, detail: str) -> Problem:
    return Problem(title=HTTPStatus(status).phrase, status=status, detail=detail)


def track_edits_router(render: Callable[[Database, str], Awaitable[dict[str, Any]]]) -> APIRouter:
    """The routes; ``render`` gives a track as GET /tracks/{id} answers it (api.py)."""
    router = APIRouter(prefix="/tracks", tags=["tracks"])

    @router.patch(
        "/{track_id}",
        responses={
            **CONFLICT_RESPONSES,
            412: {"model": Problem, "content": {PROBLEM: {}}},
            428: {"model": Problem, "content": {PROBLEM: {}}},
        },
    )
    async def patch_track(
        track_id: str,
        body: TrackPatch,
        request: Request,
        db: DatabaseDep,
        stores: StoresDep,
        principal: PrincipalDep,
        events: EventsDep,
        write_tags: Annotated[
            bool, Query(description="also write the tags into the file (local libraries)")
        ] = False,
    ) -> Response:
        """Edit a track's metadata and labels. ``If-Match`` with the ETag of GET is
        required (428 without; 412 with a stale one, the current ETag in the body).
        Edited fields outlive rescans. ``write_tags`` writes them into the file too:
        409 if the file changed since the last scan, 422 if its format cannot be
        tagged or the library is not local."""
        found = await repository.get_track_with_root(db, track_id)
        if found is None:
            raise HTTPException(404, "no such track")
        track, root = found
        require_access(principal, track.library_id, "write", "track")
        changes = body.model_dump(exclude_unset=True)
        try:
            _precondition(track, request.headers.get("if-match"))
            store = await stores.get(root) if write_tags else None
            async with db.session() as session, session.begin():
                after = await apply_edit(
                    session,
                    track,
                    changes,
                    expected_version=track.row_version,
                    actor=actor(request, principal),
                    store=store,
                )
        except VersionMismatch as exc:
            return _mismatch(track_id, exc)
        except EditError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        await events.publish(track_event(track_id, track.library_id, "updated"))
        # Read back rather than patch the old object: the answer is what was committed.
        out = await render(db, track_id)
        return JSONResponse(out, headers={"ETag": etag_of(track_id, after["version"])})

    @router.post("/batch", response_model=BatchOut, responses=CONFLICT_RESPONSES)
    async def batch(
        body: BatchRequest,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        events: EventsDep,
    ) -> BatchOut:
        """Apply one action to many tracks; each item succeeds or fails alone, with the
        status it would have had on its own (404 unreadable, 403 not writable).

        ``tag``/``untag`` add or remove ``labels``; ``retranscode`` queues a forced
        transcode; ``delete`` removes the track's catalogue rows (renditions, jobs,
        labels, playlist entries) but never its source file, so the next scan of a
        library still holding the file adds it again, and derived objects (renditions,
        covers) stay in storage."""
        if body.action in ("tag", "untag") and not normalise_labels(body.labels or []):
            raise HTTPException(422, f"{body.action} needs labels")
        items = []
        for track_id in dict.fromkeys(body.track_ids):  # each once, in the given order
            items.append(
                await _batch_item(db, settings, events, request, principal, body, track_id)
            )
        return BatchOut(items=items)

    return router


async def _batch_item(
    db: Database,
    settings: Settings,
    events: EventPublisher,
    request: Request,
    principal: Principal,
    body: BatchRequest,
    track_id: str,
) -> BatchItem:
    track = await repository.get_track(db, track_id)
    if track is None or not principal.allows(track.library_id, "read"):
        return BatchItem(
            track_id=track_id, status=404, ok=False, problem=_problem(404, "no such track")
        )
    if not principal.allows(track.library_id, "write"):
        detail = "write access to this track's library is needed"
        return BatchItem(track_id=track_id, status=403, ok=False, problem=_problem(403, detail))
    who = actor(request, principal)
    if body.action in ("tag", "untag"):
        given = normalise_labels(body.labels or [])
        current = list(track.labels or [])
        if body.action == "tag":
            labels = normalise_labels([*current, *given])
        else:
            labels = [label for label in current if label not in given]
        if labels == current:
            return BatchItem(track_id=track_id, status=200, ok=True, version=track.row_version)
        try:
            async with db.session() as session, session.begin():
                after = await apply_edit(
                    session,
                    track,
                    {"labels": labels},
                    expected_version=track.row_version,
                    actor=who,
                    action=f"track.{body.action}",
                )
        except VersionMismatch as exc:
            # A concurrent edit won: nothing was written; the caller may simply retry.
            detail = f"the track changed meanwhile (now version {exc.current}); retry"
            return BatchItem(track_id=track_id, status=409, ok=False, problem=_problem(409, detail))
        await events.publish(track_event(track_id, track.library_id, "updated"))
        return BatchItem(
            track_id=track_id, status=200, ok=True, changed=True, version=after["version"]
        )
    if body.action == "retranscode":
        if track.status != "ok":
            detail = f"the track cannot be transcoded: {track.error or track.status}"
            return BatchItem(track_id=track_id, status=409, ok=False, problem=_problem(409, detail))
        jobs = await queue_transcodes(
            db,
            RunnerConfig.from_settings(settings),
            track_ids=[track_id],
            force=True,
            events=events,
        )
        if not jobs:  # a queued or running job already exists: it will do
            return BatchItem(track_id=track_id, status=200, ok=True)
        await audit.write(
            db, who, "track.retranscode", "track", track_id, after={"job_id": jobs[0].id}
        )
        return BatchItem(track_id=track_id, status=200, ok=True, changed=True)
    async with db.session() as session, session.begin():
        before: dict[str, Any] = {**snapshot(track), "path": track.key, "library": track.library_id}
        await session.execute(delete(Track).where(Track.id == track_id))
        audit.record(session, who, "track.delete", "track", track_id, before=before)
    await events.publish(track_event(track_id, track.library_id, "deleted"))
    return BatchItem(track_id=track_id, status=200, ok=True, changed=True)
