"""A local library scanned by worker processes (streamer.catalogue.probe_workers) gives
the same tracks as one scanned in threads, and the workers fail and stop cleanly."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import streamer.catalogue.scan as scan_module
from streamer.catalogue.probe_workers import (
    ProbeWorkerError,
    ProbeWorkers,
    examine_batch,
    hash_file,
)
from streamer.catalogue.scan import ScanReport, ensure_library, scan_library
from streamer.db import Database, Track, migrate
from streamer.storage.local import LocalStore
from tests.fixtures.audio import awkward_files, copy_sample, make_audio
from transcoder.probe import ProbeError, ProbeResult

FORMATS = ("mp3", "m4a", "flac", "ogg", "opus", "wav", "webm")
# Columns that differ between two scans of the same files: when they ran.
_WHEN = {"created_at", "updated_at", "scanned_at"}


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


async def _database(path: Path, template: Path) -> Database:
    await asyncio.to_thread(shutil.copyfile, template, path)
    return await asyncio.to_thread(Database, f"sqlite+aiosqlite:///{path}")


@pytest.fixture
async def dbs(tmp_path: Path, migrated_database: Path) -> AsyncIterator[tuple[Database, Database]]:
    """Two empty databases: one for the workers' scans, one for the threads'."""
    first = await _database(tmp_path / "workers.sqlite", migrated_database)
    second = await _database(tmp_path / "threads.sqlite", migrated_database)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


@pytest.fixture
def library(tmp_path: Path, audio_samples: dict[str, Path]) -> Path:
    """One file of each sample format, and the awkward files."""
    root = tmp_path / "library"
    for fmt in FORMATS:
        source = audio_samples[fmt]
        copy_sample(source, root / "album" / f"{fmt}{source.suffix}")
    awkward_files(root / "awkward")
    return root


@pytest.fixture
def force_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes from the first file, in batches of three, on any machine."""
    monkeypatch.setattr(scan_module, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(scan_module, "_PROCESS_THRESHOLD", 0)
    monkeypatch.setattr(scan_module, "_BATCH", 3)


async def _scan(db: Database, root: Path, **kwargs: Any) -> ScanReport:
    library = await ensure_library(db, str(root))
    return await scan_library(db, LocalStore(root), library, **kwargs)


def _summary(report: ScanReport) -> dict[str, Any]:
    summary = report.as_dict()
    del summary["seconds"]
    summary["errors"] = sorted(summary["errors"])
    return summary


async def _rows(db: Database) -> dict[str, dict[str, Any]]:
    async with db.session() as session:
        tracks = (await session.scalars(select(Track))).all()
    return {
        t.key: {c: getattr(t, c) for c in Track.__table__.columns.keys() if c not in _WHEN}  # noqa: SIM118
        for t in tracks
    }


@pytest.mark.usefixtures("force_workers")
async def test_workers_and_threads_store_the_same_tracks(
    dbs: tuple[Database, Database], library: Path
) -> None:
    with_workers, with_threads = dbs

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        # concurrency=1 is the one-thread path, whatever the machine.
        a = await _scan(with_workers, library, concurrency=4, batch_size=5)
        b = await _scan(with_threads, library, concurrency=1)
        assert await _rows(with_workers) == await _rows(with_threads)
        return _summary(a), _summary(b)

    first = await both()
    assert first[0] == first[1]
    assert (first[0]["added"], first[0]["failed"]) == (8, 5)
    # Nothing changed; then a touched file, new content, a move, a deletion.
    assert (await both())[0]["unchanged"] == 13
    album = library / "album"
    os.utime(album / "wav.wav", (1_000_000, 1_000_000))
    await asyncio.to_thread(make_audio, album / "mp3.mp3", "mp3", 1.0, tags={"title": "New"})
    (album / "ogg.ogg").rename(album / "renamed.ogg")
    (album / "flac.flac").unlink()
    again = await both()
    assert again[0] == again[1]
    assert {k: again[0][k] for k in ("unchanged", "changed", "moved", "gone")} == {
        "unchanged": 10,
        "changed": 1,
        "moved": 1,
        "gone": 1,
    }


@pytest.mark.usefixtures("force_workers")
async def test_an_album_cover_is_stored_once(
    dbs: tuple[Database, Database], library: Path, sample_cover: bytes
) -> None:
    report = await _scan(dbs[0], library, concurrency=4)
    assert report.added == 8
    covers = [p for p in (library / ".streamer" / "covers").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in covers] == [sample_cover]
    digest = hashlib.sha256(sample_cover).hexdigest()
    keys = {row["cover_key"] for row in (await _rows(dbs[0])).values() if row["cover_key"]}
    assert keys == {f".streamer/covers/{digest[:2]}/{digest}.png"}


async def test_a_few_files_are_read_without_worker_processes(
    dbs: tuple[Database, Database], library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "_usable_cpus", lambda: 2)

    async def no_processes(*_: object) -> None:
        raise AssertionError("a worker process was started")

    monkeypatch.setattr(ProbeWorkers, "_take", no_processes)
    report = await _scan(dbs[0], library, concurrency=4)
    assert (report.added, report.failed) == (8, 5)


def test_examine_batch_reports_each_file(tmp_path: Path, audio_samples: dict[str, Path]) -> None:
    copy_sample(audio_samples["flac"], tmp_path / "a.flac")
    (tmp_path / "text.mp3").write_text("not audio\n" * 100)
    os.symlink("/etc/hostname", tmp_path / "outside.mp3")
    with (tmp_path / "a.flac").open("rb") as fh:
        known_hash = hash_file(fh)[0]
    store = LocalStore(tmp_path)
    new, same, text, missing, outside = examine_batch(
        store,
        [
            ("a.flac", None),
            ("a.flac", known_hash),
            ("text.mp3", None),
            ("missing.mp3", None),
            ("outside.mp3", None),
        ],
    )
    assert isinstance(new.outcome, ProbeResult)
    assert new.content_hash == known_hash
    assert new.outcome.cover is not None
    assert new.cover_digest == hashlib.sha256(new.outcome.cover.data).hexdigest()
    assert (same.content_hash, same.outcome, same.failure) == (known_hash, None, None)
    assert isinstance(text.outcome, ProbeError)
    assert missing.failure is not None
    assert missing.failure[0] == "unreadable"
    assert "No such file" in missing.failure[1]
    assert outside.failure is not None
    assert outside.failure[0] == "vanished"


async def test_a_worker_that_dies_fails_the_call_and_is_replaced(
    tmp_path: Path, audio_samples: dict[str, Path]
) -> None:
    copy_sample(audio_samples["mp3"], tmp_path / "a.mp3")
    store = LocalStore(tmp_path)
    workers = ProbeWorkers(1)
    try:
        (result,) = await workers.examine(store, [("a.mp3", None)])
        assert isinstance(result.outcome, ProbeResult)
        (worker,) = workers._all
        worker.proc.kill()
        with pytest.raises(ProbeWorkerError, match="exited"):
            await workers.examine(store, [("a.mp3", None)])
        assert workers._all == set()
        (again,) = await workers.examine(store, [("a.mp3", None)])
        assert again == result
    finally:
        await workers.close()
    assert workers._all == set()


async def test_a_cancelled_call_kills_its_worker(tmp_path: Path) -> None:
    # A big batch of one missing file, repeated: the call is still running when cancelled.
    store = LocalStore(tmp_path)
    workers = ProbeWorkers(1)
    try:
        call = asyncio.ensure_future(workers.examine(store, [("missing.mp3", None)] * 200_000))
        await asyncio.sleep(0.5)
        (worker,) = workers._all
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await asyncio.wait_for(worker.proc.wait(), 10) != 0
        assert workers._all == set()
    finally:
        await workers.close()


async def test_a_batch_over_its_time_limit_kills_its_worker_and_says_which(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    workers = ProbeWorkers(1, batch_timeout=0.3)
    try:
        with pytest.raises(ProbeWorkerError, match=r"over 0 s to read 200000 files"):
            await workers.examine(store, [("missing.mp3", None)] * 200_000)
        assert workers._all == set()  # the worker was killed, not put back
    finally:
        await workers.close()
