"""Scans started through the API: one at a time per library, run in the background of
the worker process that took the request, with their state in the library row so every
worker and node can report it.

While a scan runs, ``Library.last_scan`` holds ``{"state": "running", "started_at",
"done", "total", "heartbeat_at"}``, rewritten at most once a second; when it ends it
holds the scan's summary with ``"state": "done"`` (or ``"failed"`` and the reason). A
"running" state whose heartbeat is older than ``STALE`` is a scan whose process died,
and another may start. Each of those writes is also a live ``scan`` event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from streamer.catalogue.scan import ScanProgress, scan_library
from streamer.catalogue.scan_events import scan_done_event, scan_progress_event
from streamer.db import Database, Library
from streamer.db.models import utcnow
from streamer.events.publish import EventPublisher, Outgoing, scan_event
from streamer.jobs.queue import RunnerConfig, queue_transcodes
from streamer.settings import Settings
from streamer.storage.registry import StoreRegistry

__all__ = ["STALE", "ScanBusy", "ScanTasks", "is_running"]

logger = logging.getLogger("streamer.catalogue")

STALE = timedelta(seconds=30)
_WRITE_EVERY = 1.0


class ScanBusy(Exception):
    pass


def is_running(last_scan: dict[str, Any] | None, now: datetime | None = None) -> bool:
    if not last_scan or last_scan.get("state") != "running":
        return False
    beat = datetime.fromisoformat(str(last_scan.get("heartbeat_at")))
    return (now or utcnow()) - beat < STALE


class ScanTasks:
    """The scans this process runs; ``close`` cancels them (their state says failed)."""

    def __init__(
        self,
        db: Database,
        stores: StoreRegistry,
        settings: Settings,
        *,
        events: EventPublisher | None = None,
    ) -> None:
        self.db = db
        self.stores = stores
        self.settings = settings
        self.events = events
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_library: dict[str, asyncio.Task[None]] = {}

    async def start(self, library: Library) -> dict[str, Any]:
        """Start scanning ``library``; ScanBusy if a scan of it runs anywhere."""
        now = utcnow()
        state = {
            "state": "running",
            "started_at": now.isoformat(),
            "heartbeat_at": now.isoformat(),
            "done": 0,
            "total": None,
        }
        # Claim the library with a conditional update, so two requests (or nodes) racing
        # cannot both start: the loser sees the winner's fresh heartbeat.
        async with self.db.session() as session, session.begin():
            current = await session.get(Library, library.id, with_for_update=True)
            if current is None:
                raise LookupError(library.id)
            if is_running(current.last_scan, now):
                raise ScanBusy("a scan of this library is running")
            current.last_scan = state
        await self._publish(scan_event(library.id, "running"))
        task = asyncio.create_task(self._run(library, state))
        self._tasks.add(task)
        self._by_library[library.id] = task
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._forget(library.id, task))
        return state

    def running(self, library_id: str) -> asyncio.Task[None] | None:
        """This process's scan of the library while it runs."""
        return self._by_library.get(library_id)

    def _forget(self, library_id: str, task: asyncio.Task[None]) -> None:
        if self._by_library.get(library_id) is task:
            del self._by_library[library_id]

    async def _run(self, library: Library, state: dict[str, Any]) -> None:
        last_write = 0.0
        pending: list[asyncio.Task[None]] = []

        def progress(p: ScanProgress) -> None:
            nonlocal last_write
            state.update(done=p.done, total=p.total)
            if time.monotonic() - last_write >= _WRITE_EVERY:
                last_write = time.monotonic()
                event = scan_progress_event(library.id, p)
                pending.append(asyncio.create_task(self._beat(library.id, dict(state), event)))

        try:
            store = await self.stores.get(library.root)
            report = await scan_library(
                self.db,
                store,
                library,
                concurrency=self.settings.scan_concurrency,
                progress=progress,
                events=self.events,
                record_summary=False,  # "running" until the summary below, queueing included
            )
            await asyncio.gather(*pending, return_exceptions=True)
            if self.settings.transcode_on_start:
                jobs = await queue_transcodes(
                    self.db,
                    RunnerConfig.from_settings(self.settings),
                    roots=[library.root],
                    events=self.events,
                )
                logger.info("queued transcodes after a scan", extra={"jobs": len(jobs)})
            # Last: "done" means catalogued and queued.
            summary = {**report.as_dict(), "state": "done", "started_at": state["started_at"]}
            await self._save(library.id, summary)
            await self._publish(scan_done_event(library.id, report))
        except asyncio.CancelledError:
            stopped = {**state, "state": "failed", "error": "the server stopped"}
            await asyncio.shield(self._save(library.id, stopped))
            await asyncio.shield(self._publish(self._failed(library.id, state, stopped["error"])))
            raise
        except Exception as exc:  # the API reports it; the log keeps the traceback
            logger.exception("scan of %s failed", library.root)
            await self._save(library.id, {**state, "state": "failed", "error": str(exc)})
            await self._publish(self._failed(library.id, state, str(exc)))

    @staticmethod
    def _failed(library_id: str, state: dict[str, Any], error: str) -> Outgoing:
        return scan_event(
            library_id, "failed", processed=state["done"], total=state["total"], error=error
        )

    async def _publish(self, event: Outgoing) -> None:
        if self.events is not None:
            await self.events.publish(event)

    async def _beat(self, library_id: str, state: dict[str, Any], event: Outgoing) -> None:
        state["heartbeat_at"] = utcnow().isoformat()
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(Library).where(Library.id == library_id).values(last_scan=state)
            )
        await self._publish(event)

    async def _save(self, library_id: str, summary: dict[str, Any]) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(Library)
                .where(Library.id == library_id)
                .values(last_scan=summary, last_scan_at=utcnow())
            )

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
