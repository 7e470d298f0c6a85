"""The segment cache: an in-process LRU, then Redis, then storage, with coalesced fills."""

from __future__ import annotations

from streamer.cache.entry import Cached
from streamer.cache.lru import ByteLRU
from streamer.cache.redis_tier import RedisTier
from streamer.cache.segments import SegmentCache
from streamer.cache.stats import CacheStats, TierStats

__all__ = ["ByteLRU", "CacheStats", "Cached", "RedisTier", "SegmentCache", "TierStats"]
