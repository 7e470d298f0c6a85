"""Rate limits with the ``limits`` library: a moving window per principal and per IP,
and stricter ones on login and second-factor attempts. Counters live in Redis when the
server has one (so every node counts together), else in this process's memory."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool

from streamer.redis_client import DRIVER_INFO

__all__ = ["RateLimited", "RateLimits", "Rule", "limit_storage"]

logger = logging.getLogger("streamer.auth")


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


def limit_storage(redis_url: str | None) -> tuple[Storage, ConnectionPool | None]:
    """The counters' store, and the Redis pool to disconnect at shutdown (if any)."""
    if not redis_url:
        return MemoryStorage(), None
    # Our own pool: a named driver (redis-py otherwise reads package metadata, blocking,
    # per connection), short timeouts, and something to close at shutdown.
    pool = ConnectionPool.from_url(
        redis_url, driver_info=DRIVER_INFO, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    uri = "async+" + redis_url if redis_url.startswith(("redis://", "rediss://")) else redis_url
    storage = storage_from_string(uri, implementation="redispy", connection_pool=pool)  # type: ignore[arg-type]
    assert isinstance(storage, Storage)
    return storage, pool


@dataclass(frozen=True)
class Rule:
    scope: str
    item: RateLimitItem


class RateLimits:
    """The server's limits: ``api`` per principal, ``ip`` per client address, ``login``
    per address and per user name on login and second-factor attempts."""

    def __init__(
        self,
        storage: Storage,
        *,
        api: str,
        ip: str,
        login: str,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.storage = storage
        self.pool = pool
        self.limiter = MovingWindowRateLimiter(storage)
        self.api = Rule("api", parse(api))
        self.ip = Rule("ip", parse(ip))
        self.login = Rule("login", parse(login))

    async def hit(self, rule: Rule, *identity: str) -> None:
        """Count one request; raise RateLimited when over. A limit store that fails lets
        the request through (logged): an outage of Redis must not lock admins out."""
        try:
            if await self.limiter.hit(rule.item, rule.scope, *identity):
                return
            stats = await self.limiter.get_window_stats(rule.item, rule.scope, *identity)
        except Exception:  # any storage failure: fail open, and say so
            logger.warning("rate limit storage failed; request let through", exc_info=True)
            return
        raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))

    async def reset(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.disconnect()
