"""/api/v1/ads: creatives (validated, versioned) and decisions explained.

A creative's audio is a track the caller can read (404 "no such track" otherwise, as
everywhere); its validation (streamer.ads.validation) is computed at each read from what
the catalogue knows of that track, so it follows a re-transcode or a rescan. Access and
audit as for campaigns (streamer.routes.api_ads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.ads import repository
from streamer.ads.decision import decide
from streamer.ads.model import Break, Listener
from streamer.ads.repository import CreativeState
from streamer.auth.access import Principal
from streamer.auth.audit import record
from streamer.db import AdCampaign, AdCreative, AdCreativeVersion, Database, Track
from streamer.routes.ads_shapes import (
    CheckOut,
    ChosenOut,
    CreativeIn,
    CreativeOut,
    CreativePage,
    CreativePatch,
    CurrentIn,
    DecisionIn,
    DecisionOut,
    ReasonOut,
    VersionIn,
    VersionOut,
    as_utc,
)
from streamer.routes.api_ads import ads_changed, found, staff_only
from streamer.routes.api_common import (
    PROBLEM_RESPONSES,
    DatabaseDep,
    PrincipalDep,
    SettingsDep,
    actor,
    require_access,
)
from streamer.settings import Settings

__all__ = ["ad_creatives_router"]


def ad_creatives_router() -> APIRouter:
    router = APIRouter(prefix="/ads", tags=["ads"])

    # Creatives

    @router.get(
        "/campaigns/{campaign_id}/creatives",
        response_model=CreativePage,
        responses=PROBLEM_RESPONSES,
    )
    async def list_creatives(
        campaign_id: str, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
    ) -> CreativePage:
        """A campaign's creatives, each with its validation and versions."""
        staff_only(principal)
        async with db.session() as session:
            await found(session, AdCampaign, campaign_id, "campaign")
            rows = (
                await session.scalars(
                    select(AdCreative)
                    .where(AdCreative.campaign_id == campaign_id)
                    .order_by(AdCreative.created_at, AdCreative.id)
                )
            ).all()
            items = [
                await _creative_out(session, row, settings.ads_loudness_target) for row in rows
            ]
        return CreativePage(items=items)

    @router.post(
        "/campaigns/{campaign_id}/creatives",
        response_model=CreativeOut,
        status_code=201,
        responses=PROBLEM_RESPONSES,
    )
    async def create_creative(
        campaign_id: str,
        body: CreativeIn,
        request: Request,
        response: Response,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
    ) -> CreativeOut:
        """Add a creative whose audio is the track ``track_id`` (uploaded and catalogued
        like any track). Its validation shows at once, pending until the transcode has
        measured its loudness."""
        staff_only(principal)
        who = actor(request, principal)
        async with db.session() as session, session.begin():
            await found(session, AdCampaign, campaign_id, "campaign")
            await _readable_track(session, principal, body.track_id)
            row = AdCreative(
                id=repository.new_id(),
                campaign_id=campaign_id,
                name=body.name,
                slot_seconds=body.slot_seconds,
                current_version=1,
            )
            session.add(row)
            await session.flush()
            session.add(
                AdCreativeVersion(
                    creative_id=row.id,
                    version=1,
                    track_id=body.track_id,
                    note=body.note,
                    created_by=who.name,
                )
            )
            await session.flush()
            out = await _creative_out(session, row, settings.ads_loudness_target)
            record(session, who, "ad.creative.create", "creative", row.id, after=_audited(out))
        response.headers["location"] = out.urls["self"]
        ads_changed(request)
        return out

    @router.get("/creatives/{creative_id}", response_model=CreativeOut, responses=PROBLEM_RESPONSES)
    async def get_creative(
        creative_id: str, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
    ) -> CreativeOut:
        """One creative, its validation (a reason per check) and its versions."""
        staff_only(principal)
        async with db.session() as session:
            row = await found(session, AdCreative, creative_id, "creative")
            return await _creative_out(session, row, settings.ads_loudness_target)

    @router.patch(
        "/creatives/{creative_id}", response_model=CreativeOut, responses=PROBLEM_RESPONSES
    )
    async def patch_creative(
        creative_id: str,
        body: CreativePatch,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
    ) -> CreativeOut:
        """Rename a creative or change the slot it is sold for (validated again)."""

        async def mutate(_session: AsyncSession, row: AdCreative) -> None:
            if body.name is not None:
                row.name = body.name
            if body.slot_seconds is not None:
                row.slot_seconds = body.slot_seconds

        return await _change(
            request, db, settings, principal, creative_id, "ad.creative.update", mutate
        )

    @router.delete("/creatives/{creative_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def delete_creative(
        creative_id: str,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
    ) -> Response:
        """Delete a creative and its versions (their tracks stay in their library)."""
        staff_only(principal)
        async with db.session() as session, session.begin():
            row = await found(session, AdCreative, creative_id, "creative")
            before = _audited(await _creative_out(session, row, settings.ads_loudness_target))
            await session.delete(row)
            record(
                session,
                actor(request, principal),
                "ad.creative.delete",
                "creative",
                creative_id,
                before=before,
            )
        ads_changed(request)
        return Response(status_code=204)

    @router.post(
        "/creatives/{creative_id}/versions",
        response_model=CreativeOut,
        status_code=201,
        responses=PROBLEM_RESPONSES,
    )
    async def add_version(
        creative_id: str,
        body: VersionIn,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
    ) -> CreativeOut:
        """Replace the creative's audio: a new version, current from now on (the earlier
        ones are kept for a rollback)."""
        who = actor(request, principal)

        async def mutate(session: AsyncSession, row: AdCreative) -> None:
            await _readable_track(session, principal, body.track_id)
            newest = await session.scalar(
                select(func.max(AdCreativeVersion.version)).where(
                    AdCreativeVersion.creative_id == row.id
                )
            )
            number = (newest or 0) + 1
            session.add(
                AdCreativeVersion(
                    creative_id=row.id,
                    version=number,
                    track_id=body.track_id,
                    note=body.note,
                    created_by=who.name,
                )
            )
            row.current_version = number

        return await _change(
            request, db, settings, principal, creative_id, "ad.creative.version", mutate
        )

    @router.put(
        "/creatives/{creative_id}/current", response_model=CreativeOut, responses=PROBLEM_RESPONSES
    )
    async def set_current(
        creative_id: str,
        body: CurrentIn,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
    ) -> CreativeOut:
        """Make an existing version current again (a rollback, or forward again)."""

        async def mutate(session: AsyncSession, row: AdCreative) -> None:
            if await session.get(AdCreativeVersion, (row.id, body.version)) is None:
                raise HTTPException(422, f"the creative has no version {body.version}")
            row.current_version = body.version

        return await _change(
            request, db, settings, principal, creative_id, "ad.creative.current", mutate
        )

    # Decisions

    @router.post("/decisions", response_model=DecisionOut, responses=PROBLEM_RESPONSES)
    async def explain_decision(
        body: DecisionIn, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep
    ) -> DecisionOut:
        """The ads that would fill a break for a listener, and why each campaign is or is
        not in it: the decision insertion makes, with the caller's inputs for what the
        listener heard and what each campaign delivered."""
        staff_only(principal)
        try:
            tz = await asyncio.to_thread(ZoneInfo, body.listener.timezone)  # reads a file
        except (ZoneInfoNotFoundError, ValueError):
            raise HTTPException(422, f"unknown time zone {body.listener.timezone!r}") from None
        now = as_utc(body.listener.at) if body.listener.at is not None else datetime.now(UTC)
        inputs = await repository.decision_inputs(db, settings.ads_loudness_target, now)
        placed = inputs.placed
        slot = body.slot
        decision = decide(
            Break(
                id="explain",
                seconds=slot.seconds,
                position=slot.position,
                channel=slot.channel_id,
                playlist=slot.playlist_id,
                tags=frozenset(slot.tags),
            ),
            Listener(
                session=body.listener.session,
                now=now.astimezone(tz),
                country=body.listener.country,
                app=body.listener.app,
                device=body.listener.device,
                heard={
                    k: tuple(sorted(as_utc(t) for t in v)) for k, v in body.listener.heard.items()
                },
            ),
            inputs.campaigns,
            {**inputs.served, **body.delivered},  # the stored counts unless told otherwise
        )
        return DecisionOut(
            ads=[
                ChosenOut(
                    campaign_id=ad.campaign,
                    creative_id=ad.creative,
                    version=placed[ad.creative].version,
                    track_id=placed[ad.creative].track_id,
                    seconds=ad.seconds,
                )
                for ad in decision.ads
            ],
            seconds=round(decision.seconds, 3),
            reasons=[
                ReasonOut(campaign_id=r.campaign, chosen=r.chosen, why=r.why)
                for r in decision.reasons
            ],
        )

    return router


