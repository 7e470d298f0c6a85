"""A page on another origin uploads with tus-js-client in Chromium, straight to the admin
API, authenticated by an API key: what `api_cors_allow_origins` is for. The page comes
from a plain HTTP server of this test's on another port (another origin)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.fixtures.audio import make_audio
from tests.fixtures.servers import free_port
from tests.web.conftest import ROOT, WebServer, start_web_server

TUS_JS = ROOT / "streamer" / "admin" / "static" / "vendor" / "tus.min.js"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Uploader</title>
<script src="/tus.min.js"></script></head>
<body><p id="state">idle</p><script>
async function upload(api, key, library) {
  const blob = await (await fetch('/song.flac')).blob();
  return await new Promise((resolve, reject) => {
    const task = new tus.Upload(blob, {
      endpoint: api + '/api/v1/uploads',
      headers: { Authorization: 'Bearer ' + key },
      metadata: { filename: 'from elsewhere.flac', library: library },
      chunkSize: 64 * 1024,  // several PATCHes, each a cross-origin request
      retryDelays: [],
      onProgress: (sent, total) => {
        document.getElementById('state').textContent = sent + '/' + total;
      },
      onSuccess: () => resolve(task.url),
      onError: (error) => reject(String(error)),
    });
    task.start();
  });
}
</script></body></html>
"""


class _Site:
    def __init__(self, folder: Path, port: int) -> None:
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{port}"
        self.folder = folder

    def __enter__(self) -> _Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def uploader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, _Site]]:
    tmp = tmp_path_factory.mktemp("cross-origin")
    site_dir = tmp / "site"
    site_dir.mkdir()
    (site_dir / "index.html").write_text(PAGE)
    (site_dir / "tus.min.js").write_bytes(TUS_JS.read_bytes())
    make_audio(site_dir / "song.flac", "flac", 6.0, tags={"title": "From Elsewhere"})
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    tracks = {"seed.flac": (2.0, {"title": "Seed"})}
    servers = start_web_server(
        tmp, tracks=tracks, extra_env={"STREAMER_API_CORS_ALLOW_ORIGINS": origin}
    )
    with _Site(site_dir, port) as site:
        web_server = next(servers)
        try:
            yield web_server, site
        finally:
            servers.close()


def test_a_page_on_another_origin_uploads_with_an_api_key(
    browser: Browser, uploader: tuple[WebServer, _Site]
) -> None:
    web_server, site = uploader
    context = browser.new_context()
    page = context.new_page()
    page.goto(site.url + "/index.html")

    url = page.evaluate(
        "([api, key, library]) => upload(api, key, library)",
        [web_server.base_url, web_server.api_key, web_server.library_id],
    )
    context.close()

    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    with web_server.api() as client:
        deadline = time.monotonic() + 30
        while True:
            upload = client.get(f"/api/v1/uploads/{upload_id}").json()
            if upload["status"] != "receiving" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert upload["status"] == "completed", upload
        track = client.get(f"/api/v1/tracks/{upload['track_id']}").json()
    assert track["title"] == "From Elsewhere"
    assert upload["offset"] == upload["length"] == (site.folder / "song.flac").stat().st_size
