"""Job rows: every state change of a job is one conditional UPDATE.

The life of a job::

    queued ──claim──> running ──> succeeded
      ^  │               │  ├──> failed      (bad input, or out of attempts)
      │  │               │  └──> cancelled   (cancel_requested, noticed by the runner)
      │  └──cancel──> cancelled
      └───retry (failed/cancelled), backoff (retryable error), requeue (lost worker)

Each transition names the state it leaves in its WHERE clause, so two nodes racing for a
job (two runners claiming, a cancel against a finish) cannot both win: the loser's UPDATE
matches no row. A partial unique index keeps at most one queued or running job per track.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from streamer.db import ACTIVE_JOB_STATUSES, Database, Job, Library, Rendition, Track
from streamer.db.models import utcnow

__all__ = [
    "JobConflict",
    "JobPage",
    "active_job",
    "claim",
    "due_job_ids",
    "enqueue_transcodes",
    "finish",
    "get_job",
    "is_cancel_requested",
    "latest_jobs",
    "list_jobs",
    "mark_dispatched",
    "release",
    "report_progress",
    "request_cancel",
    "requeue_stale",
    "retry",
    "schedule_retry",
    "undispatch",
]

TERMINAL = ("succeeded", "failed", "cancelled")


class JobConflict(Exception):
    """The job is not in a state that allows the asked-for change (for a 409)."""

    def __init__(self, job: Job, message: str) -> None:
        super().__init__(message)
        self.job = job


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    total: int


def new_job_id() -> str:
    return uuid.uuid4().hex


async def enqueue_transcodes(
    db: Database,
    *,
    ladder_hash: str,
    source_hash: Callable[[Track], str],
    max_attempts: int,
    roots: Sequence[str] = (),
    track_ids: Sequence[str] = (),
    force: bool = False,
    on_queued: Callable[[Job, Track], None] | None = None,
) -> list[Job]:
    """Queue a transcode job for each servable track (of ``roots`` / ``track_ids`` when
    given) whose current content has no renditions of ``ladder_hash`` yet, or for every
    such track with ``force``. A track with a queued or running job keeps that job (it is
    returned, not duplicated). ``source_hash(track)`` names the content a job is for.
    ``on_queued`` is told of each job this call queued (not of those it found).

    Returns the jobs, new and existing, of the tracks that need one.
    """
    query = (
        select(Track)
        .join(Library, Library.id == Track.library_id)
        .where(Track.status == "ok")
        .order_by(Track.id)
    )
    if roots:
        query = query.where(Library.root.in_(roots))
    if track_ids:
        query = query.where(Track.id.in_(track_ids))
    async with db.session() as session:
        tracks = list((await session.scalars(query)).all())
        done = set(
            (
                await session.execute(
                    select(Rendition.track_id, Rendition.content_hash).where(
                        Rendition.ladder_hash == ladder_hash
                    )
                )
            ).all()
        )
        active = {
            job.track_id: job
            for job in (
                await session.scalars(select(Job).where(Job.status.in_(ACTIVE_JOB_STATUSES)))
            ).all()
        }
    jobs: list[Job] = []
    for track in tracks:
        content = source_hash(track)
        existing = active.get(track.id)
        if existing is not None:
            jobs.append(existing)
            continue
        if not force and (track.id, content) in done:
            continue
        job = Job(
            id=new_job_id(),
            track_id=track.id,
            status="queued",
            content_hash=content,
            ladder_hash=ladder_hash,
            force=force,
            max_attempts=max_attempts,
        )
        try:
            async with db.session() as session:
                session.add(job)
                await session.commit()
        except IntegrityError:
            # Another node queued one for this track in between (the partial unique index).
            async with db.session() as session:
                raced = await session.scalar(_active_for(track.id))
            if raced is None:  # pragma: no cover - it finished in between; nothing to do
                continue
            job = raced
        else:
            if on_queued is not None:
                on_queued(job, track)
        jobs.append(job)
    return jobs


def _active_for(track_id: str) -> Select[Job]:
    return select(Job).where(Job.track_id == track_id, Job.status.in_(ACTIVE_JOB_STATUSES))


async def active_job(db: Database, track_id: str) -> Job | None:
    """The track's queued or running job, if it has one."""
    async with db.session() as session:
        return await session.scalar(_active_for(track_id))


