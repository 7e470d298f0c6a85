"""The segment cache's keys: an object, its version and a byte span (pure)."""

from __future__ import annotations

__all__ = ["window_key"]


def window_key(key: str, version: str, offset: int, length: int) -> str:
    """The key of ``length`` bytes at ``offset`` of object ``key`` at ``version``.

    A new version is a new key, so a cached entry is never stale. Keys of a track's
    derived objects contain ``/tracks/{track_id}/``, which purges match."""
    return f"{key}@{version}:{offset}+{length}"