async def _change(
    request: Request,
    db: Database,
    settings: Settings,
    principal: Principal,
    creative_id: str,
    action: str,
    mutate: Callable[[AsyncSession, AdCreative], Awaitable[None]],
) -> CreativeOut:
    """One audited change of a creative (its row locked while ``mutate`` changes it)."""
    staff_only(principal)
    target = settings.ads_loudness_target
    async with db.session() as session, session.begin():
        row = await found(session, AdCreative, creative_id, "creative", lock=True)
        before = _audited(await _creative_out(session, row, target))
        await mutate(session, row)
        row.updated_at = datetime.now(UTC)
        await session.flush()
        out = await _creative_out(session, row, target)
        record(session, actor(request, principal), action, "creative", row.id,
               before=before, after=_audited(out))  # fmt: skip
    ads_changed(request)
    return out


async def _readable_track(session: AsyncSession, principal: Principal, track_id: str) -> None:
    track = await session.get(Track, track_id)
    if track is None:
        raise HTTPException(404, "no such track")
    require_access(principal, track.library_id, "read", "track")


async def _creative_out(session: AsyncSession, row: AdCreative, target: float) -> CreativeOut:
    state: CreativeState = (await repository.creative_states(session, [row], target))[row.id]
    versions = await repository.versions_of(session, row.id)
    track = state.track
    urls = {"self": f"/api/v1/ads/creatives/{row.id}"}
    if track is not None:
        urls["track"] = f"/api/v1/tracks/{track.id}"
        urls["preview"] = f"/media/{track.id}/original"
        urls["hls"] = f"/hls/{track.id}/master.m3u8"
    return CreativeOut(
        id=row.id,
        campaign_id=row.campaign_id,
        name=row.name,
        slot_seconds=row.slot_seconds,
        current_version=row.current_version,
        track_id=track.id if track is not None else None,
        duration=track.duration if track is not None else None,
        state=state.validation.state,
        checks=[
            CheckOut(name=c.name, state=c.state, reason=c.reason) for c in state.validation.checks
        ],
        versions=[
            VersionOut(
                version=v.version,
                track_id=v.track_id,
                note=v.note,
                created_by=v.created_by,
                created_at=v.created_at,
                current=v.version == row.current_version,
            )
            for v in versions
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
        urls=urls,
    )


def _audited(out: CreativeOut) -> dict[str, Any]:
    return out.model_dump(
        mode="json", include={"name", "slot_seconds", "current_version", "track_id"}
    )
