"""/api/v1/tracks/{track_id}/ad-breaks and /api/v1/playlists/{playlist_id}/ad-breaks:
where a track, or a playlist played as one stream, takes ads (streamer.ads.breaks).

Reading needs read access to the track's or playlist's library, changing write access
(404 and 403 as everywhere). Each change is audited (``ad.breaks.update``). Sessions started after a
change use the new breaks; a session already started keeps its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.auth.access import Access, Principal
from streamer.auth.audit import record
from streamer.db import AdPlaylistBreaks, AdTrackBreaks, Database, Playlist, Track
from streamer.routes.api_ads import ads_changed
from streamer.routes.api_common import (
    PROBLEM_RESPONSES,
    DatabaseDep,
    PrincipalDep,
    actor,
    require_access,
)

__all__ = ["ad_breaks_router"]


class BreakIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: Literal["pre", "mid", "post"]
    at: Annotated[float | None, Field(ge=0, le=86_400, description="mid-rolls: seconds in")] = None
    seconds: Annotated[float, Field(gt=0, le=900, description="seconds of ads at most")]

    @model_validator(mode="after")
    def _at(self) -> BreakIn:
        if (self.position == "mid") != (self.at is not None):
            raise ValueError("a mid-roll has an 'at'; a pre- or post-roll has none")
        return self


class PlaylistBreakIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: Literal["pre", "between", "post"]
    every: Annotated[int, Field(ge=1, le=1000, description="between: after every n items")] = 1
    seconds: Annotated[float, Field(gt=0, le=900, description="seconds of ads at most")]


class BreaksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    breaks: Annotated[list[BreakIn], Field(max_length=50)]


class PlaylistBreaksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    breaks: Annotated[list[PlaylistBreakIn], Field(max_length=50)]


class BreaksOut(BaseModel):
    track_id: str
    breaks: list[BreakIn]
    urls: dict[str, str]


class PlaylistBreaksOut(BaseModel):
    playlist_id: str
    breaks: list[PlaylistBreakIn]
    urls: dict[str, str]


Kind = Literal["track", "playlist"]
_TABLES: dict[str, Any] = {"track": AdTrackBreaks, "playlist": AdPlaylistBreaks}


def ad_breaks_router() -> APIRouter:
    router = APIRouter(tags=["ads"])

    @router.get(
        "/tracks/{track_id}/ad-breaks", response_model=BreaksOut, responses=PROBLEM_RESPONSES
    )
    async def get_breaks(track_id: str, db: DatabaseDep, principal: PrincipalDep) -> BreaksOut:
        """The track's ad breaks (none by default)."""
        stored = await _read(db, principal, "track", track_id)
        return BreaksOut(
            track_id=track_id,
            breaks=[BreakIn.model_validate(b) for b in stored],
            urls={"hls": f"/hls/ads/{track_id}/master.m3u8"},
        )

    @router.put(
        "/tracks/{track_id}/ad-breaks", response_model=BreaksOut, responses=PROBLEM_RESPONSES
    )
    async def put_breaks(
        track_id: str, body: BreaksIn, request: Request, db: DatabaseDep, principal: PrincipalDep
    ) -> BreaksOut:
        """Set the track's ad breaks (an empty list: none)."""
        await _write(
            request, db, principal, "track", track_id, [b.model_dump() for b in body.breaks]
        )
        return BreaksOut(
            track_id=track_id, breaks=body.breaks, urls={"hls": f"/hls/ads/{track_id}/master.m3u8"}
        )

    @router.get(
        "/playlists/{playlist_id}/ad-breaks",
        response_model=PlaylistBreaksOut,
        responses=PROBLEM_RESPONSES,
    )
    async def get_playlist_breaks(
        playlist_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> PlaylistBreaksOut:
        """The ad breaks of the playlist played as one stream (none by default)."""
        stored = await _read(db, principal, "playlist", playlist_id)
        return PlaylistBreaksOut(
            playlist_id=playlist_id,
            breaks=[PlaylistBreakIn.model_validate(b) for b in stored],
            urls={"hls": f"/hls/ads/playlists/{playlist_id}/master.m3u8"},
        )

    @router.put(
        "/playlists/{playlist_id}/ad-breaks",
        response_model=PlaylistBreaksOut,
        responses=PROBLEM_RESPONSES,
    )
    async def put_playlist_breaks(
        playlist_id: str,
        body: PlaylistBreaksIn,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> PlaylistBreaksOut:
        """Set the playlist's ad breaks: before it, between its items (after every n), after
        it (an empty list: none)."""
        stored = [b.model_dump() for b in body.breaks]
        await _write(request, db, principal, "playlist", playlist_id, stored)
        return PlaylistBreaksOut(
            playlist_id=playlist_id,
            breaks=body.breaks,
            urls={"hls": f"/hls/ads/playlists/{playlist_id}/master.m3u8"},
        )

    return router


async def _read(db: Database, principal: Principal, kind: Kind, subject_id: str) -> list[Any]:
    async with db.session() as session:
        await _subject(session, principal, kind, subject_id, "read")
        row = await session.get(_TABLES[kind], subject_id)
    return list(row.breaks) if row is not None else []


async def _write(
    request: Request,
    db: Database,
    principal: Principal,
    kind: Kind,
    subject_id: str,
    stored: list[dict[str, Any]],
) -> None:
    table = _TABLES[kind]
    async with db.session() as session, session.begin():
        await _subject(session, principal, kind, subject_id, "write")
        row = await session.get(table, subject_id)
        before = row.breaks if row is not None else []
        if row is None:
            session.add(table(**{f"{kind}_id": subject_id}, breaks=stored))
        else:
            row.breaks = stored
            row.updated_at = datetime.now(UTC)
        record(session, actor(request, principal), "ad.breaks.update", kind, subject_id,
               before={"breaks": before}, after={"breaks": stored})  # fmt: skip
    ads_changed(request)


async def _subject(
    session: AsyncSession, principal: Principal, kind: Kind, subject_id: str, want: Access
) -> None:
    model: Any = Track if kind == "track" else Playlist
    row = await session.get(model, subject_id) if len(subject_id) <= 32 else None
    if row is None:
        raise HTTPException(404, f"no such {kind}")
    require_access(principal, row.library_id, want, kind)
