"""Smart playlists through /api/v1/playlists on SQLite and PostgreSQL: rules saved and
given back, items computed (count, duration, order, limit, random seed), preview, item
edits refused, rule edits as revisions with undo, validation as problem+json, and the
rule's libraries checked against the caller's grants."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.auth.access import Access
from streamer.auth.audit import Actor
from streamer.auth.users import create_key
from streamer.db import Database, Role
from streamer.playlists import playlist_track_ids
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread

# file -> (seconds, tags)
FILES: dict[str, tuple[float, dict[str, str]]] = {
    "first/a.flac": (1.0, {"title": "Blue", "artist": "Miles", "genre": "Jazz", "date": "1959",
                           "mood": "calm"}),
    "first/b.flac": (2.0, {"title": "So What", "artist": "Miles", "genre": "jazz",
                           "date": "1961"}),
    "first/c.flac": (1.5, {"title": "Pump", "artist": "Crystal", "genre": "House",
                           "date": "1994"}),
    "second/d.flac": (1.0, {"title": "Elsewhere", "artist": "Nobody", "genre": "Jazz",
                            "date": "2001"}),
}  # fmt: skip


@dataclass
class World:
    server: RunningServer
    first: str
    second: str
    ids: dict[str, str]  # title -> track id

    def scoped_key(self, role: Role, libraries: dict[str, Access]) -> str:
        async def mint() -> str:
            db = Database(self.server.settings.effective_database_url)
            try:
                secret, _ = await create_key(
                    db, "scoped", role, Actor("cli", None, "tests"),
                    libraries=libraries,
                )  # fmt: skip
                return secret
            finally:
                await db.dispose()

        return asyncio.run(mint())

    def track_ids(self, playlist_id: str) -> list[str] | None:
        async def read() -> list[str] | None:
            db = Database(self.server.settings.effective_database_url)
            try:
                return await playlist_track_ids(db, playlist_id)
            finally:
                await db.dispose()

        return asyncio.run(read())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two libraries' files, made once for both databases."""
    root = tmp_path_factory.mktemp("smart-files")
    for name, (seconds, tags) in FILES.items():
        (root / name).parent.mkdir(exist_ok=True)
        make_audio(root / name, "flac", seconds, tags=tags)
    return root


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, files: Path, module_database_url: str | None
) -> Iterator[World]:
    root = files
    data = tmp_path_factory.mktemp("smart-data")
    settings = Settings.load({}, data_dir=data, database_url=module_database_url)
    scan_roots(settings, [str(root / "first"), str(root / "second")])
    with serve_in_thread(settings) as server, server.api() as client:
        libraries = {lib["root"]: lib["id"] for lib in client.get("/api/v1/libraries").json()}
        tracks = client.get("/api/v1/tracks", params={"limit": 100}).json()["items"]
        ids = {track["title"]: track["id"] for track in tracks}
        yield World(server, libraries[str(root / "first")], libraries[str(root / "second")], ids)


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with world.server.api() as client:
        yield client


JAZZ = {
    "match": {"all": [{"field": "genre", "op": "is", "value": "jazz"}]},
    "order": [{"field": "year", "direction": "desc"}],
}


