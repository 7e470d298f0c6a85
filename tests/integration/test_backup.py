"""`streamer backup | restore | cleanup` through the command line, checked through a served
API, for a library on local disk and one under a prefix of an S3 bucket: a restored
installation serves the same tracks (the same bytes), users, keys, playlists and jobs, and
cleanup removes orphaned renditions and covers while what is served stays."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from streamer.auth.audit import Actor
from streamer.auth.users import create_user
from streamer.catalogue.search import TrackFilter, search_tracks
from streamer.cli import main
from streamer.db import AuditEntry, Database, Rendition, Track
from streamer.maintenance import backup
from streamer.settings import Settings
from streamer.storage.base import ObjectInfo, ObjectStore
from streamer.storage.s3 import S3Store
from tests.fixtures.library_files import BucketLibrary, FolderLibrary, LibraryFiles, contents
from tests.fixtures.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Bucket
from tests.fixtures.servers import RunningServer, admin_key, bearer, serve_in_thread

PASSWORD = "correct horse battery staple"
AN_HOUR = 3600.0
AWKWARD_KEY = "Ünï dir/two + 2 & more.mp3"
NEIGHBOUR_KEYS = ("decoy.mp3", ".streamer/tracks/0123456789abcdef/ladder/run/aac_128.mp4")


def _db_rows(url: str, query: Any) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(url)
        try:
            async with db.session() as session:
                return list((await session.execute(query)).all())
        finally:
            await db.dispose()

    return asyncio.run(run())


@dataclass
class Installation:
    """A transcoded library, a user, an API key and a playlist in a SQLite data dir."""

    files: LibraryFiles
    # Objects beside the library (a sibling folder, a sibling prefix of the bucket) that
    # no command may list or touch.
    neighbour: LibraryFiles
    data: Path
    env: dict[str, str]  # the STREAMER_* settings every command shares (S3's endpoint)
    key: str  # an admin API key

    def settings(self, data: Path | None = None, **overrides: Any) -> Settings:
        return Settings.load(self.env, data_dir=data or self.data, workers=1, **overrides)


def _s3_env(bucket: S3Bucket) -> dict[str, str]:
    return {
        "STREAMER_S3_ENDPOINT_URL": bucket.endpoint,
        "STREAMER_S3_REGION": REGION,
        "STREAMER_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "STREAMER_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }


@pytest.fixture(params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LibraryFiles, LibraryFiles, dict[str, str]]]:
    """The library's objects, its neighbour's, and the settings that reach them."""
    if request.param == "local":
        yield FolderLibrary(tmp_path / "library"), FolderLibrary(tmp_path / "library.old"), {}
        return
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    env = _s3_env(bucket)
    for name, value in env.items():  # for the commands, which read the environment
        monkeypatch.setenv(name, value)
    # A nested prefix, and a neighbour whose prefix begins with the library's.
    yield BucketLibrary(bucket, "media/music"), BucketLibrary(bucket, "media/musicals"), env


@pytest.fixture
def installation(
    storage: tuple[LibraryFiles, LibraryFiles, dict[str, str]],
    tmp_path: Path,
    audio_samples: dict[str, Path],
) -> Installation:
    files, neighbour, env = storage
    files.put("one.flac", audio_samples["flac"].read_bytes())
    # A key that needs quoting in URLs (S3 listings, presigned URLs) and is in a folder.
    files.put(AWKWARD_KEY, audio_samples["mp3"].read_bytes())
    for key in NEIGHBOUR_KEYS:
        neighbour.put(key, b"not the library's")
        neighbour.backdate(key, 2 * AN_HOUR)
    data = tmp_path / "data"
    assert main(["scan", files.root, "--data-dir", str(data), "--no-progress", "--wait"]) == 0
    settings = Settings.load(env, data_dir=data, workers=1)
    key = admin_key(settings, name="old key")

    async def user() -> None:
        db = Database(settings.effective_database_url)
        try:
            await create_user(db, "ada", PASSWORD, "editor", Actor("cli", None, "tests"))
        finally:
            await db.dispose()

    asyncio.run(user())
    with serve_in_thread(settings) as server, server.api() as api:
        tracks = api.get("/api/v1/tracks").json()["items"]
        assert len(tracks) == 2, tracks
        created = api.post(
            "/api/v1/playlists",
            json={
                "library_id": tracks[0]["library_id"],
                "name": "mix",
                "track_ids": [t["id"] for t in tracks],
            },
        )
        assert created.status_code == 201, created.text
    return Installation(files, neighbour, data, env, key)


local_only = pytest.mark.parametrize("storage", ["local"], indirect=True)


def _state(api: httpx.Client) -> dict[str, Any]:
    tracks = api.get("/api/v1/tracks").json()["items"]
    playlists = api.get("/api/v1/playlists").json()["items"]
    jobs = api.get("/api/v1/jobs").json()["items"]
    return {
        "tracks": sorted((t["id"], t["title"], t["duration"]) for t in tracks),
        "playlists": sorted((p["id"], p["name"], p["revision"]) for p in playlists),
        "jobs": sorted((j["id"], j["status"]) for j in jobs),
    }


def _first_uri(playlist: str) -> str:
    return next(line for line in playlist.splitlines() if line and not line.startswith("#"))


def _first_segment(player: httpx.Client, track: str) -> httpx.Response:
    """The first segment of the first variant of a track's master playlist, fetched as a
    player does."""
    master = player.get(f"/hls/{track}/master.m3u8")
    assert master.status_code == 200, master.text
    variant = master.url.join(_first_uri(master.text))
    playlist = player.get(variant)
    assert playlist.status_code == 200, playlist.text
    segment = player.get(variant.join(_first_uri(playlist.text)))
    assert segment.status_code in (200, 206), segment.text
    assert segment.content
    return segment


def _served_bytes(server: RunningServer, tracks: list[str]) -> dict[str, bytes]:
    """Each track's original and its first HLS segment, as players receive them."""
    served: dict[str, bytes] = {}
    with server.client() as player:
        for track in tracks:
            original = player.get(f"/media/{track}/original")
            assert original.status_code == 200, original.text
            served[f"{track}/original"] = original.content
            served[f"{track}/segment"] = _first_segment(player, track).content
    return served


