"""The library scan against real folders, a real SQLite database and a real S3 API (moto)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from streamer.catalogue.remote_file import RangeFile
from streamer.catalogue.repository import get_library, get_track, list_libraries, list_tracks
from streamer.catalogue.scan import ScanProgress, ScanReport, ensure_library, scan_library
from streamer.db import Database, Library, Track, migrate, track_id_for
from streamer.errors import CatalogueError
from streamer.storage.local import LocalStore
from streamer.storage.s3 import S3Store
from tests.fixtures.audio import (
    UNICODE_NAME,
    awkward_files,
    copy_sample,
    make_audio,
)
from tests.fixtures.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Bucket
from transcoder.probe import SourceReadError

SAMPLE_FORMATS = ("mp3", "m4a", "flac", "ogg", "opus", "wav", "webm")


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite file, built once and copied for each test.

    Migrating here, before any event loop runs, also keeps Alembic's env.py (which runs its
    own loop in the calling thread) away from the blockbuster fixture.
    """
    path = tmp_path_factory.mktemp("db") / "template.sqlite"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def db(tmp_path: Path, migrated_database: Path) -> AsyncIterator[Database]:
    path = tmp_path / "db.sqlite"
    await asyncio.to_thread(shutil.copyfile, migrated_database, path)
    # create_engine resolves the SQLite path (os.path.abspath): off the loop.
    database = await asyncio.to_thread(Database, f"sqlite+aiosqlite:///{path}")
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def library_dir(tmp_path: Path, audio_samples: dict[str, Path]) -> Path:
    """A folder with one tagged file of each format under album/."""
    root = tmp_path / "library"
    for fmt in SAMPLE_FORMATS:
        source = audio_samples[fmt]
        copy_sample(source, root / "album" / f"{fmt}{source.suffix}")
    return root


async def scan(db: Database, root: Path, **kwargs: object) -> ScanReport:
    library = await ensure_library(db, str(root))
    return await scan_library(db, LocalStore(root), library, **kwargs)  # type: ignore[arg-type]


async def track(db: Database, root: Path, key: str) -> Track:
    found = await get_track(db, track_id_for((await ensure_library(db, str(root))).id, key))
    assert found is not None, key
    return found


def counts(report: ScanReport) -> dict[str, int]:
    return {
        name: getattr(report, name)
        for name in (
            "added", "changed", "unchanged", "moved", "gone", "failed", "skipped", "total"
        )
    }  # fmt: skip


def expect(**changed: int) -> dict[str, int]:
    base = dict.fromkeys(("added", "changed", "unchanged", "moved", "gone", "failed", "skipped"), 0)
    base.update(changed)
    base["total"] = sum(base[k] for k in ("added", "changed", "unchanged", "moved", "failed"))
    return base


# --- the first scan ----------------------------------------------------------------------


async def test_first_scan_adds_every_audio_file(db: Database, library_dir: Path) -> None:
    report = await scan(db, library_dir)
    assert counts(report) == expect(added=7)
    assert report.errors == []


async def test_tracks_carry_probed_metadata(
    db: Database, library_dir: Path, sample_cover: bytes
) -> None:
    await scan(db, library_dir)
    mp3 = await track(db, library_dir, "album/mp3.mp3")
    assert mp3.status == "ok"
    assert mp3.error is None
    assert (mp3.codec, mp3.channels, mp3.sample_rate) == ("mp3", 2, 44100)
    assert mp3.duration == pytest.approx(2.0, abs=0.1)
    assert mp3.title == "Ça va — 日本語 🎵"
    assert (mp3.year, mp3.track_number, mp3.disc_number) == (2021, 3, 1)
    assert mp3.tags["albumartist"] == ["Various Artists"]
    assert (mp3.cover_mime, mp3.content_type) == ("image/png", "audio/mpeg")
    assert mp3.cover_size == len(sample_cover)
    assert mp3.content_hash is not None
    assert len(mp3.content_hash) == 32


