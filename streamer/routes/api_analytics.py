"""/api/v1/analytics: reports, top lists and exports over the rollups, realtime listeners.

Every role reads (admin, editor, viewer); a principal limited to some libraries sees the
tracks and playlists of those libraries only (streamer/analytics/reports.py). Reports
read rollup rows, so they show what the last rollup run counted (docs/analytics.md).
``format=csv`` (or ``Accept: text/csv`` without ``format``) exports a report or a top
list as CSV; JSON otherwise.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from streamer.analytics import reports
from streamer.analytics.exports import report_csv, top_csv
from streamer.analytics.periods import Interval, load_zone, zone
from streamer.analytics.realtime import summarise
from streamer.analytics.realtime_share import Realtime
from streamer.analytics.report_model import GroupBy, Metric, ReportQuery
from streamer.db import Database, Playlist, Track
from streamer.routes.api_common import PROBLEM_RESPONSES, DatabaseDep, PrincipalDep

__all__ = ["ReportOut", "analytics_router", "parse_range"]

TopBy = Literal["track", "playlist", "channel", "app", "device", "browser", "os", "country"]
Format = Literal["json", "csv"]


class PointOut(BaseModel):
    t: datetime
    value: float


class SeriesOut(BaseModel):
    key: str
    label: str
    total: float
    points: list[PointOut]
    # metric=completion: the share of sessions that reached 25, 50, 75 and 100 %.
    quartiles: dict[str, float] | None = None


class PreviousSeriesOut(BaseModel):
    key: str
    total: float


class PreviousOut(BaseModel):
    total: float
    series: list[PreviousSeriesOut]


class AveragePointOut(BaseModel):
    t: datetime
    value: float | None


class AverageSeriesOut(BaseModel):
    key: str
    points: list[AveragePointOut]


class MovingAverageOut(BaseModel):
    window: int
    series: list[AverageSeriesOut]


class ReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    metric: Metric
    interval: Interval
    from_: datetime = Field(alias="from")
    to: datetime
    tz: str
    group_by: GroupBy
    total: float
    series: list[SeriesOut]
    previous: PreviousOut | None
    moving_average: MovingAverageOut | None


class TopItemOut(BaseModel):
    key: str
    label: str
    value: float


class TopOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    metric: Metric
    by: TopBy
    from_: datetime = Field(alias="from")
    to: datetime
    items: list[TopItemOut]


class SubjectListenersOut(BaseModel):
    kind: str
    id: str
    label: str
    listeners: int


class MinuteOut(BaseModel):
    t: datetime
    listeners: int


class RealtimeOut(BaseModel):
    listeners_now: int
    window_seconds: int
    # cluster: every node's deliveries, shared through Redis; process: this server
    # process's own (no redis_url, or Redis unreachable).
    scope: Literal["cluster", "process"]
    by_subject: list[SubjectListenersOut]
    minutes: list[MinuteOut]


def parse_range(
    start: datetime | None, end: datetime | None, tz: str, default_days: int = 7
) -> tuple[datetime, datetime]:
    """[from, to) as aware datetimes: naive values are wall times in ``tz``; ``to``
    defaults to the next local midnight, ``from`` to ``default_days`` before ``to``."""
    zone_ = zone(tz)
    if end is None:
        tomorrow = datetime.now(zone_).date() + timedelta(days=1)
        end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone_)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=zone_)
    if start is None:
        start = end - timedelta(days=default_days)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=zone_)
    return start, end


def _realtime(request: Request) -> Realtime:
    value: Realtime = request.app.state.realtime
    return value


def _wants_csv(request: Request, format_: Format | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
}

FromQuery = Annotated[
    datetime | None,
    Query(alias="from", description="start (ISO 8601; without an offset: wall time in tz)"),
]
ToQuery = Annotated[datetime | None, Query(alias="to", description="end, exclusive")]
TzQuery = Annotated[str, Query(max_length=64, description="IANA time zone of buckets")]
FilterQuery = Annotated[str | None, Query(max_length=100)]


def analytics_router() -> APIRouter:
    router = APIRouter(prefix="/analytics", tags=["analytics"])

    @router.get(
        "/report",
        response_model=ReportOut,
        response_model_by_alias=True,
        responses=_CSV_RESPONSES,
    )
    async def get_report(
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        metric: Metric = "downloads",
        from_: FromQuery = None,
        to: ToQuery = None,
        interval: Interval = "day",
        group_by: GroupBy = "none",
        tz: TzQuery = "UTC",
        track: FilterQuery = None,
        playlist: FilterQuery = None,
        channel: FilterQuery = None,
        app: FilterQuery = None,
        device: FilterQuery = None,
        os: FilterQuery = None,
        browser: FilterQuery = None,
        country: FilterQuery = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 10,
        compare: Literal["none", "previous"] = "none",
        moving_average: Annotated[
            int, Query(ge=0, le=366, description="trailing window in points (0: none)")
        ] = 0,
        format: Format | None = None,
    ) -> Response:
        """A metric over time in buckets of ``interval`` in ``tz``, one series per value
        of ``group_by`` (the ``limit`` highest), with the previous period's totals
        (``compare=previous``) and a trailing moving average when asked."""
        filters = {
            name: value
            for name, value in {
                "track": track,
                "playlist": playlist,
                "channel": channel,
                "app": app,
                "device": device,
                "os": os,
                "browser": browser,
                "country": country,
            }.items()
            if value is not None
        }
        try:
            await load_zone(tz)
            start, end = parse_range(from_, to, tz, 31 if interval == "month" else 7)
            query = ReportQuery(metric=metric, start=start, end=end, interval=interval, tz=tz,
                                group_by=group_by, filters=filters, limit=limit,
                                compare=compare == "previous",
                                moving_average=moving_average)  # fmt: skip
            result = await reports.report(db, query, principal.readable_libraries())
        except (ValueError, OverflowError) as exc:  # dates past year 1 or 9999
            raise HTTPException(422, str(exc)) from None
        if _wants_csv(request, format):
            return _csv(report_csv(result), f"report-{metric}")
        return JSONResponse(ReportOut.model_validate(result).model_dump(mode="json", by_alias=True))

    @router.get("/top", response_model=TopOut, responses=_CSV_RESPONSES)
    async def get_top(
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        metric: Metric = "downloads",
        by: TopBy = "track",
        from_: FromQuery = None,
        to: ToQuery = None,
        tz: TzQuery = "UTC",
        limit: Annotated[int, Query(ge=1, le=500)] = 10,
        format: Format | None = None,
    ) -> Response:
        """The ``limit`` tracks, playlists, channels, apps, devices, browsers, systems
        or countries with the highest ``metric`` over the range."""
        try:
            await load_zone(tz)
            start, end = parse_range(from_, to, tz)
            query = ReportQuery(metric=metric, start=start, end=end, tz=tz, group_by=by,
                                limit=limit)  # fmt: skip
            items = await reports.top(db, metric, query, principal.readable_libraries())
        except (ValueError, OverflowError) as exc:  # dates past year 1 or 9999
            raise HTTPException(422, str(exc)) from None
        if _wants_csv(request, format):
            return _csv(top_csv(metric, items), f"top-{by}-{metric}")
        out = TopOut(metric=metric, by=by, from_=start, to=end,
                     items=[TopItemOut(**item) for item in items])  # fmt: skip
        return JSONResponse(out.model_dump(mode="json", by_alias=True))

    @router.get("/realtime", response_model=RealtimeOut, responses=PROBLEM_RESPONSES)
    async def get_realtime(
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        minutes: Annotated[int | None, Query(ge=1, le=1440)] = None,
    ) -> RealtimeOut:
        """Listeners now (seen in the last minute) per track, playlist and channel, and
        distinct listeners in each of the last ``minutes`` minutes."""
        realtime = _realtime(request)
        window = min(minutes or realtime.window_minutes, realtime.window_minutes)
        now = time.time()
        marks, scope = await realtime.marks(now)
        libraries = principal.readable_libraries()
        labels: dict[tuple[str, str], str] = {}
        subjects = {(m.kind, m.subject_id) for m in marks}
        readable = await _readable_subjects(db, subjects, libraries, labels)
        marks = [m for m in marks if (m.kind, m.subject_id) in readable]
        snap = summarise(marks, now=now, window_minutes=window)
        return RealtimeOut(
            listeners_now=snap.listeners_now,
            window_seconds=window * 60,
            scope=scope,
            by_subject=[
                SubjectListenersOut(kind=k, id=i, label=labels.get((k, i), i), listeners=n)
                for k, i, n in snap.by_subject
            ],
            minutes=[
                MinuteOut(t=datetime.fromtimestamp(t, UTC), listeners=n) for t, n in snap.minutes
            ],
        )

    return router


async def _readable_subjects(
    db: Database,
    subjects: set[tuple[str, str]],
    libraries: frozenset[str] | None,
    labels: dict[tuple[str, str], str],
) -> set[tuple[str, str]]:
    """The subjects the caller may see, and their labels (filled into ``labels``)."""
    tracks = [i for k, i in subjects if k == "track"]
    playlists = [i for k, i in subjects if k == "playlist"]
    readable = (
        {s for s in subjects if s[0] not in ("track", "playlist")} if libraries is None else set()
    )
    async with db.session() as session:
        if tracks:
            rows = await session.execute(
                select(Track.id, Track.library_id, Track.title, Track.key).where(
                    Track.id.in_(tracks)
                )
            )
            for track_id, library_id, title, key in rows:
                if libraries is None or library_id in libraries:
                    readable.add(("track", track_id))
                    labels[("track", track_id)] = title or key
        if playlists:
            named = await session.execute(
                select(Playlist.id, Playlist.library_id, Playlist.name).where(
                    Playlist.id.in_(playlists)
                )
            )
            for playlist_id, library_id, name in named:
                if libraries is None or library_id in libraries:
                    readable.add(("playlist", playlist_id))
                    labels[("playlist", playlist_id)] = name
    return readable
