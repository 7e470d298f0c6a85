"""Warming after a transcode: the first segments of each new rendition go into Redis.

Listeners start at the beginning, and a new track's first listeners arrive together (a
new episode); with its init section and first segments already in the shared tier, no
node's first request reaches storage. Best effort: a failure is logged, never fails the
job, and costs only a cold first request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from streamer.cache.entry import Cached
from streamer.cache.keys import window_key
from streamer.cache.redis_tier import RedisTier
from streamer.db import Rendition
from streamer.errors import StorageError
from streamer.storage.base import ObjectStore
from transcoder.fmp4 import SegmentIndex

__all__ = ["Warmer"]

logger = logging.getLogger("streamer.cache")

_MAX_INDEX_BYTES = 8 * 1024 * 1024


class Warmer:
    def __init__(self, tier: RedisTier, *, segments: int = 2) -> None:
        self.tier = tier
        self.segments = segments

    async def __call__(self, store: ObjectStore, renditions: Sequence[Rendition]) -> int:
        """Put each rendition's init section and first ``segments`` segments in Redis;
        how many entries were written."""
        written = 0
        for rendition in renditions:
            try:
                written += await self._warm(store, rendition)
            except (StorageError, ValueError):
                logger.warning("could not warm %s", rendition.key, exc_info=True)
        return written

    async def _warm(self, store: ObjectStore, rendition: Rendition) -> int:
        info = await store.stat(rendition.index_key)
        if info.size > _MAX_INDEX_BYTES:
            raise ValueError(f"{info.size} bytes is too large for a segment index")
        raw = await store.read(rendition.index_key, 0, info.size)
        index = await asyncio.to_thread(SegmentIndex.from_json, raw)
        mtime = (await store.stat(rendition.key)).mtime
        spans = [(0, index.init_size)]
        spans += [(f.offset, f.size) for f in index.fragments[: self.segments]]
        for offset, length in spans:
            data = await store.read(rendition.key, offset, length)
            if len(data) != length:
                raise ValueError(f"{rendition.key} is shorter than its index")
            key = window_key(rendition.key, rendition.version, offset, length)
            await self.tier.put(key, Cached(data, mtime))
        return len(spans)

    async def close(self) -> None:
        await self.tier.close()
