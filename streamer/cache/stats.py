"""Counters of the segment cache, per tier, as plain integers (cheap on the hot path).

The Prometheus collector and ``GET /api/v1/cache/stats`` read them; nothing else does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CacheStats", "TierStats"]


@dataclass
class TierStats:
    hits: int = 0
    misses: int = 0
    bytes: int = 0  # bytes served from this tier (hits)
    evictions: int = 0
    errors: int = 0  # Redis: failures and timeouts, each answered from the next tier

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


@dataclass
class CacheStats:
    memory: TierStats = field(default_factory=TierStats)
    redis: TierStats = field(default_factory=TierStats)
    storage_reads: int = 0  # fills that read the object store
    storage_bytes: int = 0
    coalesced: int = 0  # requests that waited for a fill already running in this process
    lease_waits: int = 0  # fills that waited for another node's fill through Redis

    @property
    def hit_ratio(self) -> float | None:
        """Requests answered without reading storage, of all requests."""
        served = self.memory.hits + self.memory.misses
        return (served - self.storage_reads) / served if served else None

    def snapshot(self) -> dict[str, Any]:
        tiers = {}
        for name in ("memory", "redis"):
            tier: TierStats = getattr(self, name)
            tiers[name] = {**asdict(tier), "hit_ratio": tier.hit_ratio}
        return {
            "tiers": tiers,
            "storage": {"reads": self.storage_reads, "bytes": self.storage_bytes},
            "coalesced": self.coalesced,
            "lease_waits": self.lease_waits,
            "hit_ratio": self.hit_ratio,
        }
