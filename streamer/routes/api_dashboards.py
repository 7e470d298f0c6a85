"""/api/v1/analytics/dashboards: custom dashboards, each user's own.

A dashboard belongs to the user (or API key) that made it; nobody else sees or changes
it (another owner's id answers 404). Its views are saved report queries with a chart
type and a place on a grid; the web admin draws them with GET /analytics/report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from streamer.analytics import dashboards
from streamer.analytics.periods import Interval
from streamer.analytics.report_model import GroupBy, Metric
from streamer.auth.access import Principal
from streamer.db import Dashboard
from streamer.routes.api_common import PROBLEM_RESPONSES, DatabaseDep, PrincipalDep

__all__ = ["DashboardIn", "DashboardOut", "dashboards_router", "owner_of"]

Chart = Literal["line", "bar", "area", "table", "pie"]
FilterName = Literal["track", "playlist", "channel", "app", "device", "os", "browser", "country"]


class Position(BaseModel):
    x: Annotated[int, Field(ge=0, le=100)] = 0
    y: Annotated[int, Field(ge=0, le=10_000)] = 0
    w: Annotated[int, Field(ge=1, le=100)] = 6
    h: Annotated[int, Field(ge=1, le=100)] = 4


class View(BaseModel):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(max_length=200)] = ""
    metric: Metric = "downloads"
    group_by: GroupBy = "none"
    interval: Interval = "day"
    filters: dict[FilterName, Annotated[str, Field(max_length=100)]] = {}
    chart: Chart = "line"
    position: Position = Position()
    # The range the view shows, in days back from now.
    days: Annotated[int, Field(ge=1, le=3660)] = 30


class DashboardIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    views: Annotated[list[View], Field(max_length=50)] = []


class DashboardOut(BaseModel):
    id: str
    name: str
    owner: str
    views: list[View]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Dashboard) -> DashboardOut:
        return cls(
            id=row.id,
            name=row.name,
            owner=row.owner_name,
            views=[View.model_validate(v) for v in row.views],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def owner_of(principal: Principal) -> str:
    return f"{principal.kind}:{principal.id}"


def _views(body: DashboardIn) -> list[dict[str, object]]:
    ids = [v.id for v in body.views]
    if len(set(ids)) != len(ids):
        raise HTTPException(422, "view ids must differ")
    return [v.model_dump(mode="json") for v in body.views]


def dashboards_router() -> APIRouter:
    router = APIRouter(prefix="/analytics/dashboards", tags=["analytics"])

    @router.get("", response_model=list[DashboardOut], responses=PROBLEM_RESPONSES)
    async def list_dashboards(db: DatabaseDep, principal: PrincipalDep) -> list[DashboardOut]:
        """The caller's dashboards, by name."""
        return [DashboardOut.of(r) for r in await dashboards.list_for(db, owner_of(principal))]

    @router.post("", response_model=DashboardOut, status_code=201, responses=PROBLEM_RESPONSES)
    async def create_dashboard(
        body: DashboardIn, db: DatabaseDep, principal: PrincipalDep, response: Response
    ) -> DashboardOut:
        """A new dashboard of the caller's."""
        row = await dashboards.create(
            db, owner_of(principal), principal.name, body.name, _views(body)
        )
        response.headers["Location"] = f"/api/v1/analytics/dashboards/{row.id}"
        return DashboardOut.of(row)

    @router.get("/{dashboard_id}", response_model=DashboardOut, responses=PROBLEM_RESPONSES)
    async def get_dashboard(
        dashboard_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> DashboardOut:
        row = await dashboards.get(db, owner_of(principal), dashboard_id)
        if row is None:
            raise HTTPException(404, "no such dashboard")
        return DashboardOut.of(row)

    @router.put("/{dashboard_id}", response_model=DashboardOut, responses=PROBLEM_RESPONSES)
    async def replace_dashboard(
        dashboard_id: str, body: DashboardIn, db: DatabaseDep, principal: PrincipalDep
    ) -> DashboardOut:
        """Replace the name and every view (arranging views is a PUT of new positions)."""
        row = await dashboards.replace(
            db, owner_of(principal), dashboard_id, body.name, _views(body)
        )
        if row is None:
            raise HTTPException(404, "no such dashboard")
        return DashboardOut.of(row)

    @router.delete("/{dashboard_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def delete_dashboard(
        dashboard_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> Response:
        if not await dashboards.delete(db, owner_of(principal), dashboard_id):
            raise HTTPException(404, "no such dashboard")
        return Response(status_code=204)

    return router
