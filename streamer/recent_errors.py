"""The most recent 5xx responses of this node, for the dashboard's "recent errors".

Each worker process keeps its last ``limit`` 5xx responses in a bounded deque (a handful
of operations on a response that is rare by nature), shared with the node's other workers
through small files (:mod:`streamer.worker_files`), so any worker answers for the whole
node, as /metrics does. Like /metrics this covers one node; behind a load balancer each
node reports its own.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, TypedDict, cast

from streamer.worker_files import WorkerFiles

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
        self.limit = limit
        self._items: deque[RecentError] = deque(maxlen=limit)
        self._files = WorkerFiles(directory, FILE_PREFIX)

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
        self._files.changed()

    def flush(self) -> None:
        """Publish this worker's list to the other workers if it changed."""
        self._files.flush(lambda: list(self._items))

    def read(self) -> list[RecentError]:
        """The node's recent 5xx responses, newest first (blocking when shared: call it
        in a thread)."""
        items = list(self._items)  # this worker's newest, not yet flushed
        for loaded in self._files.others():
            if isinstance(loaded, list):
                items.extend(_valid(loaded))
        items.sort(key=lambda item: item["at"], reverse=True)
        return items[: self.limit]


def _valid(loaded: list[Any]) -> list[RecentError]:
    return [cast(RecentError, item) for item in loaded if isinstance(item, dict) and "at" in item]
