"""Transcodes made as they are sent (transcoder.progressive), kept once whole: the next
request for the same track, format and bitrate is served from storage like any object,
with ranges. A bounded number run at once per process; a request waits a while for one
(then Busy). The kept file is named by the source's identity, so a changed source gets a
new one; removing a track's derived objects removes them too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

from streamer.renditions.outputs import source_url
from streamer.storage.base import ObjectStore, derived_key
from transcoder.ffmpeg import ffmpeg_exe
from transcoder.progressive import Progressive, stream

__all__ = ["Busy", "OnDemandTranscodes"]

logger = logging.getLogger("streamer.renditions")


class Busy(Exception):
    """Every transcode slot stayed taken for the whole wait."""


class OnDemandTranscodes:
    def __init__(
        self, *, concurrency: int, wait: float, work_dir: Path, ffmpeg: str | None = None
    ) -> None:
        self.enabled = concurrency > 0
        self.wait = wait
        self.work_dir = work_dir
        self.ffmpeg = ffmpeg
        self._executable: str | None = None
        self._slots = asyncio.Semaphore(max(concurrency, 1))

    def key(self, track_id: str, source: str, plan: Progressive) -> str:
        """Where the whole transcode of ``plan`` of a source with identity ``source`` is kept."""
        return derived_key("ondemand", track_id, f"{source[:32]}_{plan.name}.{plan.format.suffix}")

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait)
        except TimeoutError:
            raise Busy("every on-demand transcode slot is taken; try again") from None
        try:
            yield
        finally:
            self._slots.release()

    async def transcode(
        self,
        store: ObjectStore,
        source_key: str,
        plan: Progressive,
        *,
        keep_as: str | None,
        duration: float | None,
        offset: float = 0.0,
    ) -> AsyncGenerator[bytes]:
        """ffmpeg's output of ``plan`` for the object ``source_key``, chunk by chunk; when
        the whole of it was read and ``keep_as`` is given, stored there. Hold a slot."""
        timeout = 60.0 + 2.0 * (duration or 3600.0)
        if self._executable is None:  # looks on PATH: off the loop, once
            self._executable = await asyncio.to_thread(ffmpeg_exe, self.ffmpeg)
        source = await source_url(store, source_key, expires=int(timeout) + 300)
        temp: Path | None = None
        handle = None
        if keep_as is not None:
            await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
            fd, name = await asyncio.to_thread(
                tempfile.mkstemp, prefix="ondemand-", dir=self.work_dir
            )
            temp = Path(name)
            handle = os.fdopen(fd, "wb")
        try:
            async for chunk in stream(
                source, plan, offset=offset, timeout=timeout, executable=self._executable
            ):
                if handle is not None:
                    await asyncio.to_thread(handle.write, chunk)
                yield chunk
            if handle is not None and temp is not None and keep_as is not None:
                await asyncio.to_thread(handle.close)
                handle = None
                try:
                    await store.put_file(
                        keep_as, temp, content_type=plan.format.content_type, consume=True
                    )
                except Exception:  # the stream went out whole; keeping it is a bonus
                    logger.warning("could not keep the transcode %s", keep_as, exc_info=True)
        finally:
            if handle is not None:
                await asyncio.to_thread(handle.close)
            if temp is not None:
                await asyncio.to_thread(temp.unlink, missing_ok=True)
