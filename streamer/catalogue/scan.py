"""The incremental library scan: list a store, probe what changed, store tracks.

A scan lists every object once and compares it with the rows it already has, loaded in one
query. An object whose size, mtime and version are unchanged costs no I/O at all. Otherwise
its content hash decides: the same bytes (a touched file) only refresh the row's stat, other
bytes are probed again. Objects no longer listed become status "gone"; their rows (and ids,
hence URLs) stay, and come back if the file does. A new key holding the bytes of a track
whose own key no longer exists is that track moved: its row takes the new key and keeps
its id, edits, playlist places and renditions.

Files with an audio extension that cannot be probed are stored with status "error" and the
reason; other files are skipped. One bad file never stops a scan; only a store that cannot
be listed raises CatalogueError. Hashing and probing run in a pool of ``concurrency``
threads owned by the scan (so they never starve the loop's default executor, which local
stores use), and rows are written in batches. A local library with many files to read
sends them in batches to worker processes instead (``probe_workers``): probing is
CPU-bound, and threads share one core.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO, Literal, NamedTuple, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from streamer.catalogue.probe_workers import (
    Examined,
    ProbeWorkers,
    examine_batch,
    examine_local,
    hash_file,
)
from streamer.catalogue.remote_file import RangeFile
from streamer.db.engine import Database
from streamer.db.models import Library, Track, library_id_for, track_id_for, utcnow
from streamer.errors import CatalogueError
from streamer.events.publish import EventPublisher, Outgoing, track_event
from streamer.http.content_types import AUDIO_EXTENSIONS, content_type_for
from streamer.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    derived_key,
)
from streamer.storage.local import LocalStore
from transcoder.probe import Cover, ProbeError, ProbeResult, probe

__all__ = [
    "ScanProgress",
    "ScanReport",
    "ensure_library",
    "hash_file",
    "scan_library",
    "scan_objects",
]

logger = logging.getLogger("streamer.catalogue")

MAX_ERRORS = 100  # (key, reason) pairs kept in a report
# Files a worker process examines per call: enough that a call's cost (two pickles and a
# pipe round trip, about 0.3 ms) is small beside the probes (about 1 ms a file).
_BATCH = 32
# Files to read before worker processes are worth starting (0.5 s of CPU each): a
# rescan that finds a few changed files reads them in threads.
_PROCESS_THRESHOLD = 256
_INT_MAX = 2**31 - 1  # tag numbers beyond a 32-bit column are nonsense anyway
# Fields a probe fills; an error row clears them.
_MEDIA_FIELDS = (
    "duration",
    "codec",
    "bitrate",
    "sample_rate",
    "channels",
    "bits_per_sample",
    "title",
    "artist",
    "album",
    "album_artist",
    "genre",
    "year",
    "track_number",
    "disc_number",
    "cover_mime",
    "cover_size",
    "cover_key",
)
_TRACKS = cast(Table, Track.__table__)
_COVER_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif"}


@dataclass
class ScanProgress:
    """Where a scan is: ``total`` stays None until the listing has finished; the counts
    are the report's so far."""

    done: int
    total: int | None
    current: str | None
    added: int = 0
    changed: int = 0
    failed: int = 0


