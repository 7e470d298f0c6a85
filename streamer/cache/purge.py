"""Purges: drop a track's cached segments everywhere, and tell every node.

A purge deletes the track's entries from Redis, then publishes it on a Redis channel;
every worker of every node subscribes and drops its own in-memory entries and its cached
catalogue rows (so a re-transcode shows at once, not after the catalogue's TTL). Without
Redis a purge reaches only the worker that received it: entries are keyed by version, so
nothing stale is ever served either way; a purge then only frees memory sooner.

The subscriber reconnects after Redis restarts (every ``retry_seconds``); purges published
while it was away are lost, which costs nothing but memory (see above).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from streamer.background import stop_task
from streamer.cache.segments import SegmentCache
from streamer.db.models import TRACK_ID
from streamer.redis_client import connect

__all__ = ["CHANNEL", "Purge", "PurgeBus", "PurgeOutcome", "track_purge"]

logger = logging.getLogger("streamer.cache")

CHANNEL = "streamer:purge"


@dataclass(frozen=True)
class Purge:
    """What to purge: a track's derived objects (segments, init, playlists)."""

    track_id: str

    def matches(self, cache_key: str) -> bool:
        return f"/tracks/{self.track_id}/" in cache_key

    @property
    def redis_pattern(self) -> str:
        return f"*tracks/{self.track_id}/*"

    @property
    def surrogate_keys(self) -> list[str]:
        return [f"track-{self.track_id}", f"hls-{self.track_id}"]


@dataclass(frozen=True)
class PurgeOutcome:
    memory_entries: int
    redis_entries: int
    broadcast: bool


def track_purge(track_id: str) -> Purge:
    if not TRACK_ID.match(track_id):
        raise ValueError(f"not a track id: {track_id!r}")
    return Purge(track_id)


class PurgeBus:
    """Applies purges here and carries them to the other workers and nodes."""

    def __init__(
        self,
        cache: SegmentCache,
        *,
        redis_url: str | None,
        on_purge: Callable[[Purge], None] = lambda _purge: None,
        retry_seconds: float = 1.0,
    ) -> None:
        self.cache = cache
        self.on_purge = on_purge
        self.retry_seconds = retry_seconds
        self._client = connect(redis_url, socket_connect_timeout=2.0) if redis_url else None
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        if self._client is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="purge-listener")

    async def purge(self, purge: Purge) -> PurgeOutcome:
        """Purge here and in Redis, and publish; what was done, for the API."""
        memory = self.apply(purge)
        deleted = 0
        broadcast = False
        if self.cache.redis is not None:
            deleted = await self.cache.redis.delete_matching(purge.redis_pattern)
        if self._client is not None:
            try:
                async with asyncio.timeout(2.0):
                    await self._client.publish(CHANNEL, json.dumps({"track_id": purge.track_id}))
                broadcast = True
            except (RedisError, OSError, TimeoutError):
                logger.warning("purge not broadcast: redis unavailable", exc_info=True)
        return PurgeOutcome(memory, deleted, broadcast)

    def apply(self, purge: Purge) -> int:
        """Drop this worker's copies; how many memory entries went."""
        self.on_purge(purge)
        return self.cache.forget(purge.matches)

    async def _listen(self) -> None:
        assert self._client is not None
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._received(message.get("data"))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                self.subscribed.clear()
                logger.warning("purge channel lost; reconnecting in %.1f s", self.retry_seconds)
                await asyncio.sleep(self.retry_seconds)

    def _received(self, data: object) -> None:
        try:
            track_id = json.loads(data)["track_id"]  # type: ignore[arg-type]
            self.apply(track_purge(track_id))
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed purge message: %r", data)

    async def close(self) -> None:
        await stop_task(self._listener)
        if self._client is not None:
            await self._client.aclose()
