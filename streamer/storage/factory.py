"""Choose the ObjectStore backend from a library URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from streamer.errors import SettingsError
from streamer.settings import Settings
from streamer.storage.base import ObjectStore
from streamer.storage.local import LocalStore

__all__ = ["open_store"]


def open_store(url: str, settings: Settings) -> ObjectStore:
    """The store for a library URL, not yet opened: callers ``await store.open()``.

    - a plain path or ``file:///path`` -> LocalStore
    - ``s3://bucket`` or ``s3://bucket/prefix`` -> S3Store, with the ``s3_*`` settings

    Does no I/O. Raises SettingsError for a URL it cannot serve.
    """
    if not url:
        raise SettingsError("a library URL cannot be empty")
    if "://" not in url:
        return LocalStore(Path(url))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise SettingsError(f"file URL {url!r} names a remote host {parts.netloc!r}")
        path = unquote(parts.path)
        if not path:
            raise SettingsError(f"file URL {url!r} has no path")
        return LocalStore(Path(path))
    if scheme == "s3":
        if not parts.netloc:
            raise SettingsError(f"S3 URL {url!r} has no bucket (expected s3://bucket/prefix)")
        if parts.query or parts.fragment:
            raise SettingsError(f"S3 URL {url!r} cannot have a query or fragment")
        # Imported here: aioboto3 and botocore add ~35 MB to every worker that never uses S3.
        from streamer.storage.s3 import S3Store

        return S3Store(
            parts.netloc,
            unquote(parts.path),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            connect_timeout=settings.s3_connect_timeout,
            read_timeout=settings.s3_read_timeout,
            max_attempts=settings.s3_max_attempts,
        )
    raise SettingsError(f"unsupported library URL {url!r}: use a path, file:// or s3://")
