"""The segment cache against a real Redis: tiers, coalescing within and across nodes, and
faults (Redis killed, paused, restarted). Two SegmentCache objects sharing one Redis stand
for two nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as redis_client

from streamer.cache import Cached, CacheStats, RedisTier, SegmentCache
from streamer.errors import StorageUnavailable
from tests.fixtures.redis import RedisProcess

SEGMENT = Cached(b"\x00\x01segment" * 1000, 1764000000.0)


class Storage:
    """Counts reads; each takes ``delay`` seconds (a cold S3 GET) and may fail."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay, self.fail, self.reads = delay, fail, 0

    def loader(self, entry: Cached = SEGMENT) -> Callable[[], Awaitable[Cached]]:
        async def load() -> Cached:
            self.reads += 1
            await asyncio.sleep(self.delay)
            if self.fail:
                raise StorageUnavailable("the bucket is down")
            return entry

        return load


Node = Callable[..., SegmentCache]


@pytest.fixture
async def node(redis_url: str) -> AsyncIterator[Node]:
    made: list[SegmentCache] = []

    def make(
        url: str | None = redis_url, *, timeout: float = 1.0, **kwargs: object
    ) -> SegmentCache:
        # A second by default: a new connection's first call on a loaded CI machine can
        # take longer than the 0.2 s the slow-Redis test needs (it asks for that itself).
        stats = CacheStats()
        tier = None
        if url is not None:
            tier = RedisTier(url, stats=stats.redis, timeout=timeout, retry_seconds=0.3)
        cache = SegmentCache(memory_bytes=1 << 20, redis=tier, stats=stats, **kwargs)  # type: ignore[arg-type]
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


async def test_a_second_get_is_a_memory_hit(node: Node) -> None:
    cache, storage = node(), Storage()

    assert await cache.get("k", storage.loader()) == SEGMENT
    assert await cache.get("k", storage.loader()) == SEGMENT

    assert storage.reads == 1
    assert (cache.stats.memory.hits, cache.stats.memory.misses) == (1, 1)
    assert cache.stats.hit_ratio == 0.5


async def test_concurrent_misses_in_one_node_read_storage_once(node: Node) -> None:
    cache, storage = node(), Storage(delay=0.05)

    results = await asyncio.gather(*(cache.get("cold", storage.loader()) for _ in range(100)))

    assert all(result == SEGMENT for result in results)
    assert storage.reads == 1
    assert cache.stats.coalesced == 99


async def test_another_node_is_served_from_redis(node: Node) -> None:
    a, b, storage = node(), node(), Storage()
    await a.get("k", storage.loader())

    assert await b.get("k", storage.loader()) == SEGMENT

    assert storage.reads == 1
    assert b.stats.redis.hits == 1
    assert b.stats.redis.bytes == len(SEGMENT)


async def test_a_storm_over_two_nodes_reads_storage_once(node: Node) -> None:
    a, b, storage = node(), node(), Storage(delay=0.2)

    results = await asyncio.gather(
        *(cache.get("stormed", storage.loader()) for cache in (a, b) for _ in range(250))
    )

    assert len(results) == 500
    assert all(result == SEGMENT for result in results)
    assert storage.reads == 1
    assert a.stats.lease_waits + b.stats.lease_waits == 1


async def test_lookup_tells_where_the_bytes_came_from(node: Node) -> None:
    a, b, storage = node(), node(), Storage(delay=0.05)

    first, waiter = await asyncio.gather(
        a.lookup("k", storage.loader()), a.lookup("k", storage.loader())
    )

    assert (first[1], waiter[1]) == ("storage", "collapsed")
    assert (await a.lookup("k", storage.loader()))[1] == "memory"
    assert (await b.lookup("k", storage.loader()))[1] == "redis"
    assert (await b.lookup("k", storage.loader()))[1] == "memory"
    assert storage.reads == 1


async def test_a_node_that_waited_for_another_nodes_fill_says_redis(node: Node) -> None:
    a, b, storage = node(), node(), Storage(delay=0.2)

    sources = await asyncio.gather(a.lookup("k", storage.loader()), b.lookup("k", storage.loader()))

    assert sorted(source for _, source in sources) == ["redis", "storage"]
    assert storage.reads == 1


