"""Background jobs: job rows in the database, and the runner that works through them."""

from __future__ import annotations

from streamer.jobs.rows import JobConflict, JobPage
from streamer.jobs.runner import TRANSCODE_TASK, JobRunner, RunnerConfig

__all__ = ["TRANSCODE_TASK", "JobConflict", "JobPage", "JobRunner", "RunnerConfig"]
