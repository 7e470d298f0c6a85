"""`streamer backup | restore | cleanup` through the command line, checked through a served
API: a restored installation serves the same tracks, users, keys, playlists and jobs, and
cleanup removes orphaned renditions while the current ones still serve."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from streamer.auth.audit import Actor
from streamer.auth.users import create_user
from streamer.cli import main
from streamer.db import AuditEntry, Database, Rendition, Track
from streamer.settings import Settings
from tests.fixtures.servers import admin_key, bearer, serve_in_thread

PASSWORD = "correct horse battery staple"


def _db_rows(url: str, query: Any) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(url)
        try:
            async with db.session() as session:
                return list((await session.execute(query)).all())
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def installation(tmp_path: Path, audio_samples: dict[str, Path]) -> dict[str, Any]:
    """A transcoded library, a user, an API key and a playlist in a SQLite data dir."""
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(audio_samples["flac"], library / "one.flac")
    shutil.copy(audio_samples["mp3"], library / "two.mp3")
    data = tmp_path / "data"
    assert main(["scan", str(library), "--data-dir", str(data), "--no-progress", "--wait"]) == 0
    settings = Settings.load({}, data_dir=data, workers=1)
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
        library_id = tracks[0]["library_id"]
        created = api.post(
            "/api/v1/playlists",
            json={
                "library_id": library_id,
                "name": "mix",
                "track_ids": [t["id"] for t in tracks],
            },
        )
        assert created.status_code == 201, created.text
    return {"library": library, "data": data, "settings": settings, "key": key}


def _state(api: Any) -> dict[str, Any]:
    tracks = api.get("/api/v1/tracks").json()["items"]
    playlists = api.get("/api/v1/playlists").json()["items"]
    jobs = api.get("/api/v1/jobs").json()["items"]
    return {
        "tracks": sorted((t["id"], t["title"], t["duration"]) for t in tracks),
        "playlists": sorted((p["id"], p["name"], p["revision"]) for p in playlists),
        "jobs": sorted((j["id"], j["status"]) for j in jobs),
    }


@pytest.mark.parametrize("form", ["dir", "tar.gz"])
def test_restore_into_an_empty_data_dir_serves_the_same_installation(
    installation: dict[str, Any],
    tmp_path: Path,
    form: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = str(installation["data"])
    with serve_in_thread(installation["settings"]) as server, server.api() as api:
        before = _state(api)
        # The server runs while the backup is taken.
        dest = tmp_path / ("backup" if form == "dir" else "backup.tar.gz")
        assert main(["backup", str(dest), "--data-dir", data]) == 0
    assert before["tracks"]
    assert before["playlists"]
    assert before["jobs"]
    out = capsys.readouterr().out
    assert f"backup written to {dest}" in out

    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"all \d+ objects present", out), out

    settings = Settings.load({}, data_dir=fresh, workers=1)
    with serve_in_thread(settings) as server, server.api() as api:
        assert _state(api) == before
        # The search index is not in the backup: restoring the tracks rebuilt it.
        title = next(t[1] for t in before["tracks"] if t[1])
        found = api.get("/api/v1/tracks", params={"q": title.split()[0]}).json()["items"]
        assert title in [t["title"] for t in found]
        with server.client(headers=bearer(installation["key"])) as old:
            assert old.get("/api/v1/tracks").status_code == 200
        with server.client() as anonymous:
            login = anonymous.post("/api/v1/auth/login", json={"name": "ada", "password": PASSWORD})
            assert login.status_code == 200, login.text
        track = before["tracks"][0][0]
        with server.client() as player:
            assert player.get(f"/hls/{track}/master.m3u8").status_code == 200

    # Restoring again into the now full database is refused, with no traceback.
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err
    assert "--force" in err
    assert main(["restore", str(dest), "--data-dir", str(fresh), "--force"]) == 0


def test_restore_puts_derived_objects_back_from_a_backup_with_them(
    installation: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library: Path = installation["library"]
    dest = tmp_path / "backup"
    assert (
        main(["backup", str(dest), "--with-derived", "--data-dir", str(installation["data"])]) == 0
    )
    derived = sorted(
        p.relative_to(library) for p in (library / ".streamer").rglob("*") if p.is_file()
    )
    shutil.rmtree(library / ".streamer")  # the disk that held the renditions is gone
    capsys.readouterr()

    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 0
    out = capsys.readouterr().out
    assert f"{len(derived)} derived objects put back from the backup" in out, out
    assert "transcodes queued" not in out
    assert (
        sorted(p.relative_to(library) for p in (library / ".streamer").rglob("*") if p.is_file())
        == derived
    )
    settings = Settings.load({}, data_dir=fresh, workers=1)
    with serve_in_thread(settings) as server, server.api() as api:
        track = api.get("/api/v1/tracks").json()["items"][0]["id"]
        with server.client() as player:
            master = player.get(f"/hls/{track}/master.m3u8")
            assert master.status_code == 200
            variant = master.url.join(_first_uri(master.text))
            segment = player.get(variant.join(_first_uri(player.get(variant).text)))
            assert segment.status_code in (200, 206)
            assert segment.content


def test_backup_manifest_records_objects_and_checksums(
    installation: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", str(installation["data"])]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["alembic_revision"]
    names = [t["name"] for t in manifest["tables"]]
    assert names.index("libraries") < names.index("tracks") < names.index("renditions")
    assert set(manifest["files"]) >= {t["file"] for t in manifest["tables"]}
    (library,) = manifest["libraries"]
    objects = [json.loads(line) for line in (dest / library["file"]).read_text().splitlines()]
    sources = [o for o in objects if not o["derived"]]
    derived = [o for o in objects if o["derived"]]
    assert sorted(o["key"] for o in sources) == ["one.flac", "two.mp3"]
    assert all(o["refs"] and o["refs"][0].startswith("track:") for o in sources)
    assert any(r.startswith("rendition:") for o in derived for r in o["refs"])
    # The source media are not copied.
    assert not any(name.endswith((".flac", ".mp3")) for name in manifest["files"])

    # A damaged backup is refused before anything is written.
    first = next(f for f in manifest["files"] if f.startswith("database/"))
    with (dest / first).open("a") as handle:
        handle.write("\n")
    assert main(["restore", str(dest), "--data-dir", str(tmp_path / "x")]) == 2

    assert main(["backup", str(dest), "--data-dir", str(installation["data"])]) == 2
    assert main(["restore", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path / "y")]) == 2
    assert main(["cleanup", "--grace", "-1", "--data-dir", str(installation["data"])]) == 2


def test_missing_renditions_are_reported_and_queued(
    installation: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "backup.tgz"
    assert main(["backup", str(dest), "--data-dir", str(installation["data"])]) == 0
    shutil.rmtree(installation["library"] / ".streamer" / "tracks")
    fresh = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(fresh)]) == 1
    out = capsys.readouterr().out
    assert "missing: .streamer/tracks/" in out
    assert "2 tracks miss their renditions: transcodes queued" in out


def test_restore_from_sqlite_into_postgresql(
    installation: dict[str, Any], tmp_path: Path, postgres_url: str
) -> None:
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", str(installation["data"])]) == 0
    assert main(["restore", str(dest), "--database-url", postgres_url]) == 0
    sqlite_url = installation["settings"].effective_database_url
    for query in (
        select(Track.id, Track.title, Track.updated_at).order_by(Track.id),
        select(Rendition.id, Rendition.key, Rendition.created_at).order_by(Rendition.id),
    ):
        assert _db_rows(postgres_url, query) == _db_rows(sqlite_url, query)
    settings = Settings.load({}, data_dir=tmp_path / "pgdata", database_url=postgres_url, workers=1)
    with (
        serve_in_thread(settings) as server,
        server.client(headers=bearer(installation["key"])) as old,
    ):
        assert len(old.get("/api/v1/tracks").json()["items"]) == 2
        # The sequences moved past the restored ids: new rows still insert.
        assert (
            old.post(
                "/api/v1/playlists",
                json={
                    "library_id": old.get("/api/v1/tracks").json()["items"][0]["library_id"],
                    "name": "new",
                },
            ).status_code
            == 201
        )


def test_cleanup_removes_orphans_and_keeps_what_is_served(
    installation: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library: Path = installation["library"]
    data = str(installation["data"])
    settings: Settings = installation["settings"]
    url = settings.effective_database_url
    current = {key for (key,) in _db_rows(url, select(Rendition.key))}
    current |= {key for (key,) in _db_rows(url, select(Rendition.index_key))}
    some = sorted(current)[0]
    track_id, ladder = some.split("/")[2:4]
    old_run = library / ".streamer" / "tracks" / track_id / ladder / "oldrun"
    gone_track = library / ".streamer" / "tracks" / "0123456789abcdef" / ladder / "run"
    orphans = []
    for folder in (old_run, gone_track):
        folder.mkdir(parents=True)
        orphan = folder / "aac_128.mp4"
        orphan.write_bytes(b"x" * 1000)
        orphans.append(orphan)
    fresh = gone_track.parent / "young"
    fresh.mkdir()
    (fresh / "peaks.json").write_text("{}")
    an_hour_ago = time.time() - 7200
    for orphan in orphans:
        os.utime(orphan, (an_hour_ago, an_hour_ago))

    assert main(["cleanup", "--dry-run", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "would remove 2 orphaned derived objects (2.0 KB)" in out, out
    assert all(orphan.exists() for orphan in orphans)

    assert main(["cleanup", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "removed 2 orphaned derived objects" in out, out
    assert not any(orphan.exists() for orphan in orphans)
    assert (fresh / "peaks.json").exists()  # younger than the grace period
    for key in current:
        assert (library / key).exists()
    (entry,) = _db_rows(
        url, select(AuditEntry.after).where(AuditEntry.action == "maintenance.cleanup")
    )
    assert entry[0]["objects"] == 2
    assert _db_rows(url, select(func.count()).select_from(Rendition))[0][0] == len(current) // 2

    with serve_in_thread(settings) as server, server.client() as player:
        master = player.get(f"/hls/{track_id}/master.m3u8")
        assert master.status_code == 200
        # Follow the first variant and its first segment, as a player would.
        variant = master.url.join(_first_uri(master.text))
        playlist = player.get(variant)
        assert playlist.status_code == 200
        segment = player.get(variant.join(_first_uri(playlist.text)))
        assert segment.status_code in (200, 206)
        assert segment.content


def test_cleanup_removes_covers_no_track_refers_to(
    installation: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    library: Path = installation["library"]
    url = installation["settings"].effective_database_url
    used = {key for (key,) in _db_rows(url, select(Track.cover_key)) if key}
    assert used, "the samples carry embedded covers"
    orphan = library / ".streamer" / "covers" / "ff" / ("ff" * 16 + ".png")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"\x89PNG old art")
    two_hours_ago = time.time() - 7200
    for path in [orphan, *(library / key for key in used)]:
        os.utime(path, (two_hours_ago, two_hours_ago))

    assert main(["cleanup", "--data-dir", str(installation["data"])]) == 0
    assert "removed 1 orphaned derived objects" in capsys.readouterr().out
    assert not orphan.exists()
    assert all((library / key).exists() for key in used)


def _first_uri(playlist: str) -> str:
    return next(line for line in playlist.splitlines() if line and not line.startswith("#"))
