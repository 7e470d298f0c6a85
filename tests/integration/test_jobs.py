"""The job runner, against real ffmpeg on generated audio and a real SQLite database.

Each behaviour the transcode issue asks of jobs has a test: progress to success,
idempotence, cancel (queued and running: ffmpeg killed, nothing left behind), retries with
backoff for transient failures only, bad input failing the track, retry on request,
crash recovery at start-up, stale heartbeats, and interruption when the runner stops.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from streamer import cli
from streamer.db import Database, Job, Rendition, Track
from streamer.db.models import utcnow
from streamer.errors import StorageUnavailable
from streamer.jobs import JobConflict, RunnerConfig, rows
from streamer.jobs.runner import JobRunner
from streamer.settings import Settings
from streamer.storage.base import ObjectStore
from streamer.storage.registry import StoreRegistry
from tests.fixtures.audio import make_audio, unknown_codec_wav
from tests.fixtures.servers import scan_roots

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Env:
    settings: Settings
    db: Database
    stores: StoreRegistry
    root: str
    config: RunnerConfig
    runners: list[JobRunner]

    def runner(
        self, store_for: Callable[[str], Awaitable[ObjectStore]] | None = None, **kw: object
    ) -> JobRunner:
        runner = JobRunner(self.db, store_for or self.stores.get, self.config, **kw)  # type: ignore[arg-type]
        self.runners.append(runner)
        return runner

    async def track_id(self, name: str) -> str:
        async with self.db.session() as session:
            track_id = await session.scalar(select(Track.id).where(Track.key == name))
        assert track_id is not None, name
        return track_id

    async def job_for(self, name: str) -> Job:
        track_id = await self.track_id(name)
        async with self.db.session() as session:
            job = await session.scalar(
                select(Job).where(Job.track_id == track_id).order_by(Job.created_at.desc())
            )
        assert job is not None
        return job

    async def wait(
        self, job_id: str, until: Callable[[Job], bool] = lambda j: j.status in TERMINAL
    ) -> Job:
        async with asyncio.timeout(60):
            while True:
                job = await rows.get_job(self.db, job_id)
                assert job is not None
                if until(job):
                    return job
                await asyncio.sleep(0.05)

    async def renditions(self, name: str) -> list[Rendition]:
        track_id = await self.track_id(name)
        async with self.db.session() as session:
            found = await session.scalars(select(Rendition).where(Rendition.track_id == track_id))
            return list(found)


@pytest.fixture
def scanned(tmp_path: Path) -> tuple[Settings, str]:
    """A scanned library: a 2 s MP3, a 2-minute FLAC and a WAV of an unknown codec."""
    library = tmp_path / "library"
    make_audio(library / "short.mp3", "mp3", 2.0)
    make_audio(library / "long.flac", "flac", 120.0, frequency=220)
    unknown_codec_wav(library / "unknown-codec.wav")
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", workers=1, job_poll_seconds=0.05, job_retry_seconds=0.05
    )
    root = cli.normalise_root(str(library))
    scan_roots(settings, [root])
    return settings, root


@pytest.fixture
async def env(scanned: tuple[Settings, str]) -> AsyncIterator[Env]:
    settings, root = scanned
    config = RunnerConfig.from_settings(settings)
    config.concurrency = 2
    db = await asyncio.to_thread(Database, settings.effective_database_url)
    environment = Env(settings, db, StoreRegistry(settings), root, config, [])
    try:
        yield environment
    finally:
        for runner in environment.runners:
            await runner.stop(grace=10)
        await environment.stores.close()
        await environment.db.dispose()


def ffmpeg_processes_for(track_id: str) -> list[int]:
    """PIDs of processes whose command line names this track's transcode directory."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if f"transcode-{track_id}".encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


async def stored_objects(env: Env, track_id: str) -> list[str]:
    base = Path(env.root) / ".streamer" / "tracks" / track_id

    def walk() -> list[str]:
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())

    return await asyncio.to_thread(walk)


async def work_dir_entries(env: Env) -> list[str]:
    return await asyncio.to_thread(lambda: sorted(os.listdir(env.config.work_dir)))


async def test_a_job_runs_to_success_reporting_progress_and_storing_renditions(env: Env) -> None:
    job = (await env.runner().enqueue(track_ids=[await env.track_id("short.mp3")]))[0]
    assert (job.status, job.progress, job.attempts) == ("queued", 0.0, 0)
    await env.runners[0].start()

    done = await env.wait(job.id)

    assert (done.status, done.progress, done.attempts, done.error) == ("succeeded", 1.0, 1, None)
    assert done.started_at is not None
    assert done.finished_at is not None
    assert sorted(r.name for r in await env.renditions("short.mp3")) == [
        "aac_128",
        "aac_256",
        "aac_64",
    ]
    assert await work_dir_entries(env) == []


