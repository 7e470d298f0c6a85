"""Health, readiness, metrics, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamer.logs import JSONFormatter, request_id_var
from streamer.settings import Settings
from tests.fixtures.ffmpeg import FFMPEG, FFMPEG_VERSION
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread


@pytest.fixture
def library(tmp_path: Path, audio_samples: dict[str, Path]) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(audio_samples["mp3"], folder / "song.mp3")
    return folder


@pytest.fixture
def server(tmp_path: Path, library: Path) -> Iterator[RunningServer]:
    settings = Settings.load({}, data_dir=tmp_path / "data")
    scan_roots(settings, [str(library)])
    with serve_in_thread(settings) as running:
        yield running


def test_healthz_answers_while_the_process_lives(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_readyz_checks_database_and_every_library(server: RunningServer, library: Path) -> None:
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", f"storage {library}": "ok"}
    assert ready.json()["ffmpeg"] == {"path": FFMPEG, "version": FFMPEG_VERSION.text}
    library.rename(library.with_name("moved"))
    unready = httpx.get(f"{server.base_url}/readyz")
    assert unready.status_code == 503
    assert unready.json()["checks"][f"storage {library}"].startswith("error")


def test_metrics_count_requests_by_route_template_and_range_kind(server: RunningServer) -> None:
    track = httpx.get(f"{server.base_url}/api/v1/tracks", headers=bearer(server.api_key)).json()[
        "items"
    ][0]
    url = f"{server.base_url}/media/{track['id']}/original"
    httpx.get(url, headers={"Range": "bytes=0-9"})
    httpx.get(url, headers={"Range": "bytes=0-1,5-6"})
    httpx.get(url, headers={"Range": "bytes=999999999-"})
    text = httpx.get(f"{server.base_url}/metrics").text
    media = 'method="GET",route="/media/{track_id}/original"'
    assert f'streamer_http_requests_total{{{media},status="206"}} 2.0' in text
    assert 'route="/media/{track_id}/original",status="416"' in text
    for kind in ("single", "multi", "unsatisfiable"):
        assert f'streamer_range_requests_total{{kind="{kind}"}} 1.0' in text
    assert 'streamer_http_response_body_bytes_total{route="/media/{track_id}/original"}' in text
    assert "streamer_http_requests_in_flight" in text
    ffmpeg = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "streamer_ffmpeg_info"
    ]
    assert [(s.labels, s.value) for s in ffmpeg] == [
        ({"version": FFMPEG_VERSION.text, "path": FFMPEG}, 1.0)
    ]
    assert (
        'streamer_http_request_duration_seconds_bucket{le="0.005",route="/api/v1/tracks"}' in text
    )


@pytest.mark.parametrize(
    ("sent", "kept"), [("cdn-abc.123", True), ("bad id with spaces", False), ("x" * 200, False)]
)
def test_request_id_is_taken_from_a_safe_header_or_made(
    server: RunningServer, sent: str, kept: bool
) -> None:
    response = httpx.get(f"{server.base_url}/healthz", headers={"X-Request-ID": sent})
    assert (response.headers["x-request-id"] == sent) is kept
    assert response.headers["x-request-id"]


def test_access_log_line_carries_route_status_and_request_id(server: RunningServer) -> None:
    assert server.app is not None
    assert server.app.access_log is not None
    stream = io.StringIO()
    server.app.access_log.stream = stream
    httpx.get(f"{server.base_url}/healthz", headers={"X-Request-ID": "req-42"})
    server.app.access_log.flush()
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert line["request_id"] == "req-42"
    assert line["msg"] == "GET /healthz 200"


def test_json_log_lines_include_the_current_request_id() -> None:
    record = logging.LogRecord(
        "streamer.test", logging.WARNING, __file__, 1, "hello %s", ("there",), None
    )
    token = request_id_var.set("abc123")
    try:
        line = json.loads(JSONFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "abc123"
    assert line["msg"] == "hello there"
    assert line["ts"].endswith("Z")


METRICS_TOKEN = "a metrics token of some length"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[RunningServer]:
    settings = Settings.load({}, data_dir=tmp_path / "data", metrics_token=METRICS_TOKEN)
    with serve_in_thread(settings) as running:
        yield running


def test_metrics_are_public_by_default(server: RunningServer) -> None:
    assert httpx.get(f"{server.base_url}/metrics").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong token of the same size",
        f"Basic {METRICS_TOKEN}",
        f"Bearer {METRICS_TOKEN}x",
        f"Bearer {METRICS_TOKEN[:-1]}",
        "Bearer",
    ],
)
def test_with_a_metrics_token_metrics_need_it(
    guarded: RunningServer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{guarded.base_url}/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert response.headers["content-type"] == "application/problem+json"
    assert "streamer_http_requests_total" not in response.text


def test_with_a_metrics_token_the_token_opens_metrics(guarded: RunningServer) -> None:
    response = httpx.get(f"{guarded.base_url}/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 200
    assert "streamer_http_requests_total" in response.text
    assert httpx.get(f"{guarded.base_url}/healthz").status_code == 200  # health stays open
    assert httpx.get(f"{guarded.base_url}/readyz").status_code == 200