async def test_without_redis_the_cache_is_memory_then_storage(node: Node) -> None:
    cache, storage = node(url=None), Storage()

    await cache.get("k", storage.loader())
    await cache.get("k", storage.loader())

    assert storage.reads == 1
    assert cache.stats.redis.hits + cache.stats.redis.misses == 0


async def test_a_storage_failure_reaches_every_waiter_and_the_next_get_tries_again(
    node: Node,
) -> None:
    cache, broken = node(), Storage(delay=0.05, fail=True)

    outcomes = await asyncio.gather(
        *(cache.get("k", broken.loader()) for _ in range(10)), return_exceptions=True
    )

    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes)
    assert broken.reads == 1
    assert await cache.get("k", Storage().loader()) == SEGMENT


async def test_a_requester_that_leaves_does_not_fail_the_others(node: Node) -> None:
    cache, storage = node(), Storage(delay=0.1)
    first = asyncio.create_task(cache.get("k", storage.loader()))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(cache.get("k", storage.loader()))
    await asyncio.sleep(0.01)

    first.cancel()

    assert await second == SEGMENT
    assert storage.reads == 1


async def test_keys_too_large_for_memory_are_still_served(node: Node) -> None:
    cache, storage = node(max_entry_bytes=1000), Storage()

    assert await cache.get("big", storage.loader()) == SEGMENT
    assert "big" not in cache.memory
    # ... and the next get finds it in Redis rather than storage.
    assert await cache.get("big", storage.loader()) == SEGMENT
    assert storage.reads == 1


async def test_redis_killed_mid_test_means_storage_then_redis_again_once_back(
    redis_process: RedisProcess, node: Node
) -> None:
    cache, storage = node(url=redis_process.url), Storage()
    await cache.get("before", storage.loader())

    redis_process.kill()
    started = time.monotonic()
    for n in range(20):
        assert await cache.get(f"down-{n}", storage.loader()) == SEGMENT
    elapsed = time.monotonic() - started

    assert storage.reads == 21
    assert cache.stats.redis.errors >= 1
    # One timeout at most per retry interval, not one per request.
    assert elapsed < 1.0

    redis_process.start()
    await asyncio.sleep(0.35)  # the tier's retry interval
    other = node(url=redis_process.url)
    await cache.get("after", storage.loader())
    assert await other.get("after", storage.loader()) == SEGMENT
    assert storage.reads == 22
    assert other.stats.redis.hits == 1


async def test_a_redis_slower_than_the_timeout_is_skipped(node: Node, redis_url: str) -> None:
    cache, storage = node(timeout=0.2), Storage()
    admin = redis_client.Redis.from_url(redis_url)
    try:
        await admin.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        started = time.monotonic()
        assert await cache.get("k", storage.loader()) == SEGMENT
        assert time.monotonic() - started < 0.8
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
    assert storage.reads == 1
    assert cache.stats.redis.errors >= 1


async def test_entries_expire_from_redis_after_their_ttl(redis_url: str) -> None:
    stats = CacheStats()
    tier = RedisTier(redis_url, stats=stats.redis, ttl=0.2, timeout=0.2)
    try:
        await tier.put("k", SEGMENT)
        assert await tier.get("k") == SEGMENT
        await asyncio.sleep(0.3)
        assert await tier.get("k") is None
    finally:
        await tier.close()


async def test_purges_delete_matching_keys_from_redis_and_memory(node: Node) -> None:
    cache, storage = node(), Storage()
    for key in ("track-a/seg1", "track-a/seg2", "track-b/seg1"):
        await cache.get(key, storage.loader())
    assert cache.redis is not None

    assert await cache.redis.delete_matching("track-a/*") == 2
    assert cache.forget(lambda key: key.startswith("track-a/")) == 2

    fresh = node()
    await fresh.get("track-b/seg1", storage.loader())
    await fresh.get("track-a/seg1", storage.loader())
    assert storage.reads == 4  # only track-a/seg1 was read again
