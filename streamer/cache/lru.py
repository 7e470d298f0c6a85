"""The in-process tier: least recently used entries go first, bounded in bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from streamer.cache.entry import Cached
from streamer.cache.stats import TierStats

__all__ = ["ByteLRU"]


class ByteLRU:
    """Keys to :class:`Cached` entries, holding at most ``max_bytes`` of data.

    An entry larger than ``max_entry_bytes`` is not kept (it would evict too much for one
    key). Not thread-safe: one per event loop.
    """

    def __init__(self, max_bytes: int, *, max_entry_bytes: int, stats: TierStats) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self.stats = stats
        self.bytes = 0
        self._entries: OrderedDict[str, Cached] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> Cached | None:
        entry = self.peek(key)
        if entry is None:
            self.stats.misses += 1
        return entry

    def peek(self, key: str) -> Cached | None:
        """Like get, but a miss is not counted: the caller will ask again with get."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.stats.hits += 1
            self.stats.bytes += len(entry)
        return entry

    def put(self, key: str, entry: Cached) -> bool:
        """Keep ``entry``; False if it is too large to keep."""
        size = len(entry)
        if size > self.max_entry_bytes:
            return False
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old)
        while self._entries and self.bytes + size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted)
            self.stats.evictions += 1
        self._entries[key] = entry
        self.bytes += size
        return True

    def discard_where(self, doomed: Callable[[str], bool]) -> int:
        """Drop every entry whose key ``doomed`` accepts (a purge); how many."""
        keys = [key for key in self._entries if doomed(key)]
        for key in keys:
            self.bytes -= len(self._entries.pop(key))
        return len(keys)
