"""The in-memory lookup cache: one load for concurrent misses, expiry, invalidation."""

from __future__ import annotations

import asyncio

import pytest

from streamer.coalescing_cache import CoalescingCache


class Loader:
    def __init__(self, values: dict[str, int | None], *, fail: bool = False) -> None:
        self.values = values
        self.calls = 0
        self.fail = fail

    async def __call__(self, key: str) -> int | None:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail:
            raise RuntimeError("database down")
        return self.values.get(key)


async def test_concurrent_misses_share_one_load() -> None:
    load = Loader({"a": 1})
    cache: CoalescingCache[str, int] = CoalescingCache(
        load, ttl=60, negative_ttl=60, max_entries=10
    )
    assert await asyncio.gather(*(cache.get("a") for _ in range(50))) == [1] * 50
    assert load.calls == 1


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    load = Loader({}, fail=True)
    cache: CoalescingCache[str, int] = CoalescingCache(
        load, ttl=60, negative_ttl=60, max_entries=10
    )
    results = await asyncio.gather(*(cache.get("a") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert load.calls == 1
    load.fail = False
    assert await cache.get("a") is None
    assert load.calls == 2


@pytest.mark.parametrize(("key", "ttl_field"), [("a", "ttl"), ("missing", "negative_ttl")])
async def test_entries_expire_after_their_ttl(key: str, ttl_field: str) -> None:
    load = Loader({"a": 1})
    ttls = {"ttl": 60.0, "negative_ttl": 60.0, ttl_field: 0.02}
    cache: CoalescingCache[str, int] = CoalescingCache(load, max_entries=10, **ttls)
    await cache.get(key)
    await cache.get(key)
    assert load.calls == 1
    await asyncio.sleep(0.05)
    await cache.get(key)
    assert load.calls == 2


async def test_invalidate_and_the_size_bound() -> None:
    load = Loader({str(i): i for i in range(10)})
    cache: CoalescingCache[str, int] = CoalescingCache(load, ttl=60, negative_ttl=60, max_entries=3)
    for i in range(5):
        await cache.get(str(i))
    calls = load.calls
    await cache.get("4")  # recent: still cached
    await cache.get("0")  # evicted by the bound
    assert load.calls == calls + 1
    cache.invalidate("4")
    await cache.get("4")
    assert load.calls == calls + 2
    cache.invalidate()
    await cache.get("0")
    assert load.calls == calls + 3
