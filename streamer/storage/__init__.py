"""Object storage: one protocol, a local-disk backend and an S3 backend."""

from __future__ import annotations

from streamer.storage.base import (
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
)
from streamer.storage.factory import open_store

__all__ = [
    "ObjectChanged",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StorageUnavailable",
    "open_store",
]