@pytest.mark.parametrize(
    ("key", "codec", "content_type"),
    [
        ("album/m4a.m4a", "aac", "audio/mp4"),
        ("album/flac.flac", "flac", "audio/flac"),
        ("album/ogg.ogg", "vorbis", "audio/ogg"),
        ("album/opus.opus", "opus", "audio/ogg; codecs=opus"),
        ("album/wav.wav", "pcm_s16le", "audio/wav"),
        ("album/webm.webm", "opus", "audio/webm"),
    ],
)
async def test_each_format_is_stored_with_codec_and_content_type(
    db: Database, library_dir: Path, key: str, codec: str, content_type: str
) -> None:
    await scan(db, library_dir)
    stored = await track(db, library_dir, key)
    assert (stored.status, stored.codec, stored.content_type) == ("ok", codec, content_type)


async def test_files_without_an_audio_extension_are_skipped(
    db: Database, library_dir: Path
) -> None:
    (library_dir / "album" / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (library_dir / "album" / "notes.txt").write_text("liner notes")
    report = await scan(db, library_dir)
    assert counts(report) == expect(added=7, skipped=2)
    _, total = await list_tracks(db)
    assert total == 7


async def test_library_records_its_last_scan(db: Database, library_dir: Path) -> None:
    report = await scan(db, library_dir)
    library = await get_library(db, (await ensure_library(db, str(library_dir))).id)
    assert library is not None
    assert library.last_scan_at is not None
    assert library.last_scan == report.as_dict()
    assert library.last_scan["added"] == 7


async def test_a_scan_can_leave_last_scan_to_its_caller(db: Database, library_dir: Path) -> None:
    # The API's scans hold a "running" claim there until transcodes are queued too: the
    # scan's own report must not replace it in between (GET .../scan said "not running").
    report = await scan(db, library_dir, record_summary=False)
    library = await get_library(db, (await ensure_library(db, str(library_dir))).id)
    assert library is not None
    assert report.added == 7
    assert library.last_scan is None


async def test_progress_counts_up_to_the_total(db: Database, library_dir: Path) -> None:
    seen: list[ScanProgress] = []
    await scan(db, library_dir, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 7
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    # total is None while listing, then known for good.
    totals = [p.total for p in seen]
    assert totals == sorted(totals, key=lambda total: total is not None)


async def test_a_failing_progress_callback_does_not_stop_the_scan(
    db: Database, library_dir: Path
) -> None:
    def broken(_: ScanProgress) -> None:
        raise RuntimeError("display gone")

    report = await scan(db, library_dir, progress=broken)
    assert report.added == 7


# --- rescans -----------------------------------------------------------------------------


async def test_rescan_of_an_unchanged_library_probes_nothing(
    db: Database, library_dir: Path
) -> None:
    await scan(db, library_dir)
    before = await track(db, library_dir, "album/flac.flac")
    report = await scan(db, library_dir)
    assert counts(report) == expect(unchanged=7)
    after = await track(db, library_dir, "album/flac.flac")
    # Not even the stat was rewritten: the row was not touched.
    assert after.scanned_at == before.scanned_at


async def test_touched_file_is_unchanged_by_its_hash(db: Database, library_dir: Path) -> None:
    await scan(db, library_dir)
    path = library_dir / "album" / "mp3.mp3"
    os.utime(path, (time.time() + 100, time.time() + 100))
    report = await scan(db, library_dir)
    assert counts(report) == expect(unchanged=7)
    stored = await track(db, library_dir, "album/mp3.mp3")
    assert stored.mtime == pytest.approx(path.stat().st_mtime)


async def test_modified_content_is_changed_and_probed_again(
    db: Database, library_dir: Path
) -> None:
    await scan(db, library_dir)
    path = library_dir / "album" / "mp3.mp3"
    await asyncio.to_thread(make_audio, path, "mp3", 1.0, tags={"title": "New"})
    report = await scan(db, library_dir)
    assert counts(report) == expect(changed=1, unchanged=6)
    stored = await track(db, library_dir, "album/mp3.mp3")
    assert stored.title == "New"
    assert stored.duration == pytest.approx(1.0, abs=0.1)
    assert stored.cover_mime is None


async def test_deleted_file_is_gone_but_keeps_its_row(db: Database, library_dir: Path) -> None:
    await scan(db, library_dir)
    (library_dir / "album" / "ogg.ogg").unlink()
    report = await scan(db, library_dir)
    assert counts(report) == expect(unchanged=6, gone=1)
    stored = await track(db, library_dir, "album/ogg.ogg")
    assert stored.status == "gone"
    assert stored.codec == "vorbis"


async def test_gone_is_counted_once(db: Database, library_dir: Path) -> None:
    await scan(db, library_dir)
    (library_dir / "album" / "ogg.ogg").unlink()
    await scan(db, library_dir)
    report = await scan(db, library_dir)
    assert counts(report) == expect(unchanged=6)


async def test_re_added_file_is_ok_again_with_the_same_id(
    db: Database, library_dir: Path, audio_samples: dict[str, Path]
) -> None:
    await scan(db, library_dir)
    first = await track(db, library_dir, "album/ogg.ogg")
    (library_dir / "album" / "ogg.ogg").unlink()
    await scan(db, library_dir)
    copy_sample(audio_samples["ogg"], library_dir / "album" / "ogg.ogg")
    report = await scan(db, library_dir)
    assert counts(report) == expect(added=1, unchanged=6)
    again = await track(db, library_dir, "album/ogg.ogg")
    assert (again.id, again.status) == (first.id, "ok")


async def _row_by_id(db: Database, track_id: str) -> Track:
    found = await get_track(db, track_id)
    assert found is not None
    return found


@pytest.mark.parametrize(
    "move",
    [
        lambda root: (root / "album" / "ogg.ogg").rename(root / "album" / "renamed.ogg"),
        lambda root: (root / "album").rename(root / "elsewhere"),
    ],
    ids=["renamed-file", "moved-folder"],
)
async def test_a_moved_file_keeps_its_track_id_and_edits(
    db: Database, library_dir: Path, move: object
) -> None:
    await scan(db, library_dir)
    first = await track(db, library_dir, "album/ogg.ogg")
    async with db.session() as session, session.begin():
        row = await session.get(Track, first.id)
        assert row is not None
        row.title, row.overrides = "Edited title", {"title": "Edited title"}
    await asyncio.to_thread(move, library_dir)  # type: ignore[arg-type]
    report = await scan(db, library_dir)
    moved = await _row_by_id(db, first.id)
    assert moved.key in ("album/renamed.ogg", "elsewhere/ogg.ogg")
    assert (moved.status, moved.title, moved.codec) == ("ok", "Edited title", "vorbis")
    assert report.moved >= 1
    assert report.added == 0
    assert report.gone == 0
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Track)) == 7