async def test_progress_is_reported_while_ffmpeg_runs(env: Env) -> None:
    runner = env.runner()
    job = (await runner.enqueue(track_ids=[await env.track_id("long.flac")]))[0]
    await runner.start()

    midway = await env.wait(job.id, lambda j: 0.0 < j.progress < 1.0 or j.status in TERMINAL)

    assert midway.status == "running"
    assert 0.0 < midway.progress < 1.0
    assert midway.heartbeat_at is not None
    assert (await env.wait(job.id)).status == "succeeded"


async def test_unchanged_content_with_an_unchanged_ladder_is_never_transcoded_twice(
    env: Env,
) -> None:
    runner = env.runner()
    track_id = await env.track_id("short.mp3")
    first = (await runner.enqueue(track_ids=[track_id]))[0]
    await runner.start()
    await env.wait(first.id)
    created = {r.name: r.created_at for r in await env.renditions("short.mp3")}

    assert await runner.enqueue(track_ids=[track_id]) == []
    # A job queued regardless (by hand, or before the first finished) finds the work done.
    async with env.db.session() as session:
        session.add(
            Job(
                id="f" * 32,
                track_id=track_id,
                status="queued",
                content_hash=first.content_hash,
                ladder_hash=first.ladder_hash,
            )
        )
        await session.commit()
    runner.wake()
    assert (await env.wait("f" * 32)).status == "succeeded"
    assert {r.name: r.created_at for r in await env.renditions("short.mp3")} == created


async def test_force_transcodes_again_into_a_new_folder(env: Env) -> None:
    runner = env.runner()
    track_id = await env.track_id("short.mp3")
    await runner.start()
    await env.wait((await runner.enqueue(track_ids=[track_id]))[0].id)
    before = {r.key for r in await env.renditions("short.mp3")}

    again = await runner.enqueue(track_ids=[track_id], force=True)
    assert len(again) == 1
    assert (await env.wait(again[0].id)).status == "succeeded"

    after = {r.key for r in await env.renditions("short.mp3")}
    assert len(after) == 3
    assert not before & after


async def test_a_track_never_has_two_active_jobs(env: Env) -> None:
    runner = env.runner()
    track_id = await env.track_id("short.mp3")

    first = await runner.enqueue(track_ids=[track_id])
    second = await runner.enqueue(track_ids=[track_id], force=True)

    assert [j.id for j in first] == [j.id for j in second]
    async with env.db.session() as session:
        clash = Job(
            id="e" * 32, track_id=track_id, status="queued", content_hash="x", ladder_hash="y"
        )
        session.add(clash)
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_cancelling_a_queued_job_is_immediate(env: Env) -> None:
    runner = env.runner()
    job = (await runner.enqueue(track_ids=[await env.track_id("short.mp3")]))[0]

    cancelled = await rows.request_cancel(env.db, job.id)

    assert (cancelled.status, cancelled.cancel_requested) == ("cancelled", True)
    await runner.start()
    await asyncio.sleep(0.3)
    assert (await rows.get_job(env.db, job.id)).status == "cancelled"  # type: ignore[union-attr]
    assert await env.renditions("short.mp3") == []


async def test_cancelling_a_running_job_kills_ffmpeg_and_leaves_nothing_behind(env: Env) -> None:
    runner = env.runner()
    track_id = await env.track_id("long.flac")
    job = (await runner.enqueue(track_ids=[track_id]))[0]
    await runner.start()
    await env.wait(job.id, lambda j: j.progress > 0 or j.status in TERMINAL)
    assert ffmpeg_processes_for(track_id)

    await rows.request_cancel(env.db, job.id)
    done = await env.wait(job.id)

    assert (done.status, done.error) == ("cancelled", "cancelled")
    assert ffmpeg_processes_for(track_id) == []
    assert await work_dir_entries(env) == []
    assert await stored_objects(env, track_id) == []
    assert await env.renditions("long.flac") == []


async def test_a_finished_job_cannot_be_cancelled(env: Env) -> None:
    runner = env.runner()
    job = (await runner.enqueue(track_ids=[await env.track_id("short.mp3")]))[0]
    await runner.start()
    await env.wait(job.id)

    with pytest.raises(JobConflict, match="succeeded"):
        await rows.request_cancel(env.db, job.id)


class FlakyStores:
    """A store lookup that fails ``failures`` times, then works: a storage outage."""

    def __init__(self, env: Env, failures: int) -> None:
        self.env, self.failures, self.calls = env, failures, 0

    async def get(self, root: str) -> ObjectStore:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageUnavailable("the bucket is not answering")
        return await self.env.stores.get(root)


