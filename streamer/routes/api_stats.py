"""/api/v1/stats: what the dashboard plots. Request statistics, recent 5xx responses and
errors grouped by type and place (admins and editors), and storage use per library
(everyone, for the libraries they may read).

Request figures are the Prometheus metrics of this node summed over its workers, as
/metrics exposes them: counters since the server started, so a client takes the
difference of two readings for a rate. Storage figures are sums over the catalogue's
rows (the sizes recorded when files were scanned and transcoded): no storage listing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import case, func, select

from streamer.auth.access import Principal, Role
from streamer.db import Library, Rendition, Track
from streamer.error_groups import ErrorGroups
from streamer.metrics import Metrics
from streamer.recent_errors import RecentErrors
from streamer.request_stats import RequestStats
from streamer.routes.api_common import AUTH_RESPONSES, DatabaseDep, PrincipalDep, current_principal

__all__ = [
    "STATS_ROLES",
    "ErrorGroupOut",
    "ErrorGroupsOut",
    "LibraryStorageOut",
    "RecentErrorOut",
    "RouteStatsOut",
    "StatsOut",
    "StorageOut",
    "histogram_quantile",
    "stats_router",
]

# Request statistics name every route and recent errors' paths name ids in any library:
# server-wide operational figures for the roles that run the server, not for viewers.
STATS_ROLES: frozenset[Role] = frozenset({"admin", "editor"})


class RouteStatsOut(BaseModel):
    route: str  # the route template, e.g. /hls/{track_id}/{rendition}/seg_{n}.m4s
    requests: int
    p50_seconds: float | None  # estimated from the latency histogram's buckets
    p99_seconds: float | None
    bytes_sent: int


class RecentErrorOut(BaseModel):
    at: datetime
    method: str
    route: str
    path: str | None  # admins only: a path names ids in libraries an editor may not read
    status: int
    request_id: str  # find the request's log lines with it
    seconds: float


class StatsOut(BaseModel):
    at: datetime  # when these figures were read
    requests: int  # since the server started, all workers
    by_status: dict[str, int]  # "200": count
    by_class: dict[str, int]  # "2xx": count ("1xx" to "5xx", and "other" for none sent)
    in_flight: int  # requests being answered now
    bytes_sent: int  # response body bytes
    routes: list[RouteStatsOut]  # most requested first
    recent_errors: list[RecentErrorOut]  # this node's latest 5xx responses, newest first


class ErrorGroupOut(BaseModel):
    type: str  # the exception's qualified name, "log: <logger>" or "HTTP <status>"
    place: str  # module.function where it was raised or logged, or the route template
    where: str | None  # the latest one's file:line (admins only)
    message: str | None  # the latest one's message, ids folded to # (admins only)
    count: int  # since this node's workers started
    first_seen: datetime
    last_seen: datetime
    request_id: str | None  # the latest one's request: find its log lines with it


class ErrorGroupsOut(BaseModel):
    groups: list[ErrorGroupOut]  # most recently seen first
    sentry: bool  # errors also go to Sentry (sentry_dsn is set)


class LibraryStorageOut(BaseModel):
    library_id: str
    name: str
    tracks: int  # tracks whose source is present (not gone)
    originals_bytes: int  # their source files
    renditions: int
    renditions_bytes: int  # the transcoded fragmented MP4s
    covers_bytes: int  # cover images extracted from the sources
    derived_bytes: int  # renditions and covers
    total_bytes: int


class StorageOut(BaseModel):
    libraries: list[LibraryStorageOut]


async def stats_reader(request: Request) -> Principal:
    principal = await current_principal(request)
    if principal.role not in STATS_ROLES:
        raise HTTPException(403, "only admins and editors may read the server's statistics")
    return principal


StatsReaderDep = Annotated[Principal, Depends(stats_reader)]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a Prometheus histogram given as (upper bound, cumulative
    count) pairs, interpolated linearly inside the bucket as Prometheus's
    ``histogram_quantile`` does; the highest finite bound when it falls in +Inf. None
    without observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def request_report(samples: list[tuple[str, dict[str, str], float]]) -> dict[str, Any]:
    """StatsOut's figures (all but ``at`` and the errors) from the metrics' samples."""
    by_status: dict[str, int] = {}
    per_route: dict[str, dict[str, Any]] = {}
    in_flight = 0.0

    def route(name: str) -> dict[str, Any]:
        found = per_route.get(name)
        if found is None:
            found = per_route[name] = {"requests": 0, "bytes_sent": 0, "buckets": []}
        return found

    for name, labels, value in samples:
        if name == "streamer_http_requests_total":
            by_status[labels["status"]] = by_status.get(labels["status"], 0) + int(value)
            route(labels["route"])["requests"] += int(value)
        elif name == "streamer_http_response_body_bytes_total":
            route(labels["route"])["bytes_sent"] += int(value)
        elif name == "streamer_http_request_duration_seconds_bucket":
            route(labels["route"])["buckets"].append((float(labels["le"]), value))
        elif name == "streamer_http_requests_in_flight":
            in_flight += value
    by_class = {f"{n}xx": 0 for n in range(1, 6)}
    for status, count in by_status.items():
        key = f"{status[0]}xx" if len(status) == 3 and status[0] in "12345" else "other"
        by_class[key] = by_class.get(key, 0) + count
    routes = [
        RouteStatsOut(
            route=name,
            requests=tally["requests"],
            p50_seconds=histogram_quantile(0.5, tally["buckets"]),
            p99_seconds=histogram_quantile(0.99, tally["buckets"]),
            bytes_sent=tally["bytes_sent"],
        )
        for name, tally in per_route.items()
        if tally["requests"]
    ]
    routes.sort(key=lambda r: (-r.requests, r.route))
    return {
        "requests": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "by_class": by_class,
        "in_flight": max(0, int(in_flight)),
        "bytes_sent": sum(r.bytes_sent for r in routes),
        "routes": routes,
    }


def stats_router() -> APIRouter:
    router = APIRouter(prefix="/stats", tags=["stats"])

    @router.get("", response_model=StatsOut, responses=AUTH_RESPONSES)
    async def request_stats(request: Request, principal: StatsReaderDep) -> StatsOut:
        """Requests by status and by route (count, latency p50/p99, bytes), requests in
        flight, and the latest 5xx responses, summed over this node's workers since it
        started. Other workers' figures may lag by up to a second. Admins and editors."""
        stats: RequestStats = request.app.state.stats
        metrics: Metrics = request.app.state.metrics
        errors: RecentErrors = request.app.state.recent_errors
        stats.flush()  # this worker's latest first
        # Both read the other workers' files when there are several: not on the loop.
        samples = await asyncio.to_thread(metrics.samples, "streamer_http_")
        recent = await asyncio.to_thread(errors.read)
        return StatsOut(
            at=datetime.now(UTC),
            **request_report(samples),
            recent_errors=[
                RecentErrorOut(
                    at=datetime.fromtimestamp(item["at"], UTC),
                    method=item["method"],
                    route=item["route"],
                    path=item["path"] if principal.is_admin else None,
                    status=item["status"],
                    request_id=item["request_id"],
                    seconds=item["seconds"],
                )
                for item in recent
            ],
        )

    @router.get("/errors", response_model=ErrorGroupsOut, responses=AUTH_RESPONSES)
    async def error_groups(request: Request, principal: StatsReaderDep) -> ErrorGroupsOut:
        """This node's errors grouped by type and place since its workers started: logged
        errors and exceptions, and 5xx answers no exception explains, with counts, first
        and last seen and the latest one's request id. Admins and editors (messages and
        file positions for admins only)."""
        groups: ErrorGroups = request.app.state.error_groups
        # This worker's own groups come from memory; only the others' files are read.
        found = await asyncio.to_thread(groups.read)
        admin = principal.is_admin
        return ErrorGroupsOut(
            sentry=bool(request.app.state.settings.sentry_dsn),
            groups=[
                ErrorGroupOut(
                    type=group["type"],
                    place=group["place"],
                    where=group["where"] if admin else None,
                    message=group["message"] if admin else None,
                    count=group["count"],
                    first_seen=datetime.fromtimestamp(group["first_seen"], UTC),
                    last_seen=datetime.fromtimestamp(group["last_seen"], UTC),
                    request_id=group["request_id"],
                )
                for group in found
            ],
        )

    @router.get("/storage", response_model=StorageOut, responses=AUTH_RESPONSES)
    async def storage(db: DatabaseDep, principal: PrincipalDep) -> StorageOut:
        """Bytes stored per library the caller may read: source files, renditions and
        covers, as recorded in the catalogue."""
        readable = principal.readable_libraries()
        originals = (
            select(
                Library.id,
                Library.name,
                func.count(Track.id),
                func.coalesce(func.sum(Track.size), 0),
                func.coalesce(
                    func.sum(case((Track.cover_key.is_not(None), Track.cover_size), else_=0)), 0
                ),
            )
            .outerjoin(Track, (Track.library_id == Library.id) & (Track.status != "gone"))
            .group_by(Library.id, Library.name)
            .order_by(Library.name, Library.id)
        )
        derived = (
            select(Track.library_id, func.count(Rendition.id), func.sum(Rendition.size))
            .join(Rendition, Rendition.track_id == Track.id)
            .group_by(Track.library_id)
        )
        if readable is not None:
            originals = originals.where(Library.id.in_(readable))
            derived = derived.where(Track.library_id.in_(readable))
        async with db.session() as session:
            rows = (await session.execute(originals)).all()
            per_library = (await session.execute(derived)).all()
        renditions = {lib: (n, int(size or 0)) for lib, n, size in per_library}
        libraries = []
        for library_id, name, tracks, original_bytes, cover_bytes in rows:
            count, rendition_bytes = renditions.get(library_id, (0, 0))
            derived_bytes = rendition_bytes + int(cover_bytes)
            libraries.append(
                LibraryStorageOut(
                    library_id=library_id,
                    name=name,
                    tracks=tracks,
                    originals_bytes=int(original_bytes),
                    renditions=count,
                    renditions_bytes=rendition_bytes,
                    covers_bytes=int(cover_bytes),
                    derived_bytes=derived_bytes,
                    total_bytes=int(original_bytes) + derived_bytes,
                )
            )
        return StorageOut(libraries=libraries)

    return router
