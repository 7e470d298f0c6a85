"""One process's view of the events table: a poller that reads what is new and the
recent events its streams share, and the pruning that keeps the table bounded.

::

    publishers (any process, any node)        this worker
      INSERT INTO events ──────────────────>  poller: SELECT ... WHERE id > latest
        │ same process: wake()                  │  every poll_seconds, at once when woken
        └ other processes: Redis nudge ──────>  │  (only while a stream is open)
                                                v
                                    recent: the newest events, in id order
                                                │
                              stream, stream, ... each at its own cursor

Every event with an id in ``(floor, latest]`` is in ``recent``, so a stream whose cursor is
at least ``floor`` is served from memory, however many streams there are: one query per
poll for the whole worker. A stream further back (a client resuming after a while, or one
too slow to keep up) reads the table directly, a page at a time; if the events after its
cursor were pruned already, it is told to reset (reload everything) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import delete, func, select

from streamer.background import stop_task
from streamer.db import Database, Event
from streamer.db.models import utcnow
from streamer.events.publish import CHANNEL, EventPublisher
from streamer.redis_client import connect

__all__ = ["Batch", "EventHub", "StoredEvent"]

logger = logging.getLogger("streamer.events")

_PAGE = 500  # rows per poll or catch-up read
_RETRY = 1.0  # seconds before polling again after a database error


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as streams send it: the payload encoded once, not once per stream."""

    id: int
    type: str
    library_id: str | None
    data: str  # compact JSON


@dataclass(frozen=True, slots=True)
class Batch:
    """What follows a cursor: ``events`` in id order, or ``reset`` when the events after
    it are gone (pruned), with ``cursor`` the place to go on from either way."""

    events: list[StoredEvent]
    cursor: int
    reset: bool = False


