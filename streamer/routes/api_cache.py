"""/api/v1/cache: the segment cache's counters (summed over the server's workers), and
purges (this node's workers and every other node's, through Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, model_validator

from streamer.auth import audit
from streamer.cache.metrics import cache_report
from streamer.cache.purge import PurgeBus, track_purge
from streamer.catalogue.repository import get_track
from streamer.metrics import Metrics
from streamer.request_stats import RequestStats
from streamer.routes.api_common import (
    PROBLEM_RESPONSES,
    DatabaseDep,
    PrincipalDep,
    actor,
    require_access,
)

__all__ = ["CacheStatsOut", "PurgeIn", "PurgeOut", "cache_router"]


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


class PurgeIn(BaseModel):
    """One of: a track id, or a purge key as responses name them (track-{id}, hls-{id})."""

    track_id: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _one(self) -> PurgeIn:
        if (self.track_id is None) == (self.key is None):
            raise ValueError("give exactly one of track_id and key")
        return self

    def track(self) -> str:
        if self.track_id is not None:
            return self.track_id
        assert self.key is not None
        prefix, _, track_id = self.key.partition("-")
        if prefix not in ("track", "hls") or not track_id:
            raise ValueError(f"unknown purge key {self.key!r}: use track-{{id}} or hls-{{id}}")
        return track_id


class PurgeOut(BaseModel):
    track_id: str
    memory_entries: int  # dropped by the worker that took this request
    redis_entries: int  # deleted from the shared Redis tier
    broadcast: bool  # sent to every other worker and node (needs Redis)
    surrogate_keys: list[str]  # what to purge at the CDN (Surrogate-Key / Cache-Tag)


def cache_router() -> APIRouter:
    router = APIRouter(prefix="/cache", tags=["cache"])

    @router.get("/stats", response_model=CacheStatsOut)
    async def cache_stats(request: Request, _principal: PrincipalDep) -> dict[str, Any]:
        """Hits, misses, bytes, evictions and errors per tier, fills, hit ratio. Other
        workers' figures may lag by up to a second."""
        stats: RequestStats = request.app.state.stats
        metrics: Metrics = request.app.state.metrics
        stats.flush()  # this worker's latest first
        # With several workers this reads their metrics files: not on the event loop
        # (the dashboard asks every few seconds).
        return await asyncio.to_thread(cache_report, metrics)

    @router.post("/purge", response_model=PurgeOut, responses=PROBLEM_RESPONSES)
    async def purge(
        body: PurgeIn, request: Request, db: DatabaseDep, principal: PrincipalDep
    ) -> PurgeOut:
        """Drop a track's cached segments and playlists on every node; the CDN's copies
        are purged with the surrogate keys returned."""
        try:
            purge = track_purge(body.track())
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        track = await get_track(db, purge.track_id)
        if track is None:
            raise HTTPException(404, "no such track")
        require_access(principal, track.library_id, "write", "track")
        bus: PurgeBus = request.app.state.purges
        done = await bus.purge(purge)
        await audit.write(
            db,
            actor(request, principal),
            "cache.purge",
            "track",
            track.id,
            after={"redis_entries": done.redis_entries, "broadcast": done.broadcast},
        )
        return PurgeOut(
            track_id=purge.track_id,
            memory_entries=done.memory_entries,
            redis_entries=done.redis_entries,
            broadcast=done.broadcast,
            surrogate_keys=purge.surrogate_keys,
        )

    return router
