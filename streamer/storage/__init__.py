"""Object storage: one protocol, a local-disk backend and an S3 backend."""

from __future__ import annotations

from streamer.storage.base import (
    DERIVED_PREFIX,
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
    derived_key,
)
from streamer.storage.factory import open_store

__all__ = [
    "DERIVED_PREFIX",
    "ObjectChanged",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StorageUnavailable",
    "derived_key",
    "open_store",
]