class EventHub:
    """The events of one worker process (see the module docstring). ``publisher``
    publishes from this process and wakes the poller at once."""

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = 0.5,
        max_age_seconds: float = 3600.0,
        max_count: int = 10_000,
        prune_seconds: float = 60.0,
        redis_url: str | None = None,
        recent_size: int = 1024,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.max_age = timedelta(seconds=max_age_seconds)
        self.max_count = max_count
        self.prune_seconds = prune_seconds
        self.publisher = EventPublisher(db, redis_url=redis_url, on_published=self.wake)
        self._redis = connect(redis_url, socket_connect_timeout=2.0) if redis_url else None
        self._recent: deque[StoredEvent] = deque()
        self._recent_size = recent_size
        self._floor = 0
        self._latest = 0
        self._synced = False
        self._sync_lock = asyncio.Lock()
        self._streams = 0
        self._listening = asyncio.Event()  # set while a stream is open
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()  # replaced by a fresh one each time events arrive
        self._tasks: list[asyncio.Task[None]] = []
        self.polls = 0  # for tests and metrics: queries the poller made

    @property
    def streams(self) -> int:
        return self._streams

    @property
    def latest(self) -> int:
        """The newest event id this process has read."""
        return self._latest

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._poll(), name="events-poller"))
        self._tasks.append(asyncio.create_task(self._prune_every(), name="events-pruner"))
        if self._redis is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="events-listener"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()  # all at once, then wait for each
        for task in self._tasks:
            await stop_task(task)
        self._tasks.clear()
        self._notify()  # streams still waiting look again (and find the shutdown)
        await self.publisher.close()
        if self._redis is not None:
            await self._redis.aclose()

    def wake(self) -> None:
        """Read the table now rather than at the next poll."""
        self._wake.set()

    # --- streams ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def open_stream(self) -> AsyncIterator[None]:
        """Count a stream as open while the block runs (the poller reads only then)."""
        async with self._sync_lock:
            if self._streams == 0 or not self._synced:
                # Nobody listened meanwhile: start from the table's end rather than read
                # what nobody will be sent from memory (streams behind read the table).
                await self._sync()
            self._streams += 1
            self._listening.set()
        try:
            yield
        finally:
            self._streams -= 1
            if self._streams == 0:
                self._listening.clear()

    async def resume_point(self, last_id: int | None) -> Batch:
        """Where a new stream starts: after ``last_id`` when the client has one (replaying
        what it missed), else at the newest event. ``reset`` when ``last_id`` is not a
        place this table can resume from: pruned since, or ahead of every event (the
        database was replaced)."""
        if last_id is None:
            return Batch([], self._latest)
        if last_id <= self._latest:
            return Batch([], last_id)
        newest = await self._max_id()
        if last_id > newest:
            return Batch([], max(newest, self._latest), reset=True)
        return Batch([], last_id)

    async def after(self, cursor: int, limit: int = 200) -> Batch:
        """Up to ``limit`` events after ``cursor``."""
        if cursor >= self._floor:
            found: list[StoredEvent] = []
            for event in reversed(self._recent):
                if event.id <= cursor:
                    break
                found.append(event)
            found.reverse()
            found = found[:limit]
            return Batch(found, found[-1].id if found else cursor)
        # Behind what memory holds: read the table, unless what follows was pruned.
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(Event.id, Event.type, Event.library_id, Event.data)
                    .where(Event.id > cursor)
                    .order_by(Event.id)
                    .limit(limit)
                )
            ).all()
            oldest, newest = (
                await session.execute(select(func.min(Event.id), func.max(Event.id)))
            ).one()
        events = [_stored(*row) for row in rows]
        if (oldest is None and cursor < self._latest) or (
            oldest is not None and cursor + 1 < oldest
        ):
            # Rolled-back inserts leave gaps too, so a gap just at the oldest event may
            # reset a client needlessly: it reloads, which is always correct.
            return Batch([], max(self._latest, int(newest or 0)), reset=True)
        return Batch(events, events[-1].id if events else cursor)

    async def wait(self, cursor: int, within: float) -> None:
        """Until an event newer than ``cursor`` is in memory, or ``within`` seconds."""
        changed = self._changed
        if self._latest > cursor or within <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await changed.wait()

    # --- reading the table -----------------------------------------------------------------

    async def _sync(self) -> None:
        newest = await self._max_id()
        self._recent.clear()
        self._floor = self._latest = max(newest, self._latest)
        self._synced = True

    async def _max_id(self) -> int:
        async with self.db.session() as session:
            return int(await session.scalar(select(func.max(Event.id))) or 0)

    async def _poll(self) -> None:
        while True:
            await self._listening.wait()
            self._wake.clear()
            try:
                more = await self._read_new()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly unreachable
                logger.warning("could not read live events", exc_info=True)
                await asyncio.sleep(_RETRY)
                continue
            if more:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def _read_new(self) -> bool:
        """Read a page of new events into memory; True if there may be more."""
        self.polls += 1
        start = self._latest
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(Event.id, Event.type, Event.library_id, Event.data)
                    .where(Event.id > start)
                    .order_by(Event.id)
                    .limit(_PAGE)
                )
            ).all()
        if not rows or self._latest != start:  # a _sync moved on meanwhile
            return False
        for row in rows:
            if len(self._recent) >= self._recent_size:
                self._floor = self._recent.popleft().id
            self._recent.append(_stored(*row))
        self._latest = rows[-1][0]
        self._notify()
        return len(rows) == _PAGE

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _listen(self) -> None:
        """Redis nudges from publishers elsewhere: read now."""
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.wake()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                logger.warning("live events channel lost; polling only, retrying in 1 s")
                await asyncio.sleep(1.0)

    # --- pruning ---------------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete events older than the maximum age or beyond the newest ``max_count``;
        how many went. Safe on many workers and nodes at once."""
        async with self.db.session() as session, session.begin():
            aged = await session.execute(
                delete(Event).where(Event.created_at < utcnow() - self.max_age)
            )
            newest = await session.scalar(select(func.max(Event.id)))
            counted = 0
            if newest is not None and newest > self.max_count:
                result = await session.execute(
                    delete(Event).where(Event.id <= newest - self.max_count)
                )
                counted = result.rowcount  # type: ignore[attr-defined]
        return int(aged.rowcount) + int(counted)  # type: ignore[attr-defined]

    async def _prune_every(self) -> None:
        while True:
            try:
                pruned = await self.prune()
                if pruned:
                    logger.debug("pruned %d live events", pruned)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("could not prune live events", exc_info=True)
            await asyncio.sleep(self.prune_seconds)


def _stored(event_id: int, type_: str, library_id: str | None, data: object) -> StoredEvent:
    return StoredEvent(int(event_id), type_, library_id, json.dumps(data, separators=(",", ":")))
