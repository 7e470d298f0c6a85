"""The ObjectStore protocol: what the streamer needs from storage, whatever the backend.

Keys are relative POSIX paths ("album/01 song.mp3"), never absolute and never containing
"..". A store is opened once in the app's lifespan and closed there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from streamer.errors import ObjectChanged, ObjectNotFound, StorageError, StorageUnavailable

__all__ = [
    "ObjectChanged",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StorageUnavailable",
]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a listing or stat knows of one object."""

    key: str
    size: int
    mtime: float  # seconds since the epoch
    # The backend's own identity of the bytes: the S3 ETag (quotes stripped), or for local
    # files "<mtime_ns hex>-<size hex>-<inode hex>". Changes whenever the content may have.
    version: str


@runtime_checkable
class ObjectStore(Protocol):
    """Read access to one library's objects (write access arrives with transcoding)."""

    @property
    def url(self) -> str:
        """Where the store points: a directory path or s3://bucket/prefix."""
        ...

    async def open(self) -> None:
        """Acquire clients and pools; called once before use."""
        ...

    async def close(self) -> None:
        """Release what open() acquired."""
        ...

    async def check(self) -> None:
        """Raise StorageUnavailable unless the store answers (for /readyz)."""
        ...

    async def stat(self, key: str) -> ObjectInfo:
        """Current size, mtime and version of one key; ObjectNotFound if absent."""
        ...

    def iter_objects(self) -> AsyncIterator[ObjectInfo]:
        """Every object under the store's root, in no particular order.

        Local stores skip symlinks that leave the root and never loop on symlink cycles.
        """
        ...

    def iter_range(
        self,
        key: str,
        start: int,
        length: int,
        *,
        version: str | None = None,
        chunk_size: int = 262144,
    ) -> AsyncIterator[bytes]:
        """Yield exactly ``length`` bytes from ``start`` in chunks of at most ``chunk_size``.

        Raises ObjectChanged (possibly after yielding some chunks) if the object is shorter
        than expected or no longer has ``version``: callers must then abort the response.
        """
        ...

    async def read(self, key: str, start: int, length: int) -> bytes:
        """Read a small range into memory (probing, hashing); may return fewer bytes at EOF."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The checked real path of a key on local disk, or None for remote stores.

        Does no I/O on remote stores; local stores resolve symlinks (call it off the loop)
        and raise ObjectNotFound for keys that escape the root.
        """
        ...
