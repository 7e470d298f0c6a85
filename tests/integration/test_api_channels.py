"""/api/v1/channels against a real server (SQLite): channels and entries CRUD, validation
of zones, wall times and RRULEs (422 problems), If-Match, roles, occurrences with
conflicts, preview, now and history of a channel whose playlists hold no playable track
yet (the timeline of playable channels is tested in test_live_channels.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audit import audit_actions
from tests.fixtures.servers import RunningServer, admin_key, bearer, scan_roots, serve_in_thread


@dataclass
class World:
    server: RunningServer
    playlist: str
    viewer: str  # API key of a viewer

    def audit(self, channel_id: str) -> list[str]:
        return audit_actions(self.server.settings, "channel", channel_id)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, audio_samples: dict[str, Path]
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("channels")
    library = root / "library"
    library.mkdir()
    shutil.copy(audio_samples["flac"], library / "sample.flac")
    settings = Settings.load({}, data_dir=root / "data")
    scan_roots(settings, [str(library)])
    viewer = admin_key(settings, role="viewer", name="viewer")
    with serve_in_thread(settings) as server, server.api() as client:
        library_id = client.get("/api/v1/libraries").json()[0]["id"]
        track = client.get("/api/v1/tracks").json()["items"][0]["id"]
        created = client.post(
            "/api/v1/playlists",
            json={"library_id": library_id, "name": "Morning", "track_ids": [track]},
        )
        assert created.status_code == 201, created.text
        yield World(server, created.json()["id"], viewer)


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with world.server.api() as client:
        yield client


def _channel(api: httpx.Client, **body: object) -> dict[str, object]:
    response = api.post("/api/v1/channels", json={"name": "Radio", **body})
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    return dict(response.json())


def test_channel_crud_with_etags_and_audit(api: httpx.Client, world: World) -> None:
    created = _channel(api, timezone="Europe/London", loudness_target=-16)
    channel_id = created["id"]
    assert created["fill"] == {"mode": "loop", "playlist_id": None}
    assert created["urls"]["live"] == f"/live/{channel_id}/master.m3u8"  # type: ignore[index]
    got = api.get(f"/api/v1/channels/{channel_id}")
    assert got.json() == created
    listed = api.get("/api/v1/channels").json()
    assert channel_id in [c["id"] for c in listed["items"]]

    stale = api.patch(
        f"/api/v1/channels/{channel_id}", json={"name": "x"}, headers={"If-Match": '"7"'}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.headers["etag"] == '"1"'
    patched = api.patch(
        f"/api/v1/channels/{channel_id}",
        json={"name": "Radio 2", "rules": {"track_minutes": 60, "artist_minutes": 30}},
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert patched.json()["rules"] == {"track_minutes": 60, "artist_minutes": 30}
    assert patched.json()["loudness_target"] == -16

    gone = api.delete(f"/api/v1/channels/{channel_id}", headers={"If-Match": '"2"'})
    assert gone.status_code == 204
    assert api.get(f"/api/v1/channels/{channel_id}").status_code == 404
    assert world.audit(str(channel_id)) == ["channel.create", "channel.update", "channel.delete"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"timezone": "../etc/passwd"}, "IANA"),
        ({"fill": {"mode": "fallback"}}, "fallback"),
        ({"fill": {"mode": "loop", "playlist_id": "0123456789abcdef"}}, "no such playlist"),
    ],
)
def test_invalid_channels_are_422(api: httpx.Client, body: dict[str, object], words: str) -> None:
    response = api.post("/api/v1/channels", json={"name": "Bad", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert words in response.json()["detail"]


def test_entries_crud_and_validation(api: httpx.Client, world: World) -> None:
    channel_id = _channel(api, timezone="Asia/Tokyo")["id"]
    base = f"/api/v1/channels/{channel_id}/entries"
    entry = {
        "playlist_id": world.playlist,
        "start": "2026-12-07T14:00",
        "duration_seconds": 3600,
        "rrule": "RRULE:FREQ=WEEKLY;BYDAY=MO,TU",
        "exdates": ["2026-12-14T14:00:00"],
        "priority": 5,
    }
    created = api.post(base, json=entry, headers={"If-Match": '"1"'})
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"2"'
    body = created.json()
    assert body["start"] == "2026-12-07T14:00:00"
    assert body["rrule"] == "FREQ=WEEKLY;BYDAY=MO,TU"
    entry_id = body["id"]
    assert api.get(f"{base}/{entry_id}").json() == body
    assert [e["id"] for e in api.get(base).json()] == [entry_id]

    for bad, words in [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "FREQ=MINUTELY"}, "FREQ"),
        ({"rrule": "FREQ=DAILY;DTSTART=20260101T000000"}, "DTSTART"),
        ({"start": "2026-12-07T14:00:00+09:00"}, "offset"),
        ({"start": "next tuesday"}, "ISO"),
        ({"exdates": ["2026-12-xxT10:00"]}, "ISO"),
        ({"playlist_id": "0123456789abcdef"}, "no such playlist"),
    ]:
        response = api.post(base, json={**entry, **bad})
        assert response.status_code == 422, (bad, response.text)
        assert words in response.json()["detail"], (bad, response.json())
    assert api.post(base, json={**entry, "duration_seconds": 0}).status_code == 422

    patched = api.patch(
        f"{base}/{entry_id}", json={"start": "2026-12-07T15:30:00", "clear_rrule": True}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["rrule"] is None
    assert patched.headers["etag"] == '"3"'
    bad_patch = api.patch(f"{base}/{entry_id}", json={"rrule": "FREQ=NEVER"})
    assert bad_patch.status_code == 422
    assert api.get(f"{base}/{entry_id}").json()["start"] == "2026-12-07T15:30:00"
    assert api.get(f"{base}/nope").status_code == 404
    deleted = api.delete(f"{base}/{entry_id}", headers={"If-Match": '"3"'})
    assert deleted.status_code == 204
    assert api.get(base).json() == []
    assert world.audit(str(channel_id)) == [
        "channel.create",
        "channel.entry.create",
        "channel.entry.update",
        "channel.entry.delete",
    ]


def test_viewers_read_but_do_not_write(api: httpx.Client, world: World) -> None:
    channel_id = _channel(api)["id"]
    with world.server.client(headers=bearer(world.viewer)) as viewer:
        assert viewer.get(f"/api/v1/channels/{channel_id}").status_code == 200
        assert viewer.get("/api/v1/channels").status_code == 200
        assert viewer.post("/api/v1/channels", json={"name": "v"}).status_code == 403
        assert viewer.patch(f"/api/v1/channels/{channel_id}", json={"name": "v"}).status_code == 403
        assert viewer.delete(f"/api/v1/channels/{channel_id}").status_code == 403
    with world.server.client() as anonymous:
        assert anonymous.get("/api/v1/channels").status_code == 401


def test_occurrences_show_conflicts_in_the_zone_asked(api: httpx.Client, world: World) -> None:
    channel_id = _channel(api, timezone="Europe/London")["id"]
    base = f"/api/v1/channels/{channel_id}"
    low = api.post(
        f"{base}/entries",
        json={"playlist_id": world.playlist, "start": "2026-12-07T10:00:00",
              "duration_seconds": 7200, "rrule": "FREQ=DAILY", "priority": 1},
    ).json()  # fmt: skip
    high = api.post(
        f"{base}/entries",
        json={"playlist_id": world.playlist, "start": "2026-12-08T11:00:00",
              "duration_seconds": 3600, "priority": 9},
    ).json()  # fmt: skip
    response = api.get(
        f"{base}/occurrences",
        params={"from": "2026-12-07T00:00:00Z", "to": "2026-12-09T00:00:00Z", "tz": "Asia/Tokyo"},
    )
    assert response.status_code == 200, response.text
    found = response.json()
    mine = [o for o in found if o["entry_id"] == high["id"]]
    assert len(mine) == 1
    assert mine[0]["wins"] is True
    assert mine[0]["start"] == "2026-12-08T20:00:00+09:00"  # 11:00 in London is 20:00 in Tokyo
    assert low["id"] in mine[0]["conflicts_with"]
    losing = [o for o in found if o["entry_id"] == low["id"] and high["id"] in o["conflicts_with"]]
    assert losing
    assert losing[0]["wins"] is False
    assert losing[0]["reason"]
    for params in (
        {"from": "2026-12-07T00:00:00Z", "to": "2026-12-06T00:00:00Z"},  # backwards
        {"from": "2026-01-01T00:00:00Z", "to": "2026-12-06T00:00:00Z"},  # too long
        {"from": "2026-12-07T00:00:00Z", "to": "2026-12-08T00:00:00Z", "tz": "Nowhere"},
    ):
        assert api.get(f"{base}/occurrences", params=params).status_code == 422, params


def test_an_unplayable_channel_has_an_empty_timeline(api: httpx.Client) -> None:
    channel_id = _channel(api)["id"]
    base = f"/api/v1/channels/{channel_id}"
    now = api.get(f"{base}/now")
    assert now.status_code == 200, now.text
    assert now.json()["track"] is None
    preview = api.get(
        f"{base}/preview", params={"from": "2026-12-07T00:00:00Z", "to": "2026-12-07T01:00:00Z"}
    )
    assert preview.status_code == 200
    assert preview.json() == []
    assert api.get("/api/v1/channels/nope/now").status_code == 404
