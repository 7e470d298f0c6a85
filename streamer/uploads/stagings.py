"""Where partial uploads wait: the protocol both stagings implement, and the choice
between them (``upload_staging``).

- ``"local"`` (the default): :class:`~streamer.uploads.staging.StagingArea`, one file per
  upload under ``data_dir/uploads``, appended in place and locked while written.
- an object store URL (``s3://bucket/prefix``, ``file:///path``):
  :class:`~streamer.uploads.pieces.ObjectStaging`, one object per PATCH, so any node can
  take any request of an upload.

Routes and the service see only :class:`Staging` and :class:`UploadWriter`; the database's
offset is the truth for both.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from streamer.settings import Settings
from streamer.storage.factory import open_store
from streamer.uploads.pieces import ObjectStaging
from streamer.uploads.staging import StagingArea

if TYPE_CHECKING:
    from streamer.db import Upload
    from streamer.storage.registry import StoreRegistry

__all__ = ["Staging", "UploadWriter", "open_staging", "staging_for"]


class UploadWriter(Protocol):
    """One request's bytes on their way into an upload."""

    start: int  # the upload's offset when the request began
    position: int  # start + the bytes received and kept so far
    # The piece object holding this request's bytes, recorded with the offset; None when
    # the bytes went into the upload's staging file.
    piece: str | None

    async def receive(
        self,
        chunks: AsyncIterator[bytes],
        limit: int,
        hasher: hashlib._Hash | None = None,
    ) -> None:
        """Stage ``chunks`` (BodyTooLarge past ``limit``: nothing kept); an error of the
        iterator propagates once the bytes that arrived before it are staged."""
        ...

    async def sync(self) -> None:
        """Make the bytes durable before the database's offset moves over them."""
        ...

    async def rollback(self) -> None:
        """Drop this request's bytes (a failed checksum, a lost compare-and-set)."""
        ...

    async def close(self) -> None:
        """Release what the writer holds (the local file and its lock)."""
        ...


class Staging(Protocol):
    """Partial uploads by upload id."""

    async def create(self, upload_id: str) -> None:
        """Prepare a new upload's staging."""
        ...

    async def open_writer(self, upload_id: str, offset: int) -> UploadWriter:
        """A writer appending at ``offset``; UploadBusy if another holds the upload."""
        ...

    async def remove(self, upload_id: str) -> None:
        """Delete everything staged for the upload; nothing there is fine."""
        ...

    def assembled(self, upload: Upload) -> AbstractAsyncContextManager[Path]:
        """The upload's staged bytes (``upload.offset`` of them) as one local file."""
        ...

    async def staged_sizes(self, upload_ids: Sequence[str]) -> dict[str, int]:
        """Bytes staged per upload (what deleting them frees)."""
        ...


async def staging_for(settings: Settings, stores: StoreRegistry) -> Staging:
    """The staging of a running app: an object store is opened once, by the registry
    (and closed with it at shutdown)."""
    if settings.upload_staging == "local":
        return StagingArea(settings.data_dir / "uploads")
    store = await stores.get(settings.upload_staging)
    return ObjectStaging(store, settings.data_dir / "uploads")


@contextlib.asynccontextmanager
async def open_staging(settings: Settings) -> AsyncIterator[Staging]:
    """The staging for one command (`streamer cleanup`): its store is opened here and
    closed on exit."""
    if settings.upload_staging == "local":
        yield StagingArea(settings.data_dir / "uploads")
        return
    store = open_store(settings.upload_staging, settings)
    await store.open()
    try:
        yield ObjectStaging(store, settings.data_dir / "uploads")
    finally:
        await store.close()
