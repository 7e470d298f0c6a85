"""What a 404 under /hls and /media says: an unknown track is "no such track" at every HLS
URL and rendition file; a track that exists but has no renditions yet says so."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from streamer.cli import normalise_root
from streamer.db import library_id_for, track_id_for
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread

UNKNOWN = "0123456789abcdef"  # well-formed, never catalogued
HLS_URLS = [
    "/hls/{id}/master.m3u8",
    "/hls/{id}/aac_128/index.m3u8",
    "/hls/{id}/aac_128/index_br.m3u8",
    "/hls/{id}/aac_128/init.mp4",
    "/hls/{id}/aac_128/seg_0.m4s",
]


@dataclass
class Site:
    server: RunningServer
    known: str  # a scanned track without renditions (nothing transcoded)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("hls-not-found")
    library = base / "library"
    make_audio(library / "tone.flac", "flac", 1.0)
    root = normalise_root(str(library))
    settings = Settings.load(
        {},
        data_dir=base / "data",
        libraries=[root],
        workers=1,
        scan_on_start=False,
        transcode_on_start=False,
    )
    scan_roots(settings, [root])
    with serve_in_thread(settings) as server:
        yield Site(server, track_id_for(library_id_for(root), "tone.flac"))


@pytest.mark.parametrize("url", HLS_URLS)
def test_an_unknown_track_is_no_such_track(site: Site, url: str) -> None:
    response = httpx.get(site.server.base_url + url.format(id=UNKNOWN))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "no such track"


@pytest.mark.parametrize("url", HLS_URLS)
def test_a_known_track_without_renditions_says_so(site: Site, url: str) -> None:
    assert httpx.get(f"{site.server.base_url}/media/{site.known}/original").status_code == 200
    response = httpx.get(site.server.base_url + url.format(id=site.known))
    assert response.status_code == 404
    assert response.json()["detail"] == "no HLS renditions for this track"


def test_an_unknown_tracks_rendition_file_is_no_such_track(site: Site) -> None:
    response = httpx.get(f"{site.server.base_url}/media/{UNKNOWN}/aac_128.m4a")
    assert response.status_code == 404
    assert response.json()["detail"] == "no such track"


def test_a_known_tracks_missing_rendition_file_is_no_such_rendition(site: Site) -> None:
    response = httpx.get(f"{site.server.base_url}/media/{site.known}/aac_128.m4a")
    assert response.status_code == 404
    assert response.json()["detail"] == "no such rendition"