@dataclass
class ScanReport:
    """What one scan did. Every audio file listed counts in exactly one of added, changed,
    unchanged, moved and failed; ``total`` is their sum. ``failed`` counts files that could not be
    probed (stored with status "error") or read; a file whose earlier failure is unchanged
    counts as unchanged. ``skipped`` counts files without an audio extension.
    """

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    moved: int = 0
    gone: int = 0
    failed: int = 0
    skipped: int = 0
    total: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``Library.last_scan``)."""
        summary = asdict(self)
        summary["errors"] = [list(pair) for pair in self.errors]
        summary["seconds"] = round(self.seconds, 3)
        return summary

    def _fail(self, key: str, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append((key, reason))


class _Known(NamedTuple):
    """What the database holds about one key."""

    id: str  # the key's own id, or the id of the track that moved there
    size: int
    mtime: float
    version: str
    content_hash: str | None
    status: str
    # Fields edited through the API: they win over the file's tags (see _examine).
    overrides: dict[str, Any]


async def ensure_library(db: Database, root: str, name: str | None = None) -> Library:
    """The library rooted at ``root`` (a path or store URL), created if missing.

    Its id is derived from ``root``, so re-adding the same root finds the same tracks.
    A ``name`` given for an existing library renames it.
    """
    library_id = library_id_for(root)
    wanted = name or _default_name(root)
    async with db.session() as session:
        library = await session.get(Library, library_id)
        if library is None:
            library = Library(id=library_id, name=wanted, root=root)
            session.add(library)
            try:
                await session.commit()
            except IntegrityError:  # created meanwhile by another process
                await session.rollback()
                found = await session.get(Library, library_id)
                if found is None:
                    raise
                library = found
        elif name and library.name != name:
            library.name = name
            await session.commit()
        return library


def _default_name(root: str) -> str:
    stripped = root.rstrip("/\\")
    return (posixpath.basename(stripped.replace("\\", "/")) or stripped or root)[:200]


async def scan_library(
    db: Database,
    store: ObjectStore,
    library: Library,
    *,
    concurrency: int = 8,
    progress: Callable[[ScanProgress], None] | None = None,
    force: bool = False,
    batch_size: int = 200,
    events: EventPublisher | None = None,
    record_summary: bool = True,
) -> ScanReport:
    """Bring the tracks of ``library`` in line with what ``store`` holds; see the module doc.

    ``force`` probes every file again, even unchanged ones (after a probe upgrade).
    ``events`` publishes a track event per track added, changed or gone, as its row is
    written. ``record_summary`` False leaves ``Library.last_scan`` to the caller (the API's
    scans keep their "running" claim there until transcodes are queued too).
    Raises CatalogueError if the store cannot be reached or listed; tracks are then left
    as they were (nothing is marked gone on a partial listing).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    scan = _Scan(db, store, library, concurrency, progress, force, batch_size, events)
    scan.record_summary = record_summary
    return await scan.run()


async def scan_objects(
    db: Database,
    store: ObjectStore,
    library: Library,
    infos: list[ObjectInfo],
    *,
    events: EventPublisher | None = None,
) -> ScanReport:
    """Catalogue just these objects of ``library`` (a file an upload has stored), exactly
    as a scan would (same hash, probe, cover and row), touching nothing else: no listing,
    nothing marked gone, the library's last-scan summary left alone."""
    scan = _Scan(db, store, library, 1, None, False, len(infos) or 1, events)
    scan.detect_moves = False  # an upload is a new track, whatever it holds
    started = time.monotonic()
    scan.known = await scan._load_known([info.key for info in infos])
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan")
    try:
        for info in infos:
            scan.report.total += 1
            await scan._examine(info, executor)
    finally:
        executor.shutdown(wait=False)
    await scan._flush()
    scan.report.seconds = time.monotonic() - started
    return scan.report