async def get_job(db: Database, job_id: str) -> Job | None:
    async with db.session() as session:
        return await session.get(Job, job_id)


async def list_jobs(
    db: Database,
    *,
    status: str | None = None,
    track_id: str | None = None,
    library_id: str | None = None,
    library_ids: Collection[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> JobPage:
    """Jobs, newest first, filtered by status, track and library; ``library_ids``
    (None: all) are the libraries the caller may see."""
    query = select(Job)
    if library_ids is not None:
        query = query.join(Track, Track.id == Job.track_id).where(
            Track.library_id.in_(list(library_ids))
        )
    if status is not None:
        query = query.where(Job.status == status)
    if track_id is not None:
        query = query.where(Job.track_id == track_id)
    if library_id is not None:
        if library_ids is None:
            query = query.join(Track, Track.id == Job.track_id)
        query = query.where(Track.library_id == library_id)
    count = select(func.count()).select_from(query.order_by(None).subquery())
    page = query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    async with db.session() as session:
        total = (await session.execute(count)).scalar_one()
        items = list((await session.scalars(page)).all())
    return JobPage(items, int(total))


async def latest_jobs(db: Database, track_ids: Sequence[str]) -> dict[str, Job]:
    """The newest job of each of ``track_ids`` that has one."""
    if not track_ids:
        return {}
    newest = (
        select(Job.track_id, func.max(Job.created_at).label("created"))
        .where(Job.track_id.in_(track_ids))
        .group_by(Job.track_id)
        .subquery()
    )
    query = select(Job).join(
        newest, and_(Job.track_id == newest.c.track_id, Job.created_at == newest.c.created)
    )
    async with db.session() as session:
        return {job.track_id: job for job in (await session.scalars(query)).all()}


async def due_job_ids(db: Database, *, limit: int, exclude: Sequence[str] = ()) -> list[str]:
    """Up to ``limit`` queued jobs whose backoff has passed, oldest first."""
    query = (
        select(Job.id)
        .where(Job.status == "queued", Job.run_after <= utcnow())
        .order_by(Job.run_after, Job.created_at)
        .limit(limit)
    )
    if exclude:
        query = query.where(Job.id.not_in(exclude))
    async with db.session() as session:
        return list((await session.scalars(query)).all())


async def mark_dispatched(db: Database, job_id: str, *, unless_since: datetime) -> bool:
    """Take the right to send a queued job to the shared broker: True for one runner only,
    unless its last dispatch is older than ``unless_since`` (the message was lost)."""
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == "queued",
            or_(Job.dispatched_at.is_(None), Job.dispatched_at < unless_since),
        )
        .values(dispatched_at=utcnow())
    )
    async with db.session() as session:
        count: int = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
        await session.commit()
    return count == 1


async def undispatch(db: Database, job_id: str) -> None:
    """Forget that a queued job was sent to the broker (its receiver is stopping)."""
    await _move(db, job_id, "queued", dispatched_at=None)


async def claim(db: Database, job_id: str, worker: str) -> Job | None:
    """Move a queued job to running for ``worker``; None if someone else has it, or it
    was cancelled in the meantime."""
    now = utcnow()
    moved = await _move(
        db,
        job_id,
        "queued",
        status="running",
        attempts=Job.attempts + 1,
        progress=0.0,
        worker=worker,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
    )
    return await get_job(db, job_id) if moved else None


async def _move(db: Database, job_id: str, leaving: str, **values: object) -> bool:
    """One transition: set ``values`` on the job if it is still in state ``leaving``.
    False when it is not (another node moved it first)."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status == leaving)
        .values(updated_at=utcnow(), **values)
    )
    async with db.session() as session:
        count: int = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
        await session.commit()
    return count == 1


async def report_progress(db: Database, job_id: str, progress: float) -> None:
    """Record a running job's progress (0..1) and a heartbeat."""
    await _move(db, job_id, "running", progress=max(0.0, min(progress, 1.0)), heartbeat_at=utcnow())