@pytest.mark.parametrize("form", ["dir", "tar.gz"])
def test_restore_into_an_empty_data_dir_serves_the_same_installation(
    installation: Installation,
    tmp_path: Path,
    form: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = str(installation.data)
    with serve_in_thread(installation.settings()) as server, server.api() as api:
        before = _state(api)
        served = _served_bytes(server, [t[0] for t in before["tracks"]])
        # The server runs while the backup is taken.
        dest = tmp_path / ("backup" if form == "dir" else "backup.tar.gz")
        assert main(["backup", str(dest), "--data-dir", data]) == 0
    assert before["tracks"]
    assert before["playlists"]
    assert before["jobs"]
    out = capsys.readouterr().out
    assert f"backup written to {dest}" in out
    assert f"{installation.files.root}: " in out

    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"all \d+ objects present", out), out

    with serve_in_thread(installation.settings(fresh)) as server, server.api() as api:
        assert _state(api) == before
        assert _served_bytes(server, [t[0] for t in before["tracks"]]) == served
        # The search index is not in the backup: restoring the tracks rebuilt it.
        title = next(t[1] for t in before["tracks"] if t[1])
        found = api.get("/api/v1/tracks", params={"q": title.split()[0]}).json()["items"]
        assert title in [t["title"] for t in found]
        with server.client(headers=bearer(installation.key)) as old:
            assert old.get("/api/v1/tracks").status_code == 200
        with server.client() as anonymous:
            login = anonymous.post("/api/v1/auth/login", json={"name": "ada", "password": PASSWORD})
            assert login.status_code == 200, login.text

    # Restoring again into the now full database is refused, with no traceback.
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err
    assert "--force" in err
    assert main(["restore", str(dest), "--data-dir", str(fresh), "--force"]) == 0