class _Scan:
    """The state of one scan; see :func:`scan_library`."""

    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        library: Library,
        concurrency: int,
        progress: Callable[[ScanProgress], None] | None,
        force: bool,
        batch_size: int,
        events: EventPublisher | None = None,
    ) -> None:
        self.db = db
        self.events = events
        self.store = store
        self.library = library
        self.concurrency = concurrency
        self.progress = progress
        self.force = force
        self.batch_size = batch_size
        self.report = ScanReport()
        self.covers_stored: set[str] = set()  # an album's tracks share one cover object
        self.covers_writing: dict[str, asyncio.Future[bool]] = {}
        self.known: dict[str, _Known] = {}
        self.seen: set[str] = set()
        self.done = 0
        self.total: int | None = None
        self.inserts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.write_lock = asyncio.Lock()
        self.loop = asyncio.get_running_loop()
        self.record_summary = True
        # Moves: known keys by content hash (built when first needed), and old keys
        # already taken by a moved file.
        self.detect_moves = True
        self.by_hash: dict[str, list[str]] | None = None
        self.claimed: set[str] = set()
        # Local libraries are examined in batches, by worker processes once there are
        # enough files to read (see _examine_batch); others one file a task, in threads.
        self.workers: ProbeWorkers | None = None
        self.batch = 1
        self.lanes = concurrency
        self.queued = 0  # files sent to be examined so far
        self.writing: asyncio.Task[None] | None = None  # the batched path's flush
        self.recording: set[asyncio.Task[None]] = set()  # batches being recorded
        self.recording_failed: BaseException | None = None

    async def run(self) -> ScanReport:
        started = time.monotonic()
        try:
            await self.store.check()
        except StorageError as exc:
            raise CatalogueError(f"cannot scan {self.store.url}: {exc}") from exc
        self.known = await self._load_known()
        processes = min(self.concurrency, _usable_cpus())
        # Exactly LocalStore: the workers get the store pickled, and call its local_path.
        if type(self.store) is LocalStore and processes > 1:
            self.workers = ProbeWorkers(processes)
            self.batch = _BATCH
            # Several batches in flight a worker, so that each has the next one queued
            # while the loop is busy building and writing rows.
            self.lanes = 4 * processes
        queue: asyncio.Queue[ObjectInfo | None] = asyncio.Queue(maxsize=self.lanes * self.batch * 2)
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.lanes, thread_name_prefix="scan"
        )
        worker = self._worker if self.workers is None else self._batch_worker
        tasks = [asyncio.ensure_future(self._list(queue))]
        tasks += [asyncio.ensure_future(worker(queue, executor)) for _ in range(self.lanes)]
        try:
            # The listing ends by sending each worker a None; any failure ends the wait.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                failure = task.exception()
                if isinstance(failure, StorageError):
                    raise CatalogueError(f"cannot list {self.store.url}: {failure}") from failure
                if failure is not None:
                    raise failure
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # A thread still probing when the scan was cancelled finishes on its own.
            executor.shutdown(wait=False)
            if self.workers is not None:
                await self.workers.close()
            # Batches being recorded and a write under way end before the scan does.
            await asyncio.gather(*self.recording, return_exceptions=True)
            if self.writing is not None:
                await asyncio.gather(self.writing, return_exceptions=True)
        if self.recording_failed is not None:
            raise self.recording_failed
        if self.writing is not None:
            await self.writing  # raises what the last background flush raised
        await self._flush()
        await self._mark_gone()
        self.report.seconds = time.monotonic() - started
        if self.record_summary:
            await self._save_report()
        return self.report

    async def _load_known(self, keys: list[str] | None = None) -> dict[str, _Known]:
        query = select(
            Track.key,
            Track.id,
            Track.size,
            Track.mtime,
            Track.version,
            Track.content_hash,
            Track.status,
            Track.overrides,
        ).where(Track.library_id == self.library.id)
        if keys is not None:
            query = query.where(Track.key.in_(keys))
        async with self.db.session() as session:
            rows = await session.execute(query)
            return {
                row[0]: _Known(row[1], row[2], row[3], row[4], row[5], row[6], row[7] or {})
                for row in rows
            }

    async def _list(self, queue: asyncio.Queue[ObjectInfo | None]) -> None:
        listed = 0
        async for info in self.store.iter_objects():
            extension = posixpath.splitext(info.key)[1][1:].lower()
            if extension not in AUDIO_EXTENSIONS:
                self.report.skipped += 1
                continue
            listed += 1
            self.seen.add(info.key)
            self.report.total += 1
            if not _storable(info.key):
                self.report._fail(info.key, "file name is not valid UTF-8")
                self._advance(info.key)
                continue
            known = self.known.get(info.key)
            if (
                not self.force
                and known is not None
                and known.status != "gone"
                and (known.size, known.mtime, known.version)
                == (info.size, info.mtime, info.version)
            ):
                self.report.unchanged += 1  # no I/O at all
                self._advance(info.key)
                continue
            self.queued += 1
            await queue.put(info)
        self.total = listed
        self._notify(None)
        for _ in range(self.lanes):
            await queue.put(None)

    async def _worker(
        self,
        queue: asyncio.Queue[ObjectInfo | None],
        executor: concurrent.futures.ThreadPoolExecutor,
    ) -> None:
        while (info := await queue.get()) is not None:
            await self._examine(info, executor)
            self._advance(info.key)
            if len(self.inserts) + len(self.updates) >= self.batch_size:
                await self._flush()

    async def _batch_worker(
        self,
        queue: asyncio.Queue[ObjectInfo | None],
        executor: concurrent.futures.ThreadPoolExecutor,
    ) -> None:
        last = False
        while not last:
            batch: list[ObjectInfo] = []
            while len(batch) < self.batch:
                if (info := await queue.get()) is None:
                    last = True
                    break
                batch.append(info)
            if len(self.recording) >= self.lanes:  # bounded: results hold covers' bytes
                await asyncio.wait(set(self.recording), return_when=asyncio.FIRST_COMPLETED)
            if batch:
                await self._examine_batch(batch, executor)
            await self._write_behind()
            if self.recording_failed is not None:
                raise self.recording_failed

    async def _write_behind(self) -> None:
        """Flush in a task of its own, so that the workers stay busy while rows are
        written (lanes waiting on the write left their workers idle; with the Core insert
        below, 10,000 files went from 14.0 to 12.2 s); wait for it only when rows pile
        up faster than they are written."""
        pending = len(self.inserts) + len(self.updates)
        if self.writing is not None and self.writing.done():
            writing, self.writing = self.writing, None
            await writing  # raises what the flush raised
        if pending >= self.batch_size and self.writing is None:
            self.writing = asyncio.ensure_future(self._flush())
        elif pending >= 4 * self.batch_size and self.writing is not None:
            await asyncio.shield(self.writing)

    async def _examine_batch(
        self, batch: list[ObjectInfo], executor: concurrent.futures.ThreadPoolExecutor
    ) -> None:
        """Hash, and where the bytes changed probe, a batch of local objects; queue rows."""
        knowns = [self.known.get(info.key) for info in batch]
        items = [
            (info.key, self._prior_hash(known)) for info, known in zip(batch, knowns, strict=True)
        ]
        results: list[Examined]
        if self.workers is not None and (self.workers.started or self.queued >= _PROCESS_THRESHOLD):
            results = await self.workers.examine(self.store, items)
        else:
            results = await self.loop.run_in_executor(executor, examine_batch, self.store, items)
        # Recorded in a task of its own: a new cover is written (two fsyncs on a local
        # store) before its tracks' rows, and the lane meanwhile sends the next batch,
        # so that no worker waits on a disk (lanes waiting on covers left them idle).
        task = asyncio.ensure_future(self._record_batch(batch, knowns, results))
        self.recording.add(task)
        task.add_done_callback(self._recorded)

    def _recorded(self, task: asyncio.Task[None]) -> None:
        self.recording.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.recording_failed = self.recording_failed or task.exception()

    async def _record_batch(
        self, batch: list[ObjectInfo], knowns: list[_Known | None], results: list[Examined]
    ) -> None:
        # The batch's new covers are written at once, not one track at a time.
        covers = {
            result.cover_digest: (result.outcome.cover, info.key)
            for info, result in zip(batch, results, strict=True)
            if isinstance(result.outcome, ProbeResult) and result.outcome.cover is not None
        }
        await asyncio.gather(*(self._store_cover(c, k, d) for d, (c, k) in covers.items()))
        for info, known, result in zip(batch, knowns, results, strict=True):
            if result.failure is None:
                assert result.content_hash is not None
                await self._record(
                    info, known, result.content_hash, result.outcome, result.cover_digest
                )
            elif result.failure[0] == "vanished":
                self.report._fail(info.key, "vanished during the scan")
            else:
                self.report._fail(info.key, f"unreadable: {result.failure[1]}")
            self._advance(info.key)

    def _prior_hash(self, known: _Known | None) -> str | None:
        """The hash a file's bytes are compared with: None when it must be probed anyway."""
        reuse = known is not None and known.status != "gone" and not self.force
        return known.content_hash if known is not None and reuse else None

    async def _examine(
        self, info: ObjectInfo, executor: concurrent.futures.ThreadPoolExecutor
    ) -> None:
        """Hash, and if the bytes changed probe, one object; queue its row."""
        known = self.known.get(info.key)
        try:
            content_hash, outcome = await self.loop.run_in_executor(
                executor, self._examine_sync, info, self._prior_hash(known)
            )
        except ObjectNotFound:
            # Deleted or replaced by a non-file since the listing: the next scan settles it.
            # (examine_batch reports the same two ways, for the batched path.)
            self.report._fail(info.key, "vanished during the scan")
            return
        except (StorageError, OSError) as exc:  # OSError includes SourceReadError
            # Unreadable now, perhaps fine later: keep whatever row there is.
            self.report._fail(info.key, f"unreadable: {exc}")
            return
        await self._record(info, known, content_hash, outcome)

    async def _record(
        self,
        info: ObjectInfo,
        known: _Known | None,
        content_hash: str,
        outcome: ProbeResult | ProbeError | None,
        cover_digest: str | None = None,
    ) -> None:
        """Queue the row of an examined object (moved here, new, changed or the same)."""
        stat = {"size": info.size, "mtime": info.mtime, "version": info.version}
        moved = None
        if known is None and self.detect_moves and outcome is not None:
            moved = await self._moved_here(info.key, content_hash)
        if moved is not None:
            known = moved
        track_id = known.id if known is not None else track_id_for(self.library.id, info.key)
        now = utcnow()
        if outcome is None:
            # Same bytes (a touched or copied-over file): only the stat moves.
            self.report.unchanged += 1
            self.updates.append({"id": track_id, **stat, "scanned_at": now})
            return
        row: dict[str, Any] = {
            "id": track_id,
            **stat,
            "content_hash": content_hash,
            "content_type": content_type_for(info.key),
            "scanned_at": now,
            "updated_at": now,
        }
        if isinstance(outcome, ProbeError):
            self.report._fail(info.key, outcome.reason)
            row.update(_error_fields(outcome.reason))
        else:
            row.update(_ok_fields(outcome))
            if known is not None:
                # An edit made through the API outlives new tags in the file: the user
                # said what the field is, and the file's tags are still in ``tags``.
                row.update(known.overrides)
            if outcome.cover is not None:
                row["cover_key"] = await self._store_cover(outcome.cover, info.key, cover_digest)
            if moved is not None:
                self.report.moved += 1
            elif known is None or known.status == "gone":
                self.report.added += 1
            else:
                self.report.changed += 1
        if moved is not None:
            row.update(key=info.key, status=row.get("status", "ok"))
            self.updates.append(row)
        elif known is None:
            row.update(library_id=self.library.id, key=info.key, created_at=now)
            self.inserts.append(row)
        else:
            self.updates.append(row)

    async def _moved_here(self, key: str, content_hash: str) -> _Known | None:
        """The track whose bytes ``key`` holds and whose own key no longer exists (it was
        moved or renamed here), now known under ``key``; None for a new file. A track
        whose key still exists is copied, not moved: the copy is a new track."""
        if self.by_hash is None:
            self.by_hash = {}
            for old, known in self.known.items():
                if known.content_hash is not None:
                    self.by_hash.setdefault(known.content_hash, []).append(old)
        for old in list(self.by_hash.get(content_hash, ())):
            if old in self.claimed or old not in self.known:
                continue
            try:
                await self.store.stat(old)
                continue  # still there
            except ObjectNotFound:
                pass
            except StorageError:
                return None  # cannot tell: a new track is the safe answer
            if old in self.claimed:  # another worker took it meanwhile
                continue
            self.claimed.add(old)
            known = self.known.pop(old)
            self.known[key] = known
            self.seen.discard(old)
            return known
        return None

    async def _store_cover(self, cover: Cover, key: str, digest: str | None = None) -> str | None:
        """Keep the embedded cover as a derived object named by its content (``digest``,
        its SHA-256, when known); None (no cover served) if the store will not take it:
        the track itself is fine."""
        digest = digest or hashlib.sha256(cover.data).hexdigest()
        extension = _COVER_EXTENSIONS.get(cover.mime, "img")
        cover_key = derived_key("covers", digest[:2], f"{digest}.{extension}")
        if cover_key in self.covers_stored:
            return cover_key
        # One write per cover even when several tracks of an album reach here at once (a
        # local write is two fsyncs); the write finishes even if this caller is cancelled.
        writing = self.covers_writing.get(cover_key)
        if writing is None:
            writing = asyncio.ensure_future(self._put_cover(cover_key, cover, key))
            self.covers_writing[cover_key] = writing
        return cover_key if await asyncio.shield(writing) else None

    async def _put_cover(self, cover_key: str, cover: Cover, key: str) -> bool:
        try:
            await self.store.put_bytes(cover_key, cover.data, content_type=cover.mime)
        except StorageError as exc:
            logger.warning("could not store the cover of %s: %s", key, exc)
            return False  # the next track with this cover tries again
        else:
            self.covers_stored.add(cover_key)
            return True
        finally:
            del self.covers_writing[cover_key]

    # -- blocking work, in the scan's threads ----------------------------------------------

    def _examine_sync(
        self, info: ObjectInfo, prior_hash: str | None
    ) -> tuple[str, ProbeResult | ProbeError | None]:
        """(content hash, probe outcome or None when the bytes are those already known)."""
        path = self.store.local_path(info.key)  # resolves symlinks: I/O for local stores
        if path is None:
            content_hash = _remote_hash(info)
            if content_hash == prior_hash:
                return content_hash, None
            with RangeFile(self.store, info.key, info.size, self.loop) as remote:
                return content_hash, _probe(cast(BinaryIO, remote), info.key, info.size)
        return examine_local(path, info.key, prior_hash)

    # -- writing -------------------------------------------------------------------------

    async def _flush(self) -> None:
        async with self.write_lock:
            inserts, self.inserts = self.inserts, []
            updates, self.updates = self.updates, []
            if not inserts and not updates:
                return
            async with self.db.session() as session, session.begin():
                if inserts:
                    # Core's executemany, not the ORM's bulk insert of the same rows (no
                    # ORM events apply to tracks): the ORM's per-row bookkeeping was 5 % of
                    # a scanning process's CPU.
                    await session.execute(insert(_TRACKS), inserts)
                # Bulk UPDATE by primary key, grouped by the set of columns each row sets.
                groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                for row in updates:
                    groups.setdefault(tuple(sorted(row)), []).append(row)
                for rows in groups.values():
                    await session.execute(update(Track), rows)
            if self.events is not None:
                # Rows that only refreshed their stat (the same bytes) changed nothing
                # anyone sees: no event.
                await self.events.publish_many(
                    [self._track_event(row["id"], "created") for row in inserts]
                    + [
                        self._track_event(row["id"], "updated")
                        for row in updates
                        if "content_hash" in row
                    ]
                )

    async def _mark_gone(self) -> None:
        vanished = [
            key
            for key, known in self.known.items()
            if key not in self.seen and known.status != "gone"
        ]
        self.report.gone = len(vanished)
        if not vanished:
            return
        now = utcnow()
        rows = [{"id": self.known[key].id, "status": "gone", "scanned_at": now} for key in vanished]
        async with self.db.session() as session, session.begin():
            for start in range(0, len(rows), 1000):
                await session.execute(update(Track), rows[start : start + 1000])
        if self.events is not None:
            await self.events.publish_many(
                [self._track_event(str(r["id"]), "updated") for r in rows]
            )

    def _track_event(self, track_id: str, action: Literal["created", "updated"]) -> Outgoing:
        return track_event(track_id, self.library.id, action)

    async def _save_report(self) -> None:
        now = utcnow()
        summary = self.report.as_dict()
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(Library)
                .where(Library.id == self.library.id)
                .values(last_scan_at=now, last_scan=summary)
            )
        self.library.last_scan_at = now
        self.library.last_scan = summary

    # -- progress ------------------------------------------------------------------------

    def _advance(self, key: str) -> None:
        self.done += 1
        self._notify(key)

    def _notify(self, key: str | None) -> None:
        if self.progress is None:
            return
        try:
            report = self.report
            self.progress(
                ScanProgress(
                    done=self.done,
                    total=self.total,
                    current=key,
                    added=report.added,
                    changed=report.changed,
                    failed=report.failed,
                )
            )
        except Exception:  # a broken progress display must not stop the scan
            logger.exception("scan progress callback failed")


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0))


