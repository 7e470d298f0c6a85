"""Building the segment cache from settings, and publishing its counters.

The counters live in plain integers (:mod:`streamer.cache.stats`); :class:`CacheMetrics`
adds what changed since the last flush to the Prometheus metrics on the request stats'
one-second beat, so workers' figures add up in multiprocess mode. ``cache_report`` reads
them back, summed over workers, for ``GET /api/v1/cache/stats``.
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from streamer.cache.redis_tier import RedisTier
from streamer.cache.segments import SegmentCache
from streamer.cache.stats import CacheStats, TierStats
from streamer.metrics import Metrics
from streamer.settings import Settings

__all__ = ["CacheMetrics", "cache_report", "make_segment_cache"]

_TIER_EVENTS = ("hit", "miss", "bytes", "eviction", "error")  # TierStats' fields, in order


def make_segment_cache(settings: Settings) -> SegmentCache:
    stats = CacheStats()
    redis = None
    if settings.redis_url:
        redis = RedisTier(
            settings.redis_url,
            stats=stats.redis,
            ttl=settings.redis_cache_ttl,
            timeout=settings.redis_timeout,
            max_entry_bytes=settings.cache_max_entry_bytes,
            retry_seconds=settings.redis_retry_seconds,
        )
    return SegmentCache(
        memory_bytes=settings.segment_cache_bytes,
        max_entry_bytes=settings.cache_max_entry_bytes,
        redis=redis,
        stats=stats,
    )


class CacheMetrics:
    def __init__(
        self, stats: CacheStats, metrics: Metrics, memory: SegmentCache | None = None
    ) -> None:
        self.stats = stats
        self.metrics = metrics
        self.memory = memory
        self._seen: dict[str, tuple[int, ...]] = {}

    def flush(self) -> None:
        metrics = self.metrics
        for tier in ("memory", "redis"):
            now = astuple(getattr(self.stats, tier))
            before = self._seen.get(tier, (0,) * len(now))
            self._seen[tier] = now
            for event, current, previous in zip(_TIER_EVENTS, now, before, strict=True):
                if current == previous:
                    continue
                if event == "bytes":
                    metrics.cache_bytes.labels(tier).inc(current - previous)
                else:
                    metrics.cache_events.labels(tier, event).inc(current - previous)
        fills = (
            ("storage_read", self.stats.storage_reads),
            ("coalesced", self.stats.coalesced),
            ("lease_wait", self.stats.lease_waits),
            ("storage_bytes", self.stats.storage_bytes),
        )
        for kind, value in fills:
            previous = self._seen.get(kind, (0,))[0]
            if value != previous:
                self._seen[kind] = (value,)
                if kind == "storage_bytes":
                    metrics.cache_bytes.labels("storage").inc(value - previous)
                else:
                    metrics.cache_fills.labels(kind).inc(value - previous)
        if self.memory is not None:
            metrics.cache_memory_bytes.set(self.memory.memory.bytes)


def cache_report(metrics: Metrics) -> dict[str, Any]:
    """The cache's counters summed over workers, shaped like ``CacheStats.snapshot``."""
    stats = CacheStats()
    memory_bytes = 0.0
    for name, labels, value in metrics.samples("streamer_cache_"):
        count = int(value)
        if name == "streamer_cache_events_total":
            tier: TierStats = getattr(stats, labels["tier"])
            field = {"hit": "hits", "miss": "misses", "eviction": "evictions", "error": "errors"}
            setattr(tier, field[labels["event"]], getattr(tier, field[labels["event"]]) + count)
        elif name == "streamer_cache_served_bytes_total":
            if labels["tier"] == "storage":
                stats.storage_bytes += count
            else:
                tier = getattr(stats, labels["tier"])
                tier.bytes += count
        elif name == "streamer_cache_fills_total":
            kind = labels["kind"]
            if kind == "storage_read":
                stats.storage_reads += count
            elif kind == "coalesced":
                stats.coalesced += count
            elif kind == "lease_wait":
                stats.lease_waits += count
        elif name == "streamer_cache_memory_bytes":
            memory_bytes += value
    report = stats.snapshot()
    report["tiers"]["memory"]["held_bytes"] = int(memory_bytes)
    return report