async def is_cancel_requested(db: Database, job_id: str) -> bool:
    async with db.session() as session:
        return bool(await session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


async def finish(
    db: Database,
    job_id: str,
    status: str,
    *,
    error: str | None = None,
    stderr_tail: str | None = None,
) -> None:
    """End a running job as succeeded, failed or cancelled."""
    assert status in TERMINAL
    values: dict[str, object] = {"progress": 1.0} if status == "succeeded" else {}
    await _move(
        db,
        job_id,
        "running",
        status=status,
        error=error,
        stderr_tail=stderr_tail,
        finished_at=utcnow(),
        heartbeat_at=None,
        **values,
    )


async def schedule_retry(
    db: Database, job_id: str, *, delay: float, error: str, stderr_tail: str | None
) -> None:
    """Put a running job that failed transiently back in the queue after ``delay`` s."""
    await _move(
        db,
        job_id,
        "running",
        status="queued",
        dispatched_at=None,
        run_after=utcnow() + timedelta(seconds=delay),
        error=error,
        stderr_tail=stderr_tail,
        worker=None,
        heartbeat_at=None,
    )


async def release(db: Database, job_id: str, *, reason: str) -> None:
    """Give a running job back to the queue without counting the attempt (the runner is
    stopping: the work was interrupted, not failed)."""
    await _move(
        db,
        job_id,
        "running",
        status="queued",
        dispatched_at=None,
        attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0),
        progress=0.0,
        run_after=utcnow(),
        error=reason,
        worker=None,
        heartbeat_at=None,
    )


async def requeue_stale(db: Database, *, older_than: datetime | None) -> list[str]:
    """Requeue running jobs whose worker is gone: those with a heartbeat older than
    ``older_than``, or every running job when it is None (a lone runner starting up after
    a crash). Returns their ids."""
    now = utcnow()
    condition = Job.status == "running"
    if older_than is not None:
        condition = and_(condition, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < older_than))
    async with db.session() as session:
        candidates = list((await session.scalars(select(Job.id).where(condition))).all())
    if not candidates:
        return []
    statement = (
        update(Job)
        # The same condition again: a job that beat in between is not taken from its worker.
        .where(condition, Job.id.in_(candidates))
        .values(
            status="queued",
            dispatched_at=None,
            progress=0.0,
            run_after=now,
            error="requeued: its worker stopped without finishing it",
            worker=None,
            heartbeat_at=None,
            updated_at=now,
        )
    )
    async with db.session() as session:
        await session.execute(statement)
        await session.commit()
        # Those that were requeued now (a candidate may have beaten or ended meanwhile).
        return list(
            (
                await session.scalars(
                    select(Job.id).where(Job.id.in_(candidates), Job.status == "queued")
                )
            ).all()
        )


async def request_cancel(db: Database, job_id: str) -> Job:
    """Cancel a job: a queued one at once, a running one by flagging it for its runner.

    Raises LookupError for an unknown job and JobConflict for one already finished.
    """
    now = utcnow()
    async with db.session() as session:
        queued = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(
                status="cancelled",
                cancel_requested=True,
                error="cancelled",
                finished_at=now,
                updated_at=now,
            )
        )
        if queued.rowcount == 0:  # type: ignore[attr-defined]
            await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(cancel_requested=True, updated_at=now)
            )
        await session.commit()
        job = await session.get(Job, job_id)
    if job is None:
        raise LookupError(job_id)
    if job.status in ("succeeded", "failed"):
        raise JobConflict(job, f"the job has already {job.status}")
    return job


async def retry(db: Database, job_id: str, *, max_attempts: int) -> Job:
    """Queue a failed or cancelled job again, with a fresh count of attempts.

    Raises LookupError for an unknown job and JobConflict when it is queued, running or
    succeeded, or when its track has another active job.
    """
    now = utcnow()
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("failed", "cancelled")))
        .values(
            status="queued",
            dispatched_at=None,
            attempts=0,
            max_attempts=max_attempts,
            progress=0.0,
            run_after=now,
            cancel_requested=False,
            error=None,
            stderr_tail=None,
            worker=None,
            started_at=None,
            finished_at=None,
            updated_at=now,
        )
    )
    async with db.session() as session:
        try:
            changed = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
            await session.commit()
        except IntegrityError:
            await session.rollback()
            job = await session.get(Job, job_id)
            assert job is not None
            raise JobConflict(job, "the track already has a queued or running job") from None
        job = await session.get(Job, job_id)
    if job is None:
        raise LookupError(job_id)
    if not changed:
        raise JobConflict(job, f"only failed or cancelled jobs can be retried; it is {job.status}")
    return job