def _probe(fileobj: BinaryIO, key: str, size: int) -> ProbeResult | ProbeError:
    try:
        return probe(fileobj, key, size)
    except ProbeError as exc:
        return exc


def _remote_hash(info: ObjectInfo) -> str:
    # The ETag identifies the bytes without downloading them (for multipart uploads it is
    # a hash of part hashes: still an identity, just not an MD5 of the content).
    return f"s3:{info.version}"[:64]


def _storable(key: str) -> bool:
    """False for keys with undecodable bytes (surrogates), which no database column takes."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _small_int(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= _INT_MAX else None


def _ok_fields(result: ProbeResult) -> dict[str, Any]:
    cover = result.cover
    return {
        "status": "ok",
        "error": None,
        "duration": result.duration,
        "codec": result.codec[:32],
        "bitrate": _small_int(result.bitrate),
        "sample_rate": _small_int(result.sample_rate),
        "channels": _small_int(result.channels),
        "bits_per_sample": _small_int(result.bits_per_sample),
        "title": result.title,
        "artist": result.artist,
        "album": result.album,
        "album_artist": result.album_artist,
        "genre": result.genre,
        "year": _small_int(result.year),
        "track_number": _small_int(result.track_number),
        "disc_number": _small_int(result.disc_number),
        "tags": result.tags,
        "cover_mime": cover.mime[:64] if cover else None,
        "cover_size": len(cover.data) if cover else None,
        "cover_key": None,  # set once the cover is stored
    }


def _error_fields(reason: str) -> dict[str, Any]:
    fields: dict[str, Any] = dict.fromkeys(_MEDIA_FIELDS)
    fields.update(status="error", error=reason, tags={})
    return fields
