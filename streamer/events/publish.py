"""Publishing live events: rows in the events table, written after the change they report.

Every process that changes something publishes (an API worker, the `serve` supervisor's
job runner and start-up scan, a `streamer worker`); every API worker reads the table and
streams what is new (``streamer.events.hub``). A publish is one short transaction of its
own, after the change committed, so a failing publish never undoes or fails the change: it
is logged and counted (``failures``), and the change is still visible to anyone who
reloads.

Ids must become visible in id order, or a reader that saw id 8 could skip a 7 committed
later. SQLite has one writer at a time, so it holds already; on PostgreSQL concurrent
inserts take their ids from a sequence before they commit, so each insert first takes a
transaction-level advisory lock, which makes event inserts (only those) take turns.

Payloads are what docs/api.md ("Live events") promises; the builders below are the only
place they are shaped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redis.exceptions import RedisError
from sqlalchemy import insert, select, text

from streamer.db import Database, Event, Job, Track, Upload
from streamer.db.models import utcnow
from streamer.redis_client import connect

__all__ = [
    "CHANNEL",
    "EventPublisher",
    "EventType",
    "Outgoing",
    "channel_event",
    "job_event",
    "playlist_event",
    "scan_event",
    "track_event",
    "upload_event",
]

logger = logging.getLogger("streamer.events")

EventType = Literal["job", "scan", "upload", "track", "playlist", "channel"]
CHANNEL = "streamer:events"  # a Redis nudge: "look at the table now"
# pg_advisory_xact_lock key for event inserts ("strm" in ASCII).
_PG_LOCK = 0x7374726D
_PUBLISH_TIMEOUT = 10.0
_NUDGE_TIMEOUT = 0.5


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to publish: its type, the library whose readers may see it (None: admins
    only) and its JSON payload."""

    type: EventType
    library_id: str | None
    data: dict[str, Any]


def job_event(job: Job, library_id: str, *, progress: float | None = None) -> Outgoing:
    """A job's state; ``progress`` overrides the row's (the runner knows it sooner)."""
    return Outgoing(
        "job",
        library_id,
        {
            "id": job.id,
            "track_id": job.track_id,
            "library_id": library_id,
            "kind": job.kind,
            "status": job.status,
            "progress": round(job.progress if progress is None else progress, 4),
            "error": job.error,
            "attempts": job.attempts,
            "cancel_requested": bool(job.cancel_requested),
        },
    )


def scan_event(
    library_id: str,
    state: Literal["running", "done", "failed"],
    *,
    processed: int = 0,
    total: int | None = None,
    added: int = 0,
    changed: int = 0,
    failed: int = 0,
    gone: int = 0,
    error: str | None = None,
) -> Outgoing:
    """A scan's progress (``total`` is None until the listing has finished)."""
    return Outgoing(
        "scan",
        library_id,
        {
            "library_id": library_id,
            "state": state,
            "processed": processed,
            "total": total,
            "added": added,
            "changed": changed,
            "failed": failed,
            "gone": gone,
            "error": error,
        },
    )


def upload_event(upload: Upload) -> Outgoing:
    """An upload that ended: completed (with its track) or failed (with the reason)."""
    return Outgoing(
        "upload",
        upload.library_id,
        {
            "id": upload.id,
            "library_id": upload.library_id,
            "state": upload.status,
            "filename": upload.filename,
            "track_id": upload.track_id,
            "error": upload.error,
        },
    )


def track_event(
    track_id: str, library_id: str, action: Literal["created", "updated", "deleted"]
) -> Outgoing:
    return Outgoing(
        "track", library_id, {"id": track_id, "library_id": library_id, "action": action}
    )


def playlist_event(
    playlist_id: str,
    library_id: str,
    action: Literal["created", "updated", "deleted"],
    revision: int | None,
) -> Outgoing:
    return Outgoing(
        "playlist",
        library_id,
        {"id": playlist_id, "library_id": library_id, "action": action, "revision": revision},
    )


def channel_event(library_id: str | None, data: dict[str, Any]) -> Outgoing:
    """A channel's new track on air: ``{channel_id, track_id, title, artist, started_at,
    ends_at, entry_id, playlist_id, reason}``, seen by those who may read the track's
    library (admins only for a track without one)."""
    return Outgoing("channel", library_id, data)


class EventPublisher:
    """Writes events; never raises for a failed publish (see the module docstring).

    ``on_published`` runs after each successful publish (the hub of this process wakes
    its readers with it); with ``redis_url``, other processes and nodes are nudged over
    a Redis channel too, so they need not wait for their next poll.
    """

    def __init__(
        self,
        db: Database,
        *,
        redis_url: str | None = None,
        on_published: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.on_published = on_published
        self.published: Counter[str] = Counter()  # by type, for metrics
        self.failures = 0
        self._redis = connect(redis_url, socket_connect_timeout=1.0) if redis_url else None

    async def publish(self, event: Outgoing) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: Sequence[Outgoing]) -> None:
        """Publish ``events`` in one transaction, in order."""
        if not events:
            return
        rows = [
            {"type": e.type, "library_id": e.library_id, "data": e.data, "created_at": utcnow()}
            for e in events
        ]
        try:
            async with asyncio.timeout(_PUBLISH_TIMEOUT):
                async with self.db.session() as session, session.begin():
                    if not self.db.is_sqlite:
                        await session.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK}
                        )
                    await session.execute(insert(Event), rows)
        except Exception:  # the change it reports stands: log, count, go on
            self.failures += len(events)
            logger.warning("could not publish %d live event(s)", len(events), exc_info=True)
            return
        self.published.update(e.type for e in events)
        if self.on_published is not None:
            self.on_published()
        if self._redis is not None:
            await self._nudge()

    async def publish_jobs(self, job_ids: Iterable[str]) -> None:
        """Publish the current state of these jobs, as their rows say now."""
        wanted = sorted(set(job_ids))
        if not wanted:
            return
        try:
            async with self.db.session() as session:
                found = (
                    await session.execute(
                        select(Job, Track.library_id)
                        .join(Track, Track.id == Job.track_id)
                        .where(Job.id.in_(wanted))
                        .order_by(Job.updated_at, Job.id)
                    )
                ).all()
        except Exception:
            self.failures += len(wanted)
            logger.warning("could not read jobs to publish", exc_info=True)
            return
        await self.publish_many([job_event(job, library_id) for job, library_id in found])

    async def _nudge(self) -> None:
        assert self._redis is not None
        try:
            async with asyncio.timeout(_NUDGE_TIMEOUT):
                await self._redis.publish(CHANNEL, b"1")
        except (RedisError, OSError, TimeoutError):
            # Stored all the same: readers find it at their next poll.
            logger.debug("live event nudge not sent: redis unavailable", exc_info=True)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
