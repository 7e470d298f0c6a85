"""/healthz (the process answers), /readyz (database and storage answer; the ffmpeg in
use), /metrics (public, or behind a bearer token: ``metrics_token``)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from streamer.db import Database
from streamer.dependencies import check_database, check_storage
from streamer.ffmpeg_check import FfmpegInUse
from streamer.metrics import Metrics
from streamer.request_stats import RequestStats
from streamer.routes.problems import problem_body
from streamer.state_metrics import StateProbe
from streamer.storage.registry import StoreRegistry

NO_STORE = {"cache-control": "no-store"}


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request) -> Response:
    db: Database = request.app.state.db
    stores: StoreRegistry = request.app.state.stores
    found = [await check_database(db), *await check_storage(db, stores)]
    checks = {check.name: "ok" if check.ok else f"error: {check.error}" for check in found}
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
        probe: StateProbe = request.app.state.state_probe
        body += await probe.exposition()
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