@local_only
def test_a_forced_restore_leaves_the_search_index_in_step(
    installation: Installation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", str(installation.data)]) == 0
    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 0
    # The target's index drifts (its rows gone, a trigger dropped) before it is replaced.
    url = installation.settings(fresh).effective_database_url
    _db_execute(url, "DELETE FROM tracks_fts", "DROP TRIGGER tracks_fts_insert")
    assert main(["restore", str(dest), "--data-dir", str(fresh), "--force"]) == 0
    capsys.readouterr()

    # The restored rows went through the migrated schema's triggers: nothing to rebuild.
    assert main(["reindex", "--data-dir", str(fresh)]) == 0
    assert "the old index was in step" in capsys.readouterr().out
    for track_id, title in _db_rows(url, select(Track.id, Track.title)):
        assert track_id in _search(url, title)


def _db_execute(url: str, *statements: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            async with db.engine.begin() as conn:
                for statement in statements:
                    await conn.exec_driver_sql(statement)
        finally:
            await db.dispose()

    asyncio.run(run())


def _search(url: str, q: str) -> list[str]:
    async def run() -> list[str]:
        db = Database(url)
        try:
            return [t.id for t in (await search_tracks(db, TrackFilter(q=q))).tracks]
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_restore_puts_derived_objects_back_from_a_backup_with_them(
    installation: Installation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = installation.files
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--with-derived", "--data-dir", str(installation.data)]) == 0
    derived = contents(files, ".streamer/")
    assert derived
    files.remove(".streamer/")  # the disk or the prefix that held the renditions is gone
    capsys.readouterr()

    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 0
    out = capsys.readouterr().out
    assert f"{len(derived)} derived objects put back from the backup" in out, out
    assert "transcodes queued" not in out
    assert contents(files, ".streamer/") == derived
    with serve_in_thread(installation.settings(fresh)) as server, server.api() as api:
        for track in api.get("/api/v1/tracks").json()["items"]:
            with server.client() as player:
                _first_segment(player, track["id"])


@pytest.mark.parametrize("storage", ["s3"], indirect=True)
def test_objects_put_back_with_new_etags_are_served(
    installation: Installation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 names an object uploaded in parts by another ETag than the same bytes PUT whole:
    the restored rendition rows must follow, or every If-Match read of them would fail."""
    files = installation.files
    assert isinstance(files, BucketLibrary)
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--with-derived", "--data-dir", str(installation.data)]) == 0
    derived = contents(files, ".streamer/")
    files.remove(".streamer/")
    monkeypatch.setattr(S3Store, "multipart_threshold", 1)  # every put back goes in parts

    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 0

    assert contents(files, ".streamer/") == derived
    url = installation.settings(fresh).effective_database_url
    for key, version in _db_rows(url, select(Rendition.key, Rendition.version)):
        head = files.bucket.client.head_object(Bucket=files.bucket.name, Key=files.object_key(key))
        assert head["ETag"].strip('"') == version
        assert version.endswith("-1")  # a multipart ETag
    with serve_in_thread(installation.settings(fresh)) as server, server.client() as player:
        for track_id, key in _db_rows(url, select(Rendition.track_id, Rendition.key)):
            rendition = key.rsplit("/", 1)[1].removesuffix(".mp4")
            response = player.get(f"/media/{track_id}/{rendition}.m4a")
            assert response.status_code == 200, response.text
            assert response.content == derived[key]


def test_backup_manifest_records_objects_and_checksums(
    installation: Installation, tmp_path: Path
) -> None:
    files = installation.files
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--with-derived", "--data-dir", str(installation.data)]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["alembic_revision"]
    names = [t["name"] for t in manifest["tables"]]
    assert names.index("libraries") < names.index("tracks") < names.index("renditions")
    assert set(manifest["files"]) >= {t["file"] for t in manifest["tables"]}
    (library,) = manifest["libraries"]
    assert library["root"] == files.root
    objects = [json.loads(line) for line in (dest / library["file"]).read_text().splitlines()]
    # Every object of the library's store, and nothing of its neighbour's.
    assert sorted(o["key"] for o in objects) == files.list_keys()
    assert all(o["size"] == len(files.read(o["key"])) for o in objects)
    sources = [o for o in objects if not o["derived"]]
    derived = [o for o in objects if o["derived"]]
    assert sorted(o["key"] for o in sources) == sorted(["one.flac", AWKWARD_KEY])
    assert all(o["refs"] and o["refs"][0].startswith("track:") for o in sources)
    assert any(r.startswith("rendition:") for o in derived for r in o["refs"])
    # The derived objects' copies, with the checksums of the store's bytes.
    for entry in derived:
        copy = manifest["files"][f"derived/{library['id']}/{entry['key']}"]
        assert copy["sha256"] == hashlib.sha256(files.read(entry["key"])).hexdigest()
        assert copy["size"] == entry["size"]
    assert library["copied"] == len(derived)
    # The source media are not copied.
    assert not any(name.endswith((".flac", ".mp3")) for name in manifest["files"])


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_a_derived_object_changed_while_copied_is_left_out_with_a_warning(
    installation: Installation,
    tmp_path: Path,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = installation.files
    victim = next(key for key in files.list_keys(".streamer/tracks/") if key.endswith(".mp4"))
    listed = backup.list_store

    async def list_then_change(store: ObjectStore) -> list[ObjectInfo]:
        infos = await listed(store)
        # A cleanup or a transcode on another node, between the listing and the copy.
        if change == "deleted":
            await store.delete(victim)
        else:
            await store.put_bytes(victim, b"another run's bytes")
        return infos

    monkeypatch.setattr(backup, "list_store", list_then_change)
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--with-derived", "--data-dir", str(installation.data)]) == 0

    err = capsys.readouterr().err
    assert "1 derived objects were deleted or replaced while the backup copied them" in err
    manifest = json.loads((dest / "manifest.json").read_text())
    (library,) = manifest["libraries"]
    objects = [json.loads(line) for line in (dest / library["file"]).read_text().splitlines()]
    assert victim not in [o["key"] for o in objects]
    assert sorted([*(o["key"] for o in objects), victim]) == sorted({*files.list_keys(), victim})
    assert f"derived/{library['id']}/{victim}" not in manifest["files"]
    assert not (dest / "derived" / library["id"] / victim).exists()
    assert (library["copied"], library["vanished"]) == (library["derived"], 1)


@local_only
def test_scheduled_backups_keep_the_newest_and_touch_nothing_else(
    installation: Installation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "scheduled"
    folder.mkdir()
    older = ["streamer-20260101T000000Z.tar.gz", "streamer-20261201T000000Z.tar.gz"]
    for name in [*older, "notes.txt", "streamer-manual.tar.gz"]:
        (folder / name).write_bytes(b"kept unless expired")
    data = str(installation.data)
    assert main(["backup", "--into", str(folder), "--keep", "2", "--data-dir", data]) == 0
    made = [p.name for p in folder.glob("streamer-2*.tar.gz") if p.name not in older]
    assert len(made) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [made[0], older[1], "notes.txt", "streamer-manual.tar.gz"]
    )
    assert f"deleted the older backup {older[0]}" in capsys.readouterr().out
    # What was written is a whole backup: it restores.
    assert main(["restore", str(folder / made[0]), "--data-dir", str(tmp_path / "r")]) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["somewhere", "--keep", "2"],  # a DEST, not --into
        ["--into", "x", "--keep", "0"],
    ],
)
def test_a_retention_without_a_folder_or_below_one_is_refused(
    installation: Installation, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", *args, "--data-dir", str(installation.data)]) == 2
    assert "--keep needs --into" in capsys.readouterr().err


def test_bad_input_is_refused_with_exit_status_2(
    installation: Installation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(installation.data)
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", data]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    capsys.readouterr()
    # A damaged backup is refused before anything is written.
    first = next(f for f in manifest["files"] if f.startswith("database/"))
    with (dest / first).open("a") as handle:
        handle.write("\n")
    assert main(["restore", str(dest), "--data-dir", str(tmp_path / "x")]) == 2
    assert main(["backup", str(dest), "--data-dir", data]) == 2
    assert main(["restore", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path / "y")]) == 2
    assert main(["cleanup", "--grace", "-1", "--data-dir", data]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4, err
    assert all(line.startswith("streamer: ") for line in err), err


def test_missing_renditions_are_reported_and_queued(
    installation: Installation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "backup.tgz"
    assert main(["backup", str(dest), "--data-dir", str(installation.data)]) == 0
    installation.files.remove(".streamer/tracks/")
    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 1
    out = capsys.readouterr().out
    assert "missing: .streamer/tracks/" in out
    assert "2 tracks miss their renditions: transcodes queued" in out


@local_only
def test_restore_from_sqlite_into_postgresql(
    installation: Installation, tmp_path: Path, postgres_url: str
) -> None:
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", str(installation.data)]) == 0
    assert main(["restore", str(dest), "--database-url", postgres_url]) == 0
    sqlite_url = installation.settings().effective_database_url
    for query in (
        select(Track.id, Track.title, Track.updated_at).order_by(Track.id),
        select(Rendition.id, Rendition.key, Rendition.created_at).order_by(Rendition.id),
    ):
        assert _db_rows(postgres_url, query) == _db_rows(sqlite_url, query)
    settings = installation.settings(tmp_path / "pgdata", database_url=postgres_url)
    with (
        serve_in_thread(settings) as server,
        server.client(headers=bearer(installation.key)) as old,
    ):
        tracks = old.get("/api/v1/tracks").json()["items"]
        assert len(tracks) == 2
        # PostgreSQL's search index covers the restored tracks.
        for track in tracks:
            found = old.get("/api/v1/tracks", params={"q": track["title"]}).json()["items"]
            assert track["id"] in [t["id"] for t in found]
        # The sequences moved past the restored ids: new rows still insert.
        assert (
            old.post(
                "/api/v1/playlists", json={"library_id": tracks[0]["library_id"], "name": "new"}
            ).status_code
            == 201
        )


def test_cleanup_removes_orphans_and_keeps_what_is_served(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    files = installation.files
    data = str(installation.data)
    url = installation.settings().effective_database_url
    current = {key for (key,) in _db_rows(url, select(Rendition.key))}
    current |= {key for (key,) in _db_rows(url, select(Rendition.index_key))}
    track_id, ladder = sorted(current)[0].split("/")[2:4]
    old_run = f".streamer/tracks/{track_id}/{ladder}/oldrun/aac_128.mp4"
    gone_track = f".streamer/tracks/0123456789abcdef/{ladder}/run/aac_128.mp4"
    young = f".streamer/tracks/0123456789abcdef/{ladder}/young/peaks.json"
    for orphan in (old_run, gone_track):
        files.put(orphan, b"x" * 1000)
        files.backdate(orphan, 2 * AN_HOUR)
    files.put(young, b"{}")
    neighbour = contents(installation.neighbour)

    assert main(["cleanup", "--dry-run", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "would remove 2 orphaned derived objects (2.0 KB)" in out, out
    assert "kept 1 orphaned derived objects younger than --grace (3600 s)" in out, out
    assert files.exists(old_run)
    assert files.exists(gone_track)

    assert main(["cleanup", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "removed 2 orphaned derived objects" in out, out
    assert f"  {old_run}  {files.root}  1000 B" in out, out
    assert not files.exists(old_run)
    assert not files.exists(gone_track)
    assert files.exists(young)  # younger than the grace period
    assert all(files.exists(key) for key in current)
    assert contents(installation.neighbour) == neighbour
    (entry,) = _db_rows(
        url, select(AuditEntry.after).where(AuditEntry.action == "maintenance.cleanup")
    )
    assert (entry[0]["objects"], entry[0]["young_objects"]) == (2, 1)
    assert _db_rows(url, select(func.count()).select_from(Rendition))[0][0] == len(current) // 2

    with serve_in_thread(installation.settings()) as server, server.client() as player:
        _first_segment(player, track_id)


def test_cleanup_removes_covers_no_track_refers_to(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    files = installation.files
    url = installation.settings().effective_database_url
    used = {key for (key,) in _db_rows(url, select(Track.cover_key)) if key}
    assert used, "the samples carry embedded covers"
    orphan = f".streamer/covers/ff/{'ff' * 16}.png"
    files.put(orphan, b"\x89PNG old art")
    for key in [orphan, *used]:
        files.backdate(key, 2 * AN_HOUR)

    assert main(["cleanup", "--data-dir", str(installation.data)]) == 0
    assert "removed 1 orphaned derived objects" in capsys.readouterr().out
    assert not files.exists(orphan)
    assert all(files.exists(key) for key in used)
