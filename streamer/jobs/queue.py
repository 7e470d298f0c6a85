"""Queueing jobs: what any process may do (a serving worker, the CLI, a runner).

Kept apart from the runner (streamer.jobs.runner) so that the serving workers, which only
queue, never import taskiq and its transports (aiohttp, zmq: about 12 MB per worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from streamer.db import Database, Job
from streamer.events.publish import EventPublisher, job_event
from streamer.jobs import rows
from streamer.renditions.outputs import source_hash
from streamer.settings import Settings
from transcoder.ladder import Rendition as LadderRendition
from transcoder.ladder import ladder_hash

__all__ = ["RunnerConfig", "queue_transcodes"]

_MAX_BACKOFF = 3600.0


class RunnerConfig:
    """What the runner needs from the settings, as plain values (tests build their own)."""

    def __init__(
        self,
        *,
        ladder: Sequence[LadderRendition],
        segment_seconds: float,
        work_dir: Path,
        loudness_target: float | None = None,
        concurrency: int = 1,
        max_attempts: int = 3,
        retry_seconds: float = 10.0,
        poll_seconds: float = 0.5,
        stale_seconds: float = 60.0,
        ffmpeg: str | None = None,
    ) -> None:
        self.ladder = tuple(ladder)
        self.segment_seconds = segment_seconds
        self.loudness_target = loudness_target
        self.ladder_hash = ladder_hash(self.ladder, segment_seconds, loudness_target)
        self.work_dir = work_dir
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.poll_seconds = poll_seconds
        self.stale_seconds = stale_seconds
        self.ffmpeg = ffmpeg  # None: the one transcoder.ffmpeg.ffmpeg_exe finds

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerConfig:
        return cls(
            ladder=settings.renditions,
            segment_seconds=settings.segment_seconds,
            work_dir=settings.data_dir / "work",
            loudness_target=settings.loudness_target,
            concurrency=settings.job_concurrency,
            max_attempts=settings.job_max_attempts,
            retry_seconds=settings.job_retry_seconds,
            poll_seconds=settings.job_poll_seconds,
            stale_seconds=settings.job_stale_seconds,
            ffmpeg=settings.ffmpeg_path,
        )

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``, after ``attempt`` failed ones."""
        return float(min(self.retry_seconds * 2 ** max(attempt - 1, 0), _MAX_BACKOFF))


async def queue_transcodes(
    db: Database,
    config: RunnerConfig,
    *,
    roots: Sequence[str] = (),
    track_ids: Sequence[str] = (),
    force: bool = False,
    events: EventPublisher | None = None,
) -> list[Job]:
    """Queue transcodes into ``config``'s ladder of the tracks that need one (see
    ``rows.enqueue_transcodes``); any node may call it, a runner picks the jobs up.
    ``events`` publishes a job event for each job queued."""
    queued: list[tuple[Job, str]] = []
    jobs = await rows.enqueue_transcodes(
        db,
        ladder_hash=config.ladder_hash,
        source_hash=source_hash,
        max_attempts=config.max_attempts,
        roots=roots,
        track_ids=track_ids,
        force=force,
        on_queued=lambda job, track: queued.append((job, track.library_id)),
    )
    if events is not None:
        await events.publish_many([job_event(job, library) for job, library in queued])
    return jobs
