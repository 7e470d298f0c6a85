"""A playlist as one HLS stream: three transcoded tracks stitched, played by ffmpeg as an
HLS client from /hls/playlists/{id}/master.m3u8 end to end.

Each track's rendition hides its AAC priming with an edit list, and ffmpeg decodes whole
frames, so each track decodes to its samples plus under one AAC frame of padding: the
stream decodes to the sum of the tracks plus under one frame per track.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import m3u8
import pytest

from packager.retime import decode_time, retime_fragment
from streamer.settings import Settings
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library
from transcoder.ffmpeg import ffmpeg_exe

FFMPEG_TIMEOUT = 60.0
AAC_FRAME = 1024
RATE = 48_000
# name -> seconds of a tone
SOURCES = {"a.flac": 3.0, "b.flac": 4.5, "c.flac": 2.0}

pytestmark = [pytest.mark.slow, pytest.mark.ffmpeg]  # scripts/test: with each ffmpeg


def _decoded_samples(url: str) -> int:
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url,
         "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-c:a", "pcm_s16le", "-"],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip
    return len(done.stdout) // 2


@dataclass
class Served:
    server: RunningServer
    ids: dict[str, str]  # file name -> track id
    samples: dict[str, int]  # file name -> decoded samples of the source


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("playlist-library")
    samples = {}
    for n, (name, seconds) in enumerate(SOURCES.items()):
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"sine=f={220 * (n + 1)}:r={RATE}:d={seconds},volume=0.5",
             "-c:a", "flac", str(folder / name)],
            check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
        )  # fmt: skip
        samples[name] = _decoded_samples(str(folder / name))
    data = tmp_path_factory.mktemp("playlist-data")
    settings = Settings.load({}, data_dir=data)
    scan_roots(settings, [str(folder)])
    transcode_library(settings, str(folder), data / "work")
    with serve_in_thread(settings) as server, server.api() as client:
        page = client.get("/api/v1/tracks", params={"limit": 100}).json()
        ids = {item["path"]: item["id"] for item in page["items"]}
        yield Served(server, ids, samples)


def _make_playlist(served: Served, names: list[str]) -> str:
    with served.server.api() as client:
        library = client.get("/api/v1/libraries").json()[0]["id"]
        body = {
            "library_id": library,
            "name": "stitched",
            "track_ids": [served.ids[n] for n in names],
        }
        response = client.post("/api/v1/playlists", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def test_ffmpeg_plays_the_playlist_as_one_stream(served: Served) -> None:
    order = ["b.flac", "a.flac", "c.flac"]
    playlist_id = _make_playlist(served, order)
    url = f"{served.server.base_url}/hls/playlists/{playlist_id}/master.m3u8"
    decoded = _decoded_samples(url)
    expected = sum(served.samples[name] for name in order)
    assert 0 <= decoded - expected < AAC_FRAME * len(order), (decoded, expected)


def test_stitched_playlists_parse_with_discontinuities_and_maps(served: Served) -> None:
    order = ["a.flac", "c.flac", "a.flac"]
    playlist_id = _make_playlist(served, order)
    with served.server.client() as client:
        master = client.get(f"/hls/playlists/{playlist_id}/master.m3u8")
        assert master.status_code == 200
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert "stale-while-revalidate" in master.headers["cache-control"]
        assert master.headers["etag"].startswith('"r1.')
        assert master.headers["surrogate-key"] == f"playlist-{playlist_id}"
        variants = m3u8.loads(master.text).playlists
        assert {v.uri.split("/")[0] for v in variants} == {"aac_64", "aac_128", "aac_256"}
        again = client.get(master.url, headers={"If-None-Match": master.headers["etag"]})
        assert again.status_code == 304

        media_url = master.url.join(variants[0].uri)
        media = client.get(media_url)
        assert media.status_code == 200
        assert "immutable" in media.headers["cache-control"]
        playlist = m3u8.loads(media.text)
        assert media.text.count("#EXT-X-DISCONTINUITY") == 2
        assert media.text.count("#EXT-X-MAP") == 3
        total = sum(segment.duration for segment in playlist.segments)
        assert total == pytest.approx(3.0 + 2.0 + 3.0, abs=0.001)
        tracks = [served.ids[name] for name in order]
        starts = [s for s in playlist.segments if s.discontinuity or s is playlist.segments[0]]
        assert [_track_of(s.uri) for s in starts] == tracks
        # Init sections are the tracks' own URLs; segments the stream's, each the track's
        # fragment at its decode time in the stream, which runs on across tracks.
        times = []
        for segment in playlist.segments:
            track = _track_of(segment.uri)
            init = media_url.join(segment.init_section.uri)
            assert init.path.startswith(f"/hls/{track}/")
            assert client.get(init).status_code == 200
            resolved = media_url.join(segment.uri)
            assert resolved.path.startswith(f"/hls/playlists/{playlist_id}/")
            answer = client.get(resolved)
            assert answer.status_code == 200
            t = int(resolved.params["t"])
            assert decode_time(answer.content) == t
            n = resolved.path.rsplit("/", 1)[1]
            own = client.get(f"/hls/{track}/{resolved.path.split('/')[4]}/seg_{n}",
                             params={"v": resolved.params["v"]})  # fmt: skip
            assert answer.content == retime_fragment(own.content, t)
            times.append(t)
        assert times == sorted(times)
        assert times[0] == 0
        elsewhere = str(resolved).replace(track, "0123456789abcdef")
        refused = client.get(elsewhere)
        assert refused.status_code == 404
        assert "not in this playlist" in refused.json()["detail"]
        stale = client.get(media_url.copy_with(query=b"v=0000000000000000"))
        assert stale.status_code == 404


def _track_of(uri: str) -> str:
    return uri.split("/")[1]  # seg/{track}/{n}.m4s?v=...&t=...


def test_edits_show_in_the_stream_and_unknown_playlists_are_404(served: Served) -> None:
    playlist_id = _make_playlist(served, ["a.flac"])
    with served.server.client() as client, served.server.api() as api:
        first = client.get(f"/hls/playlists/{playlist_id}/master.m3u8")
        api.post(
            f"/api/v1/playlists/{playlist_id}/items", json={"track_ids": [served.ids["b.flac"]]}
        )
        served.server.app.hls_playlists.streams.invalidate(playlist_id)  # type: ignore[union-attr]
        second = client.get(f"/hls/playlists/{playlist_id}/master.m3u8")
        assert second.headers["etag"].startswith('"r2.')
        assert second.text != first.text
        assert client.get("/hls/playlists/0123456789abcdef/master.m3u8").status_code == 404
        assert client.get("/hls/playlists/nope/master.m3u8").status_code == 404
        assert client.get(f"/hls/playlists/{playlist_id}/flac/index.m3u8").status_code == 404
        assert client.post(f"/hls/playlists/{playlist_id}/master.m3u8").status_code == 405


def test_a_smart_playlist_streams_its_rules_result(served: Served) -> None:
    with served.server.api() as api, served.server.client() as client:
        library = api.get("/api/v1/libraries").json()[0]["id"]
        rules = {
            "match": {"field": "duration", "op": "gt", "value": 2.5},
            "order": [{"field": "duration", "direction": "desc"}],
        }
        body = {"library_id": library, "name": "long ones", "rules": rules}
        created = api.post("/api/v1/playlists", json=body)
        assert created.status_code == 201, created.text
        playlist_id = created.json()["id"]
        master = client.get(f"/hls/playlists/{playlist_id}/master.m3u8")
        assert master.status_code == 200
        variant = m3u8.loads(master.text).playlists[0]
        media = m3u8.loads(client.get(master.url.join(variant.uri)).text)
        starts = [s for s in media.segments if s.discontinuity or s is media.segments[0]]
        assert [_track_of(s.uri) for s in starts] == [
            served.ids["b.flac"],
            served.ids["a.flac"],
        ]
        assert sum(s.duration for s in media.segments) == pytest.approx(4.5 + 3.0, abs=0.001)
        # A rule edit shows in the stream once its cached build expires.
        rules["order"] = [{"field": "duration", "direction": "asc"}]
        api.patch(f"/api/v1/playlists/{playlist_id}", json={"rules": rules})
        served.server.app.hls_playlists.streams.invalidate(playlist_id)  # type: ignore[union-attr]
        again = client.get(f"/hls/playlists/{playlist_id}/master.m3u8")
        media = m3u8.loads(client.get(again.url.join(m3u8.loads(again.text).playlists[0].uri)).text)
        assert _track_of(media.segments[0].uri) == served.ids["a.flac"]
