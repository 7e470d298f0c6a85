"""Partial uploads in an object store (``upload_staging = "s3://bucket/prefix"``), so that
any node can take any request of an upload: no file is local to the node that took the
POST.

Each PATCH streams its body into an object of its own, a *piece*, named
``<upload id>/<offset, 16 digits>-<random token>`` (``put_stream``: bounded memory, S3
multipart for long bodies). Objects cannot be appended to, and a random name per PATCH
means two nodes writing at one offset never touch the same object.

The database decides which pieces count. The offset moves with a compare-and-set
(``WHERE offset = :start AND status = 'receiving'``) that also appends the piece's name to
``uploads.pieces`` (``service.move_offset``); a PATCH that loses that race deletes its
piece and answers 409, as a local PATCH that loses it does. A piece whose checksum fails
is deleted before anything is recorded. Whatever else lies under an upload's prefix was
left by a crash between storing and recording, and goes with the whole prefix when the
upload completes, is terminated or expires (and `streamer cleanup` sweeps what a failed
deletion left).

Completion copies the committed pieces, in order and in bounded chunks, into one local
file under ``data_dir/uploads``, which the usual completion path probes and stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import re
import secrets
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.errors import StorageError
from streamer.storage.base import ObjectInfo, ObjectStore
from streamer.storage.local import write_all
from streamer.uploads.staging import BodyTooLarge

if TYPE_CHECKING:
    from streamer.db import Upload

__all__ = ["ObjectStaging", "PieceWriter", "piece_name", "piece_spans"]

logger = logging.getLogger("streamer.uploads")

_HASH_BATCH = 1024 * 1024  # body bytes hashed per worker-thread hop
_READ_CHUNK = 1024 * 1024  # bytes per read when the pieces are put back together
_PIECE = re.compile(r"^([0-9]{16})-[0-9a-f]{1,64}$")


def piece_name(offset: int, token: str | None = None) -> str:
    """The name of a piece starting at ``offset``: names sort as offsets do, and the
    random token keeps two writers at one offset apart."""
    return f"{offset:016d}-{token or secrets.token_hex(8)}"


def piece_spans(pieces: Sequence[str], end: int) -> list[tuple[str, int]]:
    """(name, length) of each committed piece, from the offsets in the names and the
    upload's offset ``end``. ValueError unless the pieces start at 0 and ascend to
    ``end``: the caller's row is inconsistent, never a client's mistake."""
    starts = []
    for name in pieces:
        match = _PIECE.match(name)
        if match is None:
            raise ValueError(f"{name!r} is not a piece name")
        starts.append(int(match[1]))
    bounds = [*starts, end]
    if bounds[0] != 0 or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"pieces {list(pieces)!r} do not cover 0..{end} in order")
    return [(name, bounds[i + 1] - bounds[i]) for i, name in enumerate(pieces)]


class ObjectStaging:
    """Staging in an opened ObjectStore; ``work_dir`` (local) takes assembled uploads."""

    def __init__(self, store: ObjectStore, work_dir: Path) -> None:
        self.store = store
        self.work_dir = work_dir

    @staticmethod
    def prefix(upload_id: str) -> str:
        if not upload_id.isalnum():  # ids are ours, but never build a key blindly
            raise ValueError(f"invalid upload id {upload_id!r}")
        return f"{upload_id}/"

    async def create(self, upload_id: str) -> None:
        """Nothing to make: an upload's pieces come with its PATCHes."""
        self.prefix(upload_id)

    async def open_writer(self, upload_id: str, offset: int) -> PieceWriter:
        """A writer of one new piece at ``offset``. Never busy: concurrent writers are
        told apart when they record their piece."""
        return PieceWriter(self.store, self.prefix(upload_id), offset)

    async def remove(self, upload_id: str) -> None:
        """Delete every piece of the upload, committed or left over. A storage failure is
        logged, not raised: the upload's state has already changed, and `streamer
        cleanup` removes pieces that no receiving upload records."""
        try:
            await self.store.delete_prefix(self.prefix(upload_id))
        except StorageError as exc:
            logger.warning("could not delete the pieces of upload %s: %s", upload_id, exc)

    @contextlib.asynccontextmanager
    async def assembled(self, upload: Upload) -> AsyncIterator[Path]:
        """The committed pieces, in order, as one temporary local file (removed on exit).
        StorageError if a piece cannot be read whole."""
        spans = piece_spans(upload.pieces or [], upload.offset)
        fd, path = await asyncio.to_thread(_temporary_file, self.work_dir, upload.id)
        try:
            try:
                for name, length in spans:
                    await self._copy(self.prefix(upload.id) + name, length, fd)
            finally:
                await asyncio.to_thread(os.close, fd)
            yield path
        finally:
            await asyncio.shield(asyncio.to_thread(path.unlink, missing_ok=True))

    async def _copy(self, key: str, length: int, fd: int) -> None:
        chunks = self.store.iter_range(key, 0, length, chunk_size=_READ_CHUNK)
        try:
            async for chunk in chunks:
                await asyncio.to_thread(write_all, fd, chunk)
        finally:
            close = getattr(chunks, "aclose", None)  # gives back the connection early
            if close is not None:
                await close()

    async def staged_sizes(self, upload_ids: Sequence[str]) -> dict[str, int]:
        """Bytes stored per upload, leftovers included (0 for none), for `streamer cleanup`."""
        sizes = dict.fromkeys(upload_ids, 0)
        for upload_id, infos in (await self.pieces()).items():
            if upload_id in sizes:
                sizes[upload_id] = sum(info.size for info in infos)
        return sizes

    async def pieces(self) -> dict[str, list[ObjectInfo]]:
        """Every object of the staging store, by upload id (one listing)."""
        found: dict[str, list[ObjectInfo]] = defaultdict(list)
        async for info in self.store.iter_objects():
            upload_id, _, name = info.key.partition("/")
            if name:
                found[upload_id].append(info)
        return dict(found)


