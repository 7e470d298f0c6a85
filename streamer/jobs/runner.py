"""The job runner: takes queued jobs from the database and runs them through taskiq.

::

    database (jobs table)          JobRunner
      queued rows  ──dispatcher──>  broker.kick("streamer.transcode", job_id)
                                        │  taskiq: InMemoryBroker here; a Redis stream
                                        v  broker and `streamer worker` when scaled out
                                    _run(job_id): claim ─> transcode ─> finish
                                        │  watcher, every poll: progress + heartbeat,
                                        v  and the cancel flag (kills ffmpeg)

The table is the queue of record and taskiq the transport. Any node may queue, cancel or
retry a job by writing its row; the runner notices within ``poll`` seconds. A job is
claimed with a conditional UPDATE, so a message delivered twice runs once.

Two transports, the same task code:

- embedded (``serve``'s default): taskiq's InMemoryBroker. The dispatcher kicks no more
  than ``concurrency`` jobs at a time and this process runs them.
- shared (``job_broker = "redis"``, ``streamer worker``): taskiq-redis's RedisStreamBroker.
  Every runner's dispatcher sends due jobs to the stream, each job once (a conditional
  ``dispatched_at``, re-sent only if it sat unclaimed for ``stale`` seconds: a lost
  message), and every runner's receiver takes up to ``concurrency`` jobs from it. Acks and
  redelivery are the stream's; the claim keeps a redelivered job from running twice.

Outcomes: success; bad input (the file is not decodable audio) fails the job and marks the
track as failed, without retries; transient failures (ffmpeg crashed or timed out, storage
unreachable) are retried with exponential backoff up to ``max_attempts``; a cancel kills
ffmpeg and removes partial outputs. When the runner stops, running jobs are interrupted and
given back to the queue without counting the attempt; at start-up, jobs a crashed runner
left "running" are queued again.

Every change of a job's status is published as a live ``job`` event after its row was
written, and a running job's progress about once a second (``_EVENT_EVERY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.api import run_receiver_task

from streamer.background import stop_task
from streamer.cache.redis_tier import RedisTier
from streamer.cache.stats import TierStats
from streamer.cache.warm import Warmer
from streamer.db import Database, Job, Library, Rendition, Track
from streamer.db.models import utcnow
from streamer.errors import ObjectChanged, StorageError
from streamer.events.publish import EventPublisher, job_event
from streamer.jobs import rows
from streamer.jobs.queue import RunnerConfig, queue_transcodes
from streamer.redis_client import DRIVER_INFO
from streamer.renditions.outputs import source_hash, transcode_track
from streamer.settings import Settings
from streamer.storage.base import ObjectStore
from transcoder.errors import BadInput, TranscodeError

__all__ = ["TRANSCODE_TASK", "JobRunner", "make_warmer", "runner_for"]

logger = logging.getLogger("streamer.jobs")

TRANSCODE_TASK = "streamer.transcode"
# Progress is written when it moved this much, or with the heartbeat every _HEARTBEAT s.
_PROGRESS_STEP = 0.01
_HEARTBEAT = 5.0
_DISPATCH_BATCH = 100  # due jobs sent to a shared broker per poll
_EVENT_EVERY = 1.0  # seconds between progress events of a running job

StoreFor = Callable[[str], Awaitable[ObjectStore]]


def make_warmer(settings: Settings) -> Warmer | None:
    """What warms Redis after a transcode, when there is a Redis and warming is on."""
    if not settings.redis_url or not settings.warm_segments:
        return None
    tier = RedisTier(
        settings.redis_url,
        stats=TierStats(),
        ttl=settings.redis_cache_ttl,
        timeout=max(settings.redis_timeout, 1.0),  # a few 100 KB puts, off the hot path
        max_entry_bytes=settings.cache_max_entry_bytes,
    )
    return Warmer(tier, segments=settings.warm_segments)


def runner_for(
    db: Database, store_for: StoreFor, settings: Settings, *, recover_all: bool
) -> JobRunner:
    """The runner the settings ask for: the embedded broker, or the shared Redis stream
    (``job_broker = "redis"``)."""
    config = RunnerConfig.from_settings(settings)
    warmer = make_warmer(settings)
    events = EventPublisher(db, redis_url=settings.redis_url)
    if settings.job_broker != "redis":
        return JobRunner(
            db, store_for, config, recover_all=recover_all, warmer=warmer, events=events
        )
    assert settings.redis_url is not None  # settings validate it
    from taskiq_redis import RedisStreamBroker

    broker = RedisStreamBroker(
        settings.redis_url,
        queue_name="streamer:jobs",
        consumer_group_name="streamer-workers",
        consumer_id="0",  # a new group reads what was sent before it existed
        maxlen=100_000,
        idle_timeout=round(settings.job_stale_seconds * 2000),
        xread_block=1000,
        driver_info=DRIVER_INFO,
    )
    return JobRunner(
        db,
        store_for,
        config,
        broker=broker,
        recover_all=False,
        shared=True,
        warmer=warmer,
        events=events,
    )


class JobRunner:
    """Runs queued jobs in this process until :meth:`stop` (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        store_for: StoreFor,
        config: RunnerConfig,
        *,
        broker: AsyncBroker | None = None,
        recover_all: bool = True,
        shared: bool = False,
        warmer: Warmer | None = None,
        events: EventPublisher | None = None,
    ) -> None:
        self.db = db
        self.store_for = store_for
        self.config = config
        # A lone embedded runner owns every "running" row at start-up; several workers
        # sharing a database only take over rows whose heartbeat went stale.
        self.recover_all = recover_all
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.broker = broker or InMemoryBroker(max_async_tasks=config.concurrency)
        # A shared broker: other runners take what this one sends (module docstring).
        self.shared = shared
        # After a transcode, the first segments of each rendition go to the shared cache.
        self.warmer = warmer
        # Live events of the jobs it runs (None: none published; tests).
        self.events = events
        self._receiver: asyncio.Task[None] | None = None

        # taskiq renames what it registers, which a bound method does not allow.
        async def run_job(job_id: str) -> None:
            await self._run(job_id)

        self._task = self.broker.register_task(run_job, task_name=TRANSCODE_TASK)
        self._kicked: set[str] = set()
        self._work: dict[str, asyncio.Task[list[Rendition]]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while no job is kicked
        self._idle.set()
        self._stopping = False
        self._dispatcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.config.work_dir.mkdir, parents=True, exist_ok=True)
        await self.broker.startup()
        await self._recover(everything=self.recover_all)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="job-dispatcher")
        if self.shared:
            self._receiver = asyncio.create_task(
                run_receiver_task(
                    self.broker, max_async_tasks=self.config.concurrency, run_startup=False
                ),
                name="job-receiver",
            )

    async def enqueue(
        self, *, roots: Sequence[str] = (), track_ids: Sequence[str] = (), force: bool = False
    ) -> list[Job]:
        """Queue transcodes of the tracks that need one, and look for work at once."""
        jobs = await queue_transcodes(
            self.db, self.config, roots=roots, track_ids=track_ids, force=force, events=self.events
        )
        self.wake()
        return jobs

    def wake(self) -> None:
        """Look for queued jobs now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> list[str]:
        return list(self._work)

    async def stop(self, grace: float = 15.0) -> None:
        """Stop dispatching, interrupt running jobs (killing ffmpeg; the jobs are queued
        again) and wait for them to let go, at most ``grace`` seconds; then stop taking
        messages (after, so that the interrupted jobs' messages are still acknowledged)."""
        self._stopping = True
        await stop_task(self._dispatcher)
        for work in list(self._work.values()):
            work.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        await stop_task(self._receiver)
        await self.broker.shutdown()
        if self.warmer is not None:
            await self.warmer.close()
        if self.events is not None:
            await self.events.close()

    # --- dispatching ---------------------------------------------------------------------

    async def _dispatch(self) -> None:
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + self.config.stale_seconds / 4
                    await self._recover(everything=False)
                if self.shared:
                    await self._send_due()
                else:
                    free = self.config.concurrency - len(self._kicked)
                    if free > 0:
                        for job_id in await rows.due_job_ids(
                            self.db, limit=free, exclude=sorted(self._kicked)
                        ):
                            self._kicked.add(job_id)
                            self._idle.clear()
                            await self._task.kiq(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly unreachable: try again later
                logger.warning("job dispatch failed", exc_info=True)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_seconds):
                    await self._wake.wait()

    async def _send_due(self) -> None:
        """Shared broker: send each due job to the stream once (module docstring)."""
        lost = utcnow() - timedelta(seconds=self.config.stale_seconds)
        for job_id in await rows.due_job_ids(self.db, limit=_DISPATCH_BATCH):
            if await rows.mark_dispatched(self.db, job_id, unless_since=lost):
                await self._task.kiq(job_id)

    async def _recover(self, *, everything: bool) -> None:
        older = None if everything else utcnow() - timedelta(seconds=self.config.stale_seconds)
        requeued = await rows.requeue_stale(self.db, older_than=older)
        if requeued:
            logger.warning("requeued %d job(s) whose worker stopped", len(requeued))
            await self._announce(*requeued)

    # --- one job -------------------------------------------------------------------------

    async def _run(self, job_id: str) -> None:
        """The taskiq task: run one job to an outcome recorded in its row."""
        if self.shared:  # received from the stream: this process now answers for it
            self._kicked.add(job_id)
            self._idle.clear()
        try:
            if self._stopping:
                # Received while stopping: let another runner send it again at once.
                await rows.undispatch(self.db, job_id)
                return
            job = await rows.claim(self.db, job_id, self.name)
            if job is None:  # cancelled meanwhile, or another runner took it
                return
            await self._announce(job_id)
            await self._execute(job)
        except Exception:  # the row says what happened; a bug here must not stop the runner
            logger.exception("job %s crashed", job_id)
            with contextlib.suppress(Exception):
                await rows.finish(self.db, job_id, "failed", error="internal error (see logs)")
                await self._announce(job_id)
        finally:
            self._kicked.discard(job_id)
            if not self._kicked:
                self._idle.set()
            self._wake.set()

    async def _announce(self, *job_ids: str) -> None:
        """Publish these jobs' states as their rows hold them now."""
        if self.events is not None:
            await self.events.publish_jobs(job_ids)

    async def _execute(self, job: Job) -> None:
        try:
            await self._execute_job(job)
        finally:
            # Whatever became of it (finished, failed, queued again for a retry or after an
            # interruption), its row says so now. Shielded: an interruption must not
            # swallow the news of itself.
            await asyncio.shield(self._announce(job.id))

    async def _execute_job(self, job: Job) -> None:
        log = {"job": job.id, "track": job.track_id, "attempt": job.attempts}
        async with self.db.session() as session:
            found = (
                await session.execute(
                    select(Track, Library.root)
                    .join(Library, Library.id == Track.library_id)
                    .where(Track.id == job.track_id)
                )
            ).first()
        if found is None or found[0].status != "ok":
            await rows.finish(self.db, job.id, "failed", error="the track is gone or unreadable")
            return
        track, root = found
        if not job.force and await self._already_done(track):
            logger.info("already transcoded", extra=log)
            await rows.finish(self.db, job.id, "succeeded")
            return

        progress = _Progress()
        work = asyncio.create_task(self._transcode(root, track, progress))
        self._work[job.id] = work
        if self._stopping:  # stop() ran while this job was being claimed
            work.cancel()
        try:
            cancelled = await self._watch(job, track.library_id, work, progress)
            work.result()  # raises what the transcode raised
        except asyncio.CancelledError:
            if cancelled:
                logger.info("job cancelled", extra=log)
                await rows.finish(self.db, job.id, "cancelled", error="cancelled")
            else:
                logger.info("job interrupted: the runner is stopping", extra=log)
                await rows.release(self.db, job.id, reason="interrupted: the runner stopped")
            return
        except BadInput as exc:
            await self._fail_track(track, exc.reason)
            await rows.finish(
                self.db, job.id, "failed", error=exc.reason, stderr_tail=exc.stderr_tail
            )
            logger.warning("job failed: bad input", extra={**log, "reason": exc.reason})
            return
        except (TranscodeError, StorageError, ValueError, LookupError) as exc:
            await self._failed(job, exc, log)
            return
        finally:
            self._work.pop(job.id, None)
        await rows.finish(self.db, job.id, "succeeded")
        logger.info("job succeeded", extra=log)
        if self.warmer is not None:
            await self._warm(root, work.result(), log)

    async def _warm(self, root: str, renditions: list[Rendition], log: dict[str, Any]) -> None:
        assert self.warmer is not None
        try:
            store = await self.store_for(root)
        except StorageError:
            logger.warning("could not warm the segment cache", extra=log, exc_info=True)
            return
        warmed = await self.warmer(store, renditions)
        logger.info("warmed the segment cache", extra={**log, "entries": warmed})

    async def _transcode(self, root: str, track: Track, progress: _Progress) -> list[Rendition]:
        store = await self.store_for(root)
        return await transcode_track(
            self.db,
            store,
            track,
            ladder=self.config.ladder,
            segment_seconds=self.config.segment_seconds,
            loudness_target=self.config.loudness_target,
            work_dir=self.config.work_dir,
            on_progress=progress.set,
            ffmpeg=self.config.ffmpeg,
        )

    async def _watch(
        self, job: Job, library_id: str, work: asyncio.Task[Any], progress: _Progress
    ) -> bool:
        """Until ``work`` ends: write progress and heartbeats (and publish progress
        events), and cancel it when asked. True when it was cancelled on request."""
        job_id = job.id
        loop = asyncio.get_running_loop()
        written, beat = 0.0, loop.time()
        announced, announced_at = 0.0, loop.time()
        cancelled = False
        while not work.done():
            await asyncio.wait([work], timeout=self.config.poll_seconds)
            if work.done():
                break
            try:
                now = loop.time()
                if progress.value - written >= _PROGRESS_STEP or now - beat >= _HEARTBEAT:
                    written, beat = progress.value, now
                    await rows.report_progress(self.db, job_id, written)
                if (
                    self.events is not None
                    and written > announced
                    and now - announced_at >= _EVENT_EVERY
                ):
                    announced, announced_at = written, now
                    await self.events.publish(job_event(job, library_id, progress=written))
                if not cancelled and await rows.is_cancel_requested(self.db, job_id):
                    cancelled = True
                    work.cancel()
            except Exception:  # a database hiccup must not kill a healthy transcode
                logger.warning("could not report progress of job %s", job_id, exc_info=True)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        return cancelled

    async def _failed(self, job: Job, exc: Exception, log: dict[str, Any]) -> None:
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        tail = getattr(exc, "stderr_tail", None) or None
        retryable = (isinstance(exc, TranscodeError) and exc.retryable) or (
            isinstance(exc, StorageError) and not isinstance(exc, ObjectChanged)
        )
        if retryable and job.attempts < job.max_attempts:
            delay = self.config.backoff(job.attempts)
            await rows.schedule_retry(self.db, job.id, delay=delay, error=reason, stderr_tail=tail)
            logger.warning("job failed; retrying in %.0f s", delay, extra={**log, "reason": reason})
            return
        await rows.finish(self.db, job.id, "failed", error=reason, stderr_tail=tail)
        logger.warning("job failed", extra={**log, "reason": reason})

    async def _already_done(self, track: Track) -> bool:
        async with self.db.session() as session:
            found = await session.scalar(
                select(Rendition.id)
                .where(
                    Rendition.track_id == track.id,
                    Rendition.ladder_hash == self.config.ladder_hash,
                    Rendition.content_hash == source_hash(track),
                )
                .limit(1)
            )
        return found is not None

    async def _fail_track(self, track: Track, reason: str) -> None:
        # The file is not decodable audio: say so on the track, as a scan does for files
        # mutagen cannot read; the next scan of changed bytes will try again.
        async with self.db.session() as session:
            await session.execute(
                update(Track)
                .where(Track.id == track.id, Track.version == track.version)
                .values(status="error", error=f"ffmpeg cannot decode it: {reason}")
            )
            await session.commit()


class _Progress:
    """The latest fraction ffmpeg reported; read by the watcher."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, fraction: float) -> None:
        self.value = fraction
