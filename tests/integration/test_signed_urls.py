"""Signed URLs over real HTTP: with a signing secret, media and HLS need a token that the
API mints; a player that fetched a signed master plays the whole stream (ffmpeg as the
player); anything unsigned, expired or for another track is a 403."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streamer import cli
from streamer.http.signing import make_token
from streamer.settings import Settings
from tests.fixtures.audio import FFMPEG_TIMEOUT
from tests.fixtures.servers import scan_roots, serve_in_thread
from transcoder.ffmpeg import ffmpeg_exe

SECRET = "a-secret-of-sixteen-or-more"


@dataclass
class Signed:
    client: httpx.Client
    base_url: str
    track_id: str


@pytest.fixture(scope="module")
def signed(
    tmp_path_factory: pytest.TempPathFactory, audio_samples: dict[str, Path]
) -> Iterator[Signed]:
    base = tmp_path_factory.mktemp("signed")
    library = base / "library"
    library.mkdir()
    shutil.copy(audio_samples["flac"], library / "tone.flac")
    settings = Settings.load({}, data_dir=base / "data", url_signing_secret=SECRET)
    root = cli.normalise_root(str(library))
    scan_roots(settings, [root])
    assert asyncio.run(cli.run_transcodes(settings, roots=[root])).succeeded == 1
    with serve_in_thread(settings) as server, server.api() as client:
        track_id = client.get("/api/v1/tracks").json()["items"][0]["id"]
        yield Signed(client, server.base_url, track_id)


@pytest.mark.parametrize(
    "path", ["/media/{id}/original", "/hls/{id}/master.m3u8", "/hls/{id}/aac_64/seg_0.m4s"]
)
def test_unsigned_requests_are_refused(signed: Signed, path: str) -> None:
    response = signed.client.get(path.format(id=signed.track_id))
    assert response.status_code == 403
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["detail"] == "this URL must be signed (token missing)"


def test_minted_urls_open_the_track(signed: Signed) -> None:
    minted = signed.client.get(f"/api/v1/tracks/{signed.track_id}/signed").json()

    original = signed.client.get(minted["urls"]["original"], headers={"Range": "bytes=0-9"})
    master = signed.client.get(minted["urls"]["hls"])

    assert original.status_code == 206
    assert master.status_code == 200
    assert master.headers["cache-control"] == "private, max-age=60"
    assert f"token={minted['token']}" in master.text


def test_a_player_plays_the_whole_signed_stream(signed: Signed) -> None:
    minted = signed.client.get(f"/api/v1/tracks/{signed.track_id}/signed").json()
    done = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i",
         signed.base_url + minted["urls"]["hls"], "-f", "s16le", "-ac", "1", "-"],
        capture_output=True, timeout=FFMPEG_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout) > 44_100  # about two seconds of audio, decoded


@pytest.mark.parametrize(
    ("scope", "offset", "detail"),
    [
        ("track:0123456789abcdef", 60, "token is for another path"),
        (None, -10, "token expired"),
    ],
)
def test_expired_or_foreign_tokens_are_refused(
    signed: Signed, scope: str | None, offset: int, detail: str
) -> None:
    import time

    token = make_token(
        SECRET.encode(), scope or f"track:{signed.track_id}", int(time.time()) + offset
    )
    response = signed.client.get(f"/media/{signed.track_id}/original?token={token}")
    assert response.status_code == 403
    assert response.json()["detail"] == detail


def test_minting_needs_signing_on(tmp_path: Path) -> None:
    settings = Settings.load({}, data_dir=tmp_path / "data")
    scan_roots(settings, [])
    with serve_in_thread(settings) as server, server.api() as client:
        response = client.get("/api/v1/tracks/0123456789abcdef/signed")
    assert response.status_code == 409