class PieceWriter:
    """One PATCH's bytes into one new piece; the same face as the local StagingWriter."""

    def __init__(self, store: ObjectStore, prefix: str, offset: int) -> None:
        self._store = store
        self._prefix = prefix
        self.start = offset
        self.position = offset  # bytes stored
        self.piece: str | None = None  # the stored piece's name, once there is one

    async def receive(
        self,
        chunks: AsyncIterable[bytes],
        limit: int,
        hasher: hashlib._Hash | None = None,
    ) -> None:
        """Store ``chunks`` (at most ``limit`` bytes) as a new piece and update ``hasher``.

        As the local writer: whatever the iterator raises (a client that went away)
        propagates once the bytes received before it are stored, so the caller can keep
        them; BodyTooLarge past ``limit`` stores nothing. An empty body stores no piece.
        """
        body = _Body(chunks, limit, hasher)
        if await body.start():
            name = piece_name(self.start)
            await self._store.put_stream(self._prefix + name, body.chunks(), size_hint=limit)
            self.piece = name
            self.position = self.start + body.received
        if body.failure is not None:
            raise body.failure

    async def sync(self) -> None:
        """A stored object is durable already."""

    async def rollback(self) -> None:
        """Forget this PATCH's bytes (a failed checksum, a lost race): delete the piece.
        Best effort, so the answer the caller is giving is not replaced by a storage
        error; a piece left behind is deleted with the upload's prefix later."""
        piece, self.piece = self.piece, None
        self.position = self.start
        if piece is not None:
            try:
                await self._store.delete(self._prefix + piece)
            except StorageError as exc:
                logger.warning("could not delete piece %s%s: %s", self._prefix, piece, exc)

    async def close(self) -> None:
        """Nothing is held between requests."""


class _Body:
    """A request body as put_stream reads it: counted, refused past ``limit``, hashed in
    worker threads, and ended quietly when the source fails (remembering why), so that
    what arrived before is stored."""

    def __init__(
        self, chunks: AsyncIterable[bytes], limit: int, hasher: hashlib._Hash | None
    ) -> None:
        self._source = aiter(chunks)
        self._limit = limit
        self._hasher = hasher
        self._first: bytes | None = None
        self.received = 0
        self.failure: Exception | None = None

    async def _next(self) -> bytes | None:
        """The next non-empty chunk; None at the end or once the source failed."""
        while self.failure is None:
            try:
                chunk = await anext(self._source)
            except StopAsyncIteration:
                return None
            except Exception as exc:  # the source's own error: raised again by receive()
                self.failure = exc
                return None
            if chunk:
                self.received += len(chunk)
                if self.received > self._limit:
                    raise BodyTooLarge
                return chunk
        return None

    async def start(self) -> bool:
        """Wait for the first byte: False if the body is empty (or failed before it)."""
        self._first = await self._next()
        return self._first is not None

    async def chunks(self) -> AsyncIterator[bytes]:
        chunk = self._first
        if self._hasher is None:
            while chunk is not None:
                yield chunk
                chunk = await self._next()
            return
        batch: list[bytes] = []
        filled = 0
        while chunk is not None:
            batch.append(chunk)
            filled += len(chunk)
            if filled >= _HASH_BATCH:
                # Hashing megabytes is CPU work: off the loop, as the local writer does.
                await asyncio.to_thread(_update, self._hasher, batch)
                for part in batch:
                    yield part
                batch, filled = [], 0
            chunk = await self._next()
        if batch:
            await asyncio.to_thread(_update, self._hasher, batch)
            for part in batch:
                yield part


def _update(hasher: hashlib._Hash, batch: list[bytes]) -> None:
    for part in batch:
        hasher.update(part)  # hashlib lets go of the GIL for large buffers


def _temporary_file(directory: Path, upload_id: str) -> tuple[int, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    # Random, so two completions of one upload on one node (a retry) never share it.
    fd, name = tempfile.mkstemp(dir=directory, prefix=f"{upload_id}.", suffix=".assembling")
    return fd, Path(name)
