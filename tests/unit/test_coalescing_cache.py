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


class Down(Exception):
    """The kind of failure the cache may answer from stale values."""


class Switchable:
    """Loads values until told to fail with ``error``."""

    def __init__(self, values: dict[str, int | None]) -> None:
        self.values = values
        self.error: Exception | None = None
        self.calls = 0

    async def __call__(self, key: str) -> int | None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.values.get(key)


def _stale_cache(load: Switchable, **kwargs: float) -> CoalescingCache[str, int]:
    options = {"max_stale": 60.0, "error_retry": 60.0, **kwargs}
    return CoalescingCache(
        load, ttl=0.0, negative_ttl=0.0, max_entries=10, stale_on=(Down,), **options
    )


async def test_an_expired_value_is_served_when_a_reload_fails_with_a_stale_error() -> None:
    load = Switchable({"a": 1})
    cache = _stale_cache(load)
    assert await cache.get("a") == 1
    load.error = Down()
    assert await cache.get("a") == 1


async def test_after_a_stale_answer_the_next_reload_waits_error_retry() -> None:
    load = Switchable({"a": 1})
    cache = _stale_cache(load)
    await cache.get("a")
    load.error = Down()
    await cache.get("a")
    calls = load.calls
    assert await cache.get("a") == 1
    assert load.calls == calls  # answered from the entry, the dead source left alone


@pytest.mark.parametrize(
    ("error", "max_stale"),
    [(RuntimeError("a bug"), 60.0), (Down(), 0.0)],
    ids=["other-errors", "too-old"],
)
async def test_other_errors_and_values_older_than_max_stale_are_raised(
    error: Exception, max_stale: float
) -> None:
    load = Switchable({"a": 1})
    cache = _stale_cache(load, max_stale=max_stale)
    await cache.get("a")
    await asyncio.sleep(0.01)
    load.error = error
    with pytest.raises(type(error)):
        await cache.get("a")


async def test_an_absent_result_is_never_served_stale() -> None:
    load = Switchable({})
    cache = _stale_cache(load)
    assert await cache.get("a") is None
    load.error = Down()
    with pytest.raises(Down):
        await cache.get("a")
