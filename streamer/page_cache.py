"""Reading local files on the event loop only when the page cache holds the bytes.

The hot path may read a small range, or send it with sendfile, on the loop: from the page
cache that costs no more than nginx's reads without aio threads (DESIGN.md, "The hot
path"). Anything the cache may not hold is read in a worker thread instead.
"""

from __future__ import annotations

import errno
import os

__all__ = ["read_chunk", "read_inline", "resident"]

_NOWAIT = getattr(os, "RWF_NOWAIT", None)


def read_inline(fd: int, offset: int, length: int) -> bytes | bytearray | None:
    """Read a range on the event loop if the page cache holds it; None if it does not.

    preadv2 with RWF_NOWAIT (Linux 4.14+) never waits for the disk: it fails with EAGAIN
    when the data is not cached. So cached ranges cost no thread hop (as nginx reads
    without aio threads) and uncached ones never stall the loop. A partial answer (only
    the start is cached) also returns None: the caller then reads it all in a thread.
    Returns b"" at end of file. The buffer is returned as is (no copy): uvicorn writes any
    bytes-like body.
    """
    if _NOWAIT is None:  # pragma: no cover - not Linux: always read in a thread
        return None
    buffer = bytearray(length)
    try:
        got = os.preadv(fd, [buffer], offset, _NOWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:  # EOPNOTSUPP on filesystems without RWF_NOWAIT
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return None
        raise
    if got == length:
        return buffer
    if got == 0:
        return b""
    return None


def read_chunk(fd: int, offset: int, length: int) -> bytes:
    """Read a chunk in a worker thread (large or possibly uncached ranges)."""
    return os.pread(fd, length, offset)


def resident(fd: int, position: int) -> bool:
    """Whether the page cache holds the byte at ``position`` (so sendfile from there will
    not wait for the disk)."""
    byte = read_inline(fd, position, 1)
    return byte is not None and len(byte) == 1
