"""What a cache holds: the bytes of a segment and the modification time they carry."""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Cached"]

_HEADER = struct.Struct(">d")  # mtime, then the bytes


@dataclass(frozen=True, slots=True)
class Cached:
    """Immutable bytes of one cache key (a window of an object at one version)."""

    data: bytes
    mtime: float  # the object's modification time, for Last-Modified

    def __len__(self) -> int:
        return len(self.data)

    def encode(self) -> bytes:
        """The form kept in Redis: 8 bytes of mtime, then the data."""
        return _HEADER.pack(self.mtime) + self.data

    @classmethod
    def decode(cls, raw: bytes) -> Cached:
        if len(raw) < _HEADER.size:
            raise ValueError("a cache entry shorter than its header")
        (mtime,) = _HEADER.unpack_from(raw)
        return cls(raw[_HEADER.size :], mtime)
