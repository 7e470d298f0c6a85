"""An in-memory cache of async lookups: entries expire, absent results expire sooner, and
concurrent misses of one key share a single load (the hot routes never query the database
per request, and a burst of misses costs one query)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class CoalescingCache(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[K], Awaitable[V | None]],
        *,
        ttl: float,
        negative_ttl: float,
        max_entries: int,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V | None]] = OrderedDict()
        self._loading: dict[K, asyncio.Future[V | None]] = {}

    async def get(self, key: K) -> V | None:
        """The cached value, or the result of one load shared by every concurrent caller."""
        cached = self._entries.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await self._load(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else needs to
            raise
        else:
            future.set_result(value)
            ttl = self.ttl if value is not None else self.negative_ttl
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return value
        finally:
            del self._loading[key]

    def invalidate(self, key: K | None = None) -> None:
        """Forget one key, or every key."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
