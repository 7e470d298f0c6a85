"""Following jobs from the command line: a bar per running job until all have ended.

It reads the job rows, so it shows the same thing whichever process runs the jobs.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from tqdm import tqdm

from streamer.db import Database, Job, Track
from streamer.jobs.rows import TERMINAL

__all__ = ["TranscodeOutcome", "watch_jobs"]

_POLL = 0.2


@dataclass
class TranscodeOutcome:
    succeeded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (track key, reason)
    cancelled: int = 0


async def watch_jobs(db: Database, job_ids: Sequence[str], *, progress: bool) -> TranscodeOutcome:
    """Wait until every job of ``job_ids`` has ended; with ``progress``, draw an overall
    bar and one bar per running job on stderr, and a line per job as it ends."""
    outcome = TranscodeOutcome()
    pending = set(job_ids)
    overall = tqdm(
        total=len(job_ids), desc="jobs", unit="job", disable=not progress, file=sys.stderr
    )
    bars: dict[str, Any] = {}
    try:
        while pending:
            async with db.session() as session:
                found = (
                    await session.execute(
                        select(Job, Track.key)
                        .join(Track, Track.id == Job.track_id)
                        .where(Job.id.in_(sorted(pending)))
                    )
                ).all()
            for job, key in found:
                bar = bars.get(job.id)
                if job.status == "running" and bar is None:
                    bar = bars[job.id] = tqdm(
                        total=100,
                        desc=key,
                        unit="%",
                        leave=False,
                        disable=not progress,
                        file=sys.stderr,
                        position=len(bars) + 1,
                    )
                if bar is not None:
                    bar.n = round(job.progress * 100)
                    bar.refresh()
                if job.status in TERMINAL:
                    pending.discard(job.id)
                    _count(outcome, job, key)
                    if bar is not None:
                        bar.close()
                        bars.pop(job.id)
                    overall.update(1)
                    if progress:
                        tqdm.write(f"{job.status}: {key}", file=sys.stderr)
            missing = pending - {job.id for job, _ in found}
            pending -= missing  # deleted with their track
            if pending:
                await asyncio.sleep(_POLL)
    finally:
        for bar in bars.values():
            bar.close()
        overall.close()
    return outcome


def _count(outcome: TranscodeOutcome, job: Job, key: str) -> None:
    if job.status == "succeeded":
        outcome.succeeded += 1
    elif job.status == "cancelled":
        outcome.cancelled += 1
    else:
        outcome.failed.append((key, job.error or "failed"))
