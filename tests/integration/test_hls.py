"""HLS end to end: transcode real audio, store it (local folder and S3), serve it, and let
ffmpeg play it as an HLS client over HTTP.

The priming rule under test: stored AAC renditions carry an edit list that hides the
encoder's 1024 priming samples (streamer.renditions.outputs), and the first EXTINF is the
first fragment's duration minus them (streamer.renditions.playlists). So:

- each EXTINF equals what the player presents of its fragment: the fragment's exact
  duration from its sample counts (of the bytes served), minus the priming for segment 0,
  within 1 ms;
- the EXTINF values add up to the source's duration (its decoded samples) within one AAC
  frame (in practice exactly);
- ffmpeg decodes every playlist to the source's sample count plus less than one AAC frame:
  priming is skipped by the edit list, and only the padding of the last frame remains
  (ffmpeg's decoder outputs whole frames). So ``0 <= decoded - source < 1024``.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import m3u8
import pytest
from sqlalchemy import func, select

from streamer.db import Database, Rendition, Track
from streamer.renditions import AAC_PRIMING, transcode_track
from streamer.renditions.playlists import version_token
from streamer.settings import Settings
from streamer.storage.factory import open_store
from tests.fixtures.ffmpeg import FFMPEG_VERSION
from tests.fixtures.immediate import AnswerSpy, comparable, spied_app
from tests.fixtures.s3 import s3_client
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library
from transcoder.ffmpeg import ffmpeg_exe
from transcoder.fmp4 import SegmentIndex, parse_fmp4
from transcoder.versions import hls_stops_after_first_byte_range

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

FFMPEG_TIMEOUT = 60.0
LADDER = ("aac_64", "aac_128", "aac_256")
SWEEP = (
    "aevalsrc="
    "0.4*sin(2*PI*(50*t+(15000-50)*t*t/40))+0.1*(2*random(0)-1)|"
    "0.4*sin(2*PI*(15000*t-(15000-50)*t*t/40))+0.1*(2*random(1)-1)"
    ":s=44100:d=20"
)
# ffmpeg 9.0.2's HLS demuxer decodes only the first segment of a byte-range fMP4 playlist
# read over HTTP (it reads every byte, but yields the first fragment's packets alone). The
# same happens with ffmpeg's own fMP4 output (with or without an edit list) behind a
# 20-line range server, and not at all when the playlist is read from local files, so it is
# the client's limitation, not the playlist's or the server's; the byte ranges themselves
# are checked against the file's index in test_each_extinf_is_what_the_player_presents...
# ffmpeg 5.1 decodes all 30 s, from nginx and from the streamer: the xfail is keyed to the
# versions that have the bug (transcoder.versions).
BR_BUG = "ffmpeg 9's HLS demuxer stops after the first byte-range fMP4 segment over HTTP"
# name -> (lavfi source, encoder arguments)
SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sweep.flac": (SWEEP, ("-c:a", "flac")),
    "voice.mp3": (
        "sine=f=330:r=48000:d=8,volume=0.5",
        ("-ac", "1", "-c:a", "libmp3lame", "-b:a", "96k"),
    ),
}


@dataclass(frozen=True)
class Source:
    samples: int  # per channel, as ffmpeg decodes the source
    rate: int

    @property
    def seconds(self) -> float:
        return self.samples / self.rate


def _decoded_samples(url: str) -> int:
    """Decode the first audio stream of ``url`` with ffmpeg; its sample count per channel."""
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url,
         "-map", "0:a:0", "-ac", "1", "-f", "s16le", "-c:a", "pcm_s16le", "-"],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip
    return len(done.stdout) // 2


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Source]]:
    folder = tmp_path_factory.mktemp("hls-library")
    sources = {}
    for name, (lavfi, args) in SOURCES.items():
        path = folder / name
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", lavfi,
             *args, str(path)],
            check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
        )  # fmt: skip
        rate = 44_100 if name.endswith(".flac") else 48_000
        sources[name] = Source(_decoded_samples(str(path)), rate)
    return folder, sources


@dataclass
class Served:
    server: RunningServer
    ids: dict[str, str]  # file name -> track id
    sources: dict[str, Source]
    root: str
    spy: AnswerSpy

    def url(self, path: str) -> str:
        return f"{self.server.base_url}{path}"


@pytest.fixture(scope="module", params=["local", "s3"])
def served(
    request: pytest.FixtureRequest,
    library: tuple[Path, dict[str, Source]],
    tmp_path_factory: pytest.TempPathFactory,
    s3_server: str,
) -> Iterator[Served]:
    folder, sources = library
    data = tmp_path_factory.mktemp(f"hls-data-{request.param}")
    settings = Settings.load(
        {},
        data_dir=data,
        s3_endpoint_url=s3_server,
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    if request.param == "local":
        root = str(folder)
    else:
        bucket = f"hls-{data.name.lower().replace('_', '-')}"
        client = s3_client(s3_server)
        client.create_bucket(Bucket=bucket)
        for name in SOURCES:
            client.put_object(Bucket=bucket, Key=f"music/{name}", Body=(folder / name).read_bytes())
        root = f"s3://{bucket}/music"
    (report,) = scan_roots(settings, [root])
    assert report.failed == 0, report.errors
    for rows in transcode_library(settings, root, data / "work"):
        assert sorted(row.name for row in rows) == sorted(LADDER)
    app, spy = spied_app(settings)
    with serve_in_thread(settings, app=app) as server, server.api() as client:
        page = client.get("/api/v1/tracks", params={"limit": 100}).json()
        ids = {item["path"]: item["id"] for item in page["items"]}
        assert set(ids) == set(SOURCES)
        yield Served(server, ids, sources, root, spy)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with served.server.api() as client:
        yield client


def _rendition(client: httpx.Client, track_id: str, name: str) -> tuple[bytes, SegmentIndex]:
    """The rendition file as served progressively, and its index parsed from those bytes."""
    response = client.get(f"/media/{track_id}/{name}.m4a")
    assert response.status_code == 200
    return response.content, parse_fmp4(io.BytesIO(response.content))


def _version(served: Served, track_id: str, rendition: str) -> str:
    """The stored version of a rendition file, as the catalogue records it."""

    async def read() -> str:
        db = Database(served.server.settings.effective_database_url)
        try:
            async with db.session() as session:
                version = await session.scalar(
                    select(Rendition.version)
                    .where(Rendition.track_id == track_id, Rendition.name == rendition)
                    .order_by(Rendition.created_at.desc())
                )
        finally:
            await db.dispose()
        assert version is not None
        return version

    return asyncio.run(read())


def _playlist(client: httpx.Client, path: str) -> m3u8.M3U8:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    return m3u8.loads(response.text, uri=str(response.url))


# --- playlists -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SOURCES))
def test_master_playlist_lists_every_rendition_with_the_middle_one_first(
    served: Served, client: httpx.Client, name: str
) -> None:
    track_id = served.ids[name]
    master = _playlist(client, f"/hls/{track_id}/master.m3u8")
    assert master.is_variant
    assert [p.uri.split("?")[0] for p in master.playlists] == [
        "aac_128/index.m3u8",
        "aac_64/index.m3u8",
        "aac_256/index.m3u8",
    ]
    for variant in master.playlists:
        rendition = variant.uri.split("/")[0]
        _, index = _rendition(client, track_id, rendition)
        info = variant.stream_info
        assert info.codecs == "mp4a.40.2"
        assert info.bandwidth == index.peak_bitrate()
        assert info.average_bandwidth == index.average_bitrate()


@pytest.mark.parametrize("name", list(SOURCES))
@pytest.mark.parametrize("rendition", LADDER)
@pytest.mark.parametrize("playlist", ["index.m3u8", "index_br.m3u8"])
def test_each_extinf_is_what_the_player_presents_of_its_fragment(
    served: Served, client: httpx.Client, name: str, rendition: str, playlist: str
) -> None:
    track_id = served.ids[name]
    media = _playlist(client, f"/hls/{track_id}/{rendition}/{playlist}")
    _, index = _rendition(client, track_id, rendition)
    assert index.priming == AAC_PRIMING  # read from the edit list the file now carries
    assert media.is_endlist
    assert media.playlist_type == "vod"
    assert len(media.segments) == len(index.fragments)
    for n, (segment, fragment) in enumerate(zip(media.segments, index.fragments, strict=True)):
        presented = fragment.duration - (index.priming if n == 0 else 0)
        assert abs(segment.duration - presented / index.timescale) <= 0.001
        token = version_token(_version(served, track_id, rendition))
        if playlist == "index_br.m3u8":
            assert segment.uri == f"../../../media/{track_id}/{rendition}.m4a?v={token}"
            assert segment.byterange == f"{fragment.size}@{fragment.offset}"
        else:
            assert segment.uri == f"seg_{n}.m4s?v={token}"
    source = served.sources[name]
    total = sum(segment.duration for segment in media.segments)
    assert abs(total - source.seconds) <= AAC_PRIMING / source.rate


# --- segments --------------------------------------------------------------------------


@pytest.mark.parametrize("rendition", LADDER)
def test_init_and_segments_are_the_rendition_file_in_order(
    served: Served, client: httpx.Client, rendition: str
) -> None:
    track_id = served.ids["sweep.flac"]
    whole, index = _rendition(client, track_id, rendition)
    parts = [client.get(f"/hls/{track_id}/{rendition}/init.mp4")]
    parts += [
        client.get(f"/hls/{track_id}/{rendition}/seg_{n}.m4s") for n in range(len(index.fragments))
    ]
    for part in parts:
        assert part.status_code == 200
        assert part.headers["content-type"] == "audio/mp4"
        assert part.headers["content-length"] == str(len(part.content))
    # The stored file has no trailer: init and fragments are all of it.
    assert b"".join(part.content for part in parts) == whole
    assert len(parts[0].content) == index.init_size


def test_a_range_inside_a_segment_is_served_from_that_segment(
    served: Served, client: httpx.Client
) -> None:
    track_id = served.ids["sweep.flac"]
    whole, index = _rendition(client, track_id, "aac_128")
    fragment = index.fragments[1]
    response = client.get(f"/hls/{track_id}/aac_128/seg_1.m4s", headers={"range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-199/{fragment.size}"
    assert response.content == whole[fragment.offset + 100 : fragment.offset + 200]


def test_head_of_a_segment_sends_its_headers_only(served: Served, client: httpx.Client) -> None:
    track_id = served.ids["voice.mp3"]
    _, index = _rendition(client, track_id, "aac_64")
    response = client.head(f"/hls/{track_id}/aac_64/seg_0.m4s")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(index.fragments[0].size)
    assert response.headers["accept-ranges"] == "bytes"


def test_segments_have_distinct_strong_etags_and_long_caching(
    served: Served, client: httpx.Client
) -> None:
    track_id = served.ids["sweep.flac"]
    responses = [
        client.head(f"/hls/{track_id}/aac_128/{resource}")
        for resource in ("init.mp4", "seg_0.m4s", "seg_1.m4s")
    ]
    etags = [response.headers["etag"] for response in responses]
    assert len(set(etags)) == 3
    assert all(not etag.startswith("W/") for etag in etags)
    media_cache = served.server.settings.media_cache_control
    assert all(response.headers["cache-control"] == media_cache for response in responses)


@pytest.mark.parametrize("resource", ["seg_1.m4s", "init.mp4", "index.m3u8", "../master.m3u8"])
def test_if_none_match_answers_304(served: Served, client: httpx.Client, resource: str) -> None:
    track_id = served.ids["sweep.flac"]
    path = f"/hls/{track_id}/aac_64/{resource}".replace("aac_64/../", "")
    first = client.get(path)
    assert first.status_code == 200
    again = client.get(path, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


IMMEDIATE_CASES = {
    "init": ("GET", "init.mp4", {}),
    "segment": ("GET", "seg_1.m4s", {}),
    "versioned segment": ("GET", "seg_1.m4s?v=TOKEN", {}),
    "segment head": ("HEAD", "seg_2.m4s", {}),
    "range in a segment": ("GET", "seg_1.m4s", {"Range": "bytes=10-19,40-"}),
    "segment if-none-match": ("GET", "seg_1.m4s", {"If-None-Match": "ETAG"}),
    "cors": ("GET", "seg_0.m4s", {"Origin": "https://player.example"}),
    "master": ("GET", "../master.m3u8", {}),
    "master head": ("HEAD", "../master.m3u8", {}),
    "media playlist": ("GET", "index.m3u8", {}),
    "versioned media playlist": ("GET", "index.m3u8?v=TOKEN", {}),
    "byte-range playlist": ("GET", "index_br.m3u8", {}),
    "playlist if-none-match": ("GET", "index.m3u8", {"If-None-Match": "ETAG"}),
    "playlist if-match fails": ("GET", "index.m3u8", {"If-Match": '"other"'}),
}


@pytest.mark.parametrize("case", IMMEDIATE_CASES)
def test_what_is_in_memory_is_answered_immediately_as_the_asgi_path_would(
    served: Served, client: httpx.Client, case: str
) -> None:
    method, resource, headers = IMMEDIATE_CASES[case]
    track_id = served.ids["sweep.flac"]
    master = client.get(f"/hls/{track_id}/master.m3u8").text
    token = re.search(r"aac_128/index\.m3u8\?v=([^\s&]+)", master)
    assert token is not None
    path = f"/hls/{track_id}/aac_128/{resource}".replace("TOKEN", token.group(1))
    path = path.replace("aac_128/../", "")
    try:
        # The tier holds a track's renditions 5 s from when they were read: the entry the
        # warming request found may go stale just before the next request. That is not
        # what this tests, so it tries again; an answer never given at once fails thrice.
        for _ in range(3):
            etag = client.get(path).headers["etag"]  # now in this process's memory tier
            sent = {k: v.replace("ETAG", etag) for k, v in headers.items()}
            served.spy.clear()
            immediate = client.request(method, path, headers=sent)
            if served.spy.answered:
                break
        assert served.spy.answered == [path.partition("?")[0]]
        served.spy.enabled = False
        asgi = client.request(method, path, headers=sent)
    finally:
        served.spy.enabled = True
    assert comparable(immediate) == comparable(asgi)


SHORT = "max-age=60, stale-while-revalidate=60, stale-if-error=86400"
IMMUTABLE = "public, max-age=31536000, immutable"


def test_the_master_and_unversioned_urls_are_cached_briefly(
    served: Served, client: httpx.Client
) -> None:
    track_id = served.ids["voice.mp3"]
    for path in ("master.m3u8", "aac_64/index.m3u8", "aac_64/index_br.m3u8"):
        assert client.get(f"/hls/{track_id}/{path}").headers["cache-control"] == SHORT
    for path in ("aac_64/init.mp4", "aac_64/seg_0.m4s"):
        assert client.get(f"/hls/{track_id}/{path}").headers["cache-control"] == "max-age=86400"


def test_everything_the_master_points_at_is_immutable(served: Served, client: httpx.Client) -> None:
    track_id = served.ids["voice.mp3"]
    master = _playlist(client, f"/hls/{track_id}/master.m3u8")
    for variant in master.playlists:
        media = client.get(f"/hls/{track_id}/{variant.uri}")
        assert media.headers["cache-control"] == IMMUTABLE
        playlist = m3u8.loads(media.text)
        uris = [playlist.segment_map[0].uri, *(segment.uri for segment in playlist.segments)]
        base = f"/hls/{track_id}/{variant.uri.split('/')[0]}/"
        for uri in uris:
            response = client.get(base + uri)
            assert response.status_code == 200
            assert response.headers["cache-control"] == IMMUTABLE
    rendition = client.get(f"/api/v1/tracks/{track_id}").json()["renditions"][0]
    progressive = rendition["urls"]["progressive"]
    token = version_token(_version(served, track_id, rendition["name"]))
    assert client.head(f"{progressive}?v={token}").headers["cache-control"] == IMMUTABLE


@pytest.mark.parametrize(
    "path",
    [
        "/hls/{id}/aac_64/index.m3u8?v=0000000000000000",
        "/hls/{id}/aac_64/seg_0.m4s?v=0000000000000000",
        "/hls/{id}/aac_64/init.mp4?v=0000000000000000",
        "/media/{id}/aac_64.m4a?v=0000000000000000",
    ],
)
def test_a_replaced_version_is_a_briefly_cached_404(
    served: Served, client: httpx.Client, path: str
) -> None:
    response = client.get(path.format(id=served.ids["voice.mp3"]))
    assert response.status_code == 404
    assert response.headers["cache-control"] == "max-age=10"
    assert "reload" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/hls/{id}/master.m3u8", "track-{id} hls-{id}"),
        ("/hls/{id}/aac_64/seg_0.m4s", "track-{id} hls-{id}"),
        ("/media/{id}/original", "track-{id}"),
        ("/media/{id}/aac_64.m4a", "track-{id}"),
    ],
)
def test_responses_name_their_purge_keys_and_allow_timing(
    served: Served, client: httpx.Client, path: str, keys: str
) -> None:
    track_id = served.ids["voice.mp3"]
    response = client.get(path.format(id=track_id))
    assert response.headers["surrogate-key"] == keys.format(id=track_id)
    assert response.headers["cache-tag"] == keys.format(id=track_id).replace(" ", ",")
    assert response.headers["timing-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        "/hls/{id}/aac_999/index.m3u8",
        "/hls/{id}/aac_999/seg_0.m4s",
        "/hls/{id}/aac_64/seg_99.m4s",
        "/hls/{id}/aac_64/seg_01.m4s",
        "/hls/{id}/aac_64/seg_-1.m4s",
        "/hls/{id}/aac_64/other.m4s",
        "/hls/{id}/aac_64/seg_0.m4s/more",
        "/hls/0123456789abcdef/master.m3u8",
        "/hls/not-an-id/aac_64/seg_0.m4s",
        "/media/{id}/aac_999.m4a",
    ],
)
def test_unknown_renditions_and_segments_are_404_problems(
    served: Served, client: httpx.Client, path: str
) -> None:
    response = client.get(path.format(id=served.ids["voice.mp3"]))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


# --- the progressive rendition ---------------------------------------------------------


def test_the_rendition_file_is_served_with_ranges(served: Served, client: httpx.Client) -> None:
    track_id = served.ids["voice.mp3"]
    whole, _ = _rendition(client, track_id, "aac_128")
    response = client.get(f"/media/{track_id}/aac_128.m4a", headers={"range": "bytes=-500"})
    assert response.status_code == 206
    assert response.headers["content-type"] == "audio/mp4"
    assert response.content == whole[-500:]


def test_the_track_api_still_describes_the_track(served: Served, client: httpx.Client) -> None:
    track_id = served.ids["sweep.flac"]
    response = client.get(f"/api/v1/tracks/{track_id}")
    assert response.status_code == 200
    assert response.json()["id"] == track_id
    assert client.get(f"/media/{track_id}/original").status_code == 200


# --- ffmpeg as the HLS client ----------------------------------------------------------


@pytest.mark.parametrize("name", list(SOURCES))
@pytest.mark.parametrize(
    "playlist",
    [
        "master.m3u8",
        *(f"{r}/index.m3u8" for r in LADDER),
        pytest.param(
            "aac_128/index_br.m3u8",
            marks=pytest.mark.xfail(
                hls_stops_after_first_byte_range(FFMPEG_VERSION), strict=True, reason=BR_BUG
            ),
        ),
    ],
)
def test_ffmpeg_decodes_the_stream_to_the_source_length(
    served: Served, name: str, playlist: str
) -> None:
    decoded = _decoded_samples(served.url(f"/hls/{served.ids[name]}/{playlist}"))
    source = served.sources[name]
    # Priming hidden by the edit list; only the last frame's padding is left (docstring).
    assert 0 <= decoded - source.samples < AAC_PRIMING, (decoded, source.samples)


@pytest.mark.parametrize("name", list(SOURCES))
def test_aac_renditions_also_declare_their_priming_as_itunes_gapless_info(
    served: Served, name: str
) -> None:
    # ffmpeg before 6 (and players built on it) ignores an edit list in a fragmented MP4
    # but follows iTunSMPB: priming, end padding and the content's sample count, in hex.
    init = httpx.get(served.url(f"/hls/{served.ids[name]}/aac_128/init.mp4")).content
    found = re.search(
        rb"iTunSMPB.{16} 00000000 ([0-9A-F]{8}) ([0-9A-F]{8}) ([0-9A-F]{16})", init, re.S
    )
    assert found is not None
    priming, padding, samples = (int(value, 16) for value in found.groups())
    assert (priming, samples) == (AAC_PRIMING, served.sources[name].samples)
    assert 0 <= padding < AAC_PRIMING
    assert (priming + samples + padding) % AAC_PRIMING == 0  # whole AAC frames


# --- storing (last: it replaces the files the tests above read) ------------------------


async def test_transcoding_again_replaces_the_renditions_without_blocking(
    served: Served, tmp_path: Path
) -> None:
    settings = served.server.settings
    db = Database(settings.effective_database_url)
    store = open_store(served.root, settings)
    await store.open()
    try:
        async with db.session() as session:
            track = await session.get(Track, served.ids["voice.mp3"])
        assert track is not None
        rows = await transcode_track(db, store, track, work_dir=tmp_path)
        async with db.session() as session:
            count = await session.scalar(
                select(func.count()).select_from(Rendition).where(Rendition.track_id == track.id)
            )
        assert count == len(rows) == len(LADDER)
        assert all(row.duration == served.sources["voice.mp3"].seconds for row in rows)
        assert track.loudness_integrated is not None
        assert track.waveform_key is not None
        assert (await store.stat(track.waveform_key)).size > 0
        assert list(tmp_path.iterdir()) == []  # temporary outputs removed
    finally:
        await store.close()
        await db.dispose()
