"""/api/v1/cache/stats: the segment cache's counters, summed over the server's workers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from streamer.cache.metrics import cache_report
from streamer.metrics import Metrics
from streamer.request_stats import RequestStats
from streamer.routes.api_common import PrincipalDep

__all__ = ["CacheStatsOut", "cache_router"]


class TierOut(BaseModel):
    hits: int
    misses: int
    bytes: int  # served from this tier
    evictions: int
    errors: int
    hit_ratio: float | None
    held_bytes: int | None = None  # memory tier: bytes held now, all workers


class CacheStatsOut(BaseModel):
    tiers: dict[str, TierOut]  # memory, redis
    storage: dict[str, int]  # reads and bytes of fills from the object store
    coalesced: int  # requests that waited for a fill already running in their worker
    lease_waits: int  # fills that waited for another node's fill
    hit_ratio: float | None  # requests answered without reading storage


def cache_router() -> APIRouter:
    router = APIRouter(prefix="/cache", tags=["cache"])

    @router.get("/stats", response_model=CacheStatsOut)
    async def cache_stats(request: Request, _principal: PrincipalDep) -> dict[str, Any]:
        """Hits, misses, bytes, evictions and errors per tier, fills, hit ratio. Other
        workers' figures may lag by up to a second."""
        stats: RequestStats = request.app.state.stats
        metrics: Metrics = request.app.state.metrics
        stats.flush()  # this worker's latest first
        return cache_report(metrics)

    return router
