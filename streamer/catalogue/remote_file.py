"""A read-only, seekable file object over a remote object, for mutagen in a worker thread.

mutagen wants a blocking file object; remote stores are async. :class:`RangeFile` lives in
the worker thread and hands each block read back to the event loop with
``run_coroutine_threadsafe``, waiting a bounded time. Probing touches a few KiB at the head
and the tail of a file, so reads go by 64 KiB blocks with a small LRU of recent ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
from collections import OrderedDict
from typing import Any

from streamer.storage.base import ObjectStore, StorageError
from transcoder.probe import SourceReadError

__all__ = ["RangeFile"]


class RangeFile(io.RawIOBase):
    """The bytes of ``key`` in ``store`` (``size`` bytes long) as a blocking, seekable file.

    Must be used from a thread other than the loop's (it waits on the loop). A failed or
    timed-out read raises :class:`transcoder.probe.SourceReadError`, which the probe lets
    through: the object could not be fetched, which says nothing about its content.
    """

    block_size = 64 * 1024
    cache_blocks = 16
    timeout = 30.0  # seconds for one block read, the store's own retries included

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        size: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__()
        self.name = key  # mutagen scores formats by file name
        self._store = store
        self._key = key
        self._size = size
        self._loop = loop
        self._position = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.reads = 0  # remote reads made, for tests and logs

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise OSError(22, "negative seek position")
        self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self._size - self._position))
        filled = 0
        while filled < wanted:
            index, skip = divmod(self._position, self.block_size)
            block = self._block(index)
            piece = block[skip : skip + wanted - filled]
            if not piece:
                break  # the object is shorter than its listing said
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
            self._position += len(piece)
        return filled

    def _block(self, index: int) -> bytes:
        cached = self._blocks.get(index)
        if cached is not None:
            self._blocks.move_to_end(index)
            return cached
        start = index * self.block_size
        length = min(self.block_size, self._size - start)
        data = self._fetch(start, length)
        self._blocks[index] = data
        if len(self._blocks) > self.cache_blocks:
            self._blocks.popitem(last=False)
        return data

    def _fetch(self, start: int, length: int) -> bytes:
        self.reads += 1
        future = asyncio.run_coroutine_threadsafe(
            self._store.read(self._key, start, length), self._loop
        )
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise SourceReadError(
                f"reading {self._key!r} timed out after {self.timeout:g} s"
            ) from exc
        except StorageError as exc:
            raise SourceReadError(f"reading {self._key!r}: {exc}") from exc
