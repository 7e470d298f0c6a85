"""The in-process cache tier: bounded in bytes, least recently used out first."""

from __future__ import annotations

import pytest

from streamer.cache import ByteLRU, Cached, TierStats


def entry(size: int) -> Cached:
    return Cached(b"x" * size, 1.0)


def lru(max_bytes: int = 100, max_entry: int = 60) -> ByteLRU:
    return ByteLRU(max_bytes, max_entry_bytes=max_entry, stats=TierStats())


def test_a_hit_returns_the_entry_and_counts_its_bytes() -> None:
    cache = lru()
    cache.put("a", entry(10))

    assert cache.get("a") == entry(10)
    assert cache.get("b") is None
    assert (cache.stats.hits, cache.stats.misses, cache.stats.bytes) == (1, 1, 10)


def test_the_least_recently_used_entry_is_evicted_first() -> None:
    cache = lru()
    for key in "abc":
        cache.put(key, entry(30))
    cache.get("a")  # now b is the oldest

    cache.put("d", entry(30))

    assert "b" not in cache
    assert all(key in cache for key in "acd")
    assert cache.bytes == 90
    assert cache.stats.evictions == 1


def test_an_entry_larger_than_the_entry_cap_is_not_kept() -> None:
    cache = lru()
    assert cache.put("big", entry(61)) is False
    assert "big" not in cache
    assert cache.bytes == 0


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = lru()
    cache.put("a", entry(50))
    cache.put("a", entry(20))
    assert cache.bytes == 20
    assert len(cache) == 1


def test_discard_where_drops_matching_keys() -> None:
    cache = lru()
    for key in ("t1/a", "t1/b", "t2/a"):
        cache.put(key, entry(10))

    assert cache.discard_where(lambda key: key.startswith("t1/")) == 2
    assert [key for key in ("t1/a", "t1/b", "t2/a") if key in cache] == ["t2/a"]
    assert cache.bytes == 10


@pytest.mark.parametrize("raw", [b"", b"1234567"])
def test_a_stored_entry_shorter_than_its_header_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match="shorter than its header"):
        Cached.decode(raw)


def test_an_entry_round_trips_through_its_stored_form() -> None:
    original = Cached(b"\x00segment bytes\xff", 1764000000.25)
    assert Cached.decode(original.encode()) == original
