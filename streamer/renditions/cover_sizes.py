"""Covers at the sizes players ask for (Subsonic's getCoverArt ``size``), made once from
the embedded cover the scan stored and kept beside it, named by that cover's key and the
size, so every later request is a stored object served with validators. A few at once
per process; a cover too large to read into memory is sent as it is."""

from __future__ import annotations

import asyncio
import hashlib

from streamer.storage.base import ObjectNotFound, ObjectStore, derived_key
from transcoder.cover_scale import scale_cover
from transcoder.ffmpeg import ffmpeg_exe

__all__ = ["MAX_COVER_BYTES", "SIZES", "CoverSizes"]

MAX_COVER_BYTES = 16 * 1024 * 1024
# Sizes made: a request is answered with the smallest of these at least as large, so a
# player asking 301 and 320 shares one file (and nobody fills storage with every integer).
SIZES = (64, 128, 256, 300, 512, 600, 1024, 1200, 2048)


class CoverSizes:
    def __init__(self, ffmpeg: str | None = None, *, concurrency: int = 2) -> None:
        self.ffmpeg = ffmpeg
        self._executable: str | None = None
        self._slots = asyncio.Semaphore(concurrency)

    @staticmethod
    def size_for(asked: int) -> int:
        return next((s for s in SIZES if s >= asked), SIZES[-1])

    @staticmethod
    def key(cover_key: str, size: int) -> str:
        digest = hashlib.sha256(cover_key.encode()).hexdigest()[:32]
        return derived_key("covers", "sized", digest[:2], f"{digest}_{size}.jpg")

    async def ensure(self, store: ObjectStore, cover_key: str, size: int) -> str | None:
        """The key of the cover at ``size`` (made now if it was not), or None when the
        original should be sent instead (too large to scale in memory)."""
        key = self.key(cover_key, size)
        try:
            await store.stat(key)
            return key
        except ObjectNotFound:
            pass
        info = await store.stat(cover_key)
        if info.size > MAX_COVER_BYTES:
            return None
        if self._executable is None:  # looks on PATH: off the loop, once
            self._executable = await asyncio.to_thread(ffmpeg_exe, self.ffmpeg)
        async with self._slots:
            data = await store.read(cover_key, 0, info.size)
            scaled = await scale_cover(data, size, executable=self._executable)
            await store.put_bytes(key, scaled, content_type="image/jpeg")
        return key
