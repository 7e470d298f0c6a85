"""Awkward inputs, end to end: what the scan and the transcode job make of each.

One library holds every case; it is scanned and its jobs are run by the job runner with a
ladder of AAC, FLAC and Opus (the optional renditions, configured in settings), and the
table below says what must come out: the track's status and reason, the job's outcome, and
each rendition's sample rate and channel count. A 3-hour file gets a FLAC-only ladder in a
library of its own so that the suite stays quick.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from streamer import cli
from streamer.db import Database, Job, Rendition, Track
from streamer.jobs import RunnerConfig
from streamer.jobs.runner import JobRunner
from streamer.jobs.watch import watch_jobs
from streamer.settings import Settings
from streamer.storage.registry import StoreRegistry
from tests.fixtures.audio import (
    FFMPEG_TIMEOUT,
    awkward_files,
    make_audio,
    make_png,
    unknown_codec_wav,
)
from tests.fixtures.servers import scan_roots
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

LADDER = ("aac_64", "flac", "opus_64")
UNICODE_TAGS = {"title": "Ça ira — 東京 🎧", "artist": "Zoë Ørsted", "album": "Ünïcødé"}
THREE_HOURS = 3 * 3600.0


def _lavfi(path: Path, source: str, *args: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
         *args, str(path)],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip
    return path


@dataclass(frozen=True)
class Case:
    """One awkward input and what must become of it."""

    name: str
    make: Callable[[Path], object]  # writes the file into the library folder
    track: str  # the track's status: ok or error
    reason: str | None = None  # the start of the track's (or failed job's) reason
    job: str | None = None  # the job's outcome; None: the scan refused it, no job
    renditions: dict[str, tuple[int, int]] = field(default_factory=dict)  # (Hz, channels)
    seconds: float | None = None  # the source's duration, which every rendition must match


def _from_awkward(name: str) -> Callable[[Path], object]:
    def make(folder: Path) -> object:
        files = awkward_files(folder / ".awkward")
        return shutil.move(files[name], folder / name)

    return make


CASES = [
    Case("corrupt.mp3", _from_awkward("corrupt.mp3"), "error", "corrupt MP3"),
    Case("empty.mp3", _from_awkward("empty.mp3"), "error", "empty file"),
    Case("text.mp3", _from_awkward("text.mp3"), "error", "not an audio file (looks like text)"),
    Case("truncated.flac", _from_awkward("truncated.flac"), "error", "truncated FLAC"),
    Case(
        "unknown-codec.wav",
        lambda folder: unknown_codec_wav(folder / "unknown-codec.wav"),
        "error",
        "ffmpeg cannot decode it: ffmpeg cannot read the source",
        job="failed",
    ),
    Case(
        "mono.mp3",
        lambda folder: make_audio(folder / "mono.mp3", "mp3", 3.0, channels=1),
        "ok",
        job="succeeded",
        renditions={"aac_64": (44_100, 1), "flac": (44_100, 1), "opus_64": (48_000, 1)},
        seconds=3.0,
    ),
    Case(
        "8khz.wav",
        lambda folder: _lavfi(
            folder / "8khz.wav", "sine=frequency=300:sample_rate=8000:duration=3", "-ac", "1"
        ),
        "ok",
        job="succeeded",
        renditions={"aac_64": (48_000, 1), "flac": (8_000, 1), "opus_64": (48_000, 1)},
        seconds=3.0,
    ),
    Case(
        "96khz-24bit.flac",
        lambda folder: _lavfi(
            folder / "96khz-24bit.flac",
            "sine=frequency=440:sample_rate=96000:duration=3",
            "-ac",
            "2",
            "-sample_fmt",
            "s32",
            "-bits_per_raw_sample",
            "24",
        ),
        "ok",
        job="succeeded",
        renditions={"aac_64": (48_000, 2), "flac": (96_000, 2), "opus_64": (48_000, 2)},
        seconds=3.0,
    ),
    Case(
        "surround-5.1.wav",
        lambda folder: _lavfi(
            folder / "surround-5.1.wav",
            "sine=frequency=440:sample_rate=48000:duration=3",
            "-af",
            "aformat=channel_layouts=5.1",
            "-c:a",
            "pcm_s16le",
        ),
        "ok",
        job="succeeded",
        renditions={"aac_64": (48_000, 2), "flac": (48_000, 2), "opus_64": (48_000, 2)},
        seconds=3.0,
    ),
    Case(
        "ünïcødé — tags & cover.mp3",
        lambda folder: make_audio(
            folder / "ünïcødé — tags & cover.mp3", "mp3", 3.0, tags=UNICODE_TAGS, cover=make_png()
        ),
        "ok",
        job="succeeded",
        renditions={"aac_64": (44_100, 2), "flac": (44_100, 2), "opus_64": (48_000, 2)},
        seconds=3.0,
    ),
    Case(
        "deleted-while-transcoding.flac",
        lambda folder: make_audio(
            folder / "deleted-while-transcoding.flac", "flac", 150.0, frequency=220
        ),
        "ok",
        "deleted-while-transcoding.flac was deleted while it was being transcoded",
        job="failed",
    ),
]
THREE_HOUR_CASE = Case(
    "three-hours.wav",
    lambda folder: _lavfi(
        folder / "three-hours.wav",
        f"sine=frequency=300:sample_rate=8000:duration={THREE_HOURS:.0f}",
        "-ac",
        "1",
    ),
    "ok",
    job="succeeded",
    renditions={"flac": (8_000, 1)},
    seconds=THREE_HOURS,
)


@dataclass
class Outcome:
    track: Track
    job: Job | None
    renditions: dict[str, Rendition]


async def _run_jobs(settings: Settings, root: str, delete_midway: str | None) -> None:
    db = Database(settings.effective_database_url)
    stores = StoreRegistry(settings)
    runner = JobRunner(db, stores.get, RunnerConfig.from_settings(settings))
    try:
        jobs = await runner.enqueue(roots=[root])
        await runner.start()
        deleter = None
        if delete_midway is not None:
            deleter = asyncio.create_task(_delete_once_running(db, root, delete_midway))
        await watch_jobs(db, [job.id for job in jobs], progress=False)
        if deleter is not None:
            await deleter
    finally:
        await runner.stop()
        await stores.close()
        await db.dispose()


async def _delete_once_running(db: Database, root: str, key: str) -> None:
    async with asyncio.timeout(120):
        while True:
            async with db.session() as session:
                progress = await session.scalar(
                    select(Job.progress)
                    .join(Track, Track.id == Job.track_id)
                    .where(Track.key == key, Job.status == "running")
                )
            if progress:
                await asyncio.to_thread((Path(root) / key).unlink)
                return
            await asyncio.sleep(0.05)


async def _outcomes(settings: Settings) -> dict[str, Outcome]:
    db = Database(settings.effective_database_url)
    try:
        async with db.session() as session:
            tracks = list((await session.scalars(select(Track))).all())
            jobs = list((await session.scalars(select(Job))).all())
            renditions = list((await session.scalars(select(Rendition))).all())
    finally:
        await db.dispose()
    return {
        track.key: Outcome(
            track,
            next((j for j in jobs if j.track_id == track.id), None),
            {r.name: r for r in renditions if r.track_id == track.id},
        )
        for track in tracks
    }


def _library(base: Path, cases: list[Case], **settings: object) -> dict[str, Outcome]:
    folder = base / "library"
    for case in cases:
        case.make(folder)
    shutil.rmtree(folder / ".awkward", ignore_errors=True)
    config = Settings.load(
        {}, data_dir=base / "data", job_poll_seconds=0.05, job_concurrency=2, **settings
    )
    root = cli.normalise_root(str(folder))
    scan_roots(config, [root])
    midway = next((c.name for c in cases if "deleted-while" in c.name), None)
    asyncio.run(_run_jobs(config, root, midway))
    return asyncio.run(_outcomes(config))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return _library(tmp_path_factory.mktemp("awkward"), CASES, ladder=list(LADDER))


@pytest.fixture(scope="module")
def three_hours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return _library(tmp_path_factory.mktemp("three-hours"), [THREE_HOUR_CASE], ladder=["flac"])


def _check(case: Case, outcome: Outcome) -> None:
    track, job = outcome.track, outcome.job
    assert track.status == case.track, track.error
    if case.job is None:
        assert job is None
    else:
        assert job is not None
        assert job.status == case.job, job.error
    if case.reason is not None:
        reasons = [track.error or "", (job.error if job else None) or ""]
        assert any(reason.startswith(case.reason) for reason in reasons), reasons
    shapes = {name: (r.sample_rate, r.channels) for name, r in outcome.renditions.items()}
    assert shapes == case.renditions
    if case.seconds is not None:
        for rendition in outcome.renditions.values():
            # Content duration, priming excluded: the source's, within one AAC frame.
            assert rendition.duration == pytest.approx(case.seconds, abs=1024 / 44_100)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_awkward_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    _check(case, outcomes[case.name])


@pytest.mark.slow
def test_a_three_hour_file_is_transcoded_whole_in_segments_of_six_seconds(
    three_hours: dict[str, Outcome],
) -> None:
    outcome = three_hours[THREE_HOUR_CASE.name]
    _check(THREE_HOUR_CASE, outcome)
    flac = outcome.renditions["flac"]
    assert flac.duration == pytest.approx(THREE_HOURS, abs=0.001)


def test_unicode_tags_and_cover_survive(outcomes: dict[str, Outcome]) -> None:
    track = outcomes["ünïcødé — tags & cover.mp3"].track
    assert (track.title, track.artist, track.album) == (
        UNICODE_TAGS["title"],
        UNICODE_TAGS["artist"],
        UNICODE_TAGS["album"],
    )
    assert track.cover_mime == "image/png"
    assert track.cover_key is not None
