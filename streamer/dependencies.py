"""Checks of what the server depends on: the database, each library's storage, Redis.

/readyz answers from the database and storage checks (Redis is not part of readiness: the
segment cache serves from storage while Redis is away); /metrics exposes all three as
``streamer_dependency_up`` for alerts. Each check is bounded in time, so a hanging
endpoint makes a failed check, not a hanging probe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import streamer.catalogue.repository as repository
from streamer.cache.redis_tier import RedisTier
from streamer.db import Database
from streamer.storage.registry import StoreRegistry

__all__ = ["Check", "check_database", "check_redis", "check_storage"]

logger = logging.getLogger("streamer.health")

CHECK_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    dependency: str  # database | storage | redis
    target: str  # the library root for storage, else ""
    error: str | None  # None when it answered
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        """As /readyz names it: ``database``, ``storage s3://music``, ``redis``."""
        return f"{self.dependency} {self.target}" if self.target else self.dependency


async def _timed(dependency: str, target: str, probe: Callable[[], Awaitable[None]]) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe()
    except Exception as exc:  # any failure is the answer; the log keeps the detail
        logger.warning("%s check failed", dependency, exc_info=True, extra={"store": target})
        return Check(dependency, target, type(exc).__name__, time.perf_counter() - started)
    return Check(dependency, target, None, time.perf_counter() - started)


async def check_database(db: Database) -> Check:
    return await _timed("database", "", db.check)


async def check_storage(db: Database, stores: StoreRegistry) -> list[Check]:
    """One check per library; none when the libraries cannot be listed (the database
    check reports that)."""
    try:
        roots = [library.root for library in await repository.list_libraries(db)]
    except Exception:  # reported by check_database
        return []

    def probe(root: str) -> Callable[[], Awaitable[None]]:
        async def answer() -> None:
            store = await stores.get(root)
            await store.check()

        return answer

    return list(await asyncio.gather(*(_timed("storage", root, probe(root)) for root in roots)))


async def check_redis(redis: RedisTier) -> Check:
    return await _timed("redis", "", redis.ping)