async def test_a_copy_is_a_new_track(db: Database, library_dir: Path) -> None:
    await scan(db, library_dir)
    first = await track(db, library_dir, "album/ogg.ogg")
    shutil.copyfile(library_dir / "album" / "ogg.ogg", library_dir / "album" / "copy.ogg")
    report = await scan(db, library_dir)
    assert counts(report) == expect(added=1, unchanged=7)
    assert (await _row_by_id(db, first.id)).key == "album/ogg.ogg"


async def test_a_file_moved_after_its_deletion_was_scanned_comes_back_with_its_id(
    db: Database, library_dir: Path, tmp_path: Path
) -> None:
    await scan(db, library_dir)
    first = await track(db, library_dir, "album/ogg.ogg")
    (library_dir / "album" / "ogg.ogg").rename(tmp_path / "aside.ogg")
    await scan(db, library_dir)
    assert (await _row_by_id(db, first.id)).status == "gone"
    (tmp_path / "aside.ogg").rename(library_dir / "album" / "back under a new name.ogg")
    report = await scan(db, library_dir)
    back = await _row_by_id(db, first.id)
    assert (back.key, back.status) == ("album/back under a new name.ogg", "ok")
    assert counts(report) == expect(moved=1, unchanged=6)
    # and a later scan knows it under its new key
    assert counts(await scan(db, library_dir)) == expect(unchanged=7)


