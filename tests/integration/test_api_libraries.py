"""Libraries through the API: adding folders (only inside library_parents) and S3
prefixes, renaming, removing, and scans started and watched over HTTP."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.servers import RunningServer, admin_key, bearer, serve_in_thread


@pytest.fixture
def parents(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


@pytest.fixture
def server(
    tmp_path: Path, parents: Path, module_database_url: str | None
) -> Iterator[RunningServer]:
    settings = Settings.load(
        {},
        data_dir=tmp_path / "data",
        workers=1,
        library_parents=[str(parents)],
        database_url=module_database_url,
    )
    with serve_in_thread(settings) as running:
        yield running


def _folder(parents: Path, name: str, sample: Path, copies: int = 1) -> Path:
    folder = parents / name
    folder.mkdir()
    for n in range(copies):
        shutil.copy(sample, folder / f"{n:04d}{sample.suffix}")
    return folder


def _wait_scanned(client: httpx.Client, library_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/libraries/{library_id}/scan").json()
        if not status["running"]:
            return dict(status["state"])
        time.sleep(0.1)
    raise AssertionError("the scan did not finish")


def test_an_added_folder_is_scanned_through_the_api(
    server: RunningServer, parents: Path, audio_samples: dict[str, Path]
) -> None:
    folder = _folder(parents, "podcasts", audio_samples["mp3"], copies=3)
    with server.api() as client:
        added = client.post("/api/v1/libraries", json={"root": str(folder), "name": "Pods"})
        assert added.status_code == 201, added.text
        library = added.json()
        assert library["name"] == "Pods"
        assert client.get(f"/api/v1/libraries/{library['id']}/scan").json()["state"] is None
        started = client.post(f"/api/v1/libraries/{library['id']}/scan")
        assert started.status_code == 202
        summary = _wait_scanned(client, library["id"])
        assert summary["state"] == "done"
        assert summary["added"] == 3
        tracks = client.get("/api/v1/tracks", params={"library": library["id"]}).json()
        assert tracks["total"] == 3
        jobs = client.get("/api/v1/jobs", params={"library": library["id"]}).json()
        assert jobs["total"] == 3  # queued for transcoding


def test_a_second_scan_while_one_runs_is_refused(
    server: RunningServer, parents: Path, audio_samples: dict[str, Path]
) -> None:
    folder = _folder(parents, "big", audio_samples["mp3"], copies=300)
    with server.api() as client:
        library = client.post("/api/v1/libraries", json={"root": str(folder)}).json()
        first = client.post(f"/api/v1/libraries/{library['id']}/scan")
        second = client.post(f"/api/v1/libraries/{library['id']}/scan")
        assert first.status_code == 202
        assert second.status_code == 409
        assert _wait_scanned(client, library["id"])["added"] == 300
        assert client.post(f"/api/v1/libraries/{library['id']}/scan").status_code == 202
        assert _wait_scanned(client, library["id"])["unchanged"] == 300


@pytest.mark.parametrize(
    ("root", "status", "detail"),
    [
        ("/etc", 403, "library_parents"),
        ("relative/path", 422, "absolute"),
        ("http://example.com/music", 422, "s3://"),
        ("s3://", 422, "bucket"),
    ],
)
def test_roots_that_cannot_be_libraries_are_refused(
    server: RunningServer, root: str, status: int, detail: str
) -> None:
    with server.api() as client:
        response = client.post("/api/v1/libraries", json={"root": root})
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_a_symlink_out_of_the_parents_is_refused(server: RunningServer, parents: Path) -> None:
    (parents / "sneaky").symlink_to("/etc")
    with server.api() as client:
        response = client.post("/api/v1/libraries", json={"root": str(parents / "sneaky")})
    assert response.status_code == 403


def test_a_missing_folder_and_a_duplicate_are_refused(
    server: RunningServer, parents: Path, audio_samples: dict[str, Path]
) -> None:
    folder = _folder(parents, "once", audio_samples["mp3"])
    with server.api() as client:
        missing = client.post("/api/v1/libraries", json={"root": str(parents / "nope")})
        assert missing.status_code == 422
        assert client.post("/api/v1/libraries", json={"root": str(folder)}).status_code == 201
        assert client.post("/api/v1/libraries", json={"root": str(folder)}).status_code == 409


def test_removing_a_library_keeps_its_files(
    server: RunningServer, parents: Path, audio_samples: dict[str, Path]
) -> None:
    folder = _folder(parents, "gone", audio_samples["mp3"], copies=2)
    with server.api() as client:
        library = client.post("/api/v1/libraries", json={"root": str(folder)}).json()
        client.post(f"/api/v1/libraries/{library['id']}/scan")
        _wait_scanned(client, library["id"])
        assert client.delete(f"/api/v1/libraries/{library['id']}").status_code == 204
        assert client.get(f"/api/v1/libraries/{library['id']}").status_code == 404
        assert client.get("/api/v1/tracks", params={"library": library["id"]}).json()["total"] == 0
        entries = client.get("/api/v1/audit", params={"target_id": library["id"]}).json()["items"]
        assert [e["action"] for e in entries] == [
            "library.delete",
            "library.scan",
            "library.create",
        ]
        assert entries[0]["before"]["tracks"] == 2
    assert sorted(p.name for p in folder.glob("*.mp3")) == ["0000.mp3", "0001.mp3"]


def test_renaming_needs_manage_access(
    server: RunningServer, parents: Path, audio_samples: dict[str, Path]
) -> None:
    folder = _folder(parents, "named", audio_samples["mp3"])
    with server.api() as client:
        library = client.post("/api/v1/libraries", json={"root": str(folder)}).json()
        renamed = client.patch(f"/api/v1/libraries/{library['id']}", json={"name": "New"})
        assert renamed.json()["name"] == "New"
        users = {}
        for access in ("write", "manage"):
            key = client.post(
                "/api/v1/apikeys",
                json={"name": access, "role": "editor", "libraries": {library["id"]: access}},
            ).json()["key"]
            users[access] = key
    url = f"{server.base_url}/api/v1/libraries/{library['id']}"
    assert httpx.patch(url, json={"name": "x"}, headers=bearer(users["write"])).status_code == 403
    assert httpx.patch(url, json={"name": "y"}, headers=bearer(users["manage"])).status_code == 200


def test_only_admins_add_libraries(server: RunningServer, parents: Path) -> None:
    key = admin_key(server.settings, role="editor", name="ed")
    response = httpx.post(
        f"{server.base_url}/api/v1/libraries", json={"root": str(parents)}, headers=bearer(key)
    )
    assert response.status_code == 403
