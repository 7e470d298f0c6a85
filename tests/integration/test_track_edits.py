"""Editing tracks through the API: PATCH with ETag/If-Match, tag write-back that a rescan
does not undo, batch actions item by item, one audit entry per changed track."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mutagen
import pytest

from streamer.settings import Settings
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library


@pytest.fixture
def world(
    tmp_path: Path, audio_samples: dict[str, Path]
) -> Iterator[tuple[RunningServer, Settings, Path]]:
    library = tmp_path / "library"
    library.mkdir()
    for fmt in ("mp3", "flac", "wav"):
        shutil.copy(audio_samples[fmt], library / f"sample.{fmt}")
    settings = Settings.load({}, data_dir=tmp_path / "data", workers=1)
    scan_roots(settings, [str(library)])
    with serve_in_thread(settings) as server:
        yield server, settings, library


def _track(api: httpx.Client, path: str) -> tuple[str, str]:
    items = api.get("/api/v1/tracks", params={"limit": 500}).json()["items"]
    track_id = next(item["id"] for item in items if item["path"] == path)
    return track_id, api.get(f"/api/v1/tracks/{track_id}").headers["etag"]


def _audit(api: httpx.Client, track_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = api.get("/api/v1/audit", params={"target_id": track_id}).json()[
        "items"
    ]
    return entries


def test_an_edit_needs_the_current_etag_and_moves_it_on(world: Any) -> None:
    server, _, _ = world
    with server.api() as api:
        track_id, etag = _track(api, "sample.mp3")
        body = {"title": "Ünïcode edit", "year": 1999, "labels": ["a", " a ", "b", ""]}
        assert api.patch(f"/api/v1/tracks/{track_id}", json=body).status_code == 428
        edited = api.patch(f"/api/v1/tracks/{track_id}", json=body, headers={"If-Match": etag})
        assert edited.status_code == 200, edited.text
        new_etag = edited.headers["etag"]
        assert new_etag != etag
        assert api.get(f"/api/v1/tracks/{track_id}").headers["etag"] == new_etag
        track = edited.json()
        assert (track["title"], track["year"], track["labels"]) == (
            "Ünïcode edit",
            1999,
            ["a", "b"],
        )
        assert track["edited"] == ["title", "year"]
        # The stale ETag loses, and learns the current one.
        stale = api.patch(
            f"/api/v1/tracks/{track_id}", json={"title": "lost"}, headers={"If-Match": etag}
        )
        assert stale.status_code == 412
        assert stale.json()["etag"] == new_etag
        assert api.get(f"/api/v1/tracks/{track_id}").json()["title"] == "Ünïcode edit"
        # Search and the label filter see the edit.
        found = api.get("/api/v1/tracks", params={"q": "unicode edit", "tag": "b"}).json()
        assert [item["id"] for item in found["items"]] == [track_id]
        (entry,) = [e for e in _audit(api, track_id) if e["action"] == "track.update"]
        assert entry["after"]["title"] == "Ünïcode edit"
        assert entry["before"]["labels"] == []


def test_if_match_takes_the_track_etag_only_by_strong_comparison(world: Any) -> None:
    server, _, _ = world
    with server.api() as api:
        track_id, _ = _track(api, "sample.flac")
        url = f"/api/v1/tracks/{track_id}"
        for if_match, status in [
            ("W/{etag}", 412),  # a weak tag never matches
            ("*, {etag}", 412),  # "*" is valid only alone: the value does not parse
            ("{etag} junk", 412),
            ('"other", {etag}', 200),
            ("*", 200),
        ]:
            etag = api.get(url).headers["etag"]
            value = if_match.format(etag=etag)
            response = api.patch(url, json={"year": 2000}, headers={"If-Match": value})
            assert response.status_code == status, (value, response.text)


@pytest.mark.parametrize(
    "body",
    [{"year": -1}, {"title": "x" * 501}, {"labels": ["x" * 65]}, {"path": "elsewhere.mp3"}],
)
def test_invalid_edits_are_refused(world: Any, body: dict[str, Any]) -> None:
    server, _, _ = world
    with server.api() as api:
        track_id, etag = _track(api, "sample.mp3")
        response = api.patch(f"/api/v1/tracks/{track_id}", json=body, headers={"If-Match": etag})
        assert response.status_code == 422


def test_written_tags_reach_the_file_and_a_rescan_keeps_the_edit(world: Any) -> None:
    server, settings, library = world
    with server.api() as api:
        track_id, etag = _track(api, "sample.flac")
        edited = api.patch(
            f"/api/v1/tracks/{track_id}",
            params={"write_tags": "true"},
            json={"title": "Written", "artist": "Somebody"},
            headers={"If-Match": etag},
        )
        assert edited.status_code == 200, edited.text
        tags = mutagen.File(library / "sample.flac", easy=True).tags
        assert (tags["title"], tags["artist"]) == (["Written"], ["Somebody"])
        # A later change of the file's own tags does not undo the edit either.
        audio = mutagen.File(library / "sample.flac", easy=True)
        audio.tags["title"] = ["Changed outside"]
        audio.save()
        scan_roots(settings, [str(library)])
        after = api.get(f"/api/v1/tracks/{track_id}").json()
        assert (after["title"], after["artist"]) == ("Written", "Somebody")


def _write_title(api: httpx.Client, track_id: str, title: str) -> httpx.Response:
    etag = api.get(f"/api/v1/tracks/{track_id}").headers["etag"]
    return api.patch(
        f"/api/v1/tracks/{track_id}",
        params={"write_tags": "true"},
        json={"title": title},
        headers={"If-Match": etag},
    )


def test_tag_writes_follow_each_other_without_a_scan_in_between(world: Any) -> None:
    server, _, library = world
    with server.api() as api:
        track_id, _ = _track(api, "sample.mp3")
        assert _write_title(api, track_id, "First").status_code == 200
        second = _write_title(api, track_id, "Second")
        assert second.status_code == 200, second.text
        assert mutagen.File(library / "sample.mp3", easy=True).tags["title"] == ["Second"]


def test_a_rescan_after_a_tag_write_finds_the_file_unchanged(world: Any) -> None:
    server, settings, library = world
    with server.api() as api:
        track_id, _ = _track(api, "sample.flac")
        assert _write_title(api, track_id, "Written").status_code == 200
        (report,) = scan_roots(settings, [str(library)])
        assert (report.added, report.changed) == (0, 0)
        track = api.get(f"/api/v1/tracks/{track_id}").json()
        assert track["size"] == (library / "sample.flac").stat().st_size


def test_a_tag_write_does_not_make_the_renditions_stale(world: Any, tmp_path: Path) -> None:
    server, settings, library = world
    transcode_library(settings, str(library), tmp_path / "work")
    with server.api() as api:
        track_id, _ = _track(api, "sample.flac")
        assert _write_title(api, track_id, "Written").status_code == 200
        scan_roots(settings, [str(library)])
        # The renditions still count as the track's current ones: nothing to transcode.
        queued = api.post("/api/v1/jobs", json={"track_id": track_id})
        assert queued.status_code == 409, queued.text
        assert "already transcoded" in queued.json()["detail"]


def test_tags_are_not_written_into_a_file_changed_since_the_scan(world: Any) -> None:
    server, _, library = world
    with server.api() as api:
        track_id, etag = _track(api, "sample.mp3")
        with (library / "sample.mp3").open("ab") as fh:
            fh.write(b"\0" * 10)
        response = api.patch(
            f"/api/v1/tracks/{track_id}",
            params={"write_tags": "true"},
            json={"title": "Never"},
            headers={"If-Match": etag},
        )
        assert response.status_code == 409
        # Nothing was committed: the edit and the file write go together.
        assert api.get(f"/api/v1/tracks/{track_id}").headers["etag"] == etag


def test_batch_reports_each_item_and_audits_each_change(world: Any) -> None:
    server, _, _ = world
    with server.api() as api:
        mp3, _ = _track(api, "sample.mp3")
        flac, _ = _track(api, "sample.flac")
        body = {"action": "tag", "track_ids": [mp3, "missing", flac], "labels": ["live"]}
        result = api.post("/api/v1/tracks/batch", json=body).json()["items"]
        assert [(i["track_id"], i["status"], i["changed"]) for i in result] == [
            (mp3, 200, True),
            ("missing", 404, False),
            (flac, 200, True),
        ]
        again = api.post("/api/v1/tracks/batch", json=body).json()["items"]
        assert [i["changed"] for i in again] == [False, False, False]
        assert len([e for e in _audit(api, mp3) if e["action"] == "track.tag"]) == 1
        page = api.get("/api/v1/tracks", params={"tag": "live"}).json()
        assert {item["id"] for item in page["items"]} == {mp3, flac}

        untag = {"action": "untag", "track_ids": [mp3], "labels": ["live"]}
        assert api.post("/api/v1/tracks/batch", json=untag).json()["items"][0]["changed"]
        assert (
            api.post("/api/v1/tracks/batch", json={"action": "tag", "track_ids": [mp3]}).status_code
            == 422
        )

        deleted = api.post("/api/v1/tracks/batch", json={"action": "delete", "track_ids": [flac]})
        assert deleted.json()["items"][0]["status"] == 200
        assert api.get(f"/api/v1/tracks/{flac}").status_code == 404
        assert "track.delete" in {e["action"] for e in _audit(api, flac)}
