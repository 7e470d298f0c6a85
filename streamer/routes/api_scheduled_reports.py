"""/api/v1/analytics/scheduled-reports: report queries run every day or week.

Each user manages their own schedules; admins see and manage everyone's. A run reports
on what the owner could read when the schedule was saved. A webhook URL (http or https)
may be set by editors and admins only, since it sends figures out of the server; the
periodic task POSTs each run to it (streamer/analytics/schedules.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import AnyHttpUrl, BaseModel, Field

from streamer.analytics import schedules
from streamer.analytics.periods import Interval, load_zone
from streamer.analytics.report_model import GroupBy, Metric
from streamer.analytics.schedules import ScheduleSpec
from streamer.auth.access import Principal
from streamer.db import ReportRun, ScheduledReport
from streamer.routes.api_common import PROBLEM_RESPONSES, DatabaseDep, PrincipalDep
from streamer.routes.api_dashboards import FilterName, owner_of

__all__ = ["ScheduledReportIn", "ScheduledReportOut", "scheduled_reports_router"]


class StoredQuery(BaseModel):
    metric: Metric = "downloads"
    interval: Interval = "day"
    group_by: GroupBy = "none"
    filters: dict[FilterName, Annotated[str, Field(max_length=100)]] = {}
    limit: Annotated[int, Field(ge=1, le=500)] = 10
    compare: bool = False
    moving_average: Annotated[int, Field(ge=0, le=366)] = 0


class ScheduledReportIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    query: StoredQuery
    cadence: Literal["daily", "weekly"] = "daily"
    timezone: Annotated[str, Field(max_length=64)] = "UTC"
    webhook_url: AnyHttpUrl | None = None


class ScheduledReportOut(BaseModel):
    id: str
    name: str
    owner: str
    query: StoredQuery
    cadence: Literal["daily", "weekly"]
    timezone: str
    webhook_url: str | None
    next_run_at: datetime
    last_run_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: ScheduledReport) -> ScheduledReportOut:
        return cls(
            id=row.id,
            name=row.name,
            owner=row.owner_name,
            query=StoredQuery.model_validate(row.query),
            cadence=row.cadence,
            timezone=row.timezone,
            webhook_url=row.webhook_url,
            next_run_at=row.next_run_at,
            last_run_at=row.last_run_at,
            created_at=row.created_at,
        )


class ReportRunOut(BaseModel):
    id: int
    period_from: datetime
    period_to: datetime
    created_at: datetime
    webhook_status: int | None
    webhook_error: str | None
    webhook_attempts: int
    webhook_next_at: datetime | None  # when the webhook is tried again (None: it is not)
    report: dict[str, Any]

    @classmethod
    def of(cls, row: ReportRun) -> ReportRunOut:
        return cls(
            id=row.id,
            period_from=row.period_from,
            period_to=row.period_to,
            created_at=row.created_at,
            webhook_status=row.webhook_status,
            webhook_error=row.webhook_error,
            webhook_attempts=row.webhook_attempts,
            webhook_next_at=row.webhook_next_at,
            report=row.result,
        )


async def _spec(body: ScheduledReportIn, principal: Principal) -> ScheduleSpec:
    try:
        await load_zone(body.timezone)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if body.webhook_url is not None and not principal.can_write:
        raise HTTPException(403, "viewers may not send reports to a webhook")
    return ScheduleSpec(
        name=body.name,
        query=body.query.model_dump(mode="json"),
        cadence=body.cadence,
        timezone=body.timezone,
        webhook_url=str(body.webhook_url) if body.webhook_url is not None else None,
    )


def _scope(principal: Principal) -> str | None:
    """Whose schedules the caller manages: their own (None: everyone's, for admins)."""
    return None if principal.is_admin else owner_of(principal)


def scheduled_reports_router() -> APIRouter:
    router = APIRouter(prefix="/analytics/scheduled-reports", tags=["analytics"])

    @router.get("", response_model=list[ScheduledReportOut], responses=PROBLEM_RESPONSES)
    async def list_schedules(db: DatabaseDep, principal: PrincipalDep) -> list[ScheduledReportOut]:
        return [ScheduledReportOut.of(r) for r in await schedules.list_for(db, _scope(principal))]

    @router.post(
        "", response_model=ScheduledReportOut, status_code=201, responses=PROBLEM_RESPONSES
    )
    async def create_schedule(
        body: ScheduledReportIn, db: DatabaseDep, principal: PrincipalDep, response: Response
    ) -> ScheduledReportOut:
        """A new schedule; its first run is after the next local midnight (daily) or
        Monday midnight (weekly) of its time zone."""
        libraries = principal.readable_libraries()
        row = await schedules.create(
            db,
            owner_of(principal),
            principal.name,
            sorted(libraries) if libraries is not None else None,
            await _spec(body, principal),
            datetime.now(UTC),
        )
        response.headers["Location"] = f"/api/v1/analytics/scheduled-reports/{row.id}"
        return ScheduledReportOut.of(row)

    @router.get("/{schedule_id}", response_model=ScheduledReportOut, responses=PROBLEM_RESPONSES)
    async def get_schedule(
        schedule_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> ScheduledReportOut:
        row = await schedules.get(db, _scope(principal), schedule_id)
        if row is None:
            raise HTTPException(404, "no such scheduled report")
        return ScheduledReportOut.of(row)

    @router.put("/{schedule_id}", response_model=ScheduledReportOut, responses=PROBLEM_RESPONSES)
    async def replace_schedule(
        schedule_id: str, body: ScheduledReportIn, db: DatabaseDep, principal: PrincipalDep
    ) -> ScheduledReportOut:
        row = await schedules.update_schedule(
            db, _scope(principal), schedule_id, await _spec(body, principal), datetime.now(UTC)
        )
        if row is None:
            raise HTTPException(404, "no such scheduled report")
        return ScheduledReportOut.of(row)

    @router.delete("/{schedule_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def delete_schedule(
        schedule_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> Response:
        if not await schedules.delete(db, _scope(principal), schedule_id):
            raise HTTPException(404, "no such scheduled report")
        return Response(status_code=204)

    @router.get(
        "/{schedule_id}/runs", response_model=list[ReportRunOut], responses=PROBLEM_RESPONSES
    )
    async def list_runs(
        schedule_id: str,
        db: DatabaseDep,
        principal: PrincipalDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[ReportRunOut]:
        """The stored runs, newest first, with what the webhook answered."""
        if await schedules.get(db, _scope(principal), schedule_id) is None:
            raise HTTPException(404, "no such scheduled report")
        return [ReportRunOut.of(r) for r in await schedules.list_runs(db, schedule_id, limit)]

    return router
