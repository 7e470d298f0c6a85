"""The media route under change and failure: files that shrink, vanish, move out of the
library or change under a response, and clients that leave mid-body."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.app import create_app
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.s3 import S3Bucket
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread


@pytest.fixture(scope="module")
def big_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 42 MB: more than loopback socket buffers hold, so a transfer takes a while."""
    path = tmp_path_factory.mktemp("big") / "big.wav"
    return make_audio(path, "wav", 240.0)


@pytest.fixture
def library(tmp_path: Path, audio_samples: dict[str, Path]) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(audio_samples["mp3"], folder / "song.mp3")
    return folder


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings.load({}, data_dir=tmp_path / "data", **overrides)


@pytest.fixture
def server(tmp_path: Path, library: Path) -> Iterator[RunningServer]:
    # Revalidate on every request, so each change is seen at once.
    settings = _settings(tmp_path, open_file_valid_seconds=0.0)
    scan_roots(settings, [str(library)])
    with serve_in_thread(settings) as running:
        yield running


def _url(server: RunningServer) -> str:
    track = httpx.get(f"{server.base_url}/api/v1/tracks", headers=bearer(server.api_key)).json()[
        "items"
    ][0]
    return f"{server.base_url}/media/{track['id']}/original"


def test_a_file_replaced_in_place_is_served_with_a_new_etag(
    server: RunningServer, library: Path
) -> None:
    url = _url(server)
    before = httpx.get(url)
    replacement = library / "new.tmp"
    replacement.write_bytes(before.content[::-1])
    replacement.replace(library / "song.mp3")
    after = httpx.get(url)
    assert after.status_code == 200
    assert after.content == before.content[::-1]
    assert after.headers["etag"] != before.headers["etag"]
    assert httpx.get(url, headers={"If-None-Match": before.headers["etag"]}).status_code == 200


def test_a_deleted_file_is_404(server: RunningServer, library: Path) -> None:
    url = _url(server)
    assert httpx.get(url).status_code == 200
    (library / "song.mp3").unlink()
    response = httpx.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_symlink_out_of_the_library_is_refused(
    server: RunningServer, library: Path, tmp_path: Path
) -> None:
    url = _url(server)
    secret = tmp_path / "secret.mp3"
    secret.write_bytes(b"not for you")
    (library / "song.mp3").unlink()
    (library / "song.mp3").symlink_to(secret)
    response = httpx.get(url)
    assert response.status_code == 404
    assert b"not for you" not in response.content


def test_a_file_that_shrinks_mid_transfer_aborts_the_connection(
    tmp_path: Path, big_wav: Path
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    target = library / "big.wav"
    shutil.copy(big_wav, target)
    settings = _settings(tmp_path, chunk_size=65536)
    scan_roots(settings, [str(library)])
    with serve_in_thread(settings) as server, httpx.Client(timeout=10) as client:
        url = _url(server)
        size = target.stat().st_size
        received = 0

        def read_while_shrinking() -> None:
            nonlocal received
            with client.stream("GET", url) as response:
                assert response.headers["content-length"] == str(size)
                for chunk in response.iter_raw(65536):
                    if received == 0:
                        os.truncate(target, 1_000_000)
                    received += len(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            read_while_shrinking()
        # The connection ended before the promised length: no silent short body.
        assert received < size


async def test_a_client_that_leaves_stops_the_read(tmp_path: Path, big_wav: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(big_wav, library / "big.wav")
    settings = await asyncio.to_thread(_settings, tmp_path, chunk_size=65536, inline_read_max=0)
    await asyncio.to_thread(scan_roots, settings, [str(library)])
    app = await asyncio.to_thread(create_app, settings)
    track_id = await asyncio.to_thread(_first_track_id, settings)
    left = asyncio.Event()
    bodies: list[int] = []

    async def receive() -> dict[str, Any]:
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            bodies.append(len(message.get("body", b"")))
            if len(bodies) == 2:
                left.set()
            await asyncio.sleep(0.01)  # a slow client

    scope = {
        "type": "http", "method": "GET", "path": f"/media/{track_id}/original", "headers": [],
        "query_string": b"", "http_version": "1.1", "scheme": "http", "root_path": "",
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    try:
        await asyncio.wait_for(app(scope, receive, send), timeout=10)
    finally:
        await app.db.dispose()
    size = (library / "big.wav").stat().st_size
    assert sum(bodies) < size / 10
    assert len(bodies) <= 4


def _first_track_id(settings: Settings) -> str:
    with serve_in_thread(settings) as server:
        return str(
            httpx.get(f"{server.base_url}/api/v1/tracks", headers=bearer(server.api_key)).json()[
                "items"
            ][0]["id"]
        )


def test_an_s3_object_replaced_under_a_cached_stat_is_served_fresh(
    tmp_path: Path, s3_bucket: S3Bucket, s3_settings: Settings, audio_samples: dict[str, Path]
) -> None:
    original = audio_samples["mp3"].read_bytes()
    s3_bucket.put("music/song.mp3", original)
    # Trust stats for a minute: the change must be caught by the read's If-Match instead.
    settings = s3_settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "open_file_valid_seconds": 60.0,
            "inline_read_max": 0,
        }
    )
    scan_roots(settings, [f"s3://{s3_bucket.name}/music"])
    with serve_in_thread(settings) as server:
        url = _url(server)
        first = httpx.get(url)
        assert first.content == original
        s3_bucket.put("music/song.mp3", original[::-1])
        second = httpx.get(url)
        assert second.status_code == 200
        assert second.content == original[::-1]
        assert second.headers["etag"] != first.headers["etag"]
