"""The shared tier: segments in Redis, so a node's miss can be another node's hit.

Every call is bounded by a short timeout and none raises: Redis down or slow means the
caller goes to the next tier (storage), and the failure is counted. After a failure the
tier stays out of the way for ``retry_seconds``, so an outage costs one timeout per
interval rather than one per request.

Entries expire after ``ttl`` seconds; size the Redis itself with ``maxmemory`` and an
``allkeys-lru`` policy (config/ and docs/ say so): its memory is its own budget.

Leases (``SET key NX PX``) let one node fill a key while the others wait for it to
appear, instead of all reading storage at once.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from streamer.cache.entry import Cached
from streamer.cache.stats import TierStats
from streamer.redis_client import connect

__all__ = ["RedisTier"]

logger = logging.getLogger("streamer.cache")


class RedisTier:
    def __init__(
        self,
        url: str,
        *,
        stats: TierStats,
        ttl: float = 3600.0,
        timeout: float = 0.05,
        max_entry_bytes: int = 4 * 1024 * 1024,
        retry_seconds: float = 1.0,
        prefix: str = "streamer:seg:",
    ) -> None:
        self.stats = stats
        self.ttl_ms = max(1, round(ttl * 1000))
        self.timeout = timeout
        self.max_entry_bytes = max_entry_bytes
        self.retry_seconds = retry_seconds
        self.prefix = prefix
        self._client = connect(
            url,
            socket_timeout=max(timeout, 0.5),
            socket_connect_timeout=max(timeout, 0.5),
            max_connections=64,
        )
        self._down_until = 0.0

    @property
    def available(self) -> bool:
        return asyncio.get_running_loop().time() >= self._down_until

    async def get(self, key: str) -> Cached | None:
        """The entry, or None on a miss or when Redis cannot answer in time."""
        raw = await self._call(self._client.get(self.prefix + key))
        if not isinstance(raw, bytes):
            self.stats.misses += 1
            return None
        try:
            entry = Cached.decode(raw)
        except ValueError:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.stats.bytes += len(entry)
        return entry

    async def peek(self, key: str) -> Cached | None:
        """As :meth:`get`, without counting a hit or miss (polling during a lease)."""
        raw = await self._call(self._client.get(self.prefix + key))
        return Cached.decode(raw) if isinstance(raw, bytes) and len(raw) >= 8 else None

    async def put(self, key: str, entry: Cached) -> None:
        if len(entry) > self.max_entry_bytes:
            return
        await self._call(self._client.set(self.prefix + key, entry.encode(), px=self.ttl_ms))

    async def lease(self, key: str, seconds: float) -> bool | None:
        """Take the fill lease of ``key``: True if ours, False if another node holds it,
        None when Redis cannot say (then nobody waits for anybody)."""
        taken = await self._call(
            self._client.set(
                self.prefix + "lease:" + key, b"1", nx=True, px=max(1, round(seconds * 1000))
            )
        )
        if taken is _FAILED:
            return None
        return bool(taken)

    async def release(self, key: str) -> None:
        await self._call(self._client.delete(self.prefix + "lease:" + key))

    async def delete_matching(self, pattern: str) -> int:
        """Delete keys matching ``pattern`` (after the prefix) with SCAN: for purges."""
        if not self.available:
            return 0
        deleted = 0
        try:
            async with asyncio.timeout(max(self.timeout * 100, 5.0)):
                async for name in self._client.scan_iter(match=self.prefix + pattern, count=500):
                    deleted += int(await self._client.delete(name))
        except (RedisError, OSError, TimeoutError):
            self._failed()
        return deleted

    async def ping(self) -> None:
        """Raise unless Redis answers now (for /metrics; the cache's own calls never raise)."""
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, operation: object) -> object:
        awaitable = operation
        if not self.available:
            # Not awaited: close the coroutine so it does not warn.
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()
            self.stats.errors += 1
            return _FAILED
        try:
            async with asyncio.timeout(self.timeout):
                return await awaitable  # type: ignore[misc]
        except (RedisError, OSError, TimeoutError):
            self._failed()
            return _FAILED

    def _failed(self) -> None:
        self.stats.errors += 1
        loop = asyncio.get_running_loop()
        if loop.time() >= self._down_until:
            logger.warning(
                "redis cache unavailable; serving from storage for %.1f s", self.retry_seconds
            )
        self._down_until = loop.time() + self.retry_seconds


_FAILED = object()
