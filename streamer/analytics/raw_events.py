"""Reading raw delivery events for the rollup: in (at, id) order, after a watermark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.analytics.events import DeliveryEvent
from streamer.db import DeliveryEventRow

__all__ = ["RawEvent", "read_events"]


_EVENTS = DeliveryEventRow.__table__


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A stored event: its row id (the watermark's tie-breaker) and the pure record."""

    id: int
    at: datetime
    event: DeliveryEvent


async def read_events(
    session: AsyncSession, after: tuple[datetime | None, int], until: datetime, limit: int
) -> list[RawEvent]:
    """Up to ``limit`` events after ``after`` ((at, id); at None: from the first) and
    before ``until``, in time order."""
    c = _EVENTS.c
    query = select(_EVENTS).where(c.at < until)
    after_at, after_id = after
    if after_at is not None:
        # ``at >= after_at`` on its own, so that the index on ``at`` bounds the scan (an
        # OR alone makes PostgreSQL read and sort every remaining row for each batch).
        query = query.where(
            c.at >= after_at, or_(c.at > after_at, and_(c.at == after_at, c.id > after_id))
        )
    rows = await session.execute(query.order_by(c.at, c.id).limit(limit))
    return [RawEvent(row.id, row.at, event_of(row)) for row in rows]


def event_of(row: Any) -> DeliveryEvent:
    return DeliveryEvent(
        at=row.at,
        listener=row.listener,
        user_agent=row.user_agent or "",
        kind=row.kind,
        subject_id=row.subject_id,
        rendition=row.rendition,
        segment=row.segment,
        range_start=row.range_start,
        range_end=row.range_end,
        total_bytes=row.total_bytes,
        duration=row.duration,
        status=row.status,
        sent=row.sent,
        country=row.country,
        referrer=row.referrer,
    )
