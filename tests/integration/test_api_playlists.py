"""/api/v1/playlists against a real server: CRUD, item edits, undo/redo chains, If-Match,
access by the playlist's library, one audit entry per mutation, problem+json errors."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from streamer.auth.access import Access
from streamer.auth.audit import Actor
from streamer.auth.users import create_key
from streamer.db import AuditEntry, Database
from streamer.settings import Settings
from tests.fixtures.audit import audit_actions
from tests.fixtures.servers import RunningServer, admin_key, bearer, scan_roots, serve_in_thread


@dataclass
class World:
    server: RunningServer
    library: str  # id of the library with three tracks
    other: str  # id of a second library with one track
    tracks: list[str]  # the first library's tracks
    foreign: str  # the second library's track

    def client(self, key: str) -> httpx.Client:
        return self.server.client(headers=bearer(key))

    def scoped_key(self, role: str, libraries: dict[str, Access]) -> str:
        async def mint() -> str:
            db = Database(self.server.settings.effective_database_url)
            try:
                secret, _ = await create_key(
                    db,
                    "scoped",
                    role,
                    Actor("cli", None, "tests"),
                    libraries=libraries,  # type: ignore[arg-type]
                )
                return secret
            finally:
                await db.dispose()

        return asyncio.run(mint())

    def audit(self, playlist_id: str) -> list[str]:
        """The audit actions recorded on a playlist, oldest first."""
        return audit_actions(self.server.settings, "playlist", playlist_id)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    audio_samples: dict[str, Path],
    module_database_url: str | None,
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("playlists")
    first, second = root / "first", root / "second"
    first.mkdir()
    second.mkdir()
    for fmt in ("mp3", "flac", "m4a"):
        shutil.copy(audio_samples[fmt], first / f"sample.{fmt}")
    shutil.copy(audio_samples["ogg"], second / "sample.ogg")
    settings = Settings.load({}, data_dir=root / "data", database_url=module_database_url)
    scan_roots(settings, [str(first), str(second)])
    with serve_in_thread(settings) as server, server.api() as client:
        libraries = {lib["root"]: lib["id"] for lib in client.get("/api/v1/libraries").json()}
        tracks = client.get("/api/v1/tracks", params={"limit": 100, "status": "ok"}).json()
        by_library: dict[str, list[str]] = {}
        for item in sorted(tracks["items"], key=lambda t: t["path"]):
            by_library.setdefault(item["library_id"], []).append(item["id"])
        library, other = libraries[str(first)], libraries[str(second)]
        yield World(server, library, other, by_library[library], by_library[other][0])


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with world.server.api() as client:
        yield client


def _create(api: httpx.Client, world: World, tracks: list[str] | None = None) -> dict[str, object]:
    response = api.post(
        "/api/v1/playlists",
        json={"library_id": world.library, "name": "Mix", "track_ids": tracks or []},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _ids(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [item["track_id"] for item in items]


def test_create_get_list_patch_delete(api: httpx.Client, world: World) -> None:
    a, b, _ = world.tracks
    created = _create(api, world, [a, b])
    playlist_id = created["id"]
    assert created["revision"] == 1
    assert _ids(created) == [a, b]
    assert created["urls"]["hls"] == f"/hls/playlists/{playlist_id}/master.m3u8"  # type: ignore[index]
    assert created["duration"] == pytest.approx(4.0, abs=0.2)

    got = api.get(f"/api/v1/playlists/{playlist_id}")
    assert got.headers["etag"] == '"1"'
    assert [item["position"] for item in got.json()["items"]] == [0, 1]

    page = api.get("/api/v1/playlists", params={"library": world.library, "limit": 500}).json()
    listed = next(item for item in page["items"] if item["id"] == playlist_id)
    assert listed["item_count"] == 2
    assert listed["items"] is None
    assert page["total"] >= 1
    assert page["limit"] == 500

    patched = api.patch(f"/api/v1/playlists/{playlist_id}", json={"name": "Evening"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Evening"
    assert patched.json()["revision"] == 2
    assert patched.headers["etag"] == '"2"'

    assert api.delete(f"/api/v1/playlists/{playlist_id}").status_code == 204
    assert api.get(f"/api/v1/playlists/{playlist_id}").status_code == 404
    assert world.audit(str(playlist_id)) == [
        "playlist.create",
        "playlist.update",
        "playlist.delete",
    ]


def test_the_list_searches_names_and_sums_durations(api: httpx.Client, world: World) -> None:
    a, b, _ = world.tracks
    full = api.post(
        "/api/v1/playlists",
        json={"library_id": world.library, "name": "Late 100%_Mix", "track_ids": [a, b, a]},
    ).json()
    empty = api.post(
        "/api/v1/playlists", json={"library_id": world.library, "name": "late 100 mix"}
    ).json()
    listed = {
        p["id"]: p for p in api.get("/api/v1/playlists", params={"limit": 500}).json()["items"]
    }
    assert listed[full["id"]]["duration"] == pytest.approx(full["duration"])
    assert listed[full["id"]]["item_count"] == 3
    assert listed[empty["id"]]["duration"] is None

    def names(q: str) -> list[str]:
        page = api.get("/api/v1/playlists", params={"q": q, "limit": 500}).json()
        assert page["total"] == len(page["items"])
        return sorted(p["id"] for p in page["items"])

    assert names("LATE 100") == sorted([full["id"], empty["id"]])
    # LIKE wildcards in the query match themselves.
    assert names("100%_") == [full["id"]]
    assert names("_") == [full["id"]]
    for playlist in (full, empty):
        assert api.delete(f"/api/v1/playlists/{playlist['id']}").status_code == 204


def test_insert_move_remove_and_replace(api: httpx.Client, world: World) -> None:
    a, b, c = world.tracks
    playlist_id = _create(api, world, [a])["id"]
    url = f"/api/v1/playlists/{playlist_id}"
    assert _ids(api.post(f"{url}/items", json={"track_ids": [b, c]}).json()) == [a, b, c]
    assert _ids(api.post(f"{url}/items", json={"track_ids": [c], "position": 0}).json()) == [
        c,
        a,
        b,
        c,
    ]
    assert _ids(api.post(f"{url}/items/move", json={"from": 0, "to": 3}).json()) == [a, b, c, c]
    assert _ids(api.post(f"{url}/items/move", json={"from": 2, "to": 0}).json()) == [c, a, b, c]
    assert _ids(api.delete(f"{url}/items/3").json()) == [c, a, b]
    assert _ids(api.put(f"{url}/items", json={"track_ids": [b, a]}).json()) == [b, a]
    body = api.get(url).json()
    assert body["revision"] == 7
    assert world.audit(str(playlist_id)) == ["playlist.create"] + ["playlist.items"] * 6


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("POST", "/items", {"track_ids": ["0123456789abcdef"]}),
        ("POST", "/items", {"track_ids": ["x"], "position": 7}),
        ("POST", "/items/move", {"from": 0, "to": 5}),
        ("DELETE", "/items/9", None),
        ("POST", "/items/move", {"from": -1, "to": 0}),
        ("PUT", "/items", {"track_ids": "nope"}),
        ("PATCH", "", {"name": ""}),
    ],
)
def test_invalid_edits_are_422_problems_and_leave_no_trace(
    api: httpx.Client, world: World, method: str, suffix: str, payload: object
) -> None:
    playlist_id = _create(api, world, [world.tracks[0]])["id"]
    response = api.request(method, f"/api/v1/playlists/{playlist_id}{suffix}", json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 422
    assert api.get(f"/api/v1/playlists/{playlist_id}").json()["revision"] == 1
    assert world.audit(str(playlist_id)) == ["playlist.create"]


def test_undo_redo_chains_and_a_new_edit_drops_the_redo_branch(
    api: httpx.Client, world: World
) -> None:
    a, b, c = world.tracks
    playlist_id = _create(api, world, [a])["id"]
    url = f"/api/v1/playlists/{playlist_id}"
    api.post(f"{url}/items", json={"track_ids": [b]})  # revision 2: a b
    api.post(f"{url}/items", json={"track_ids": [c]})  # revision 3: a b c
    api.patch(url, json={"description": "late"})  # revision 4

    undone = api.post(f"{url}/undo").json()
    assert (undone["revision"], undone["description"], _ids(undone)) == (3, "", [a, b, c])
    undone = api.post(f"{url}/undo").json()
    assert (undone["revision"], _ids(undone)) == (2, [a, b])
    undone = api.post(f"{url}/undo").json()
    assert (undone["revision"], _ids(undone), undone["can_undo"]) == (1, [a], False)
    nothing = api.post(f"{url}/undo")
    assert nothing.status_code == 409
    assert nothing.headers["content-type"] == "application/problem+json"

    redone = api.post(f"{url}/redo").json()
    assert (redone["revision"], _ids(redone), redone["can_redo"]) == (2, [a, b], True)
    redone = api.post(f"{url}/redo")
    assert redone.headers["etag"] == '"3"'
    assert _ids(redone.json()) == [a, b, c]

    # A new edit now: revisions 4 (the description) is dropped; the new one is 5, never 4.
    edited = api.post(f"{url}/items/move", json={"from": 2, "to": 0}).json()
    assert (edited["revision"], _ids(edited), edited["can_redo"]) == (5, [c, a, b], False)
    assert api.post(f"{url}/redo").status_code == 409
    history = api.get(f"{url}/revisions").json()
    assert [r["revision"] for r in history["items"]] == [5, 3, 2, 1]
    assert history["total"] == 4
    assert [r["current"] for r in history["items"]] == [True, False, False, False]
    assert history["items"][0]["track_ids"] == [c, a, b]
    back = api.post(f"{url}/undo").json()
    assert (back["revision"], _ids(back)) == (3, [a, b, c])
    assert world.audit(str(playlist_id)) == [
        "playlist.create",
        *["playlist.items"] * 2,
        "playlist.update",
        *["playlist.undo"] * 3,
        *["playlist.redo"] * 2,
        "playlist.items",
        "playlist.undo",
    ]


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ('"1"', 200),
        ('"0" ,, "1"', 200),
        ('"01"', 412),  # strong comparison is exact: "01" is not revision 1's "1"
        ('W/"1"', 412),
        ('*, "1"', 412),  # "*" is valid only alone: the value does not parse
        ('"1" junk', 412),
        ("", 412),
    ],
)
def test_if_match_names_a_revision_only_by_its_exact_strong_etag(
    api: httpx.Client, world: World, if_match: str, status: int
) -> None:
    url = f"/api/v1/playlists/{_create(api, world)['id']}"
    response = api.patch(url, json={"name": "x"}, headers={"If-Match": if_match})
    assert response.status_code == status, response.text


def test_if_match_guards_every_write(api: httpx.Client, world: World) -> None:
    a, b, _ = world.tracks
    playlist_id = _create(api, world, [a])["id"]
    url = f"/api/v1/playlists/{playlist_id}"
    ok = api.post(f"{url}/items", json={"track_ids": [b]}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'
    for method, suffix, payload in [
        ("POST", "/items", {"track_ids": [b]}),
        ("PATCH", "", {"name": "x"}),
        ("POST", "/undo", None),
        ("DELETE", "", None),
        ("DELETE", "/items/0", None),
    ]:
        stale = api.request(method, f"{url}{suffix}", json=payload, headers={"If-Match": '"1"'})
        assert stale.status_code == 412, (method, suffix)
        assert stale.headers["etag"] == '"2"'
        assert stale.headers["content-type"] == "application/problem+json"
    weak = api.patch(url, json={"name": "x"}, headers={"If-Match": 'W/"2"'})
    assert weak.status_code == 412  # If-Match compares strongly
    assert api.patch(url, json={"name": "x"}, headers={"If-Match": '"9", "2"'}).status_code == 200
    assert api.patch(url, json={"name": "y"}, headers={"If-Match": "*"}).status_code == 200
    assert world.audit(str(playlist_id)) == [
        "playlist.create",
        "playlist.items",
        "playlist.update",
        "playlist.update",
    ]


def test_viewers_read_but_cannot_write(api: httpx.Client, world: World) -> None:
    playlist_id = _create(api, world, [world.tracks[0]])["id"]
    url = f"/api/v1/playlists/{playlist_id}"
    viewer = admin_key(world.server.settings, role="viewer", name="viewer")
    with world.client(viewer) as client:
        assert client.get(url).status_code == 200
        for method, suffix, payload in [
            ("PATCH", "", {"name": "x"}),
            ("POST", "/items", {"track_ids": [world.tracks[1]]}),
            ("POST", "/undo", None),
            ("DELETE", "", None),
        ]:
            response = client.request(method, f"{url}{suffix}", json=payload)
            assert response.status_code == 403, (method, suffix)
            assert response.headers["content-type"] == "application/problem+json"
        created = client.post(
            "/api/v1/playlists", json={"library_id": world.library, "name": "mine"}
        )
        assert created.status_code == 403
    assert world.audit(str(playlist_id)) == ["playlist.create"]


def test_a_key_of_another_library_sees_nothing(api: httpx.Client, world: World) -> None:
    playlist_id = _create(api, world, [world.tracks[0]])["id"]
    url = f"/api/v1/playlists/{playlist_id}"
    key = world.scoped_key("editor", {world.other: "write"})
    with world.client(key) as client:
        for method, suffix in [("GET", ""), ("GET", "/revisions"), ("PATCH", ""), ("DELETE", "")]:
            payload = {"name": "x"} if method == "PATCH" else None
            response = client.request(method, f"{url}{suffix}", json=payload)
            assert response.status_code == 404, (method, suffix)
            assert response.json()["detail"] == "no such playlist"
        listed = client.get("/api/v1/playlists", params={"limit": 500}).json()
        assert playlist_id not in {item["id"] for item in listed["items"]}
        # It can make playlists in its own library, but not of tracks it cannot read.
        own = client.post(
            "/api/v1/playlists",
            json={"library_id": world.other, "name": "own", "track_ids": [world.foreign]},
        )
        assert own.status_code == 201
        borrowed = client.post(
            f"/api/v1/playlists/{own.json()['id']}/items", json={"track_ids": [world.tracks[0]]}
        )
        assert borrowed.status_code == 422
        assert world.tracks[0] in borrowed.json()["detail"]
        elsewhere = client.post(
            "/api/v1/playlists", json={"library_id": world.library, "name": "x"}
        )
        assert elsewhere.status_code == 404


def test_read_only_grant_answers_403_on_writes(api: httpx.Client, world: World) -> None:
    playlist_id = _create(api, world, [world.tracks[0]])["id"]
    key = world.scoped_key("editor", {world.library: "read"})
    with world.client(key) as client:
        assert client.get(f"/api/v1/playlists/{playlist_id}").status_code == 200
        assert client.post(f"/api/v1/playlists/{playlist_id}/undo").status_code == 403


def test_unknown_playlists_and_missing_credentials_are_problems(
    api: httpx.Client, world: World
) -> None:
    missing = api.get("/api/v1/playlists/0123456789abcdef")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert api.post("/api/v1/playlists/0123456789abcdef/undo").status_code == 404
    with world.server.client() as anonymous:
        assert anonymous.get("/api/v1/playlists").status_code == 401
    response = api.post("/api/v1/playlists", json={"library_id": "nope", "name": "x"})
    assert response.status_code == 404
    spec = api.get("/api/v1/openapi.json").json()
    assert "/playlists/{playlist_id}/undo" in spec["paths"]


def test_audit_entries_hold_the_state_before_and_after(api: httpx.Client, world: World) -> None:
    a, b, _ = world.tracks
    playlist_id = _create(api, world, [a])["id"]
    api.post(f"/api/v1/playlists/{playlist_id}/items", json={"track_ids": [b]})

    async def read() -> list[tuple[object, object]]:
        db = Database(world.server.settings.effective_database_url)
        try:
            async with db.session() as session:
                rows = await session.execute(
                    select(AuditEntry.before, AuditEntry.after)
                    .where(AuditEntry.target_id == playlist_id)
                    .order_by(AuditEntry.id)
                )
                return [tuple(row) for row in rows.all()]
        finally:
            await db.dispose()

    (_, created), (before, after) = asyncio.run(read())
    assert created["track_ids"] == [a]  # type: ignore[index]
    assert (before["revision"], before["track_ids"]) == (1, [a])  # type: ignore[index]
    assert (after["revision"], after["track_ids"]) == (2, [a, b])  # type: ignore[index]