async def test_transient_failures_are_retried_with_backoff(env: Env) -> None:
    flaky = FlakyStores(env, failures=2)
    runner = env.runner(flaky.get)
    job = (await runner.enqueue(track_ids=[await env.track_id("short.mp3")]))[0]
    await runner.start()

    done = await env.wait(job.id)

    assert (done.status, done.attempts, flaky.calls) == ("succeeded", 3, 3)
    assert env.config.backoff(1) < env.config.backoff(2) < env.config.backoff(3)


async def test_a_job_out_of_attempts_fails_with_the_reason_and_can_be_retried(env: Env) -> None:
    flaky = FlakyStores(env, failures=env.config.max_attempts)
    runner = env.runner(flaky.get)
    job = (await runner.enqueue(track_ids=[await env.track_id("short.mp3")]))[0]
    await runner.start()

    failed = await env.wait(job.id)
    assert (failed.status, failed.attempts) == ("failed", env.config.max_attempts)
    assert failed.error == "the bucket is not answering"

    again = await rows.retry(env.db, job.id, max_attempts=3)
    assert (again.status, again.attempts, again.error) == ("queued", 0, None)
    runner.wake()
    assert (await env.wait(job.id)).status == "succeeded"


@pytest.mark.parametrize("status", ["queued", "succeeded"])
async def test_only_failed_or_cancelled_jobs_can_be_retried(env: Env, status: str) -> None:
    job = (await env.runner().enqueue(track_ids=[await env.track_id("short.mp3")]))[0]
    async with env.db.session() as session:
        await session.execute(update(Job).where(Job.id == job.id).values(status=status))
        await session.commit()

    with pytest.raises(JobConflict, match=status):
        await rows.retry(env.db, job.id, max_attempts=3)


async def test_bad_input_fails_at_once_and_marks_the_track(env: Env) -> None:
    runner = env.runner()
    job = (await runner.enqueue(track_ids=[await env.track_id("unknown-codec.wav")]))[0]
    await runner.start()

    done = await env.wait(job.id)

    assert (done.status, done.attempts) == ("failed", 1)
    assert done.error is not None
    assert "ffmpeg cannot read the source" in done.error
    assert done.stderr_tail
    assert "decoder" in done.stderr_tail.lower()  # "Decoder" in ffmpeg 5.1's wording
    async with env.db.session() as session:
        track = await session.scalar(select(Track).where(Track.key == "unknown-codec.wav"))
    assert track is not None
    assert track.status == "error"
    assert track.error is not None
    assert track.error.startswith("ffmpeg cannot decode it")


async def test_a_source_deleted_while_transcoding_stores_nothing(env: Env) -> None:
    runner = env.runner()
    track_id = await env.track_id("long.flac")
    job = (await runner.enqueue(track_ids=[track_id]))[0]
    await runner.start()
    await env.wait(job.id, lambda j: j.progress > 0 or j.status in TERMINAL)

    await asyncio.to_thread((Path(env.root) / "long.flac").unlink)
    done = await env.wait(job.id)

    assert done.status == "failed"
    assert done.attempts == 1
    assert done.error == "long.flac was deleted while it was being transcoded"
    assert await env.renditions("long.flac") == []
    assert await stored_objects(env, track_id) == []


async def test_jobs_left_running_by_a_crash_are_requeued_at_start_up(env: Env) -> None:
    job = (await env.runner().enqueue(track_ids=[await env.track_id("short.mp3")]))[0]
    # What a killed process leaves: a running row with a recent heartbeat and no worker.
    async with env.db.session() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status="running", attempts=1, worker="gone:1", heartbeat_at=utcnow())
        )
        await session.commit()

    await env.runner().start()
    done = await env.wait(job.id)

    assert (done.status, done.attempts) == ("succeeded", 2)


async def test_a_shared_runner_requeues_only_jobs_with_a_stale_heartbeat(env: Env) -> None:
    fresh = (await env.runner().enqueue(track_ids=[await env.track_id("short.mp3")]))[0]
    stale = (await env.runner().enqueue(track_ids=[await env.track_id("long.flac")]))[0]
    long_ago = utcnow() - timedelta(seconds=env.config.stale_seconds * 2)
    async with env.db.session() as session:
        for job_id, beat in ((fresh.id, utcnow()), (stale.id, long_ago)):
            await session.execute(
                update(Job).where(Job.id == job_id).values(status="running", heartbeat_at=beat)
            )
        await session.commit()

    await rows.requeue_stale(env.db, older_than=utcnow() - timedelta(seconds=30))

    assert (await rows.get_job(env.db, fresh.id)).status == "running"  # type: ignore[union-attr]
    assert (await rows.get_job(env.db, stale.id)).status == "queued"  # type: ignore[union-attr]


