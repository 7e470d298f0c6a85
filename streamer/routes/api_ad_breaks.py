"""/api/v1/tracks/{track_id}/ad-breaks: where a track takes ads (streamer.ads.breaks).

Reading needs read access to the track's library, changing write access (404 and 403 as
for any track). Each change is audited (``ad.breaks.update``). Sessions started after a
change use the new breaks; a session already started keeps its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.auth.access import Access, Principal
from streamer.auth.audit import record
from streamer.db import AdTrackBreaks, Track
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


class BreaksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    breaks: Annotated[list[BreakIn], Field(max_length=50)]


class BreaksOut(BaseModel):
    track_id: str
    breaks: list[BreakIn]
    urls: dict[str, str]


def ad_breaks_router() -> APIRouter:
    router = APIRouter(prefix="/tracks", tags=["ads"])

    @router.get("/{track_id}/ad-breaks", response_model=BreaksOut, responses=PROBLEM_RESPONSES)
    async def get_breaks(track_id: str, db: DatabaseDep, principal: PrincipalDep) -> BreaksOut:
        """The track's ad breaks (none by default)."""
        async with db.session() as session:
            await _track(session, principal, track_id, "read")
            row = await session.get(AdTrackBreaks, track_id)
        return _out(track_id, row.breaks if row is not None else [])

    @router.put("/{track_id}/ad-breaks", response_model=BreaksOut, responses=PROBLEM_RESPONSES)
    async def put_breaks(
        track_id: str, body: BreaksIn, request: Request, db: DatabaseDep, principal: PrincipalDep
    ) -> BreaksOut:
        """Set the track's ad breaks (an empty list: none)."""
        stored = [b.model_dump() for b in body.breaks]
        async with db.session() as session, session.begin():
            await _track(session, principal, track_id, "write")
            row = await session.get(AdTrackBreaks, track_id)
            before = row.breaks if row is not None else []
            if row is None:
                session.add(AdTrackBreaks(track_id=track_id, breaks=stored))
            else:
                row.breaks = stored
                row.updated_at = datetime.now(UTC)
            record(
                session,
                actor(request, principal),
                "ad.breaks.update",
                "track",
                track_id,
                before={"breaks": before},
                after={"breaks": stored},
            )
        ads_changed(request)
        return _out(track_id, stored)

    return router


async def _track(session: AsyncSession, principal: Principal, track_id: str, want: Access) -> None:
    track = await session.get(Track, track_id) if len(track_id) <= 32 else None
    if track is None:
        raise HTTPException(404, "no such track")
    require_access(principal, track.library_id, want, "track")


def _out(track_id: str, breaks: list[dict[str, object]]) -> BreaksOut:
    return BreaksOut(
        track_id=track_id,
        breaks=[BreakIn.model_validate(b) for b in breaks],
        urls={"hls": f"/hls/ads/{track_id}/master.m3u8"},
    )
