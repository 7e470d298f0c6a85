"""A library that notices changes: `streamer serve` (a real process) catalogues files
added, changed, renamed, moved and deleted in its folder without a restart or a manual
scan, keeps a moved file's track id and playlist place, queues new tracks for
transcoding, and takes a burst of 1,000 files copied in."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mutagen.flac import FLAC

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import ServerProcess, admin_key, bearer, serve_in_process

pytestmark = [pytest.mark.slow]

SETTLE = 30.0  # seconds a change may take to show (debounce + scan + the API's caches)


@dataclass
class Watched:
    server: ServerProcess
    folder: Path
    auth: dict[str, str]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.server.base_url}{path}", params=params, headers=self.auth)

    def tracks(self) -> dict[str, dict[str, Any]]:
        """Every track by path, paging through the API."""
        found: dict[str, dict[str, Any]] = {}
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = self.get("/api/v1/tracks", **params).json()
            found.update({t["path"]: t for t in page["items"]})
            cursor = page.get("next_cursor")
            if not cursor:
                return found


def _serve(tmp_path: Path, folder: Path, **env: str) -> Iterator[Watched]:
    data = tmp_path / "data"
    settings = Settings.load({}, data_dir=data)
    auth = bearer(admin_key(settings))
    args = ["--library", str(folder), "--data-dir", str(data), "--workers", "1"]
    environment = {"STREAMER_WATCH_DEBOUNCE_MS": "300", **env}
    with serve_in_process(args, tmp_path / "serve.log", env=environment) as server:
        # Changes made before the watch is set up are the start-up scan's to find.
        eventually(lambda: "for changes" in server.logs(), "the watch set up")
        time.sleep(0.5)
        yield Watched(server, folder, auth)


def eventually(check: Callable[[], bool], what: str, timeout: float = SETTLE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.3)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Watched]:
    folder = tmp_path / "music"
    make_audio(folder / "Artist" / "first.flac", "flac", 1.0, tags={"title": "First"})
    make_audio(folder / "Artist" / "second.flac", "flac", 1.0, tags={"title": "Second"})
    yield from _serve(tmp_path, folder)


def _title(watched: Watched, path: str) -> str | None:
    track = watched.tracks().get(path)
    return track["title"] if track is not None and track["status"] == "ok" else None


def test_an_added_file_is_catalogued_and_transcoded(watched: Watched, tmp_path: Path) -> None:
    eventually(lambda: _title(watched, "Artist/first.flac") == "First", "the start-up scan")
    source = make_audio(tmp_path / "new.flac", "flac", 1.0, tags={"title": "New"})
    shutil.copyfile(source, watched.folder / "Artist" / "new.flac")
    eventually(lambda: _title(watched, "Artist/new.flac") == "New", "the new file catalogued")
    track = watched.tracks()["Artist/new.flac"]
    eventually(
        lambda: bool(watched.get(f"/api/v1/tracks/{track['id']}").json().get("renditions")),
        "its renditions",
        timeout=60,
    )


def test_a_changed_file_is_probed_again(watched: Watched) -> None:
    eventually(lambda: _title(watched, "Artist/first.flac") == "First", "the start-up scan")
    path = watched.folder / "Artist" / "first.flac"
    tags = FLAC(path)
    tags["title"] = "First, retitled"
    tags.save()
    eventually(lambda: _title(watched, "Artist/first.flac") == "First, retitled", "new tags")


def test_a_renamed_or_moved_file_keeps_its_id_and_its_playlist_place(watched: Watched) -> None:
    eventually(lambda: _title(watched, "Artist/second.flac") == "Second", "the start-up scan")
    before = watched.tracks()
    library = watched.get("/api/v1/libraries").json()[0]["id"]
    ids = [before["Artist/first.flac"]["id"], before["Artist/second.flac"]["id"]]
    made = httpx.post(
        f"{watched.server.base_url}/api/v1/playlists",
        json={"library_id": library, "name": "both", "track_ids": ids},
        headers=watched.auth,
    ).json()
    (watched.folder / "Artist" / "second.flac").rename(watched.folder / "Artist" / "2nd.flac")
    (watched.folder / "Artist").rename(watched.folder / "Someone")
    eventually(
        lambda: set(watched.tracks()) == {"Someone/first.flac", "Someone/2nd.flac"},
        "both files under their new names, nothing left behind",
    )
    after = watched.tracks()
    assert after["Someone/first.flac"]["id"] == ids[0]
    assert after["Someone/2nd.flac"]["id"] == ids[1]
    playlist = watched.get(f"/api/v1/playlists/{made['id']}").json()
    assert [item["track_id"] for item in playlist["items"]] == ids


def test_a_deleted_file_is_gone(watched: Watched) -> None:
    eventually(lambda: _title(watched, "Artist/first.flac") == "First", "the start-up scan")
    (watched.folder / "Artist" / "first.flac").unlink()
    eventually(lambda: watched.tracks()["Artist/first.flac"]["status"] == "gone", "the file gone")
    assert watched.tracks()["Artist/second.flac"]["status"] == "ok"


def test_files_the_server_writes_or_that_are_not_audio_start_no_scan(watched: Watched) -> None:
    eventually(lambda: _title(watched, "Artist/first.flac") == "First", "the start-up scan")
    before = watched.get("/api/v1/libraries").json()[0]["last_scan_at"]
    (watched.folder / "notes.txt").write_text("not audio")
    (watched.folder / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    (watched.folder / ".streamer" / "covers").mkdir(parents=True, exist_ok=True)
    (watched.folder / ".streamer" / "covers" / "x.flac").write_bytes(b"derived")
    time.sleep(3)
    assert watched.get("/api/v1/libraries").json()[0]["last_scan_at"] == before


def _all_ok(watched: Watched, count: int) -> bool:
    found = watched.tracks()
    return len(found) == count and all(t["status"] == "ok" for t in found.values())


def test_a_burst_of_a_thousand_files_is_catalogued_within_seconds(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    template = make_audio(tmp_path / "template.flac", "flac", 0.2)
    for watched in _serve(tmp_path, folder, STREAMER_TRANSCODE_ON_START="false"):
        started = time.monotonic()
        for n in range(1000):  # an album copied in: each file its own bytes
            target = folder / f"disc {n // 100}" / f"{n:04d}.flac"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(template, target)
            tags = FLAC(target)
            tags["title"] = f"Track {n}"
            tags.save()
        copied = time.monotonic() - started

        eventually(lambda w=watched: _all_ok(w, 1000), "all 1,000 files catalogued", timeout=120)
        caught_up = time.monotonic() - started
        titles = {t["title"] for t in watched.tracks().values()}
        assert titles == {f"Track {n}" for n in range(1000)}
        print(f"1,000 files copied in {copied:.1f} s, catalogued {caught_up - copied:.1f} s later")
