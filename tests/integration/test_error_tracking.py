"""With `sentry_dsn` set, `streamer serve` (two workers) sends each error to Sentry, tagged
with the request id the client saw in X-Request-Id. The Sentry here is a small HTTP
server in the test that takes envelopes as Sentry's and GlitchTip's ingest endpoints do
(POST /api/<project>/envelope/), never a real one."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import (
    admin_key,
    bearer,
    scan_roots,
    serve_in_process,
    transcode_library,
)

pytestmark = pytest.mark.slow

Json = dict[str, Any]


class FakeSentry:
    def __init__(self) -> None:
        self.events: list[Json] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                encoding = self.headers.get("content-encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":  # sentry-sdk's choice when brotli is installed
                    body = brotli.decompress(body)
                received.paths.append(self.path)
                received.events.extend(_events(body))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/7"


def _events(envelope: bytes) -> list[Json]:
    """The error events of an envelope: a header line, then item header and payload lines."""
    lines = envelope.split(b"\n")
    events = []
    for header, payload in zip(lines[1::2], lines[2::2], strict=False):
        if json.loads(header).get("type") == "event":
            events.append(json.loads(payload))
    return events


@pytest.fixture(scope="module")
def sentry() -> Iterator[FakeSentry]:
    fake = FakeSentry()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def test_an_unhandled_error_reaches_sentry_with_its_request_id(
    tmp_path: Path, sentry: FakeSentry
) -> None:
    music = tmp_path / "music"
    make_audio(music / "one.flac", "flac", 4.0)
    settings = Settings.load({}, data_dir=tmp_path / "data")
    scan_roots(settings, [str(music)])
    transcode_library(settings, str(music), tmp_path / "work")
    for peaks in music.glob(".streamer/**/peaks.json"):
        peaks.write_bytes(b"{not json")  # reading it is a bug's path: an unhandled error
    key = admin_key(settings)
    env = {"STREAMER_SENTRY_DSN": sentry.dsn, "STREAMER_SENTRY_ENVIRONMENT": "drill"}
    args = ["--data-dir", str(settings.data_dir), "--workers", "2", "--library", str(music)]
    with serve_in_process(args, tmp_path / "serve.log", env=env) as server:
        api = httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=30)
        with api:
            [track] = api.get("/api/v1/tracks").json()["items"]
            answer = api.get(
                f"/api/v1/tracks/{track['id']}/waveform",
                headers={"X-Request-Id": "drill-waveform-1"},
            )
        assert answer.status_code == 500
        assert answer.headers["x-request-id"] == "drill-waveform-1"
        deadline = time.monotonic() + 20
        while not _tagged(sentry.events, "drill-waveform-1"):
            assert time.monotonic() < deadline, f"no event for the request: {sentry.events}"
            time.sleep(0.2)
    [event] = _tagged(sentry.events, "drill-waveform-1")
    [exception] = event["exception"]["values"]
    assert exception["type"] == "JSONDecodeError"
    assert event["environment"] == "drill"
    assert event["tags"]["process"] == "serve"
    assert all(path == "/api/7/envelope/" for path in sentry.paths)
    frames = exception["stacktrace"]["frames"]
    assert all("vars" not in frame for frame in frames)  # no local variables leave


def _tagged(events: list[Json], request_id: str) -> list[Json]:
    return [e for e in events if e.get("tags", {}).get("request_id") == request_id]
