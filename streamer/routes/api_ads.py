"""/api/v1/ads: advertisers and campaigns (creatives and decisions: api_ad_creatives).

Access: advertising is server-wide, like channels, and commercial: editors and admins
read and change it, viewers get 403. A creative's audio is a track the caller can read
(404 "no such track" otherwise, as everywhere). Every change leaves one audit entry
(``ad.*``). Campaigns carry ``ETag: "{revision}"``; a PATCH with an ``If-Match`` that no
longer matches answers 412. Nothing is cached between requests: a pause or a new cap
holds from the next decision on, on every node.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.ads import repository
from streamer.auth.access import Principal
from streamer.auth.audit import record
from streamer.db import AdCampaign, Advertiser
from streamer.routes.ads_shapes import (
    AdvertiserIn,
    AdvertiserOut,
    AdvertiserPage,
    AdvertiserPatch,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    Limit,
    Offset,
    as_utc,
    check_flight,
)
from streamer.routes.api_common import (
    CONFLICT_RESPONSES,
    PROBLEM,
    PROBLEM_RESPONSES,
    DatabaseDep,
    PrincipalDep,
    Problem,
    actor,
)
from streamer.routes.revision_tags import if_match_revisions, revision_etag

__all__ = ["ads_changed", "ads_router", "found", "staff_only"]

IfMatch = Annotated[str | None, Header(description='"{revision}" as the ETag gave it')]
WRITE_RESPONSES = {**CONFLICT_RESPONSES, 412: {"model": Problem, "content": {PROBLEM: {}}}}


def ads_router() -> APIRouter:
    router = APIRouter(prefix="/ads", tags=["ads"])

    # Advertisers

    @router.get("/advertisers", response_model=AdvertiserPage, responses=PROBLEM_RESPONSES)
    async def list_advertisers(
        db: DatabaseDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
    ) -> AdvertiserPage:
        """Every advertiser, by name."""
        staff_only(principal)
        async with db.session() as session:
            total = await session.scalar(select(func.count()).select_from(Advertiser))
            rows = await session.scalars(
                select(Advertiser)
                .order_by(Advertiser.name, Advertiser.id)
                .limit(limit)
                .offset(offset)
            )
            items = [AdvertiserOut.of(r) for r in rows]
        return AdvertiserPage(items=items, total=total or 0, limit=limit, offset=offset)

    @router.post(
        "/advertisers", response_model=AdvertiserOut, status_code=201, responses=PROBLEM_RESPONSES
    )
    async def create_advertiser(
        body: AdvertiserIn,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> AdvertiserOut:
        """Add an advertiser."""
        staff_only(principal)
        row = Advertiser(id=repository.new_id(), name=body.name, category=body.category)
        async with db.session() as session, session.begin():
            session.add(row)
            await session.flush()
            out = AdvertiserOut.of(row)
            record(
                session,
                actor(request, principal),
                "ad.advertiser.create",
                "advertiser",
                row.id,
                after=out.model_dump(mode="json"),
            )
        response.headers["location"] = f"/api/v1/ads/advertisers/{row.id}"
        ads_changed(request)
        return out

    @router.get(
        "/advertisers/{advertiser_id}", response_model=AdvertiserOut, responses=PROBLEM_RESPONSES
    )
    async def get_advertiser(
        advertiser_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> AdvertiserOut:
        """One advertiser."""
        staff_only(principal)
        async with db.session() as session:
            return AdvertiserOut.of(await found(session, Advertiser, advertiser_id, "advertiser"))

    @router.patch(
        "/advertisers/{advertiser_id}", response_model=AdvertiserOut, responses=PROBLEM_RESPONSES
    )
    async def patch_advertiser(
        advertiser_id: str,
        body: AdvertiserPatch,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> AdvertiserOut:
        """Rename an advertiser or change its category."""
        staff_only(principal)
        async with db.session() as session, session.begin():
            row = await found(session, Advertiser, advertiser_id, "advertiser")
            before = AdvertiserOut.of(row).model_dump(mode="json")
            if body.name is not None:
                row.name = body.name
            if body.category is not None or body.clear_category:
                row.category = body.category
            row.updated_at = datetime.now(UTC)
            await session.flush()
            out = AdvertiserOut.of(row)
            record(
                session,
                actor(request, principal),
                "ad.advertiser.update",
                "advertiser",
                row.id,
                before=before,
                after=out.model_dump(mode="json"),
            )
        ads_changed(request)
        return out

    @router.delete("/advertisers/{advertiser_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def delete_advertiser(
        advertiser_id: str, request: Request, db: DatabaseDep, principal: PrincipalDep
    ) -> Response:
        """Delete an advertiser with its campaigns and creatives (their tracks stay)."""
        staff_only(principal)
        async with db.session() as session, session.begin():
            row = await found(session, Advertiser, advertiser_id, "advertiser")
            before = AdvertiserOut.of(row).model_dump(mode="json")
            await session.delete(row)  # its campaigns, creatives and versions by cascade
            record(
                session,
                actor(request, principal),
                "ad.advertiser.delete",
                "advertiser",
                advertiser_id,
                before=before,
            )
        ads_changed(request)
        return Response(status_code=204)

    # Campaigns

    @router.get("/campaigns", response_model=CampaignPage, responses=PROBLEM_RESPONSES)
    async def list_campaigns(
        db: DatabaseDep,
        principal: PrincipalDep,
        advertiser_id: Annotated[str | None, Query(max_length=32)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CampaignPage:
        """Campaigns by start of flight, newest first (of one advertiser if asked)."""
        staff_only(principal)
        query = select(AdCampaign)
        if advertiser_id is not None:
            query = query.where(AdCampaign.advertiser_id == advertiser_id)
        async with db.session() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(AdCampaign.starts_at.desc(), AdCampaign.id)
                .limit(limit)
                .offset(offset)
            )
            items = [CampaignOut.of(r) for r in rows]
        return CampaignPage(items=items, total=total or 0, limit=limit, offset=offset)

    @router.post(
        "/campaigns", response_model=CampaignOut, status_code=201, responses=PROBLEM_RESPONSES
    )
    async def create_campaign(
        body: CampaignIn,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> CampaignOut:
        """Add a campaign to an advertiser (422 for an unknown advertiser)."""
        staff_only(principal)
        row = AdCampaign(
            id=repository.new_id(),
            advertiser_id=body.advertiser_id,
            name=body.name,
            priority=body.priority,
            starts_at=as_utc(body.starts_at),
            ends_at=as_utc(body.ends_at),
            goal=body.goal,
            price_model=body.price_model,
            price=body.price,
            category=body.category,
            targeting=body.targeting.model_dump(),
            caps=[cap.model_dump() for cap in body.caps],
            paused=body.paused,
            revision=1,
        )
        async with db.session() as session, session.begin():
            if await session.get(Advertiser, body.advertiser_id) is None:
                raise HTTPException(422, "no such advertiser")
            session.add(row)
            await session.flush()
            out = CampaignOut.of(row)
            record(
                session,
                actor(request, principal),
                "ad.campaign.create",
                "campaign",
                row.id,
                after=out.model_dump(mode="json", exclude={"urls"}),
            )
        response.headers["location"] = out.urls["self"]
        response.headers.update(revision_etag(row.revision))
        ads_changed(request)
        return out

    @router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=PROBLEM_RESPONSES)
    async def get_campaign(
        campaign_id: str, response: Response, db: DatabaseDep, principal: PrincipalDep
    ) -> CampaignOut:
        """One campaign."""
        staff_only(principal)
        async with db.session() as session:
            row = await found(session, AdCampaign, campaign_id, "campaign")
        response.headers.update(revision_etag(row.revision))
        return CampaignOut.of(row)

    @router.patch("/campaigns/{campaign_id}", response_model=CampaignOut, responses=WRITE_RESPONSES)
    async def patch_campaign(
        campaign_id: str,
        body: CampaignPatch,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> CampaignOut:
        """Change a campaign: pause or resume it, its flight, goal, price, targeting or
        caps. Takes effect at the next break on every node."""
        staff_only(principal)
        wanted = if_match_revisions(if_match)
        async with db.session() as session, session.begin():
            row = await found(session, AdCampaign, campaign_id, "campaign")
            if wanted is not None and row.revision not in wanted:
                raise HTTPException(
                    412,
                    "the campaign changed since it was read",
                    headers=revision_etag(row.revision),
                )
            before = CampaignOut.of(row).model_dump(mode="json", exclude={"urls"})
            _apply(row, body)
            check_flight(row.starts_at, row.ends_at, http=True)
            row.revision += 1
            row.updated_at = datetime.now(UTC)
            await session.flush()
            out = CampaignOut.of(row)
            action = "ad.campaign.update"
            if body.paused is not None and body.paused != before["paused"]:
                action = "ad.campaign.pause" if body.paused else "ad.campaign.resume"
            record(
                session,
                actor(request, principal),
                action,
                "campaign",
                row.id,
                before=before,
                after=out.model_dump(mode="json", exclude={"urls"}),
            )
        response.headers.update(revision_etag(row.revision))
        ads_changed(request)
        return out

    @router.delete("/campaigns/{campaign_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def delete_campaign(
        campaign_id: str, request: Request, db: DatabaseDep, principal: PrincipalDep
    ) -> Response:
        """Delete a campaign and its creatives (their tracks stay in their library)."""
        staff_only(principal)
        async with db.session() as session, session.begin():
            row = await found(session, AdCampaign, campaign_id, "campaign")
            before = CampaignOut.of(row).model_dump(mode="json", exclude={"urls"})
            await session.delete(row)
            record(
                session,
                actor(request, principal),
                "ad.campaign.delete",
                "campaign",
                campaign_id,
                before=before,
            )
        ads_changed(request)
        return Response(status_code=204)

    return router


def ads_changed(request: Request) -> None:
    """Campaigns, creatives or breaks changed: this process's ad sessions read them afresh
    at their next start (other nodes within a second: streamer.ads.sessions)."""
    sessions = getattr(request.app.state, "ad_sessions", None)
    if sessions is not None:
        sessions.changed()


def staff_only(principal: Principal) -> None:
    if not principal.can_write:
        raise HTTPException(403, "advertising is for editors and admins")


def _apply(row: AdCampaign, body: CampaignPatch) -> None:
    fields: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True)
    for name in ("name", "priority", "price_model", "price", "paused", "goal", "category"):
        if name in fields:
            setattr(row, name, fields[name])
    if body.clear_goal:
        row.goal = None
    if body.clear_category:
        row.category = None
    if body.starts_at is not None:
        row.starts_at = as_utc(body.starts_at)
    if body.ends_at is not None:
        row.ends_at = as_utc(body.ends_at)
    if body.targeting is not None:
        row.targeting = body.targeting.model_dump()
    if body.caps is not None:
        row.caps = [cap.model_dump() for cap in body.caps]


async def found(
    session: AsyncSession, model: Any, row_id: str, what: str, *, lock: bool = False
) -> Any:
    if len(row_id) > 32:
        raise HTTPException(404, f"no such {what}")
    row = (
        await session.scalars(
            select(model).where(model.id == row_id).with_for_update()
            if lock
            else select(model).where(model.id == row_id)
        )
    ).first()
    if row is None:
        raise HTTPException(404, f"no such {what}")
    return row
