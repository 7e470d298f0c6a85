"""The exception hierarchy of the streamer.

    StreamerError
    ├── SettingsError            bad configuration; the CLI prints it and exits 2
    ├── StorageError             an ObjectStore failed (storage/base.py re-exports these)
    │   ├── ObjectNotFound       no such key, or a key that escapes the library
    │   ├── ObjectChanged        the object changed size or identity while being read
    │   └── StorageUnavailable   the backend cannot be reached
    ├── DatabaseUnavailable      the database cannot be reached now (down, restarting)
    ├── CatalogueError           a scan could not run at all (one bad file is not an error)
    ├── MaintenanceError         backup, restore or cleanup refused its input (a destination
    │                            in use, a non-empty database, a damaged backup); exit 2
    └── RevisionConflict         a playlist or channel is not at the revision the caller
                                 expected (If-Match): HTTP 412

Lower-layer errors are translated with ``raise ... from exc`` so the cause stays visible.
"""

from __future__ import annotations


class StreamerError(Exception):
    """Base class of every error the streamer raises on purpose."""


class SettingsError(StreamerError):
    """A setting is missing, unknown or invalid."""


class StorageError(StreamerError):
    """An ObjectStore operation failed."""


class ObjectNotFound(StorageError):
    """The key does not exist, or resolves outside the store's root."""


class ObjectChanged(StorageError):
    """The object changed (shrank, was replaced) while it was being read."""


class StorageUnavailable(StorageError):
    """The storage backend cannot be reached or refused the request."""


class DatabaseUnavailable(StreamerError):
    """The database cannot be reached now: down, restarting, refusing connections."""


class CatalogueError(StreamerError):
    """A library cannot be scanned (missing root, unreachable bucket)."""


class MaintenanceError(StreamerError):
    """A backup, restore or cleanup cannot go ahead with what it was given."""


class RevisionConflict(StreamerError):
    """A playlist or channel is not at the revision the caller expected (HTTP 412)."""

    def __init__(self, message: str, revision: int) -> None:
        super().__init__(message)
        self.revision = revision
