"""The ObjectStore protocol: what the streamer needs from storage, whatever the backend.

Keys are relative POSIX paths ("album/01 song.mp3"), never absolute and never containing
"..". A store is opened once in the app's lifespan and closed there.

Source files versus derived objects
-----------------------------------
The streamer never writes, replaces or deletes a library's source files. What it derives
from them (one fragmented MP4 per rendition, its JSON segment index, the cover image) is
written into the same store under the reserved prefix ``.streamer/`` (DERIVED_PREFIX), for
example::

    .streamer/tracks/<track_id>/<rendition>.mp4
    .streamer/tracks/<track_id>/<rendition>.index.json
    .streamer/tracks/<track_id>/cover.jpg

Listings (``iter_objects``) never yield keys under that prefix, so a scan cannot mistake a
rendition for a source: the local walker skips every hidden name, and the S3 listing skips
the prefix explicitly. ``derived_key()`` builds such keys; ``delete_prefix()`` removes one
track's outputs at once (a cancelled or re-run transcode).

Writes are whole-object: a reader sees either the previous object or the complete new one,
never a partial write (local: temporary file, fsync, rename; S3: PUT or a completed
multipart upload).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from streamer.errors import ObjectChanged, ObjectNotFound, StorageError, StorageUnavailable

__all__ = [
    "DERIVED_PREFIX",
    "ObjectChanged",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StorageUnavailable",
    "derived_key",
]

# Where the streamer writes what it derives from a library; see the module docstring.
DERIVED_PREFIX = ".streamer/"


def derived_key(*parts: str) -> str:
    """The key of a derived object: ``derived_key("tracks", "42", "128k.mp4")`` is
    ``".streamer/tracks/42/128k.mp4"``.

    Each part is one path component (no "/", not empty, "." or ".."); ValueError otherwise,
    since a bad part is the caller's bug, not a missing object.
    """
    if not parts:
        raise ValueError("a derived key needs at least one component")
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\x00" in part:
            raise ValueError(f"invalid key component {part!r}")
    return DERIVED_PREFIX + "/".join(parts)


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
    """Access to one library's objects: reads of everything, writes of derived objects.

    Writers keep to DERIVED_PREFIX (see the module docstring): source files are read-only
    to the streamer, though the store itself does not enforce it.
    """

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

    def iter_derived(self) -> AsyncIterator[ObjectInfo]:
        """Every derived object (keys under DERIVED_PREFIX), in no particular order.

        What iter_objects leaves out, for maintenance (backup manifests, cleanup of orphaned
        renditions). Local stores skip hidden names (half-written temporary files) and
        never follow symlinks here; a store without a derived prefix yields nothing.
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

    # -- writes --------------------------------------------------------------------------

    async def put_file(
        self, key: str, path: Path, *, content_type: str | None = None, consume: bool = False
    ) -> ObjectInfo:
        """Store a copy of the local file ``path`` under ``key``, replacing any object there.

        ``consume``: the caller is done with the file (it will only delete it), so a local
        store on the same filesystem may link it instead of copying it.

        Atomic for readers (they see the old object or the whole new one) and bounded in
        memory whatever the file's size (S3 uses a multipart upload above a threshold).
        ``content_type`` is kept where the backend stores one (S3). Returns the new
        object's info. The caller's file is left in place. Raises ObjectNotFound for an
        invalid key or one that escapes the root, StorageError when the key cannot hold an
        object (a directory is in the way), StorageUnavailable when the backend fails, and
        OSError when ``path`` itself cannot be read.
        """
        ...

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        """Store a small object (a segment index, a cover) from memory; as put_file."""
        ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size_hint: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Store the bytes ``chunks`` yields, in order, under ``key``; as put_file.

        For bodies that arrive over time (a tus PATCH): memory stays bounded whatever
        their length (S3 sends a multipart upload's parts as they fill). ``size_hint``,
        an upper bound of the bytes to come, lets S3 choose parts large enough for its
        10,000-part limit. If the iterator raises, nothing is stored (a partial object
        never becomes visible) and its error propagates.
        """
        ...

    async def delete(self, key: str) -> None:
        """Delete one object; deleting a missing key is not an error.

        Local stores also remove the directories the deletion left empty (never the root).
        Raises ObjectNotFound only for invalid or escaping keys.
        """
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; return how many were deleted.

        ``prefix`` is a non-empty key prefix: usually a "directory" ending in "/"
        (``".streamer/tracks/42/"`` leaves ``".streamer/tracks/420"`` alone), otherwise a
        plain string prefix of the last component, as S3 means it. Nothing outside the root
        is touched and symlinks are removed, never followed. ObjectNotFound for an invalid
        or escaping prefix.
        """
        ...
