"""Libraries that notice changes: a local library is scanned when its files change, an
s3:// library is listed again every ``rescan_seconds``; new tracks are then queued for
transcoding as after any scan (streamer.catalogue.scan_tasks).

Local folders are watched with watchfiles (inotify on Linux). Events are grouped for
``watch_debounce_ms`` so a burst (an album copied in, a thousand files) makes a few
scans, not a thousand; each scan costs nothing for the files it already knows
(streamer.catalogue.scan), and a moved file keeps its track. Only audio files count:
what the server writes under ``.streamer/`` and other files do not start scans.

One watcher runs per node (in `serve`'s supervisor). A change waits for a scan that
*starts* after it: if another process's scan is running, that scan may have listed the
folder before the change, so another one follows it. The set of libraries is read again
every ``REFRESH`` seconds, so libraries added through the API are watched too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
from datetime import datetime
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from streamer.catalogue.repository import get_library, list_libraries
from streamer.catalogue.scan_tasks import ScanBusy, ScanTasks, is_running
from streamer.db import Database
from streamer.db.models import utcnow
from streamer.http.content_types import AUDIO_EXTENSIONS
from streamer.settings import Settings
from streamer.storage.base import DERIVED_PREFIX
from streamer.storage.factory import open_store
from streamer.storage.local import LocalStore

__all__ = ["AudioFilter", "LibraryWatcher"]

logger = logging.getLogger("streamer.catalogue")

REFRESH = 30.0  # seconds between readings of the set of libraries
_BUSY_POLL = 0.5


class AudioFilter(DefaultFilter):
    """Changes to audio files outside ``.streamer/`` (and watchfiles' usual ignores)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        try:
            relative = Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return False
        derived = DERIVED_PREFIX.rstrip("/")
        if relative == derived or relative.startswith(DERIVED_PREFIX):
            return False  # what the server writes: renditions, covers, kept transcodes
        extension = posixpath.splitext(relative)[1][1:].lower()
        # A folder moved or deleted whole is one event for the folder: it counts too.
        return extension in AUDIO_EXTENSIONS or extension == ""


class LibraryWatcher:
    def __init__(self, db: Database, scans: ScanTasks, settings: Settings) -> None:
        self.db = db
        self.scans = scans
        self.settings = settings
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_loop(), name="library-watcher")

    async def close(self) -> None:
        self._stop.set()
        tasks = [t for t in [self._task, *self._watches.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.scans.close()

    async def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self._refresh()
            except Exception:  # the database is down: try again later
                logger.warning("could not read the libraries to watch", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), REFRESH)

    async def _refresh(self) -> None:
        libraries = {lib.id: lib.root for lib in await list_libraries(self.db)}
        for library_id in set(self._watches) - set(libraries):
            self._watches.pop(library_id).cancel()
        for library_id, root in libraries.items():
            if library_id in self._watches:
                continue
            store = open_store(root, self.settings)
            if isinstance(store, LocalStore):
                task = asyncio.create_task(self._watch(library_id, Path(store.url)))
            elif self.settings.rescan_seconds > 0:
                task = asyncio.create_task(self._poll(library_id))
            else:
                continue
            self._watches[library_id] = task

    async def _watch(self, library_id: str, root: Path) -> None:
        if not await asyncio.to_thread(root.is_dir):
            logger.warning("library %s is not a folder here; not watched", root)
            return
        logger.info("watching %s for changes", root)
        async for changes in awatch(
            root,
            watch_filter=AudioFilter(root),
            debounce=self.settings.watch_debounce_ms,
            step=min(200, self.settings.watch_debounce_ms),
            stop_event=self._stop,
        ):
            logger.info("%d changes in %s", len(changes), root)
            await self.rescan(library_id, utcnow())

    async def _poll(self, library_id: str) -> None:
        while True:
            await asyncio.sleep(self.settings.rescan_seconds)
            await self.rescan(library_id, utcnow())

    async def rescan(self, library_id: str, since: datetime) -> None:
        """Return once a scan of the library that started at or after ``since`` ended
        (ours, or another process's)."""
        while True:
            library = await get_library(self.db, library_id)
            if library is None:
                return
            last = library.last_scan or {}
            started = last.get("started_at")
            if (
                started is not None
                and last.get("state") == "done"
                and datetime.fromisoformat(str(started)) >= since
            ):
                return  # another process scanned since the change
            if is_running(last):
                await asyncio.sleep(_BUSY_POLL)
                continue
            try:
                await self.scans.start(library)
            except ScanBusy:
                await asyncio.sleep(_BUSY_POLL)
                continue
            except Exception:
                logger.warning("could not start a scan of %s", library.root, exc_info=True)
                return
            task = self.scans.running(library_id)
            if task is not None:
                await asyncio.shield(task)
            return
