"""Finish whole uploads whose completion did not happen.

The request that brings an upload's last byte turns it into a track (probe, store,
catalogue, queue). If storage failed then (503), or the node died midway, the upload stays
``receiving`` with every byte staged. A tus client resuming it asks HEAD, sees the offset
at the length, and reports success: it will not send the zero-byte PATCH that retries the
completion. So each server process looks for such uploads every ``upload_retry_seconds``
and completes them itself, under the same claim as a retry (``completing_until``): a
failed completion gives its claim back at once, a crashed one holds it for
COMPLETION_LEASE, and two nodes never complete one upload twice.

With local staging an upload's bytes are on the node that took it: other nodes skip it
(they hold no staging file of that size).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime

from sqlalchemy import or_, select

from streamer.auth.audit import Actor
from streamer.background import stop_task
from streamer.db import Database, Upload
from streamer.db.models import utcnow
from streamer.events.publish import EventPublisher
from streamer.settings import Settings
from streamer.storage.registry import StoreRegistry
from streamer.uploads.service import claim_completion, complete_upload, release_completion
from streamer.uploads.stagings import Staging, staging_for

__all__ = ["UploadRecovery", "resume_completions"]

logger = logging.getLogger("streamer.uploads")

_ACTOR = Actor("system", None, "upload_recovery")
_BATCH = 20  # uploads looked at per round


async def resume_completions(
    db: Database,
    stores: StoreRegistry,
    settings: Settings,
    staging: Staging,
    events: EventPublisher | None = None,
    *,
    now: datetime | None = None,
) -> list[Upload]:
    """Complete (or fail, if not audio) the whole uploads nobody is completing and whose
    bytes this node can read; the uploads it finished, in either way."""
    moment = now or utcnow()
    async with db.session() as session:
        due = list(
            await session.scalars(
                select(Upload)
                .where(
                    Upload.status == "receiving",
                    Upload.offset == Upload.length,
                    or_(Upload.completing_until.is_(None), Upload.completing_until < moment),
                )
                .order_by(Upload.updated_at)
                .limit(_BATCH)
            )
        )
    if not due:
        return []
    held = await staging.staged_sizes([upload.id for upload in due])
    finished: list[Upload] = []
    for upload in due:
        if held.get(upload.id, 0) < upload.length:
            continue  # staged on another node (local staging), or not whole here
        if not await claim_completion(db, upload, moment):
            continue  # another process got there first
        try:
            await complete_upload(db, stores, settings, staging, upload, _ACTOR, events)
        except Exception:
            # Storage still failing, most likely: give the claim back for the next round.
            logger.warning("completing upload %s failed; will try again", upload.id, exc_info=True)
            await release_completion(db, upload)
            continue
        logger.info("completed upload %s after its request could not", upload.id)
        finished.append(upload)
    return finished


class UploadRecovery:
    """Runs :func:`resume_completions` every ``upload_retry_seconds`` in this process."""

    def __init__(
        self,
        db: Database,
        stores: StoreRegistry,
        settings: Settings,
        events: EventPublisher | None = None,
    ) -> None:
        self.db = db
        self.stores = stores
        self.settings = settings
        self.events = events
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="upload-recovery")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        interval = self.settings.upload_retry_seconds
        while True:
            # Spread the processes' rounds so they do not all query at once.
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))
            try:
                staging = await staging_for(self.settings, self.stores)
                await resume_completions(self.db, self.stores, self.settings, staging, self.events)
            except Exception:  # the database or storage is down: next round
                logger.warning("upload recovery round failed", exc_info=True)
