"""An in-memory cache of async lookups: entries expire, absent results expire sooner, and
concurrent misses of one key share a single load (the hot routes never query the database
per request, and a burst of misses costs one query).

Stale-if-error: when a reload fails with one of ``stale_on`` (the database or the store is
unreachable), an expired value no older than ``max_stale`` is served instead, and the next
reload waits ``error_retry`` seconds, so a short outage does not stop what was already
known from streaming, nor turn every request into a failing query."""

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
        stale_on: tuple[type[BaseException], ...] = (),
        max_stale: float = 0.0,
        error_retry: float = 1.0,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self.stale_on = stale_on
        self.max_stale = max_stale
        self.error_retry = error_retry
        # key -> (expires, value, loaded): monotonic times
        self._entries: OrderedDict[K, tuple[float, V | None, float]] = OrderedDict()
        self._loading: dict[K, asyncio.Future[V | None]] = {}

    async def get(self, key: K) -> V | None:
        """The cached value, or the result of one load shared by every concurrent caller."""
        cached = self._entries.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await self._load(key)
        except BaseException as exc:
            stale = self._stale(cached, exc)
            if stale is not None:
                self._entries[key] = (time.monotonic() + self.error_retry, stale, cached[2])  # type: ignore[index]
                future.set_result(stale)
                return stale
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else needs to
            raise
        else:
            future.set_result(value)
            ttl = self.ttl if value is not None else self.negative_ttl
            loaded = time.monotonic()
            self._entries[key] = (loaded + ttl, value, loaded)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return value
        finally:
            del self._loading[key]

    def peek(self, key: K) -> tuple[bool, V | None]:
        """``(True, value)`` if a fresh value (None included) is cached, else
        ``(False, None)``; never loads (for callers that cannot wait)."""
        cached = self._entries.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return True, cached[1]
        return False, None

    def _stale(self, cached: tuple[float, V | None, float] | None, exc: BaseException) -> V | None:
        if cached is None or cached[1] is None or not isinstance(exc, self.stale_on):
            return None
        if time.monotonic() - cached[2] > self.max_stale:
            return None
        return cached[1]

    def invalidate(self, key: K | None = None) -> None:
        """Forget one key, or every key."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
