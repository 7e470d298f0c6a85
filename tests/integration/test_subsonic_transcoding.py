"""stream with format and maxBitRate: transcodes made by ffmpeg as they are sent, kept
once whole and then served from storage with ranges; the original when it already fits;
a bounded number at once; ffmpeg stopped when the client leaves. Real ffmpeg (Debian's or
imageio's, scripts/test runs both), a real server, py-sonic as the client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import libsonic
import pytest
from PIL import Image

from streamer.cli import normalise_root
from streamer.settings import Settings
from tests.fixtures.audio import make_audio, make_png
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread
from tests.fixtures.subsonic import subsonic_user
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = [pytest.mark.ffmpeg]


@dataclass
class Setup:
    server: RunningServer
    files: dict[str, Path]
    user: str
    password: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("ondemand")
    music = base / "music"
    files = {
        "flac": make_audio(music / "tone.flac", "flac", 4.0, tags={"title": "Flac tone"}),
        "mp3": make_audio(music / "low.mp3", "mp3", 3.0, tags={"title": "Mp3 tone"}),
        "long": make_audio(music / "long.flac", "flac", 900.0, tags={"title": "Long tone"}),
        "covered": make_audio(
            music / "covered.mp3", "mp3", 1.0, tags={"title": "Covered"}, cover=make_png(400, 300)
        ),
    }
    root = normalise_root(str(music))
    settings = Settings.load(
        {},
        data_dir=base / "data",
        libraries=[root],
        scan_on_start=False,
        transcode_on_start=False,
        on_demand_transcodes=1,
        on_demand_wait_seconds=0.5,
    )
    scan_roots(settings, [root])
    with serve_in_thread(settings) as server:
        _, password = subsonic_user(server, "listener")
        yield Setup(server, files, "listener", password)


@pytest.fixture
def sonic(setup: Setup) -> libsonic.Connection:
    url = httpx.URL(setup.server.base_url)
    return libsonic.Connection(
        f"{url.scheme}://{url.host}", setup.user, setup.password, port=url.port, appName="t"
    )


def _id(sonic: libsonic.Connection, title: str) -> str:
    found = sonic.search3(title, artistCount=0, albumCount=0)["searchResult3"]["song"]
    return str(next(song["id"] for song in found if song["title"] == title))


def _params(setup: Setup, **extra: Any) -> dict[str, Any]:
    return {"u": setup.user, "p": setup.password, "c": "t", "v": "1.16.1", **extra}


def probe(data: bytes, tmp_path: Path, name: str) -> dict[str, Any]:
    """ffprobe-like facts from ffmpeg itself: codec, duration (decoding the whole file)."""
    path = tmp_path / name
    path.write_bytes(data)
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    stderr = done.stderr
    codec = stderr.split("Audio: ", 1)[1].split(",", 1)[0].split(" ", 1)[0]
    last = [part for part in stderr.replace("\r", "\n").split("\n") if "time=" in part][-1]
    clock = last.split("time=", 1)[1].split(" ", 1)[0]
    hours, minutes, seconds = clock.split(":")
    return {"codec": codec, "seconds": int(hours) * 3600 + int(minutes) * 60 + float(seconds)}


@pytest.mark.parametrize(("fmt", "codec"), [("mp3", "mp3"), ("opus", "opus"), ("aac", "aac")])
def test_a_requested_format_is_transcoded_and_decodes_whole(
    setup: Setup, sonic: libsonic.Connection, tmp_path: Path, fmt: str, codec: str
) -> None:
    data = sonic.stream(_id(sonic, "Flac tone"), maxBitRate=96, tformat=fmt).read()
    found = probe(data, tmp_path, f"out.{fmt}")
    assert found["codec"] == codec
    assert found["seconds"] == pytest.approx(4.0, abs=0.15)


def test_a_kept_transcode_is_served_from_storage_with_ranges(
    setup: Setup, sonic: libsonic.Connection
) -> None:
    song = _id(sonic, "Flac tone")
    params = _params(setup, id=song, format="mp3", maxBitRate=128)
    with setup.server.client() as client:
        first = client.get("/rest/stream", params=params)
        assert first.status_code == 200
        assert "content-length" not in first.headers  # made as it was sent
        deadline = time.monotonic() + 10
        while True:  # kept once whole: the next answer has a length and ranges
            again = client.get("/rest/stream", params=params, headers={"range": "bytes=0-99"})
            if again.status_code == 206 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        whole = client.get("/rest/stream", params=params)
    assert again.status_code == 206
    assert again.content == first.content[:100]
    assert whole.content == first.content
    assert whole.headers["content-type"] == "audio/mpeg"


@pytest.mark.parametrize(
    ("title", "extra"),
    [
        ("Flac tone", {"format": "raw", "maxBitRate": 64}),
        ("Flac tone", {}),
        ("Mp3 tone", {"format": "mp3"}),
        ("Mp3 tone", {"maxBitRate": 320}),
    ],
    ids=["raw", "nothing-asked", "same-format", "within-the-limit"],
)
def test_the_original_is_sent_when_it_fits(
    setup: Setup, sonic: libsonic.Connection, title: str, extra: dict[str, Any]
) -> None:
    song = _id(sonic, title)
    with setup.server.client() as client:
        response = client.get("/rest/stream", params=_params(setup, id=song, **extra))
    original = setup.files["flac" if title == "Flac tone" else "mp3"].read_bytes()
    assert response.content == original


def test_a_time_offset_starts_the_transcode_that_far_in(
    setup: Setup, sonic: libsonic.Connection, tmp_path: Path
) -> None:
    song = _id(sonic, "Flac tone")
    with setup.server.client() as client:
        response = client.get(
            "/rest/stream", params=_params(setup, id=song, format="mp3", timeOffset=3)
        )
    assert probe(response.content, tmp_path, "late.mp3")["seconds"] == pytest.approx(1.0, abs=0.15)


def test_an_unknown_format_is_a_clear_error(setup: Setup, sonic: libsonic.Connection) -> None:
    song = _id(sonic, "Flac tone")
    with setup.server.client() as client:
        response = client.get(
            "/rest/stream", params=_params(setup, id=song, format="wma", f="json")
        )
    error = response.json()["subsonic-response"]["error"]
    assert error["code"] == 0
    assert "format must be raw or one of mp3, opus, aac" in error["message"]


def _ffmpeg_children() -> list[int]:
    """ffmpeg processes this test process started (the server runs in a thread here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == os.getpid() and name.startswith("ffmpeg"):
            found.append(int(entry.name))
    return found


def _hold_a_transcode(setup: Setup, song: str) -> socket.socket:
    """Start a transcode of the long track and read nothing more than its status line:
    the slot stays taken while ffmpeg waits for the client."""
    url = httpx.URL(setup.server.base_url)
    # 900 s at 320 kbit/s: far more than the socket and pipe buffers hold.
    query = httpx.QueryParams(_params(setup, id=song, format="mp3", maxBitRate=320))
    connection = socket.create_connection((url.host, url.port))
    request = f"GET /rest/stream?{query} HTTP/1.1\r\nHost: x\r\n\r\n"
    connection.sendall(request.encode())
    assert connection.recv(12).startswith(b"HTTP/1.1 200")
    return connection


def test_transcodes_are_bounded_and_ffmpeg_stops_when_the_client_leaves(
    setup: Setup, sonic: libsonic.Connection
) -> None:
    song = _id(sonic, "Long tone")
    connection = _hold_a_transcode(setup, song)
    try:
        deadline = time.monotonic() + 10
        while not _ffmpeg_children() and time.monotonic() < deadline:
            time.sleep(0.05)  # the status line goes out just before ffmpeg starts
        assert len(_ffmpeg_children()) == 1
        with setup.server.client() as client:
            busy = client.get(
                "/rest/stream", params=_params(setup, id=song, format="mp3", f="json")
            )
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "5"
        assert json.loads(busy.content)["subsonic-response"]["status"] == "failed"
    finally:
        connection.close()
    deadline = time.monotonic() + 10
    while _ffmpeg_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ffmpeg_children() == []
    # The transcode was not whole: nothing was kept, and the slot is free again.
    with setup.server.client() as client:
        again = client.get(
            "/rest/stream",
            params=_params(setup, id=song, format="mp3", maxBitRate=320),
            headers={"range": "bytes=0-9"},
        )
    assert again.status_code == 200  # made again, not served from storage


def test_a_cover_at_a_size_is_scaled_once_and_then_served_as_a_stored_object(
    setup: Setup, sonic: libsonic.Connection
) -> None:
    song = _id(sonic, "Covered")
    params = _params(setup, id=song, size=100)
    with setup.server.client() as client:
        first = client.get("/rest/getCoverArt", params=params)
        again = client.get("/rest/getCoverArt", params=params)
        revalidated = client.get(
            "/rest/getCoverArt", params=params, headers={"if-none-match": again.headers["etag"]}
        )
        whole = client.get("/rest/getCoverArt", params=_params(setup, id=song))
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/jpeg"
    image = Image.open(BytesIO(first.content))
    assert (image.format, image.size) == ("JPEG", (128, 96))  # 100 asked: the 128 made
    assert again.content == first.content
    assert revalidated.status_code == 304
    assert Image.open(BytesIO(whole.content)).size == (400, 300)  # no size: the original


def test_a_small_cover_is_never_enlarged(setup: Setup, sonic: libsonic.Connection) -> None:
    song = _id(sonic, "Covered")
    with setup.server.client() as client:
        big = client.get("/rest/getCoverArt", params=_params(setup, id=song, size=1000))
    assert Image.open(BytesIO(big.content)).size == (400, 300)
