"""A local file being uploaded to a store, read in parts by worker threads."""

from __future__ import annotations

import errno
import os
import stat as stat_mode
from pathlib import Path

from streamer.storage.base import ObjectChanged

__all__ = ["SourceFile"]


class SourceFile:
    """A local file being stored: its size and identity, taken once, and reads of parts.

    Each read opens the file afresh in the calling (worker) thread, so no descriptor has to
    outlive a cancelled task; a file replaced or shortened since ``open()`` raises
    ObjectChanged instead of mixing two files into one object.
    """

    def __init__(self, path: Path, size: int, identity: tuple[int, int]) -> None:
        self.path = path
        self.size = size
        self._identity = identity

    @classmethod
    def open(cls, path: Path) -> SourceFile:
        """Stat ``path`` (blocking: call it in a worker thread); OSError unless a regular file."""
        st = os.stat(path)
        if not stat_mode.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return cls(path, st.st_size, (st.st_dev, st.st_ino))

    def read_into(self, offset: int, buffer: bytearray | memoryview) -> None:
        """Fill ``buffer`` from ``offset`` (blocking: call it in a worker thread).

        Reading into a caller's buffer lets an uploader reuse one buffer per worker: fresh
        multi-megabyte bytes per part, allocated in worker threads' malloc arenas, are not
        reliably given back to the system, and resident memory would creep up.
        """
        # O_NONBLOCK: should a FIFO have been swapped in, the open must not wait for a writer.
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != self._identity:
                raise ObjectChanged(f"{self.path} was replaced while being stored")
            view = memoryview(buffer)
            while view:
                count = os.preadv(fd, [view], offset)
                if not count:
                    raise ObjectChanged(f"{self.path} shrank while being stored")
                view = view[count:]
                offset += count
        finally:
            os.close(fd)
