"""/api/v1/ads/report: what campaigns delivered over a period (streamer.ads.reports), as
JSON or CSV. Editors and admins, like the rest of /ads."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select

from streamer.ads.forecast import fill_rate, forecast
from streamer.ads.reports import (
    MAX_DAYS,
    CampaignFigures,
    Report,
    campaign_report,
    inventory_history,
)
from streamer.db import AdCampaign
from streamer.routes.ads_shapes import as_utc
from streamer.routes.api_ads import staff_only
from streamer.routes.api_common import PROBLEM_RESPONSES, DatabaseDep, PrincipalDep

__all__ = ["ad_reports_router"]


class InventoryOut(BaseModel):
    sessions: int
    breaks: int
    filled: int
    fill_rate: float | None
    seconds_offered: float
    seconds_filled: float


class QuartilesOut(BaseModel):
    q25: int
    q50: int
    q75: int
    q100: int


class CampaignReportOut(BaseModel):
    campaign_id: str
    name: str
    placed: int
    impressions: int
    reach: int
    frequency: float | None
    quartiles: QuartilesOut
    goal: int | None
    pacing: float | None
    revenue: float
    conversions: int
    conversion_value: float
    return_on_spend: float | None

    @classmethod
    def of(cls, f: CampaignFigures) -> CampaignReportOut:
        q = f.quartiles
        return cls(
            campaign_id=f.campaign_id,
            name=f.name,
            placed=f.placed,
            impressions=f.impressions,
            reach=f.reach,
            frequency=round(f.frequency, 3) if f.frequency is not None else None,
            quartiles=QuartilesOut(q25=q[0], q50=q[1], q75=q[2], q100=q[3]),
            goal=f.goal,
            pacing=f.pacing,
            revenue=f.revenue,
            conversions=f.conversions,
            conversion_value=f.conversion_value,
            return_on_spend=(
                round(f.return_on_spend, 3) if f.return_on_spend is not None else None
            ),
        )


class ForecastDayOut(BaseModel):
    day: date
    breaks: float
    seconds: float
    filled: float


class GoalOut(BaseModel):
    campaign_id: str
    name: str
    goal: int
    served: int
    remaining: int  # ads still to serve by the end of the flight


class ForecastOut(BaseModel):
    start: date
    end: date  # inclusive
    weeks: int  # of history each day is forecast from
    breaks: float
    seconds: float
    fill_rate: float | None  # the history's
    days: list[ForecastDayOut]
    goals: list[GoalOut]  # campaigns with a goal whose flight meets the period


class ReportOut(BaseModel):
    start: datetime
    end: datetime
    inventory: InventoryOut
    campaigns: list[CampaignReportOut]


_CSV_FIELDS = ["campaign_id", "name", "placed", "impressions", "reach", "frequency", "q25",
               "q50", "q75", "q100", "goal", "pacing", "revenue", "conversions",
               "conversion_value", "return_on_spend"]  # fmt: skip


def ad_reports_router() -> APIRouter:
    router = APIRouter(prefix="/ads", tags=["ads"])

    @router.get(
        "/report",
        response_model=ReportOut,
        responses={**PROBLEM_RESPONSES, 200: {"content": {"text/csv": {}}}},
    )
    async def report(
        db: DatabaseDep,
        principal: PrincipalDep,
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        format: Literal["json", "csv"] = "json",
    ) -> ReportOut | Response:
        """Per campaign: ads placed, impressions (first segment delivered), reach,
        frequency, quartiles, pacing against the goal, revenue and return on spend; and the
        inventory's fill rate. Sessions started in ``[from, to)`` (default: the last 7
        days), at most 93 days."""
        staff_only(principal)
        to = as_utc(end) if end is not None else datetime.now(UTC)
        try:
            since = as_utc(start) if start is not None else to - timedelta(days=7)
            found = await campaign_report(db, since, to)
        except OverflowError:
            raise HTTPException(422, "the period is out of range") from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        out = _out(found)
        if format == "csv":
            return Response(_csv(out), media_type="text/csv; charset=utf-8")
        return out

    @router.get("/forecast", response_model=ForecastOut, responses=PROBLEM_RESPONSES)
    async def forecast_inventory(
        db: DatabaseDep,
        principal: PrincipalDep,
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        weeks: Annotated[int, Query(ge=1, le=13)] = 4,
    ) -> ForecastOut:
        """Breaks and seconds of breaks listeners are expected to open each day of
        ``[from, to]`` (default: the next 7 days, at most 93), each day the mean of the same
        weekday over the last ``weeks`` weeks, at the history's fill rate; and the
        campaigns' goals still to serve, to weigh against it."""
        staff_only(principal)
        today = datetime.now(UTC).date()
        try:
            first = start or today + timedelta(days=1)
            last = end or first + timedelta(days=6)
            ends = datetime.combine(last + timedelta(days=1), time(), UTC)
        except OverflowError:
            raise HTTPException(422, "the period is out of range") from None
        if last < first or (last - first).days >= MAX_DAYS:
            raise HTTPException(
                422, f"a forecast covers 1 to {MAX_DAYS} days, ending after it starts"
            )
        since = datetime.combine(today - timedelta(days=weeks * 7), time(), UTC)
        history = await inventory_history(db, since, datetime.combine(today, time(), UTC))
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        found = forecast(history, today, days, weeks)
        rate = fill_rate(history, today, weeks)
        begins = datetime.combine(first, time(), UTC)
        async with db.session() as session:
            campaigns = (
                await session.scalars(
                    select(AdCampaign)
                    .where(AdCampaign.goal.is_not(None))
                    .where(AdCampaign.starts_at < ends, AdCampaign.ends_at > begins)
                    .order_by(AdCampaign.name, AdCampaign.id)
                )
            ).all()
        return ForecastOut(
            start=first,
            end=last,
            weeks=weeks,
            breaks=round(sum(d.breaks for d in found), 2),
            seconds=round(sum(d.seconds for d in found), 2),
            fill_rate=round(rate, 4) if rate is not None else None,
            days=[
                ForecastDayOut(
                    day=d.day,
                    breaks=round(d.breaks, 2),
                    seconds=round(d.seconds, 2),
                    filled=round(d.filled, 2),
                )
                for d in found
            ],
            goals=[
                GoalOut(
                    campaign_id=c.id,
                    name=c.name,
                    goal=c.goal or 0,
                    served=c.served,
                    remaining=max((c.goal or 0) - c.served, 0),
                )
                for c in campaigns
            ],
        )

    return router


def _out(report: Report) -> ReportOut:
    inventory = report.inventory
    return ReportOut(
        start=report.start,
        end=report.end,
        inventory=InventoryOut(
            sessions=inventory.sessions,
            breaks=inventory.breaks,
            filled=inventory.filled,
            fill_rate=round(inventory.fill_rate, 4) if inventory.fill_rate is not None else None,
            seconds_offered=round(inventory.seconds_offered, 3),
            seconds_filled=round(inventory.seconds_filled, 3),
        ),
        campaigns=[CampaignReportOut.of(f) for f in report.campaigns],
    )


def _csv(report: ReportOut) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report.campaigns:
        data = row.model_dump(exclude={"quartiles"})
        data.update(row.quartiles.model_dump())
        writer.writerow(data)
    return buffer.getvalue()
