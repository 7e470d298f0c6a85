"""The read-through segment cache: memory, then Redis, then storage.

::

    get(key, load) ── memory (ByteLRU) ── hit ──────────────────────────> bytes
                        │ miss
                        ├─ a fill of key already running here? ── wait for it (coalesced)
                        └─ fill (one task per key, whoever asked first):
                             Redis ── hit ─────────────────────────────> memory, bytes
                               │ miss
                               ├─ lease taken by another node? ── poll Redis until it
                               │                                  appears (or the lease ends)
                               └─ load() from storage ─> Redis, memory, bytes

Keys name immutable bytes (a window of an object *at one version*), so nothing here ever
needs to know whether an entry is stale: a new version is a new key. N concurrent misses
of one key in a process cause one fill; across processes, the lease makes the others wait
for the first node's fill rather than read storage too. A fill runs as its own task, so
a requester that goes away (a client disconnecting) does not fail the others waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from streamer.cache.entry import Cached
from streamer.cache.lru import ByteLRU
from streamer.cache.redis_tier import RedisTier
from streamer.cache.stats import CacheStats
from streamer.types import CacheSource as Source

__all__ = ["SegmentCache", "Source"]

Loader = Callable[[], Awaitable[Cached]]


class SegmentCache:
    """See the module docstring. One per process (per event loop)."""

    def __init__(
        self,
        *,
        memory_bytes: int,
        max_entry_bytes: int = 4 * 1024 * 1024,
        redis: RedisTier | None = None,
        lease_seconds: float = 2.0,
        poll_seconds: float = 0.01,
        stats: CacheStats | None = None,
    ) -> None:
        self.stats = stats or CacheStats()
        self.memory = ByteLRU(
            memory_bytes, max_entry_bytes=max_entry_bytes, stats=self.stats.memory
        )
        self.redis = redis
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._fills: dict[str, asyncio.Task[tuple[Cached, Source]]] = {}

    async def get(self, key: str, load: Loader) -> Cached:
        """The bytes of ``key``, from the first tier that has them; ``load`` reads them
        from storage when none does (its errors propagate to every waiter)."""
        return (await self.lookup(key, load))[0]

    async def lookup(self, key: str, load: Loader) -> tuple[Cached, Source]:
        """As :meth:`get`, with where the bytes came from (for the Cache-Status field)."""
        entry = self.memory.get(key)
        if entry is not None:
            return entry, "memory"
        fill = self._fills.get(key)
        if fill is None:
            fill = asyncio.create_task(self._fill(key, load), name=f"cache-fill:{key[-40:]}")
            self._fills[key] = fill
            fill.add_done_callback(lambda task: self._filled(key, task))
            return await asyncio.shield(fill)
        self.stats.coalesced += 1
        filled, source = await asyncio.shield(fill)
        return filled, "collapsed" if source == "storage" else source

    def peek(self, key: str) -> Cached | None:
        """The entry if this process holds it in memory, else None; never waits."""
        return self.memory.peek(key)

    def _filled(self, key: str, task: asyncio.Task[tuple[Cached, Source]]) -> None:
        if self._fills.get(key) is task:
            del self._fills[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter has seen it, or none was left

    async def _fill(self, key: str, load: Loader) -> tuple[Cached, Source]:
        redis = self.redis
        if redis is None:
            return self._keep(key, await self._load(load)), "storage"
        entry = await redis.get(key)
        if entry is not None:
            return self._keep(key, entry), "redis"
        leased = await redis.lease(key, self.lease_seconds)
        if leased is False:
            entry = await self._wait_for_other_node(redis, key)
            if entry is not None:
                return self._keep(key, entry), "redis"
        try:
            entry = await self._load(load)
            self._keep(key, entry)
            await redis.put(key, entry)
            return entry, "storage"
        finally:
            if leased:
                await redis.release(key)

    async def _wait_for_other_node(self, redis: RedisTier, key: str) -> Cached | None:
        self.stats.lease_waits += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease_seconds
        while loop.time() < deadline and redis.available:
            await asyncio.sleep(self.poll_seconds)
            entry = await redis.peek(key)
            if entry is not None:
                return entry
        return None  # the other node failed or is slow: read it ourselves

    async def _load(self, load: Loader) -> Cached:
        entry = await load()
        self.stats.storage_reads += 1
        self.stats.storage_bytes += len(entry)
        return entry

    def _keep(self, key: str, entry: Cached) -> Cached:
        self.memory.put(key, entry)
        return entry

    def forget(self, doomed: Callable[[str], bool]) -> int:
        """Drop this process's entries whose key ``doomed`` accepts (purges)."""
        return self.memory.discard_where(doomed)

    async def close(self) -> None:
        for fill in list(self._fills.values()):
            fill.cancel()
            with contextlib.suppress(BaseException):
                await fill
        if self.redis is not None:
            await self.redis.close()