async def test_force_probes_unchanged_files_again(db: Database, library_dir: Path) -> None:
    await scan(db, library_dir)
    report = await scan(db, library_dir, force=True)
    assert counts(report) == expect(changed=7)


# --- awkward files -----------------------------------------------------------------------

AWKWARD_REASONS = {
    "awkward/empty.mp3": "empty file",
    "awkward/text.mp3": "not an audio file (looks like text)",
    "awkward/corrupt.mp3": "corrupt MP3: no valid MPEG frames",
    "awkward/truncated.flac": "truncated FLAC: ",
    "awkward/cut-metadata.flac": "truncated FLAC: headers cut short",
}


@pytest.fixture
def awkward_library(library_dir: Path) -> Path:
    awkward_files(library_dir / "awkward")
    return library_dir


async def test_awkward_files_do_not_stop_the_scan(db: Database, awkward_library: Path) -> None:
    report = await scan(db, awkward_library)
    assert counts(report) == expect(added=8, failed=5)
    assert {key for key, _ in report.errors} == set(AWKWARD_REASONS)


@pytest.mark.parametrize(("key", "reason"), AWKWARD_REASONS.items())
async def test_awkward_file_is_stored_as_an_error_with_its_reason(
    db: Database, awkward_library: Path, key: str, reason: str
) -> None:
    await scan(db, awkward_library)
    stored = await track(db, awkward_library, key)
    assert stored.status == "error"
    assert (stored.error or "").startswith(reason)
    assert (stored.codec, stored.duration, stored.title, stored.tags) == (None, None, None, {})


async def test_unicode_file_name_is_catalogued(db: Database, awkward_library: Path) -> None:
    await scan(db, awkward_library)
    stored = await track(db, awkward_library, f"awkward/{UNICODE_NAME}")
    assert (stored.status, stored.codec) == ("ok", "mp3")


async def test_unchanged_error_files_are_not_probed_again(
    db: Database, awkward_library: Path
) -> None:
    await scan(db, awkward_library)
    report = await scan(db, awkward_library)
    assert counts(report) == expect(unchanged=13)


async def test_repaired_file_turns_from_error_to_ok(db: Database, awkward_library: Path) -> None:
    await scan(db, awkward_library)
    path = awkward_library / "awkward" / "corrupt.mp3"
    await asyncio.to_thread(make_audio, path, "mp3", 1.0)
    report = await scan(db, awkward_library)
    assert report.changed == 1
    stored = await track(db, awkward_library, "awkward/corrupt.mp3")
    assert (stored.status, stored.error, stored.codec) == ("ok", None, "mp3")


async def test_file_name_that_is_not_utf8_is_reported_not_stored(
    db: Database, library_dir: Path, audio_samples: dict[str, Path]
) -> None:
    shutil.copyfile(audio_samples["mp3"], os.fsencode(library_dir) + b"/bad\xff.mp3")
    report = await scan(db, library_dir)
    assert counts(report) == expect(added=7, failed=1)
    assert report.errors[0][1] == "file name is not valid UTF-8"
    _, total = await list_tracks(db)
    assert total == 7


async def test_missing_root_raises_catalogue_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot scan"):
        await scan(db, tmp_path / "nowhere")


async def test_missing_root_marks_nothing_gone(db: Database, library_dir: Path) -> None:
    await scan(db, library_dir)
    moved = library_dir.with_name("moved")
    library_dir.rename(moved)
    with pytest.raises(CatalogueError):
        await scan(db, library_dir)
    _, ok = await list_tracks(db, status="ok")
    assert ok == 7


# --- libraries and queries ---------------------------------------------------------------


async def test_ensure_library_is_idempotent(db: Database, tmp_path: Path) -> None:
    first = await ensure_library(db, str(tmp_path / "Music"))
    again = await ensure_library(db, str(tmp_path / "Music"))
    assert (first.id, first.name) == (again.id, "Music")
    renamed = await ensure_library(db, str(tmp_path / "Music"), name="Home")
    assert renamed.name == "Home"
    assert [lib.name for lib in await list_libraries(db)] == ["Home"]