async def test_stopping_the_runner_interrupts_jobs_and_queues_them_again(env: Env) -> None:
    runner = env.runner()
    track_id = await env.track_id("long.flac")
    job = (await runner.enqueue(track_ids=[track_id]))[0]
    await runner.start()
    await env.wait(job.id, lambda j: j.progress > 0 or j.status in TERMINAL)

    await runner.stop(grace=10)

    after = await rows.get_job(env.db, job.id)
    assert after is not None
    assert (after.status, after.attempts) == ("queued", 0)
    assert ffmpeg_processes_for(track_id) == []
    assert await work_dir_entries(env) == []


async def test_concurrency_bounds_how_many_jobs_run_at_once(env: Env) -> None:
    env.config.concurrency = 1
    runner = env.runner()
    jobs = await runner.enqueue(
        track_ids=[await env.track_id("long.flac"), await env.track_id("short.mp3")]
    )
    await runner.start()
    seen = 0
    async with asyncio.timeout(60):
        while True:
            page = await rows.list_jobs(env.db)
            if all(j.status in TERMINAL for j in page.items):
                break
            seen = max(seen, sum(j.status == "running" for j in page.items))
            await asyncio.sleep(0.02)
    assert seen == 1
    assert len(jobs) == 2


async def test_loudness_normalisation_brings_a_track_to_the_target_with_one_gain(
    env: Env,
) -> None:
    track_id = await env.track_id("short.mp3")
    plain = env.runner()
    await plain.start()
    await env.wait((await plain.enqueue(track_ids=[track_id]))[0].id)
    async with env.db.session() as session:
        before = await session.get(Track, track_id)
    assert before is not None
    assert before.loudness_integrated is not None
    assert before.loudness_integrated < -18.0  # a 1/8-scale sine
    # Stopped, or it could claim the new job and transcode it without the target.
    await plain.stop(grace=10)

    env.config = RunnerConfig(
        ladder=env.config.ladder,
        segment_seconds=env.config.segment_seconds,
        work_dir=env.config.work_dir,
        loudness_target=-14.0,
        poll_seconds=0.05,
    )
    normalising = env.runner()
    # A new target is a new ladder: the track needs transcoding again.
    jobs = await normalising.enqueue(track_ids=[track_id])
    assert len(jobs) == 1
    await normalising.start()
    assert (await env.wait(jobs[0].id)).status == "succeeded"

    async with env.db.session() as session:
        after = await session.get(Track, track_id)
        renditions = list(
            await session.scalars(
                select(Rendition).where(Rendition.ladder_hash == env.config.ladder_hash)
            )
        )
    assert after is not None
    assert after.loudness_integrated == pytest.approx(-14.0, abs=0.5)
    assert after.true_peak is not None
    assert after.true_peak <= -1.0
    gains = {r.gain_db for r in renditions}
    assert len(gains) == 1
    assert gains.pop() == pytest.approx(-14.0 - before.loudness_integrated, abs=0.5)


async def test_a_source_replaced_while_transcoding_stores_nothing(env: Env) -> None:
    runner = env.runner()
    track_id = await env.track_id("long.flac")
    job = (await runner.enqueue(track_ids=[track_id]))[0]
    await runner.start()
    await env.wait(job.id, lambda j: j.progress > 0 or j.status in TERMINAL)

    await asyncio.to_thread((Path(env.root) / "long.flac").write_bytes, b"fLaC" + b"\0" * 4096)
    done = await env.wait(job.id)

    assert (done.status, done.error) == (
        "failed",
        "long.flac changed while it was being transcoded",
    )
    assert await env.renditions("long.flac") == []


class FailingUploads:
    """The real store, except that uploading the waveform (the last object a transcode
    stores, after every rendition) fails: an outage in the middle of storing."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def put_bytes(self, key: str, data: bytes, **kwargs: object) -> object:
        if key.endswith("peaks.json"):
            raise StorageUnavailable("the bucket stopped answering")
        return await self._store.put_bytes(key, data, **kwargs)  # type: ignore[arg-type]


async def test_a_failure_while_storing_removes_what_was_already_uploaded(env: Env) -> None:
    async def failing(root: str) -> ObjectStore:
        return FailingUploads(await env.stores.get(root))  # type: ignore[return-value]

    env.config.max_attempts = 1
    runner = env.runner(failing)
    track_id = await env.track_id("short.mp3")
    job = (await runner.enqueue(track_ids=[track_id]))[0]
    await runner.start()

    done = await env.wait(job.id)

    assert (done.status, done.error) == ("failed", "the bucket stopped answering")
    assert await stored_objects(env, track_id) == []
    assert await env.renditions("short.mp3") == []
