"""The read-only catalogue API at /api/v1: pagination, filters, problem+json errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import awkward_files
from tests.fixtures.servers import scan_roots, serve_in_thread


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, audio_samples: dict[str, Path]
) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("api")
    library = root / "library"
    library.mkdir()
    for fmt in ("mp3", "flac", "m4a", "ogg"):
        shutil.copy(audio_samples[fmt], library / f"sample.{fmt}")
    awkward_files(library / "awkward")
    settings = Settings.load({}, data_dir=root / "data")
    scan_roots(settings, [str(library)])
    with serve_in_thread(settings) as server, server.api() as client:
        yield client


def test_tracks_are_listed_with_their_metadata_and_media_url(api: httpx.Client) -> None:
    page = api.get("/api/v1/tracks", params={"status": "ok"}).json()
    assert page["total"] == 5  # four samples and the awkward set's valid unicode-named mp3
    flac = next(item for item in page["items"] if item["codec"] == "flac")
    assert flac["urls"]["original"] == f"/media/{flac['id']}/original"
    assert flac["duration"] == pytest.approx(2.0, abs=0.1)
    assert flac["content_type"] == "audio/flac"
    assert flac["cover"]["mime"] == "image/png"


def test_pagination_is_consistent(api: httpx.Client) -> None:
    everything = api.get("/api/v1/tracks", params={"limit": 500}).json()
    pages = [
        api.get("/api/v1/tracks", params={"limit": 2, "offset": o}).json() for o in range(0, 20, 2)
    ]
    ids = [item["id"] for page in pages for item in page["items"]]
    assert ids == [item["id"] for item in everything["items"]]
    assert all(page["total"] == everything["total"] for page in pages)
    assert pages[0]["limit"] == 2


@pytest.mark.parametrize(
    ("params", "expected_paths"),
    [
        ({"codec": "flac"}, {"sample.flac"}),
        ({"q": "SAMPLE.M"}, {"sample.mp3", "sample.m4a"}),
        ({"q": "100%"}, set()),
    ],
)
def test_filters_narrow_the_list(
    api: httpx.Client, params: dict[str, str], expected_paths: set[str]
) -> None:
    items = api.get("/api/v1/tracks", params={**params, "status": "ok"}).json()["items"]
    assert {item["path"] for item in items} == expected_paths


def test_failed_files_are_listed_with_their_reason(api: httpx.Client) -> None:
    items = api.get("/api/v1/tracks", params={"status": "error", "limit": 100}).json()["items"]
    assert items
    assert all(item["error"] for item in items)


def test_library_filter_and_library_endpoints(api: httpx.Client) -> None:
    (library,) = api.get("/api/v1/libraries").json()
    assert library["last_scan"]["added"] >= 4
    assert api.get(f"/api/v1/libraries/{library['id']}").json()["root"] == library["root"]
    assert api.get("/api/v1/tracks", params={"library": library["id"]}).json()["total"] > 0
    assert api.get("/api/v1/tracks", params={"library": "nope"}).json()["total"] == 0


@pytest.mark.parametrize(
    "path", ["/api/v1/tracks/0123456789abcdef", "/api/v1/libraries/nope", "/api/v1/nothing"]
)
def test_missing_things_are_404_problems(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "501"}, {"offset": "-1"}, {"status": "weird"}]
)
def test_invalid_parameters_are_422_problems(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get("/api/v1/tracks", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


@pytest.mark.parametrize("body", [b"{not json", b'{"name": "Mix",', b"\xff\xfe"])
def test_a_body_that_is_not_json_is_a_400_problem(api: httpx.Client, body: bytes) -> None:
    response = api.post(
        "/api/v1/playlists", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "the body is not valid JSON"


def test_a_body_over_the_limit_is_a_413_problem_before_it_is_read(api: httpx.Client) -> None:
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    response = api.post(
        "/api/v1/playlists", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "api_max_body_bytes" in response.json()["detail"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 64 * 1024
        yield b'"}'

    response = api.post(
        "/api/v1/playlists", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/libraries", "GET, HEAD, POST"),
        ("DELETE", "/api/v1/tracks", "GET, HEAD"),
        ("POST", "/api/v1/tracks/0123456789abcdef", "GET, HEAD, PATCH"),
    ],
)
def test_a_method_the_path_does_not_take_names_every_one_it_does(
    api: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.headers["content-type"] == "application/problem+json"


def test_valid_json_that_makes_no_sense_is_a_422_problem(api: httpx.Client) -> None:
    response = api.post("/api/v1/playlists", json={"name": 7})
    assert response.status_code == 422
    assert response.json()["errors"]


def test_openapi_describes_the_api(api: httpx.Client) -> None:
    spec = api.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"/tracks", "/tracks/{track_id}", "/libraries", "/libraries/{library_id}"} <= set(
        spec["paths"]
    )
    assert api.get("/api/v1/docs").status_code == 200
