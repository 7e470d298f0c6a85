"""The subsonic-api client from npm (tests/integration/clients/subsonic_api.mjs) drives
/rest end to end in Node: app password (salted token) and API key, GET and POST, browse,
search, stream (original and transcoded), cover art, a playlist made, edited and deleted,
a star and a scrobble."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.cli import normalise_root
from streamer.settings import Settings
from tests.fixtures.audio import make_audio, make_png
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread
from tests.fixtures.subsonic import subsonic_user

CLIENT = Path(__file__).parent / "clients" / "subsonic_api.mjs"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = tmp_path_factory.mktemp("npm-client")
    music = base / "music"
    cover = make_png(6, 6)
    for n, title in enumerate(["Come Together", "Something"], start=1):
        make_audio(
            music / "Abbey Road" / f"{n:02d}.flac", "flac", 2.0, cover=cover,
            tags={"title": title, "artist": "The Beatles", "album": "Abbey Road",
                  "tracknumber": str(n)},
        )  # fmt: skip
    make_audio(music / "zebra.mp3", "mp3", 1.0, tags={"title": "Zebra", "artist": "Zed"})
    root = normalise_root(str(music))
    settings = Settings.load(
        {}, data_dir=base / "data", libraries=[root], scan_on_start=False,
        transcode_on_start=False,
    )  # fmt: skip
    scan_roots(settings, [root])
    with serve_in_thread(settings) as running:
        yield running


def test_the_npm_client_browses_plays_and_keeps_a_playlist(server: RunningServer) -> None:
    node = shutil.which("node")
    assert node is not None, "node is installed by make (scripts/assets)"
    _, password = subsonic_user(server, "npm", role="editor", access="write")
    with server.api() as admin:
        key = admin.post("/api/v1/apikeys", json={"name": "node", "role": "viewer"}).json()["key"]
    done = subprocess.run(
        [node, str(CLIENT), server.base_url, "npm", password, key],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["ping"] == seen["keyPing"] == "ok"
    assert seen["folders"] == ["music"]
    assert set(seen["artists"]) == {"The Beatles", "Zed"}
    assert seen["album"] == {
        "name": "Abbey Road",
        "songs": ["Come Together", "Something"],
        "created": True,  # the client read our dates as dates
    }
    assert seen["search"] == ["Zebra"]
    original = (Path(server.settings.libraries[0]) / "Abbey Road" / "01.flac").stat().st_size
    assert seen["stream"] == {"status": 200, "bytes": original}
    assert seen["transcoded"]["status"] == 200
    assert seen["transcoded"]["type"] == "audio/mpeg"
    assert 0 < seen["transcoded"]["bytes"] < original
    assert seen["cover"] == {"status": 200, "type": "image/png"}
    assert seen["playlist"] == ["Something"]
    assert seen["starred"] == {"songs": ["Come Together"], "albums": ["Abbey Road"]}
    assert seen["playCount"] == 1
    assert "From npm" not in seen["playlistsLeft"]
