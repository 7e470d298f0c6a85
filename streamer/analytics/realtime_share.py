"""Realtime listeners shared across nodes through Redis, or this process's own figures.

With ``redis_url`` set, every process pushes its new marks every ``share_seconds`` to one
sorted set per minute (``streamer:analytics:rt:<minute>``; member "kind, id, listener",
score the last second seen, kept with ZADD GT), which expires after the window. A
snapshot reads the window's sets, so every node answers for the whole cluster. Without
Redis (or while it is unreachable) a snapshot holds this process's own deliveries only,
and says so (``scope``: "cluster" or "process").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

from streamer.analytics.agents import default_classifier
from streamer.analytics.realtime import Mark, RecentListeners, Snapshot, summarise
from streamer.analytics.rows import COLUMNS, Row
from streamer.background import stop_task
from streamer.redis_client import connect
from streamer.types import LIVE_WINDOW

__all__ = ["KEY_PREFIX", "Realtime", "Scope"]

Scope = Literal["cluster", "process"]

KEY_PREFIX = "streamer:analytics:rt:"
_SEP = "\x1f"
_ROW_FIELDS = tuple(
    COLUMNS.index(name)
    for name in (
        "at", "kind", "subject_id", "rendition", "status", "sent", "user_agent", "listener"
    )
)  # fmt: skip
logger = logging.getLogger("streamer.analytics.realtime")


class Realtime:
    """This process's recent listeners, and the cluster's through Redis when configured."""

    def __init__(
        self,
        *,
        window_minutes: int = 30,
        redis_url: str | None = None,
        share_seconds: float = 2.0,
        max_per_minute: int = 200_000,
        timeout: float = 1.0,
    ) -> None:
        self.window_minutes = window_minutes
        self.recent = RecentListeners(window_minutes, max_per_minute)
        self.share_seconds = share_seconds
        self.timeout = timeout
        self._redis = connect(redis_url, socket_timeout=timeout) if redis_url else None
        self._task: asyncio.Task[None] | None = None

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def note(self, kind: str, subject_id: str, listener: str, at: float | None = None) -> None:
        """A delivery to ``listener`` (cheap: no I/O; called on the hot path)."""
        self.recent.note(time.time() if at is None else at, kind, subject_id, listener)

    @staticmethod
    def heard(rows: Sequence[Row]) -> list[tuple[float, str, str, str]]:
        """(at, kind, subject id, listener) of the delivery rows the capture stored
        (listener hashes made with the day's shared salt, so nodes agree on who is who)
        that delivered audio or a playlist to something other than a known bot, or
        answered a player polling a channel's window 304 (it has the window already and
        is listening still, as the counting rules read it: docs/analytics.md). Blocking
        on first use (the OPAWG lists are read): call it in the capture's thread."""
        classify = default_classifier().classify
        out = []
        for row in rows:
            at, kind, subject_id, rendition, status, sent, agent, listener = (
                row[i] for i in _ROW_FIELDS
            )
            delivered = status in (200, 206) and sent
            polling = status == 304 and rendition == LIVE_WINDOW
            if (delivered or polling) and not classify(agent).bot:
                out.append((float(at), kind, subject_id, listener))  # epoch seconds
        return out

    def note_all(self, heard: Sequence[tuple[float, str, str, str]]) -> None:
        for at, kind, subject_id, listener in heard:
            self.recent.note(at, kind, subject_id, listener)

    def start(self) -> None:
        if self._redis is not None and self._task is None:
            self._task = asyncio.create_task(self._share_loop(), name="analytics-realtime")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self.share()
            await self._redis.aclose()

    async def _share_loop(self) -> None:
        while True:
            await asyncio.sleep(self.share_seconds)
            try:
                await self.share()
            except Exception as exc:  # Redis down: keep serving local figures
                logger.warning("realtime listeners not shared: %s", exc)

    async def share(self) -> None:
        """Push the marks noted since the last push to Redis."""
        if self._redis is None:
            return
        marks = self.recent.take_unshared()
        if not marks:
            return
        by_minute: dict[int, dict[str, float]] = {}
        for mark in marks:
            member = _SEP.join((mark.kind, mark.subject_id, mark.listener))
            entry = by_minute.setdefault(mark.minute, {})
            entry[member] = max(entry.get(member, 0.0), mark.seen)
        ttl = (self.window_minutes + 2) * 60
        async with asyncio.timeout(self.timeout * 5):
            pipe = self._redis.pipeline(transaction=False)
            for minute, members in by_minute.items():
                key = f"{KEY_PREFIX}{minute}"
                pipe.zadd(key, members, gt=True)
                pipe.expire(key, ttl)
            await pipe.execute()

    async def marks(self, now: float | None = None) -> tuple[list[Mark], Scope]:
        """The window's marks: the cluster's through Redis, else this process's."""
        now = time.time() if now is None else now
        local = list(self.recent.marks())
        if self._redis is not None:
            try:
                return local + await self._read_shared(now), "cluster"
            except Exception as exc:
                logger.warning("realtime listeners from this process only: %s", exc)
        return local, "process"

    async def snapshot(self, now: float | None = None) -> tuple[Snapshot, Scope]:
        now = time.time() if now is None else now
        marks, scope = await self.marks(now)
        return summarise(marks, now=now, window_minutes=self.window_minutes), scope

    async def _read_shared(self, now: float) -> list[Mark]:
        assert self._redis is not None
        current = int(now // 60)
        minutes = list(range(current - self.window_minutes + 1, current + 1))
        async with asyncio.timeout(self.timeout * 5):
            pipe = self._redis.pipeline(transaction=False)
            for minute in minutes:
                pipe.zrange(f"{KEY_PREFIX}{minute}", 0, -1, withscores=True)
            results: list[Any] = await pipe.execute()
        marks: list[Mark] = []
        for minute, members in zip(minutes, results, strict=True):
            for member, score in members:
                text = member.decode() if isinstance(member, bytes) else str(member)
                kind, subject_id, listener = text.split(_SEP, 2)
                marks.append(Mark(minute, kind, subject_id, listener, float(score)))
        return marks