async def test_unknown_ids_are_none(db: Database) -> None:
    assert await get_track(db, "0" * 16) is None
    assert await get_library(db, "0" * 12) is None


async def test_list_tracks_filters_and_counts(db: Database, awkward_library: Path) -> None:
    await scan(db, awkward_library)
    library = await ensure_library(db, str(awkward_library))
    page, total = await list_tracks(db, library_id=library.id, limit=3)
    assert (len(page), total) == (3, 13)
    _, errors = await list_tracks(db, status="error")
    assert errors == 5
    opus, total = await list_tracks(db, codec="opus")
    assert total == 2
    assert {t.codec for t in opus} == {"opus"}
    _, none = await list_tracks(db, library_id="elsewhere")
    assert none == 0


async def test_list_tracks_pages_do_not_overlap(db: Database, awkward_library: Path) -> None:
    await scan(db, awkward_library)
    ids = [
        t.id
        for offset in range(0, 13, 4)
        for t in (await list_tracks(db, limit=4, offset=offset))[0]
    ]
    assert len(ids) == len(set(ids)) == 13


@pytest.mark.parametrize(
    ("q", "matches"),
    [
        ("a VA — 日本語", 8),  # title, case-insensitive
        ("RTIST Ünïcode", 8),  # artist
        ("corrupt", 1),  # key
        ("100%", 1),  # % is literal
        ("a_b", 1),  # _ is literal
        ("%", 1),
        ("nothing like this", 0),
    ],
)
async def test_list_tracks_searches_text_literally(
    db: Database, library_dir: Path, audio_samples: dict[str, Path], q: str, matches: int
) -> None:
    await asyncio.to_thread(awkward_files, library_dir / "awkward")
    await asyncio.to_thread(
        make_audio, library_dir / "a_b.mp3", "mp3", 0.5, tags={"title": "100% Pure"}
    )
    copy_sample(audio_samples["mp3"], library_dir / "axb.mp3")  # would match a LIKE "a_b"
    await scan(db, library_dir)
    _, total = await list_tracks(db, q=q)
    assert total == matches


async def test_list_tracks_search_folds_non_ascii_case(db: Database, library_dir: Path) -> None:
    await scan(db, library_dir)
    _, total = await list_tracks(db, q="ça va")  # the title has "Ça va"
    assert total == 7


# --- S3 ----------------------------------------------------------------------------------


@pytest.fixture
async def s3_store(s3_bucket: S3Bucket) -> AsyncIterator[S3Store]:
    store = S3Store(
        s3_bucket.name,
        "music",
        endpoint_url=s3_bucket.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def scan_s3(db: Database, store: S3Store) -> tuple[Library, ScanReport]:
    library = await ensure_library(db, store.url)
    return library, await scan_library(db, store, library)


async def test_s3_scan_stores_tracks_without_downloading_to_hash(
    db: Database, s3_bucket: S3Bucket, s3_store: S3Store, audio_samples: dict[str, Path]
) -> None:
    for fmt in ("mp3", "flac", "m4a", "webm"):
        s3_bucket.put(
            f"music/album/{fmt}{audio_samples[fmt].suffix}", audio_samples[fmt].read_bytes()
        )
    s3_bucket.put("music/album/text.mp3", b"just some words\n" * 10)
    s3_bucket.put("music/album/cover.jpg", b"\xff\xd8\xff")
    library, report = await scan_s3(db, s3_store)
    assert counts(report) == expect(added=4, failed=1, skipped=1)
    stored = await get_track(db, track_id_for(library.id, "album/flac.flac"))
    assert stored is not None
    assert (stored.status, stored.codec, stored.title) == ("ok", "flac", "Ça va — 日本語 🎵")
    assert stored.content_hash == f"s3:{stored.version}"
    text = await get_track(db, track_id_for(library.id, "album/text.mp3"))
    assert text is not None
    assert text.error == "not an audio file (looks like text)"


async def test_s3_rescan_and_replacement(
    db: Database, s3_bucket: S3Bucket, s3_store: S3Store, audio_samples: dict[str, Path]
) -> None:
    s3_bucket.put("music/a.mp3", audio_samples["mp3"].read_bytes())
    s3_bucket.put("music/b.ogg", audio_samples["ogg"].read_bytes())
    await scan_s3(db, s3_store)
    _, report = await scan_s3(db, s3_store)
    assert counts(report) == expect(unchanged=2)
    s3_bucket.put("music/a.mp3", audio_samples["flac"].read_bytes())  # now FLAC bytes
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="music/b.ogg")
    library, report = await scan_s3(db, s3_store)
    assert counts(report) == expect(changed=1, gone=1)
    stored = await get_track(db, track_id_for(library.id, "a.mp3"))
    assert stored is not None
    assert stored.codec == "flac"


