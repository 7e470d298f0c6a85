"""The most recent 5xx responses of this node, for the dashboard's "recent errors".

Each worker process keeps its last ``limit`` 5xx responses in a bounded deque (a handful
of operations on a response that is rare by nature). With several workers, every worker
writes its list to a small JSON file beside prometheus-client's multiprocess files on the
metrics' one-second flush beat (only when it changed, in a thread), and ``read`` merges
the files, so any worker answers for the whole node, as /metrics does. The folder is
emptied when ``streamer serve`` starts. Nothing goes to the database: a run of 5xx
responses is often the database failing, and the list must not add load to it.

Like /metrics this covers one node; behind a load balancer each node reports its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, TypedDict

__all__ = ["RecentError", "RecentErrors"]

FILE_PREFIX = "recent-errors-"


class RecentError(TypedDict):
    at: float  # Unix seconds, when the response ended
    method: str
    route: str  # the route template
    path: str
    status: int
    request_id: str
    seconds: float


class RecentErrors:
    """This worker's last ``limit`` 5xx responses, shared through ``directory`` (None:
    one process, nothing to share)."""

    def __init__(self, directory: str | Path | None, *, limit: int = 50) -> None:
        self.directory = Path(directory) if directory else None
        self.limit = limit
        self._items: deque[RecentError] = deque(maxlen=limit)
        self._changes = 0  # additions since start
        self._flushed = 0  # ... written to the file
        self._write_lock = threading.Lock()
        self._written = 0  # the newest change count on disk (writes may finish out of order)
        self._pending: set[asyncio.Future[None]] = set()

    @property
    def path(self) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{FILE_PREFIX}{os.getpid()}.json"

    def add(
        self,
        *,
        method: str,
        route: str,
        path: str,
        status: int,
        request_id: str,
        seconds: float,
    ) -> None:
        self._items.append(
            RecentError(
                at=time.time(),
                method=method,
                route=route,
                path=path,
                status=status,
                request_id=request_id,
                seconds=seconds,
            )
        )
        self._changes += 1

    def flush(self) -> None:
        """Publish this worker's list to the other workers if it changed (in a thread
        when an event loop runs: a file write must not hold up requests)."""
        if self.directory is None or self._changes == self._flushed:
            return
        self._flushed = self._changes
        snapshot = (self._changes, list(self._items))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write(*snapshot)
            return
        future = loop.run_in_executor(None, self._write, *snapshot)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _write(self, version: int, items: list[RecentError]) -> None:
        path = self.path
        assert path is not None
        with self._write_lock:
            if version <= self._written:
                return  # a newer list is already there
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(items, separators=(",", ":")))
            temporary.replace(path)  # readers never see half a file
            self._written = version

    def read(self) -> list[RecentError]:
        """The node's recent 5xx responses, newest first (blocking when shared: call it
        in a thread)."""
        if self.directory is None:
            items = list(self._items)
        else:
            items = list(self._items)  # this worker's newest, not yet flushed
            own = self.path
            for file in self.directory.glob(f"{FILE_PREFIX}*.json"):
                if file == own:
                    continue
                try:
                    loaded: Any = json.loads(file.read_text())
                except (OSError, ValueError):
                    continue  # a worker that is gone, or a file being replaced
                if isinstance(loaded, list):
                    items.extend(loaded)
        items.sort(key=lambda item: item["at"], reverse=True)
        return items[: self.limit]
