"""The Cache-Status field (RFC 9211) for answers from the segment cache.

A CDN or shield in front of the origin appends its own member after ours, so the field
reads as the path the bytes took: ``streamer; hit; detail=memory, edge; fwd=miss``.
Operators and benchmarks can then tell a memory hit from a Redis hit from a storage read
without the origin's logs.
"""

from __future__ import annotations

from streamer.types import CacheSource

__all__ = ["CACHE_STATUS", "cache_status"]

_NAME = "streamer"
CACHE_STATUS: dict[CacheSource, bytes] = {
    "memory": f"{_NAME}; hit; detail=memory".encode(),
    "redis": f"{_NAME}; hit; detail=redis".encode(),
    "storage": f"{_NAME}; fwd=miss; stored".encode(),
    # Waited for a storage read another request started: RFC 9211 section 2.7.
    "collapsed": f"{_NAME}; fwd=miss; collapsed".encode(),
}


def cache_status(source: CacheSource) -> tuple[bytes, bytes]:
    """The header for an answer whose bytes came from ``source``."""
    return (b"cache-status", CACHE_STATUS[source])
