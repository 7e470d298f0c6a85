"""Delivery events handed from the serving workers to the supervisor through files.

    worker, capture's thread (streamer.analytics.capture.Writer)
      -> rows of one flush, pickled, written to ``.NAME.tmp`` and renamed to ``NAME.rows``
         (a reader never sees half a file); the spool past its bound: SpoolFull
    supervisor (``streamer serve``), a thread of its own (:class:`Ingester`)
      -> every complete file, oldest first, in transactions of up to INGEST_ROWS rows:
         the rows and the files' names inserted together, then the files deleted

Why: inserting a row costs SQLite 5-9 us (its index included), on a serving worker's GIL
beside the requests; a worker that only pickles and writes a file pays about 0.5 us an
event, and the insert runs in another process (docs/performance.md has the figures).

Exactly once: a file's name goes into ``analytics_spool_files`` in the transaction that
inserts its rows, so a file found again after a crash between that commit and its
deletion is only deleted. A file that cannot be read is renamed ``*.rejected`` and logged,
never retried for ever. Files hold raw client addresses until they are inserted, like the
rows for their first 24 hours; they are not fsynced (an access log is not either): a
crash of the machine can lose the last second's events, a crash of a process none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text

from streamer.analytics import repository
from streamer.analytics.rows import Row, day_of
from streamer.background import stop_task
from streamer.db.engine import sync_url

__all__ = [
    "INGEST_ROWS",
    "Ingester",
    "SpoolFull",
    "SpoolIngest",
    "SpoolWriter",
    "read_rows",
    "ready_files",
]

logger = logging.getLogger("streamer.analytics")

MAGIC = b"streamer-spool 1\n"
SUFFIX = ".rows"
INGEST_ROWS = 50_000  # rows per transaction at most (several files' worth)
FAILURE_LOG_SECONDS = 60.0
# A name is needed only until its file is deleted, seconds later.
NAMES_KEPT = timedelta(days=2)
# A node's backlog holds the rollups back only while its ingester reports (with every
# batch it inserts): a node that is down no longer does after this.
BACKLOG_FRESH = timedelta(minutes=10)


_REPORT = text(
    "INSERT INTO analytics_spool_backlog (node, oldest_at, reported_at)"
    " VALUES (:node, :oldest, :now) ON CONFLICT (node)"
    " DO UPDATE SET oldest_at = excluded.oldest_at, reported_at = excluded.reported_at"
)
_PRUNE_NAMES = text("DELETE FROM analytics_spool_files WHERE ingested_at < :before")
_RECORD_NAME = text("INSERT INTO analytics_spool_files (name, ingested_at) VALUES (:name, :at)")
_DONE_NAMES = text("SELECT name FROM analytics_spool_files WHERE name IN :names").bindparams(
    bindparam("names", expanding=True)
)


class SpoolFull(Exception):
    """The spool holds its bound: the supervisor is not inserting (the database is down,
    or ``streamer serve`` is not the one running the workers)."""


class SpoolWriter:
    """The worker's side: one file per batch. Blocking; call from one thread."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)

    def append(self, rows: Sequence[Row]) -> Path | None:
        """Write ``rows`` as one file (None when there are none); SpoolFull past the bound."""
        if not rows:
            return None
        used = spool_bytes(self.directory)
        if used >= self.max_bytes:
            raise SpoolFull(f"{self.directory} holds {used} bytes (bound {self.max_bytes})")
        # The oldest event's time first (names sort oldest first, and the ingester reports
        # it to the rollups before it reads the file); then unique across workers and nodes.
        oldest = min(row[0] for row in rows)
        name = f"{int(oldest * 1e6):016d}-{uuid.uuid4().hex}{SUFFIX}"
        partial = self.directory / f".{name}.tmp"
        with open(partial, "wb") as file:
            file.write(MAGIC)
            pickle.dump(list(rows), file, protocol=5)
        final = self.directory / name
        os.replace(partial, final)
        return final


def spool_bytes(directory: Path) -> int:
    """The bytes of complete files waiting in ``directory``."""
    total = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.endswith(SUFFIX):
                with contextlib.suppress(FileNotFoundError):  # inserted meanwhile
                    total += entry.stat().st_size
    return total


def ready_files(directory: Path) -> list[Path]:
    """Complete spool files, oldest first."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    except FileNotFoundError:
        return []
    return [directory / n for n in names]


def oldest_event(path: Path) -> datetime:
    """The time of the oldest event in a spool file, from its name."""
    return datetime.fromtimestamp(int(path.name.split("-", 1)[0]) / 1e6, UTC)


def read_rows(path: Path) -> list[Row]:
    """A spool file's rows; ValueError when it is not one (or is damaged)."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path.name} is not a spool file")
    try:
        rows = pickle.loads(data[len(MAGIC) :])
    except Exception as exc:  # truncated or damaged: pickle raises several kinds
        raise ValueError(f"{path.name} is damaged: {exc!r}") from exc
    if not isinstance(rows, list):
        raise ValueError(f"{path.name} holds no list of rows")
    return rows