def _create(api: httpx.Client, world: World, rules: dict[str, Any]) -> dict[str, Any]:
    body = {"library_id": world.first, "name": "Smart", "rules": rules}
    response = api.post("/api/v1/playlists", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _titles(body: dict[str, Any]) -> list[str]:
    return [item["title"] for item in body["items"]]


def test_a_smart_playlist_computes_its_items(api: httpx.Client, world: World) -> None:
    created = _create(api, world, JAZZ)
    assert created["rules"]["match"] == JAZZ["match"]
    # The playlist's own library only: "Elsewhere" is in the second.
    assert _titles(created) == ["So What", "Blue"]
    assert created["item_count"] == 2
    assert created["duration"] == pytest.approx(3.0, abs=0.1)

    got = api.get(f"/api/v1/playlists/{created['id']}").json()
    assert _titles(got) == ["So What", "Blue"]
    tracks = api.get(f"/api/v1/playlists/{created['id']}/tracks").json()
    assert tracks["count"] == 2
    assert tracks["duration"] == pytest.approx(3.0, abs=0.1)
    assert [item["track_id"] for item in tracks["items"]] == [
        world.ids["So What"],
        world.ids["Blue"],
    ]
    assert world.track_ids(created["id"]) == [world.ids["So What"], world.ids["Blue"]]

    page = api.get("/api/v1/playlists", params={"library": world.first, "limit": 500}).json()
    listed = next(item for item in page["items"] if item["id"] == created["id"])
    assert listed["item_count"] == 2
    assert listed["rules"] is not None


def test_libraries_limit_and_random_seed(api: httpx.Client, world: World) -> None:
    rules = {
        "match": {"any": [{"field": "genre", "op": "is", "value": "Jazz"},
                          {"field": "year", "op": "gt", "value": 1990}]},
        "order": [{"field": "random", "seed": "monday"}],
        "libraries": [world.first, world.second],
    }  # fmt: skip
    created = _create(api, world, rules)
    assert sorted(_titles(created)) == ["Blue", "Elsewhere", "Pump", "So What"]
    again = api.get(f"/api/v1/playlists/{created['id']}").json()
    assert _titles(again) == _titles(created)  # the same seed, the same order
    limited = _create(api, world, {**rules, "limit": 2})
    assert _titles(limited) == _titles(created)[:2]
    assert world.track_ids(limited["id"]) == [world.ids[t] for t in _titles(created)[:2]]


def test_preview(api: httpx.Client, world: World) -> None:
    rules = {"match": {"all": [{"field": "title", "op": "contains", "value": "e"}]},
             "order": [{"field": "title"}]}  # fmt: skip
    everywhere = api.post("/api/v1/playlists/preview", json={"rules": rules})
    assert everywhere.status_code == 200, everywhere.text
    assert _titles(everywhere.json()) == ["Blue", "Elsewhere"]
    assert everywhere.json()["count"] == 2
    one = api.post("/api/v1/playlists/preview", json={"rules": rules, "library_id": world.first})
    assert _titles(one.json()) == ["Blue"]
    tagged = api.post(
        "/api/v1/playlists/preview",
        json={"rules": {"match": {"field": "tag:mood", "op": "is", "value": "CALM"}}},
    )
    assert _titles(tagged.json()) == ["Blue"]


def test_items_of_a_smart_playlist_cannot_be_edited(api: httpx.Client, world: World) -> None:
    created = _create(api, world, JAZZ)
    url = f"/api/v1/playlists/{created['id']}"
    for response in (
        api.post(f"{url}/items", json={"track_ids": [world.ids["Pump"]]}),
        api.put(f"{url}/items", json={"track_ids": []}),
        api.post(f"{url}/items/move", json={"from": 0, "to": 1}),
        api.delete(f"{url}/items/0"),
    ):
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert "smart playlist" in response.json()["detail"]
    assert api.get(url).json()["revision"] == 1


def test_rule_edits_are_revisions(api: httpx.Client, world: World) -> None:
    created = _create(api, world, JAZZ)
    url = f"/api/v1/playlists/{created['id']}"
    house = {"match": {"field": "genre", "op": "is", "value": "house"}}
    patched = api.patch(url, json={"rules": house}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.json()["revision"] == 2
    assert _titles(patched.json()) == ["Pump"]
    revisions = api.get(f"{url}/revisions").json()["items"]
    assert [r["action"] for r in revisions] == ["playlist.rules", "playlist.create"]
    assert revisions[0]["rules"]["match"]["value"] == "house"
    undone = api.post(f"{url}/undo").json()
    assert undone["rules"]["match"] == JAZZ["match"]
    assert _titles(undone) == ["So What", "Blue"]
    # Renaming keeps the rule; null makes it an ordinary, empty playlist (undo restores).
    renamed = api.patch(url, json={"name": "Jazz"}).json()
    assert renamed["rules"] is not None
    plain = api.patch(url, json={"rules": None}).json()
    assert plain["rules"] is None
    assert plain["items"] == []
    added = api.post(f"{url}/items", json={"track_ids": [world.ids["Pump"]]})
    assert added.status_code == 200
    assert world.track_ids(created["id"]) == [world.ids["Pump"]]


def test_an_ordinary_playlist_turns_smart(api: httpx.Client, world: World) -> None:
    body = {"library_id": world.first, "name": "Plain", "track_ids": [world.ids["Pump"]]}
    created = api.post("/api/v1/playlists", json=body).json()
    still = api.patch(f"/api/v1/playlists/{created['id']}", json={"rules": None}).json()
    assert _titles(still) == ["Pump"]
    smart = api.patch(f"/api/v1/playlists/{created['id']}", json={"rules": JAZZ}).json()
    assert _titles(smart) == ["So What", "Blue"]
    back = api.post(f"/api/v1/playlists/{created['id']}/undo").json()
    assert back["revision"] == 2
    assert back["rules"] is None
    assert _titles(back) == ["Pump"]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"match": {"field": "colour", "op": "is", "value": "red"}}, "unknown field 'colour'"),
        ({"match": {"field": "year", "op": "contains", "value": "19"}}, "does not apply"),
        ({"match": {"field": "year", "op": "gt", "value": "x"}}, "expects a number"),
        ({"match": {"field": "added", "op": "before", "value": "soon"}}, "not an ISO date"),
        ({"match": {"all": [{"field": "year", "op": "between", "value": [3]}]}}, "two values"),
        ({"order": [{"field": "labels"}]}, "cannot order by"),
        ({"limit": 0}, "greater than or equal to 1"),
        ({"match": {"field": "title", "op": "is", "value": "x", "extra": 1}}, "Extra inputs"),
    ],
)
def test_bad_rules_are_problems(
    api: httpx.Client, world: World, rules: dict[str, Any], message: str
) -> None:
    for response in (
        api.post(
            "/api/v1/playlists", json={"library_id": world.first, "name": "x", "rules": rules}
        ),
        api.post("/api/v1/playlists/preview", json={"rules": rules}),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        messages = " ".join(error["msg"] for error in response.json()["errors"])
        assert message in messages


def test_rules_and_track_ids_do_not_mix(api: httpx.Client, world: World) -> None:
    body = {"library_id": world.first, "name": "x", "rules": JAZZ, "track_ids": [world.ids["Pump"]]}
    response = api.post("/api/v1/playlists", json=body)
    assert response.status_code == 422
    assert "rules or track_ids" in response.json()["detail"]


def test_libraries_follow_the_grants(world: World) -> None:
    key = world.scoped_key("editor", {world.first: "write"})
    rules = {**JAZZ, "libraries": [world.first, world.second]}
    with world.server.client(headers=bearer(key)) as editor:
        refused = editor.post(
            "/api/v1/playlists", json={"library_id": world.first, "name": "x", "rules": rules}
        )
        assert refused.status_code == 422
        assert world.second in refused.json()["detail"]
        preview = editor.post("/api/v1/playlists/preview", json={"rules": rules})
        assert preview.status_code == 422
        unknown = editor.post(
            "/api/v1/playlists/preview", json={"rules": {**JAZZ, "libraries": ["nope"]}}
        )
        assert unknown.status_code == 422
        # Without libraries, a preview draws from the readable ones only.
        mine = editor.post("/api/v1/playlists/preview", json={"rules": JAZZ}).json()
        assert _titles(mine) == ["So What", "Blue"]
    # A playlist an admin made over both libraries: this reader sees the first's part.
    with world.server.api() as admin:
        both = _create(admin, world, rules)
        assert _titles(both) == ["Elsewhere", "So What", "Blue"]
    with world.server.client(headers=bearer(key)) as editor:
        seen = editor.get(f"/api/v1/playlists/{both['id']}").json()
        assert _titles(seen) == ["So What", "Blue"]


def test_values_cannot_inject_sql(api: httpx.Client, world: World) -> None:
    for value in ("'; DROP TABLE tracks; --", "%' OR '1'='1", '" OR 1=1 --'):
        rules = {"match": {"field": "title", "op": "contains", "value": value}}
        response = api.post("/api/v1/playlists/preview", json={"rules": rules})
        assert response.status_code == 200
        assert response.json()["count"] == 0
    assert api.get("/api/v1/tracks", params={"limit": 10}).json()["total"] == len(FILES)


def test_playlist_track_ids_of_nothing(world: World) -> None:
    assert world.track_ids("0123456789abcdef") is None
