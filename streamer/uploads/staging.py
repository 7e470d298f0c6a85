"""Partial uploads on local disk: one staging file per upload under ``data_dir/uploads``.

Bytes arrive from ``request.stream()`` in whatever pieces the server hands over. They are
gathered into batches of at most ``batch_size`` and written with ``os.pwritev`` in a worker
thread while the next batch arrives: one write in flight, one batch filling, so a PATCH
holds at most about two batches in memory whatever its size, and the event loop never
touches the file.

The database's ``offset`` is the truth: bytes past it (a crash between the write and the
database update, a chunk whose checksum failed) are cut off when the file is next opened
for writing. The file is synced before the database moves the offset, so an offset always
names bytes that survive a power cut.

Two writers of one upload (two PATCHes at once, in any process) are kept apart by an
exclusive ``flock`` taken without waiting: the second gets :class:`UploadBusy`.

This is the default staging (``upload_staging = "local"``); ``streamer.uploads.pieces``
stages in an object store instead, behind the same protocol (``streamer.uploads.stagings``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamer.db import Upload

__all__ = ["BodyTooLarge", "StagingArea", "StagingWriter", "UploadBusy"]

_BATCH = 4 * 1024 * 1024


class UploadBusy(Exception):
    """Another request is writing this upload."""


class BodyTooLarge(Exception):
    """The body went past the bytes the upload still expects."""


class StagingArea:
    """The directory of staging files; file names are upload ids (hex, so safe)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, upload_id: str) -> Path:
        if not upload_id.isalnum():  # ids are ours, but never join a path blindly
            raise ValueError(f"invalid upload id {upload_id!r}")
        return self.root / upload_id

    async def create(self, upload_id: str) -> None:
        """An empty staging file (and the directory, the first time)."""
        await asyncio.to_thread(self._create_sync, self.path(upload_id))

    @staticmethod
    def _create_sync(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)

    async def remove(self, upload_id: str) -> None:
        """Delete the staging file; a missing one is fine."""
        await asyncio.to_thread(self.path(upload_id).unlink, missing_ok=True)

    @contextlib.asynccontextmanager
    async def assembled(self, upload: Upload) -> AsyncIterator[Path]:
        """The staged bytes as one local file: the staging file itself."""
        yield self.path(upload.id)

    async def staged_sizes(self, upload_ids: Sequence[str]) -> dict[str, int]:
        """Bytes on disk per upload (0 for a missing file), for `streamer cleanup`."""
        return await asyncio.to_thread(self._sizes_sync, upload_ids)

    def _sizes_sync(self, upload_ids: Sequence[str]) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for upload_id in upload_ids:
            try:
                sizes[upload_id] = self.path(upload_id).stat().st_size
            except (OSError, ValueError):
                sizes[upload_id] = 0
        return sizes

    async def open_writer(self, upload_id: str, offset: int) -> StagingWriter:
        """A writer appending at ``offset`` (bytes past it are cut off); UploadBusy if
        another writer holds the upload."""
        fd = await asyncio.to_thread(self._open_sync, self.path(upload_id), offset)
        return StagingWriter(fd, offset)

    @staticmethod
    def _open_sync(path: Path, offset: int) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_CREAT: a staging file lost with a wiped data dir comes back empty at offset 0,
        # and a client resuming at a later offset then gets a 409 from the check below.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UploadBusy from None
        try:
            size = os.fstat(fd).st_size
            if size < offset:
                raise OSError(f"staging file has {size} bytes, the upload claims {offset}")
            if size > offset:
                os.ftruncate(fd, offset)
        except BaseException:
            os.close(fd)
            raise
        return fd


class StagingWriter:
    """Appends one PATCH's bytes to a staging file; see the module docstring."""

    batch_size = _BATCH  # a class attribute, so tests and benchmarks may change it
    piece: str | None = None  # bytes go into the staging file itself, not a piece object

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self.start = offset
        self.position = offset  # bytes written (not necessarily synced)

    async def receive(
        self,
        chunks: AsyncIterator[bytes],
        limit: int,
        hasher: hashlib._Hash | None = None,
    ) -> None:
        """Write ``chunks`` (at most ``limit`` bytes) and update ``hasher`` with them.

        Whatever the iterator raises (a client that went away) propagates once the
        bytes received before it are written, so the caller can keep them. BodyTooLarge
        past ``limit``: nothing after the limit is written.
        """
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        filled = 0
        received = 0
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                received += len(chunk)
                if received > limit:
                    raise BodyTooLarge
                batch.append(chunk)
                filled += len(chunk)
                # pwritev takes at most IOV_MAX (1024) buffers: tiny pieces flush early.
                if filled >= self.batch_size or len(batch) >= 512:
                    if pending is not None:
                        await pending
                    pending = self._write(batch, hasher)
                    batch, filled = [], 0
        finally:
            # Written in order: the batch in flight, then what is left (even on errors:
            # a dropped connection keeps the bytes that did arrive).
            if pending is not None:
                await pending
            if batch:
                await self._write(batch, hasher)

    def _write(self, batch: list[bytes], hasher: hashlib._Hash | None) -> asyncio.Future[None]:
        position = self.position
        self.position += sum(len(part) for part in batch)
        return asyncio.ensure_future(
            asyncio.to_thread(_write_sync, self._fd, batch, position, hasher)
        )

    async def sync(self) -> None:
        """Make what was written durable (before the database's offset moves)."""
        await asyncio.to_thread(os.fdatasync, self._fd)

    async def rollback(self) -> None:
        """Forget this PATCH's bytes (a failed checksum)."""
        await asyncio.to_thread(os.ftruncate, self._fd, self.start)
        self.position = self.start

    async def close(self) -> None:
        """Close the file, which also releases the lock."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            await asyncio.to_thread(os.close, fd)


def _write_sync(fd: int, batch: list[bytes], position: int, hasher: hashlib._Hash | None) -> None:
    if hasher is not None:
        for part in batch:
            hasher.update(part)  # hashlib lets go of the GIL for large buffers
    views = [memoryview(part) for part in batch]
    while views:
        written = os.pwritev(fd, views, position)
        position += written
        # A short write (rare on regular files): drop what went out and go on.
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
