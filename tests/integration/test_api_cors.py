"""CORS on the admin API (``api_cors_allow_origins``): off by default; for listed origins,
preflights allow what the API and tus need, answers expose what clients read, and
credentials are never allowed, so only API keys work cross-origin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import RunningServer, admin_key, bearer, scan_roots, serve_in_thread

ALLOWED = "https://uploader.example"
OTHER = "https://evil.example"


def _server(tmp_path: Path, **settings: object) -> Iterator[RunningServer]:
    library = tmp_path / "library"
    make_audio(library / "tone.flac", "flac", 2.0)
    config = Settings.load({}, data_dir=tmp_path / "data", **settings)
    scan_roots(config, [str(library)])
    key = admin_key(config)
    with serve_in_thread(config) as server:
        server.api_key = key
        yield server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _server(tmp_path, api_cors_allow_origins=(ALLOWED,))


@pytest.fixture
def closed_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _server(tmp_path)


def _preflight(server: RunningServer, origin: str, method: str, headers: str) -> httpx.Response:
    with server.client() as client:
        return client.options(
            "/api/v1/uploads/0123456789abcdef0123456789abcdef",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            },
        )


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("PATCH", "authorization, tus-resumable, upload-offset, upload-checksum, content-type"),
        ("POST", "authorization, tus-resumable, upload-length, upload-metadata"),
        ("HEAD", "authorization, tus-resumable"),
        ("DELETE", "authorization, tus-resumable"),
        ("PUT", "authorization, content-type, if-match"),
    ],
)
def test_a_listed_origin_may_send_what_the_api_and_tus_need(
    server: RunningServer, method: str, headers: str
) -> None:
    response = _preflight(server, ALLOWED, method, headers)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert method in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(name.strip() in allowed for name in headers.split(","))
    assert "access-control-allow-credentials" not in response.headers


def test_answers_expose_what_a_tus_client_reads(server: RunningServer) -> None:
    assert server.api_key is not None
    with server.client() as client:
        response = client.post(
            "/api/v1/uploads",
            headers={
                **bearer(server.api_key),
                "Origin": ALLOWED,
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "10",
                "Upload-Metadata": "filename dC5mbGFj",
            },
        )

    assert response.status_code in (201, 400, 422)  # the answer itself is the API's affair
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = response.headers["access-control-expose-headers"].lower()
    for name in ("location", "upload-offset", "upload-expires", "tus-resumable", "etag"):
        assert name in exposed
    assert "access-control-allow-credentials" not in response.headers


def test_an_unlisted_origin_gets_no_cors(server: RunningServer) -> None:
    preflight = _preflight(server, OTHER, "PATCH", "authorization, upload-offset")
    assert server.api_key is not None
    with server.client() as client:
        answer = client.get("/api/v1/tracks", headers={**bearer(server.api_key), "Origin": OTHER})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


def test_by_default_the_api_answers_no_cross_origin_request(closed_server: RunningServer) -> None:
    preflight = _preflight(closed_server, ALLOWED, "PATCH", "authorization, upload-offset")
    assert closed_server.api_key is not None
    with closed_server.client() as client:
        headers = {**bearer(closed_server.api_key), "Origin": ALLOWED}
        answer = client.get("/api/v1/tracks", headers=headers)

    assert answer.status_code == 200
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


def test_cross_origin_requests_still_need_credentials(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get("/api/v1/tracks", headers={"Origin": ALLOWED})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED  # the page may read why
