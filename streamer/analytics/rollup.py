"""The rollup job: raw delivery events -> counting -> hourly rows -> daily rows.

One run (``roll_up``) on any node:

1. takes the lease of the rollup's state row (``analytics_rollup_state``): an UPDATE that
   succeeds only when nobody else holds an unexpired lease. Another node finds it held
   and returns at once, so each period is rolled up by one node however many run the
   task;
2. reads the raw events after the watermark ((at, id) of the last event read) and before
   ``now - lag``, in time order, in batches. The lag gives nodes time to flush their
   buffered events (an event that lands behind the watermark would be missed); and no
   further than the oldest event a node reports still waiting in its analytics spool
   (streamer.analytics.spool: a busy node inserts late);
3. feeds each batch to the counter (in a worker thread: counting is CPU work), sums what
   it found into hourly cells and adds them to the hourly rows, then stores the new
   watermark and the counter's state, in ONE transaction that also checks the lease is
   still ours. A run that fails half-way leaves the rows and the watermark as they were
   after the last whole batch, so the retry continues there and counts nothing twice;
4. derives the daily rows of every day touched since the last derivation from that day's
   hourly rows (never from raw events), in one transaction per day;
5. gives the lease back.

Hourly rows are added to, not rewritten: a later batch of the same hour adds its cells to
the stored ones (sums add, listener sketches merge).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.analytics.cells import Cell, CellKey, Cells, Contribution, day_key
from streamer.analytics.raw_events import RawEvent, read_events
from streamer.analytics.sketch import Sketch
from streamer.analytics.spool import BACKLOG_FRESH
from streamer.db import (
    AnalyticsDaily,
    AnalyticsHourly,
    AnalyticsSpoolBacklog,
    Database,
    RollupState,
    Track,
)

__all__ = [
    "ROLLUP_NAME",
    "Counter",
    "CounterLoader",
    "EventReader",
    "LeaseLost",
    "RollupOptions",
    "RollupRun",
    "release_lease",
    "reset",
    "roll_up",
    "take_lease",
]

ROLLUP_NAME = "delivery"
logger = logging.getLogger("streamer.analytics.rollup")
_DIMENSIONS = ("app", "device", "os", "browser", "country")


class Counter(Protocol):
    """Counting as the rollup drives it (streamer/analytics/counting.py behind an adapter)."""

    def feed(
        self, events: Sequence[RawEvent], durations: Mapping[str, float]
    ) -> list[Contribution]:
        """Count ``events`` (in time order, after every event fed before); ``durations``
        holds the seconds of the tracks they name (for completion)."""

    def advance(self, now: datetime) -> list[Contribution]:
        """What can no longer change by ``now`` (sessions ended by silence)."""

    def dumps(self) -> bytes:
        """The state to continue from next time."""


CounterLoader = Callable[[bytes], Counter]
EventReader = Callable[
    [AsyncSession, tuple[datetime | None, int], datetime, int], Awaitable[list[RawEvent]]
]


class LeaseLost(RuntimeError):
    """Another node took the lease over (ours expired): stop without writing."""


@dataclass(frozen=True)
class RollupOptions:
    batch: int = 50_000
    lag: timedelta = timedelta(minutes=2)
    lease: timedelta = timedelta(minutes=5)


@dataclass
class RollupRun:
    skipped: bool = False  # another node held the lease
    events: int = 0
    batches: int = 0
    hourly_cells: int = 0
    days: int = 0
    # Where the time went (seconds): reading raw events, counting (and the counter's
    # state), writing hourly rows, rebuilding daily rows.
    read_seconds: float = 0.0
    count_seconds: float = 0.0
    write_seconds: float = 0.0
    daily_seconds: float = 0.0


async def _ensure_state(db: Database, name: str) -> None:
    async with db.session() as session:
        if await session.get(RollupState, name) is not None:
            return
        session.add(RollupState(name=name, watermark_id=0, counter=b"", events_read=0))
        try:
            await session.commit()
        except IntegrityError:  # another node created it at the same moment
            await session.rollback()


async def take_lease(
    db: Database, owner: str, *, now: datetime, ttl: timedelta, name: str = ROLLUP_NAME
) -> bool:
    """Hold the rollup ``name`` for ``owner`` until ``now + ttl``; False when another
    owner holds an unexpired lease."""
    await _ensure_state(db, name)
    async with db.session() as session, session.begin():
        result = await session.execute(
            update(RollupState)
            .where(
                RollupState.name == name,
                or_(
                    RollupState.lease_until.is_(None),
                    RollupState.lease_until < now,
                    RollupState.lease_owner == owner,
                ),
            )
            .values(lease_owner=owner, lease_until=now + ttl)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_lease(db: Database, owner: str, *, name: str = ROLLUP_NAME) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            update(RollupState)
            .where(RollupState.name == name, RollupState.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def _count(
    counter: Counter,
    events: Sequence[RawEvent],
    until: datetime | None,
    durations: Mapping[str, float],
) -> Cells:
    cells = Cells()
    cells.add_all(counter.feed(events, durations))
    if until is not None:
        cells.add_all(counter.advance(until))
    return cells


def pack_state(state: bytes) -> bytes:
    return zlib.compress(state, 1) if state else b""


def unpack_state(stored: bytes) -> bytes:
    return zlib.decompress(stored) if stored else b""


async def oldest_waiting(session: AsyncSession, now: datetime) -> datetime | None:
    """The oldest event still waiting in a node's analytics spool, of the nodes that
    reported within ``BACKLOG_FRESH`` (streamer.analytics.spool); None: none waits."""
    c = AnalyticsSpoolBacklog
    found = await session.scalar(
        select(func.min(c.oldest_at)).where(
            c.oldest_at.is_not(None), c.reported_at >= now - BACKLOG_FRESH
        )
    )
    if found is None:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


async def roll_up(
    db: Database,
    load_counter: CounterLoader,
    *,
    owner: str,
    options: RollupOptions | None = None,
    now: datetime | None = None,
    name: str = ROLLUP_NAME,
    read: EventReader = read_events,
) -> RollupRun:
    """Roll up what arrived since the last run (see the module docstring)."""
    options = options or RollupOptions()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    until = now - options.lag
    run = RollupRun()
    if not await take_lease(db, owner, now=now, ttl=options.lease, name=name):
        run.skipped = True
        return run
    try:
        async with db.session() as session:
            state = await session.get(RollupState, name)
            assert state is not None
            stored = state.counter
            waiting = await oldest_waiting(session, now)
        if waiting is not None and waiting < until:
            until = waiting  # a node's spool still holds older events (module docstring)
        # In a thread: the state may be large, and a counter may load its lists from disk.
        counter = await asyncio.to_thread(lambda: load_counter(unpack_state(stored)))
        while True:
            async with db.session() as session, session.begin():
                state = await _held_state(session, name, owner)
                after = (state.watermark_at, state.watermark_id)
                clock = time.perf_counter()
                events = await read(session, after, until, options.batch)
                last = len(events) < options.batch
                run.read_seconds += time.perf_counter() - clock
                clock = time.perf_counter()
                durations = await _durations(session, events)
                cells = await asyncio.to_thread(
                    _count, counter, events, until if last else None, durations
                )
                packed = await asyncio.to_thread(lambda: pack_state(counter.dumps()))
                run.count_seconds += time.perf_counter() - clock
                clock = time.perf_counter()
                touched = await _add_hourly(session, cells)
                if events:
                    state.watermark_at, state.watermark_id = events[-1].at, events[-1].id
                state.counter = packed
                state.events_read += len(events)
                if touched:
                    first = min(touched).replace(hour=0)
                    dirty = state.daily_dirty_from
                    state.daily_dirty_from = first if dirty is None else min(dirty, first)
                state.lease_until = datetime.now(UTC) + options.lease
            run.write_seconds += time.perf_counter() - clock
            run.events += len(events)
            run.batches += 1
            run.hourly_cells += len(cells)
            if last:
                break
        clock = time.perf_counter()
        run.days = await _derive_daily(db, name, owner)
        run.daily_seconds = time.perf_counter() - clock
    finally:
        await release_lease(db, owner, name=name)
    return run


async def _durations(session: AsyncSession, events: Sequence[RawEvent]) -> dict[str, float]:
    """Seconds of the tracks the events name (a listening session's completion)."""
    ids = {r.event.subject_id for r in events if r.event.kind == "track"}
    if not ids:
        return {}
    rows = await session.execute(
        select(Track.id, Track.duration).where(Track.id.in_(ids), Track.duration.is_not(None))
    )
    return {track_id: float(seconds) for track_id, seconds in rows if seconds is not None}


async def _held_state(session: AsyncSession, name: str, owner: str) -> RollupState:
    # Locks the row (PostgreSQL) until commit: a node whose lease ran out and was taken
    # over cannot commit a batch after the new holder began.
    state = await session.get(RollupState, name, with_for_update=True, populate_existing=True)
    if state is None or state.lease_owner != owner:
        raise LeaseLost(f"the lease of rollup {name!r} is no longer held by {owner}")
    return state


def _row_cell(row: AnalyticsHourly | AnalyticsDaily) -> Cell:
    return Cell(
        downloads=row.downloads,
        listeners=Sketch(row.listener_sketch),
        listening_seconds=row.listening_seconds,
        sessions=row.sessions,
        q1=row.q1,
        q2=row.q2,
        q3=row.q3,
        q4=row.q4,
    )


def _row_key(row: AnalyticsHourly | AnalyticsDaily) -> CellKey:
    period = row.period.astimezone(UTC)
    return CellKey(period, row.kind, row.subject_id, row.app, row.device, row.os, row.browser,
                   row.country)  # fmt: skip


def _values(key: CellKey, cell: Cell) -> dict[str, Any]:
    return {
        "period": key.period,
        "kind": key.kind,
        "subject_id": key.subject_id,
        "app": key.app[:100],
        "device": key.device[:64],
        "os": key.os[:64],
        "browser": key.browser[:64],
        "country": key.country[:8],
        "downloads": cell.downloads,
        "listeners": cell.listeners.estimate(),
        "listener_sketch": bytes(cell.listeners),
        "listening_seconds": cell.listening_seconds,
        "sessions": cell.sessions,
        "q1": cell.q1,
        "q2": cell.q2,
        "q3": cell.q3,
        "q4": cell.q4,
    }


async def _add_hourly(session: AsyncSession, cells: Cells) -> set[datetime]:
    """Add ``cells`` to the stored hourly rows; the hours touched."""
    new: dict[CellKey, Cell] = dict(cells.items())
    hours = {key.period for key in new}
    if not hours:
        return hours
    updates: list[dict[str, Any]] = []
    for hour in sorted(hours):
        # The whole hour's rows: an IN list of the batch's subjects could pass the
        # drivers' limit of bound parameters.
        rows = await session.scalars(select(AnalyticsHourly).where(AnalyticsHourly.period == hour))
        for row in rows:
            key = _row_key(row)
            cell = new.pop(key, None)
            if cell is None:
                continue
            stored = _row_cell(row)
            stored.add(cell)
            updates.append({"id": row.id, **_values(key, stored)})
    if updates:
        await session.execute(update(AnalyticsHourly), updates)
    if new:
        await session.execute(
            AnalyticsHourly.__table__.insert(),  # type: ignore[attr-defined]
            [_values(key, cell) for key, cell in new.items()],
        )
    return hours


async def _derive_daily(db: Database, name: str, owner: str) -> int:
    """Rebuild the daily rows of every day from the dirty one to today from hourly rows."""
    async with db.session() as session:
        state = await session.get(RollupState, name)
        dirty = state.daily_dirty_from if state is not None else None
    if dirty is None:
        return 0
    day = dirty.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with db.session() as session:
        last = await session.scalar(select(AnalyticsHourly.period).order_by(
            AnalyticsHourly.period.desc()).limit(1))  # fmt: skip
    end = (last or day).astimezone(UTC)
    days = 0
    while day <= end:
        async with db.session() as session, session.begin():
            await _held_state(session, name, owner)
            await _rebuild_day(session, day)
        days += 1
        day += timedelta(days=1)
    async with db.session() as session, session.begin():
        state = await _held_state(session, name, owner)
        if state.daily_dirty_from == dirty:
            state.daily_dirty_from = None
    return days


async def _rebuild_day(session: AsyncSession, day: datetime) -> None:
    rows = await session.scalars(
        select(AnalyticsHourly).where(
            AnalyticsHourly.period >= day, AnalyticsHourly.period < day + timedelta(days=1)
        )
    )
    cells: dict[CellKey, Cell] = {}
    for row in rows:
        key = day_key(_row_key(row))
        cell = cells.get(key)
        if cell is None:
            cells[key] = _row_cell(row)
        else:
            cell.add(_row_cell(row))
    await session.execute(
        AnalyticsDaily.__table__.delete().where(AnalyticsDaily.period == day)  # type: ignore[attr-defined]
    )
    if cells:
        await session.execute(
            AnalyticsDaily.__table__.insert(),  # type: ignore[attr-defined]
            [_values(key, cell) for key, cell in cells.items()],
        )


async def reset(db: Database, *, name: str = ROLLUP_NAME) -> None:
    """Forget every rollup row and the state, so the next run counts all raw events
    again (after a change of counting rules). Raw events older than the retention are
    gone by then: their figures are lost too."""
    async with db.session() as session, session.begin():
        await session.execute(AnalyticsHourly.__table__.delete())  # type: ignore[attr-defined]
        await session.execute(AnalyticsDaily.__table__.delete())  # type: ignore[attr-defined]
        await session.execute(
            update(RollupState)
            .where(RollupState.name == name)
            .values(
                watermark_at=None, watermark_id=0, counter=b"", daily_dirty_from=None, events_read=0
            )
        )
