"""A small JSON value per worker process, shared with the node's other workers as files.

Beside prometheus-client's multiprocess files (the folder ``streamer serve`` empties at
start), each worker writes its value to ``<prefix><pid>.json`` when it changed, on the
metrics' one-second flush beat and in a thread (a file write must not hold up requests);
any worker reads the others' files to answer for the whole node. Nothing goes to the
database: what is shared this way (recent errors, error groups) is most needed when the
database is failing. Without a folder (one process) nothing is written or read.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["WorkerFiles"]


class WorkerFiles:
    def __init__(
        self, directory: str | Path | None, prefix: str, *, read_prefix: str | None = None
    ) -> None:
        self.directory = Path(directory) if directory else None
        self.prefix = prefix
        self.read_prefix = read_prefix or prefix  # whose files ``others`` reads
        self._changes = 0  # changes since start
        self._flushed = 0  # ... handed to a write
        self._written = 0  # the newest change count on disk (writes may finish out of order)
        self._write_lock = threading.Lock()
        self._pending: set[asyncio.Future[None]] = set()

    @property
    def path(self) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{self.prefix}{os.getpid()}.json"

    def changed(self) -> None:
        self._changes += 1

    def flush(self, snapshot: Callable[[], Any]) -> None:
        """Write ``snapshot()`` if the value changed since the last flush (in a thread when
        an event loop runs)."""
        if self.directory is None or self._changes == self._flushed:
            return
        self._flushed = self._changes
        version, value = self._changes, snapshot()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write(version, value)
            return
        future = loop.run_in_executor(None, self._write, version, value)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _write(self, version: int, value: Any) -> None:
        path = self.path
        assert path is not None
        with self._write_lock:
            if version <= self._written:
                return  # a newer value is already there
            temporary = path.with_suffix(".tmp")
            try:
                temporary.write_text(json.dumps(value, separators=(",", ":")))
                temporary.replace(path)  # readers never see half a file
            except OSError:  # the folder is being made again (serve's start): next beat
                self._flushed = self._written
                return
            self._written = version

    def others(self) -> list[Any]:
        """The other workers' values (blocking: call it in a thread)."""
        if self.directory is None:
            return []
        own = self.path
        values = []
        for file in self.directory.glob(f"{self.read_prefix}*.json"):
            if file == own:
                continue
            try:
                values.append(json.loads(file.read_text()))
            except (OSError, ValueError):
                continue  # a worker that is gone, or a file being replaced
        return values
