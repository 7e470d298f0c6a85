"""Background jobs: job rows in the database, queueing them, and the runner that works
through them (streamer.jobs.runner, imported only where jobs run: it brings taskiq)."""

from __future__ import annotations

from streamer.jobs.queue import RunnerConfig, queue_transcodes
from streamer.jobs.rows import JobConflict, JobPage

__all__ = ["JobConflict", "JobPage", "RunnerConfig", "queue_transcodes"]
