"""The optional renditions over HLS: a ladder of AAC, FLAC and Opus (set in settings), run
by the job runner, served, and played by ffmpeg as an HLS client over HTTP.

FLAC is lossless: it must decode to exactly the source's samples. Opus carries its
pre-skip in the init segment; AAC its priming in an edit list. All three must decode to the
source's length within one codec frame.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import m3u8
import pytest

from streamer import cli
from streamer.settings import Settings
from tests.fixtures.audio import FFMPEG_TIMEOUT
from tests.fixtures.servers import scan_roots, serve_in_thread
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

LADDER = ("aac_128", "flac", "opus_96")
SECONDS = 14.0  # three 6-second segments, the last one short
CODECS = {"aac_128": "mp4a.40.2", "flac": "fLaC", "opus_96": "Opus"}


def _decode(url: str, rate: int) -> int:
    """Samples per channel ffmpeg decodes from ``url``, resampled to ``rate``."""
    done = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", url, "-map", "0:a:0",
         "-ac", "1", "-ar", str(rate), "-f", "s16le", "-c:a", "pcm_s16le", "-"],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip
    return len(done.stdout) // 2


@dataclass
class Served:
    client: httpx.Client
    base_url: str
    track_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("hls-codecs")
    library = base / "library"
    library.mkdir()
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         f"sine=f=440:r=48000:d={SECONDS}", "-ac", "2", "-c:a", "flac",
         str(library / "tone.flac")],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip
    settings = Settings.load({}, data_dir=base / "data", ladder=list(LADDER))
    root = cli.normalise_root(str(library))
    scan_roots(settings, [root])
    outcome = asyncio.run(cli.run_transcodes(settings, roots=[root]))
    assert (outcome.succeeded, outcome.failed) == (1, [])
    with serve_in_thread(settings) as server, server.api() as client:
        track_id = client.get("/api/v1/tracks").json()["items"][0]["id"]
        yield Served(client, server.base_url, track_id)


def test_the_master_playlist_names_each_codec(served: Served) -> None:
    response = served.client.get(f"/hls/{served.track_id}/master.m3u8")
    master = m3u8.loads(response.text)

    codecs = {p.uri.split("/")[0]: p.stream_info.codecs for p in master.playlists}

    assert codecs == CODECS


@pytest.mark.parametrize("rendition", LADDER)
def test_ffmpeg_plays_each_rendition_over_hls_to_the_source_length(
    served: Served, rendition: str
) -> None:
    url = f"{served.base_url}/hls/{served.track_id}/{rendition}/index.m3u8"

    decoded = _decode(url, 48_000)

    source = round(SECONDS * 48_000)
    if rendition == "flac":
        assert decoded == source
    else:  # one frame of padding at most: 1024 samples for AAC, 960 for Opus
        assert 0 <= decoded - source < 1024, (decoded, source)


def test_the_lossless_rendition_keeps_the_source_rate(served: Served) -> None:
    track = served.client.get(f"/api/v1/tracks/{served.track_id}").json()
    shapes = {r["name"]: (r["codec"], r["sample_rate"]) for r in track["renditions"]}

    assert shapes == {
        "aac_128": ("aac", 48_000),
        "flac": ("flac", 48_000),
        "opus_96": ("opus", 48_000),
    }
