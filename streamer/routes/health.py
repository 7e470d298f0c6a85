"""/healthz (the process answers), /readyz (database and storage answer; the ffmpeg in
use), /metrics."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import streamer.catalogue.repository as repository
from streamer.db import Database
from streamer.ffmpeg_check import FfmpegInUse
from streamer.metrics import Metrics
from streamer.request_stats import RequestStats
from streamer.storage.registry import StoreRegistry

logger = logging.getLogger("streamer.health")

NO_STORE = {"cache-control": "no-store"}


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request) -> Response:
    db: Database = request.app.state.db
    stores: StoreRegistry = request.app.state.stores
    checks: dict[str, str] = {}
    try:
        await db.check()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason goes in the body
        logger.warning("readiness: database failed", exc_info=True)
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        roots = [library.root for library in await repository.list_libraries(db)]
    except Exception:  # reported as the database check above
        roots = []
    for root in roots:
        try:
            async with asyncio.timeout(3.0):
                store = await stores.get(root)
                await store.check()
            checks[f"storage {root}"] = "ok"
        except Exception as exc:  # as above
            logger.warning("readiness: storage failed", exc_info=True, extra={"store": root})
            checks[f"storage {root}"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    ffmpeg: FfmpegInUse | None = getattr(request.app.state, "ffmpeg", None)
    return JSONResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": checks,
            "ffmpeg": ffmpeg.as_json() if ffmpeg else None,
        },
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    stats: RequestStats = request.app.state.stats
    stats.flush()  # this worker's latest requests; the others flush every second
    body = await asyncio.to_thread(registry.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)