async def test_unreachable_s3_raises_catalogue_error(db: Database) -> None:
    store = S3Store(
        "no-bucket",
        endpoint_url="http://127.0.0.1:9",
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    await store.open()
    try:
        library = await ensure_library(db, store.url)
        with pytest.raises(CatalogueError):
            await scan_library(db, store, library)
    finally:
        await store.close()


# --- RangeFile --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "length"),
    [(0, 10), (65530, 20), (100, 200_000), (352_000, 10_000), (0, -1)],
    ids=["head", "across-blocks", "many-blocks", "past-the-end", "all"],
)
async def test_range_file_reads_what_the_object_holds(
    tmp_path: Path, audio_samples: dict[str, Path], start: int, length: int
) -> None:
    data = audio_samples["wav"].read_bytes()
    (tmp_path / "a.wav").write_bytes(data)
    store = LocalStore(tmp_path)
    loop = asyncio.get_running_loop()

    def read() -> bytes:
        with RangeFile(store, "a.wav", len(data), loop) as fh:
            fh.seek(start)
            return fh.read(length)

    expected = data[start:] if length < 0 else data[start : start + length]
    assert await asyncio.to_thread(read) == expected


async def test_range_file_caches_blocks(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(bytes(200_000))
    loop = asyncio.get_running_loop()

    def read_twice() -> int:
        with RangeFile(LocalStore(tmp_path), "a.bin", 200_000, loop) as fh:
            for _ in range(2):
                fh.seek(0)
                fh.read(100)
                fh.seek(-100, os.SEEK_END)
                fh.read(100)
            return fh.reads

    assert await asyncio.to_thread(read_twice) == 2


async def test_range_file_turns_storage_errors_into_source_read_errors(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()

    def read_missing() -> bytes:
        with RangeFile(LocalStore(tmp_path), "missing.mp3", 1000, loop) as fh:
            return fh.read(10)

    with pytest.raises(SourceReadError, match=r"missing\.mp3"):
        await asyncio.to_thread(read_missing)


# --- scale -------------------------------------------------------------------------------


def build_big_library(root: Path, source: Path, count: int) -> None:
    """``count`` hard links of one small MP3 in 100 folders, plus the awkward files."""
    for n in range(count):
        folder = root / f"disc{n % 100:03d}"
        if n < 100:
            folder.mkdir(parents=True)
        os.link(source, folder / f"track{n:05d}.mp3")
    awkward_files(root / "awkward")


@pytest.mark.slow
async def test_ten_thousand_files_scan_in_reasonable_time(db: Database, tmp_path: Path) -> None:
    source = await asyncio.to_thread(make_audio, tmp_path / "one.mp3", "mp3", 1.0)
    root = tmp_path / "big"
    await asyncio.to_thread(build_big_library, root, source, 10_000)

    started = time.monotonic()
    report = await scan(db, root)
    first = time.monotonic() - started
    started = time.monotonic()
    again = await scan(db, root)
    second = time.monotonic() - started
    print(f"\n10,000-file scan: {first:.1f} s first, {second:.1f} s rescan")

    assert counts(report) == expect(added=10_001, failed=5)
    assert counts(again) == expect(unchanged=10_006)
    assert first < 60
    assert second < 15
