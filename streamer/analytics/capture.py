"""Delivery events captured on the hot path and written in batches, off the event loop.

    request finished (ObserveMiddleware)
      -> DeliveryCapture.record: one append of values at hand to a bounded list; full:
         the event is dropped and counted (streamer_analytics_events{outcome="dropped"})
    every analytics_flush_seconds, on the loop
      -> the list is swapped for an empty one and handed to the capture's own thread
    in that thread (Writer)
      -> RowMaker builds the rows (times, header fields, address, listener hash, country)
      -> one INSERT (SQLite executemany, PostgreSQL COPY) in one transaction
    every hour, and at start-up, in that thread
      -> repository.maintain: partitions ahead, addresses older than 24 h cleared,
         retention, old salts deleted

Each worker process has its own capture and flushes its own buffer; events name their
node. A failed write keeps its batch for one more try (the buffer's bound still holds:
what does not fit is dropped and counted) and is logged once a minute at most. At
shutdown the lifespan flushes what is left.

Why a thread and a synchronous driver rather than an async write on the loop: the loop's
share of a flush is then one list swap and one hand-over; building rows and encoding a
batch for the driver (a few microseconds per event) would otherwise run on the loop
between requests. docs/performance.md has the figures.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from streamer.analytics import repository
from streamer.analytics.geo import CountryLookup
from streamer.analytics.rows import Captured, Row, RowMaker, day_of
from streamer.analytics.spool import SpoolWriter
from streamer.background import stop_task
from streamer.db.engine import sync_url
from streamer.metrics import Metrics
from streamer.settings import Settings
from streamer.types import Delivery

__all__ = ["MAINTENANCE_SECONDS", "DeliveryCapture", "Writer"]

logger = logging.getLogger("streamer.analytics")

MAINTENANCE_SECONDS = 3600.0
FAILURE_LOG_SECONDS = 60.0


class Writer:
    """The capture's thread-side half: rows from captured deliveries, into the database.
    Every method blocks; call them from one thread only."""

    def __init__(
        self,
        url: str,
        node: str,
        *,
        retention_days: int,
        trust_country_header: bool = False,
        geoip_path: Path | None = None,
        spool: SpoolWriter | None = None,
    ) -> None:
        self.url = sync_url(url)
        # Given: batches go to the spool's files, which the supervisor inserts
        # (streamer.analytics.spool); the database is then only read here, for salts.
        self.spool = spool
        self.retention_days = retention_days
        self._engine: Engine | None = None
        self._geoip_path = geoip_path
        self._geo: CountryLookup | None = None
        self._salts: dict[date, bytes] = {}
        self._partitions: set[date] = set()
        self._maintained: datetime | None = None
        # Called in the writer's thread with each batch's rows once they are stored.
        self.on_written: Callable[[list[Row]], None] | None = None
        self.maker = RowMaker(
            node,
            self._salt,
            trust_country_header=trust_country_header,
            geo=self._country if geoip_path is not None else None,
        )

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = repository.writer_engine(self.url)
        return self._engine

    def write(self, batch: list[Captured]) -> int:
        """Write ``batch``; returns how many rows went in. Raises on a database error
        (nothing of the batch is then stored: one transaction)."""
        rows = self.maker.rows(batch)
        if self.spool is not None:
            self.spool.append(rows)
        else:
            days = {day_of(at) for at in {int(row[0] // 86400) * 86400 for row in rows}}
            days -= self._partitions
            with self.engine.begin() as conn:
                if days:
                    repository.ensure_partitions(conn, days)
                repository.insert_rows(conn, rows)
            self._partitions |= days
        if self.on_written is not None:  # e.g. realtime listeners (streamer/app.py)
            self.on_written(rows)
        return len(rows)

    def maintain(self, now: datetime | None = None) -> dict[str, int]:
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            done = repository.maintain(conn, now, self.retention_days, since=self._maintained)
        self._maintained = now
        # Partitions may have been dropped (retention) or made by another node.
        self._partitions = {d for d in self._partitions if d >= now.date()}
        self._salts = {d: s for d, s in self._salts.items() if d >= now.date() - timedelta(1)}
        return done

    def _salt(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is None:
            with self.engine.begin() as conn:
                salt = self._salts[day] = repository.salt_for(conn, day)
        return salt

    def _country(self, address: str | None) -> str | None:
        if self._geo is None:
            assert self._geoip_path is not None
            self._geo = CountryLookup(self._geoip_path)
        return self._geo.country(address)

    def close(self) -> None:
        if self._geo is not None:
            self._geo.close()
        if self._engine is not None:
            self._engine.dispose()


class DeliveryCapture:
    """The per-worker buffer of delivery events and its flusher (module docstring).

    :meth:`record` is ObserveMiddleware's recorder: it never waits and never raises."""

    def __init__(
        self,
        writer: Writer,
        metrics: Metrics | None = None,
        *,
        capacity: int = 100_000,
        flush_seconds: float = 1.0,
        maintenance_seconds: float = MAINTENANCE_SECONDS,
    ) -> None:
        self.writer = writer
        self.metrics = metrics
        self.capacity = capacity
        self.flush_seconds = flush_seconds
        self.maintenance_seconds = maintenance_seconds
        self._buffer: list[Captured] = []
        self._retry: list[Captured] = []  # a batch whose write failed, tried once more
        # Tallies since the last publish (loop thread only, but for ``written`` and
        # ``failed``, which the flush adds after the thread returns).
        self.dropped = self.written = self.failed = 0
        self._published = (0, 0, 0)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics")
        self._task: asyncio.Task[None] | None = None
        self._flushing: asyncio.Lock | None = None
        self._last_failure_log = 0.0
        self._clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None) -> DeliveryCapture:
        writer = Writer(
            settings.effective_database_url,
            settings.node_name or socket.gethostname(),
            retention_days=settings.analytics_retention_days,
            trust_country_header=settings.analytics_trust_country_header,
            geoip_path=settings.analytics_geoip_path,
            spool=(
                SpoolWriter(settings.analytics_spool_dir, settings.analytics_spool_max_bytes)
                if settings.analytics_spool_dir is not None
                else None
            ),
        )
        return cls(
            writer,
            metrics,
            capacity=settings.analytics_buffer_size,
            flush_seconds=settings.analytics_flush_seconds,
        )

    def record(
        self,
        delivery: Delivery,
        status: int,
        sent: int,
        headers: list[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
    ) -> None:
        """Keep one finished request's delivery (the hot path: an append, or a drop)."""
        buffer = self._buffer
        if len(buffer) < self.capacity:
            buffer.append((self._clock(), delivery, status, sent, headers, client))
        else:
            self.dropped += 1

    @property
    def pending(self) -> int:
        return len(self._buffer) + len(self._retry)

    def start(self) -> None:
        """Start the periodic flush and maintenance (in the lifespan)."""
        self._flushing = asyncio.Lock()
        self._task = asyncio.create_task(self._run(), name="analytics-capture")

    async def _run(self) -> None:
        next_maintenance = 0.0  # at once: a node that was down catches up
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush()
            now = time.monotonic()
            if now >= next_maintenance:
                next_maintenance = now + self.maintenance_seconds
                await self.maintain()

    async def flush(self) -> int:
        """Write what is buffered now; returns how many events were written."""
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        async with self._flushing:
            fresh, self._buffer = self._buffer, []
            retried, self._retry = self._retry, []
            room = max(0, self.capacity - len(fresh))
            if len(retried) > room:  # the bound holds: the oldest retried events go
                self.dropped += len(retried) - room
                retried = retried[len(retried) - room :]
            batch = retried + fresh if retried else fresh
            if not batch:
                return 0
            loop = asyncio.get_running_loop()
            try:
                written = await loop.run_in_executor(self._executor, self.writer.write, batch)
            except Exception as exc:
                # Second failure for the retried part: given up; the fresh part once more.
                self.failed += len(retried)
                self._retry = fresh
                self._log_failure(len(batch), exc)
                return 0
            self.written += written
            return written

    def _log_failure(self, count: int, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_failure_log >= FAILURE_LOG_SECONDS:
            self._last_failure_log = now
            logger.warning(
                "analytics: could not write %d delivery events; trying again once",
                count,
                extra={"error": repr(exc)},
            )

    async def maintain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(self._executor, self.writer.maintain)
        except Exception as exc:
            logger.warning("analytics: maintenance failed", extra={"error": repr(exc)})
            return
        if any(done.values()):
            logger.info("analytics: maintenance", extra=done)

    def publish(self) -> None:
        """Add the tallies to the Prometheus counters (RequestStats' flush beat)."""
        if self.metrics is None:
            return
        tallies = (self.dropped, self.written, self.failed)
        for outcome, now, before in zip(
            ("dropped", "written", "failed"), tallies, self._published, strict=True
        ):
            if now > before:
                self.metrics.analytics_events.labels(outcome=outcome).inc(now - before)
        self._published = tallies

    async def close(self) -> None:
        """Stop the periodic work, write what is left, release the thread."""
        await stop_task(self._task)
        self._task = None
        await self.flush()
        if self._retry:
            await self.flush()  # a second try for a batch that just failed
        self.failed += len(self._retry)
        self._retry = []
        self.publish()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.writer.close)
        self._executor.shutdown(wait=False)
