"""/api/v1/jobs: list and inspect jobs, queue a transcode, cancel and retry.

The API writes job rows only; whichever runner holds a job (the `serve` supervisor, or a
`streamer worker`) notices a cancel within its poll interval and kills ffmpeg.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from streamer.auth import audit
from streamer.auth.access import Access, Principal
from streamer.catalogue.repository import get_track
from streamer.db import Database, Job
from streamer.events.publish import job_event
from streamer.jobs import JobConflict, RunnerConfig, rows
from streamer.jobs.queue import queue_transcodes
from streamer.routes.api_common import (
    CONFLICT_RESPONSES,
    PROBLEM_RESPONSES,
    DatabaseDep,
    EventsDep,
    PrincipalDep,
    SettingsDep,
    actor,
    require_access,
)

__all__ = ["JobOut", "JobPage", "jobs_router"]

JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobOut(BaseModel):
    id: str
    kind: str
    track_id: str
    status: JobStatusName
    progress: float  # 0..1
    attempts: int
    max_attempts: int
    cancel_requested: bool
    error: str | None  # why it failed, or why it is waiting to be tried again
    stderr_tail: str | None  # ffmpeg's last lines, when ffmpeg failed
    next_attempt_at: datetime | None  # for a queued job waiting out a backoff
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    urls: dict[str, str]

    @classmethod
    def of(cls, job: Job) -> JobOut:
        waiting = job.status == "queued" and job.attempts > 0
        return cls(
            id=job.id,
            kind=job.kind,
            track_id=job.track_id,
            status=job.status,
            progress=job.progress,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            cancel_requested=job.cancel_requested,
            error=job.error,
            stderr_tail=job.stderr_tail,
            next_attempt_at=job.run_after if waiting else None,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            updated_at=job.updated_at,
            urls={
                "self": f"/api/v1/jobs/{job.id}",
                "track": f"/api/v1/tracks/{job.track_id}",
                "cancel": f"/api/v1/jobs/{job.id}/cancel",
                "retry": f"/api/v1/jobs/{job.id}/retry",
            },
        )


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class TranscodeRequest(BaseModel):
    track_id: str
    force: bool = False  # transcode even if the current ladder's renditions exist


def jobs_router() -> APIRouter:
    router = APIRouter(prefix="/jobs", tags=["jobs"])

    @router.get("", response_model=JobPage, responses=PROBLEM_RESPONSES)
    async def list_jobs(
        db: DatabaseDep,
        principal: PrincipalDep,
        status: Annotated[JobStatusName | None, Query()] = None,
        track: Annotated[str | None, Query(max_length=32, description="track id")] = None,
        library: Annotated[str | None, Query(max_length=32, description="library id")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> JobPage:
        """Jobs, newest first, filtered by status, track and library."""
        page = await rows.list_jobs(
            db,
            status=status,
            track_id=track,
            library_id=library,
            library_ids=principal.readable_libraries(),
            limit=limit,
            offset=offset,
        )
        return JobPage(
            items=[JobOut.of(job) for job in page.items],
            total=page.total,
            limit=limit,
            offset=offset,
        )

    @router.post(
        "",
        response_model=JobOut,
        status_code=201,
        responses={**CONFLICT_RESPONSES, 200: {"model": JobOut}},
    )
    async def queue_transcode(
        body: TranscodeRequest,
        request: Request,
        response: Response,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        events: EventsDep,
    ) -> JobOut:
        """Queue a transcode of one track into the configured ladder.

        201 with the new job; 200 with the track's queued or running job if it has one;
        409 if the track's current content is already transcoded (pass ``force``).
        """
        track = await get_track(db, body.track_id)
        if track is None:
            raise HTTPException(404, "no such track")
        require_access(principal, track.library_id, "write", "track")
        if track.status != "ok":
            raise HTTPException(
                409, f"the track cannot be transcoded: {track.error or track.status}"
            )
        active = await rows.active_job(db, track.id)
        if active is not None:
            response.status_code = 200
            return JobOut.of(active)
        jobs = await queue_transcodes(
            db,
            RunnerConfig.from_settings(settings),
            track_ids=[track.id],
            force=body.force,
            events=events,
        )
        if not jobs:
            raise HTTPException(409, "already transcoded with the current ladder; pass force")
        await audit.write(
            db,
            actor(request, principal),
            "job.create",
            "job",
            jobs[0].id,
            after={"track_id": track.id, "force": body.force},
        )
        return JobOut.of(jobs[0])

    @router.get("/{job_id}", response_model=JobOut, responses=PROBLEM_RESPONSES)
    async def get_job(job_id: str, db: DatabaseDep, principal: PrincipalDep) -> JobOut:
        """One job."""
        return JobOut.of(await _job(db, principal, job_id, "read"))

    @router.post("/{job_id}/cancel", response_model=JobOut, responses=CONFLICT_RESPONSES)
    async def cancel_job(
        job_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        events: EventsDep,
    ) -> JobOut:
        """Cancel a job: a queued one at once; a running one within a moment (its runner
        kills ffmpeg and removes partial outputs; the job then reads "cancelled").
        Cancelling a cancelled job changes nothing; a finished one is a 409."""
        before, library_id = await _job_with_library(db, principal, job_id, "write")
        try:
            job = await rows.request_cancel(db, job_id)
        except LookupError:
            raise HTTPException(404, "no such job") from None
        except JobConflict as exc:
            raise HTTPException(409, str(exc)) from None
        if await _audit_transition(request, db, principal, "job.cancel", before, job):
            # A running job stays "running" with cancel_requested until its runner has
            # stopped ffmpeg; the runner then publishes "cancelled".
            await events.publish(job_event(job, library_id))
        return JobOut.of(job)

    @router.post("/{job_id}/retry", response_model=JobOut, responses=CONFLICT_RESPONSES)
    async def retry_job(
        job_id: str,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        events: EventsDep,
    ) -> JobOut:
        """Queue a failed or cancelled job again with a fresh count of attempts."""
        before, library_id = await _job_with_library(db, principal, job_id, "write")
        try:
            job = await rows.retry(db, job_id, max_attempts=settings.job_max_attempts)
        except LookupError:
            raise HTTPException(404, "no such job") from None
        except JobConflict as exc:
            raise HTTPException(409, str(exc)) from None
        if await _audit_transition(request, db, principal, "job.retry", before, job):
            await events.publish(job_event(job, library_id))
        return JobOut.of(job)

    return router


async def _job(db: Database, principal: Principal, job_id: str, want: Access) -> Job:
    """The job, if the principal has ``want`` access to its track's library."""
    return (await _job_with_library(db, principal, job_id, want))[0]


async def _job_with_library(
    db: Database, principal: Principal, job_id: str, want: Access
) -> tuple[Job, str]:
    """The job and its library, if the principal has ``want`` access to that library."""
    job = await rows.get_job(db, job_id)
    track = await get_track(db, job.track_id) if job is not None else None
    if job is None or track is None:
        raise HTTPException(404, "no such job")
    require_access(principal, track.library_id, want, "job")
    return job, track.library_id


async def _audit_transition(
    request: Request, db: Database, principal: Principal, action: str, before: Job, after: Job
) -> bool:
    """Record the change; False when there was none."""
    if (before.status, before.cancel_requested) == (after.status, after.cancel_requested):
        return False  # nothing changed (cancelling a cancelled job): nothing to record
    await audit.write(
        db,
        actor(request, principal),
        action,
        "job",
        after.id,
        before={"status": before.status, "cancel_requested": before.cancel_requested},
        after={"status": after.status, "cancel_requested": after.cancel_requested},
    )
    return True
