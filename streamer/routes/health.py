"""/healthz (the process answers), /readyz (database and storage answer; the ffmpeg in
use), /metrics (public, or behind a bearer token: ``metrics_token``)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import streamer.catalogue.repository as repository
from streamer.db import Database
from streamer.ffmpeg_check import FfmpegInUse
from streamer.metrics import Metrics
from streamer.request_stats import RequestStats
from streamer.routes.problems import problem_body
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


def metrics_endpoint(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """/metrics: public without ``token``; with it, only for ``Authorization: Bearer
    <token>`` (RFC 6750: 401 and ``WWW-Authenticate: Bearer`` otherwise)."""
    expected = token.encode() if token else None

    async def metrics(request: Request) -> Response:
        if expected is not None and not _bearer_matches(request, expected):
            return _unauthorized()
        registry: Metrics = request.app.state.metrics
        stats: RequestStats = request.app.state.stats
        stats.flush()  # this worker's latest requests; the others flush every second
        body = await asyncio.to_thread(registry.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)

    return metrics


def _bearer_matches(request: Request, expected: bytes) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Compared in constant time, so the answer's timing tells nothing of the token.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


def _unauthorized() -> Response:
    return Response(
        problem_body(401, "/metrics needs 'Authorization: Bearer <metrics_token>'"),
        status_code=401,
        media_type="application/problem+json",
        headers={**NO_STORE, "www-authenticate": 'Bearer realm="metrics"'},
    )