class Ingester:
    """The supervisor's side: spool files into ``delivery_events``, and this node's
    backlog into ``analytics_spool_backlog``. Blocking; call from one thread."""

    def __init__(
        self, url: str, directory: Path, node: str, *, batch_rows: int = INGEST_ROWS
    ) -> None:
        self.url = sync_url(url)
        self.directory = directory
        self.node = node
        self.batch_rows = batch_rows
        self._engine: Engine | None = None
        self._partitions: set[Any] = set()
        self._pruned = 0.0
        self._reported: datetime | bool | None = False  # False: nothing reported yet

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = repository.writer_engine(self.url)
        return self._engine

    def run_once(self) -> int:
        """Insert every complete file now in the spool; returns how many rows went in.
        Raises on a database error (the files of the failed transaction stay)."""
        files = ready_files(self.directory)
        if files:
            # Before reading anything: the rollups wait for these from now on.
            with self.engine.begin() as conn:
                self._report(conn, oldest_event(files[0]))
        elif self._reported is not None:
            with self.engine.begin() as conn:
                self._report(conn, None)
        inserted = 0
        group: list[tuple[Path, list[Row]]] = []
        size = 0
        for index, path in enumerate(files):
            try:
                rows = read_rows(path)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                self._reject(path, exc)
                continue
            group.append((path, rows))
            size += len(rows)
            if size >= self.batch_rows or index == len(files) - 1:
                inserted += self._commit(group)
                group, size = [], 0
        if group:  # the last files could not be read
            inserted += self._commit(group)
        return inserted

    def _commit(self, group: list[tuple[Path, list[Row]]]) -> int:
        names = [path.name for path, _ in group]
        # What waits after this batch, files written since the round began included (a
        # round can be long when the spool has grown on a busy machine).
        taken = set(names)
        waiting = [p for p in ready_files(self.directory) if p.name not in taken]
        following = waiting[0] if waiting else None
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            done = {row[0] for row in conn.execute(_DONE_NAMES, {"names": names})}
            rows = [row for path, part in group if path.name not in done for row in part]
            days = {day_of(row[0]) for row in rows} - self._partitions
            if days:
                repository.ensure_partitions(conn, days)
            repository.insert_rows(conn, rows)
            fresh = [{"name": n, "at": _when(conn, now)} for n in names if n not in done]
            if fresh:
                conn.execute(_RECORD_NAME, fresh)
            self._report(conn, oldest_event(following) if following is not None else None)
            if time.monotonic() - self._pruned > 3600:
                conn.execute(_PRUNE_NAMES, {"before": _when(conn, now - NAMES_KEPT)})
                self._pruned = time.monotonic()
        self._partitions |= days
        for path, _ in group:
            path.unlink(missing_ok=True)
        return len(rows)

    def _report(self, conn: Connection, oldest: datetime | None) -> None:
        now = datetime.now(UTC)
        conn.execute(
            _REPORT,
            {
                "node": self.node,
                "oldest": None if oldest is None else _when(conn, oldest),
                "now": _when(conn, now),
            },
        )
        self._reported = oldest

    def _reject(self, path: Path, exc: Exception) -> None:
        rejected = path.with_name(path.name + ".rejected")
        try:
            os.replace(path, rejected)
        except FileNotFoundError:
            return
        logger.error(
            "analytics: a spool file could not be read; kept aside",
            extra={"file": str(rejected), "error": repr(exc)},
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's priority alone (Linux schedules threads one by one): on
    a busy machine the serving workers get the CPU first, and the spool waits."""
    if nice > 0 and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def _when(conn: Connection, at: datetime) -> Any:
    # SQLite stores what SQLAlchemy's DateTime writes (naive UTC text); PostgreSQL takes
    # the aware datetime.
    if conn.dialect.name == "sqlite":
        return at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return at


class SpoolIngest:
    """The supervisor's periodic insert of the spool (``streamer serve``, beside its job
    runner): every ``every`` seconds in a thread of its own, ``nice`` steps below the
    serving workers; a failure is logged (once a minute at most) and the files wait for
    the next round; :meth:`close` runs one last round, after the workers have written
    theirs at shutdown."""

    def __init__(self, ingester: Ingester, every: float, *, nice: int = 0) -> None:
        self.ingester = ingester
        self.every = every
        self.inserted = 0
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="spool", initializer=_lower_priority, initargs=(nice,)
        )
        self._task: asyncio.Task[None] | None = None
        self._last_failure_log = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-spool")

    async def _run(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self.every)

    async def round(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            inserted = await loop.run_in_executor(self._executor, self.ingester.run_once)
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_failure_log >= FAILURE_LOG_SECONDS:
                self._last_failure_log = now
                logger.warning(
                    "analytics: could not insert the spool's events; they wait in %s",
                    self.ingester.directory,
                    extra={"error": repr(exc)},
                )
            return 0
        self.inserted += inserted
        return inserted

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        await self.round()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.ingester.close)
        self._executor.shutdown(wait=False)
