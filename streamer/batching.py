"""Deferred flushing for per-request work done in batches (access log, metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class FlushTimer:
    """Calls ``flush`` at most ``interval`` seconds after the first ``due()`` since the last
    flush; outside an event loop, at once."""

    __slots__ = ("_flush", "_handle", "interval")

    def __init__(self, flush: Callable[[], None], interval: float) -> None:
        self._flush = flush
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None

    def due(self) -> None:
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
        else:
            self._handle = loop.call_later(self.interval, self._flush)

    def cancel(self) -> None:
        """Called by ``flush`` itself: the next ``due()`` starts a new interval."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
