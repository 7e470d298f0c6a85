"""`streamer worker` processes taking transcode jobs from a Redis stream (taskiq-redis).

Real processes, a real redis-server, real ffmpeg: jobs queued by anyone (here the test,
as a node's API would) are sent to the stream once, run once by whichever worker takes
them, and a worker stopped with SIGTERM gives its running job back for another."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from streamer import cli
from streamer.db import Database, Job, Track
from streamer.jobs import RunnerConfig
from streamer.jobs.queue import queue_transcodes
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import scan_roots

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Cluster:
    settings: Settings
    root: str
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.workers)}.log").open("wb")
        with log:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamer.cli", "worker",
                 "--data-dir", str(self.settings.data_dir), "--concurrency", "1"],
                env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.workers.append(process)
        return process

    def queue(self, *names: str) -> list[str]:
        async def go() -> list[str]:
            db = Database(self.settings.effective_database_url)
            try:
                async with db.session() as session:
                    ids = list(
                        (await session.scalars(select(Track.id).where(Track.key.in_(names)))).all()
                    )
                jobs = await queue_transcodes(
                    db, RunnerConfig.from_settings(self.settings), track_ids=ids
                )
                return [job.id for job in jobs]
            finally:
                await db.dispose()

        return asyncio.run(go())

    def jobs(self) -> dict[str, Job]:
        async def go() -> dict[str, Job]:
            db = Database(self.settings.effective_database_url)
            try:
                async with db.session() as session:
                    return {job.id: job for job in (await session.scalars(select(Job))).all()}
            finally:
                await db.dispose()

        return asyncio.run(go())

    def wait(self, job_ids: list[str], until: tuple[str, ...] = TERMINAL) -> dict[str, Job]:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            jobs = self.jobs()
            if all(jobs[job_id].status in until for job_id in job_ids):
                return jobs
            time.sleep(0.1)
        raise TimeoutError(f"jobs not {until}: {[(j.id, j.status) for j in self.jobs().values()]}")


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    library = tmp_path / "library"
    for n in range(3):
        make_audio(library / f"short-{n}.mp3", "mp3", 2.0, frequency=300 + 100 * n)
    make_audio(library / "long.flac", "flac", 120.0, frequency=220)
    env = {
        "STREAMER_REDIS_URL": redis_url,
        "STREAMER_JOB_BROKER": "redis",
        "STREAMER_JOB_POLL_SECONDS": "0.05",
        "STREAMER_LOG_LEVEL": "info",
    }
    settings = Settings.load(env, data_dir=tmp_path / "data")
    root = cli.normalise_root(str(library))
    scan_roots(settings, [root])
    made = Cluster(settings, root, env, tmp_path, [])
    try:
        yield made
    finally:
        for process in made.workers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.mark.slow
def test_two_workers_run_every_queued_job_exactly_once(cluster: Cluster) -> None:
    cluster.start_worker()
    cluster.start_worker()

    job_ids = cluster.queue("short-0.mp3", "short-1.mp3", "short-2.mp3")
    jobs = cluster.wait(job_ids)

    assert [jobs[job_id].status for job_id in job_ids] == ["succeeded"] * 3
    assert [jobs[job_id].attempts for job_id in job_ids] == [1, 1, 1]
    for process in cluster.workers:
        process.send_signal(signal.SIGTERM)
    assert [process.wait(timeout=15) for process in cluster.workers] == [0, 0]


@pytest.mark.slow
def test_a_worker_stopped_mid_job_gives_it_back_for_another(cluster: Cluster) -> None:
    first = cluster.start_worker()
    (job_id,) = cluster.queue("long.flac")
    cluster.wait([job_id], until=("running",))

    stopped_at = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0
    assert time.monotonic() - stopped_at < 15

    after = cluster.jobs()[job_id]
    assert (after.status, after.attempts) == ("queued", 0)
    cluster.start_worker()
    done = cluster.wait([job_id])[job_id]
    assert (done.status, done.attempts) == ("succeeded", 1)
