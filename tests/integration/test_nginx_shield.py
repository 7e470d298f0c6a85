"""config/nginx-shield.conf, run: Debian's nginx as a caching shield in front of a real
origin. A second request is served by nginx without reaching the origin; a storm of misses
reaches the origin once; ranges of originals are cached in slices; the API is not cached."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from streamer import cli
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.nginx_shield import running_nginx, shield_config
from tests.fixtures.servers import RunningServer, bearer, free_port, scan_roots, serve_in_thread


@dataclass
class Shield:
    url: str
    origin: RunningServer
    track_id: str

    def origin_requests(self, route: str) -> float:
        """Requests the origin answered on ``route`` (from its own metrics)."""
        assert self.origin.app is not None
        self.origin.app.stats.flush()
        with self.origin.api() as client:
            text = client.get("/metrics").text
        pattern = re.escape(f'route="{route}"') + r"[^}]*\} (\S+)"
        return sum(
            float(value)
            for value in re.findall(r"streamer_http_requests_total\{[^}]*" + pattern, text)
        )


@pytest.fixture(scope="module")
def shield(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shield]:
    if os.geteuid() != 0:
        pytest.fail("the shield test runs nginx as root (its workers write the cache folder)")
    base = tmp_path_factory.mktemp("shield")
    library = base / "library"
    make_audio(library / "tone.flac", "flac", 14.0)
    settings = Settings.load({}, data_dir=base / "data", prefetch_segments=0)
    root = cli.normalise_root(str(library))
    scan_roots(settings, [root])
    assert asyncio.run(cli.run_transcodes(settings, roots=[root])).succeeded == 1
    with serve_in_thread(settings) as origin, origin.api() as client:
        track_id = client.get("/api/v1/tracks").json()["items"][0]["id"]
        port = free_port()
        origin_port = int(origin.base_url.rsplit(":", 1)[1])
        conf = shield_config(base / "nginx" / "cache", [origin_port], port)
        with running_nginx(base / "nginx", conf, port):
            yield Shield(f"http://127.0.0.1:{port}", origin, track_id)


def _segment_url(shield: Shield, n: int) -> str:
    master = httpx.get(f"{shield.url}/hls/{shield.track_id}/master.m3u8").text
    variant = next(line for line in master.splitlines() if line.startswith("aac_64/"))
    media = httpx.get(f"{shield.url}/hls/{shield.track_id}/{variant}").text
    segments = [line for line in media.splitlines() if line.startswith("seg_")]
    return f"{shield.url}/hls/{shield.track_id}/aac_64/{segments[n]}"


SEGMENT_ROUTE = "/hls/{track_id}/{rendition}/seg_{n}.m4s"


def test_a_second_request_is_served_by_nginx_without_reaching_the_origin(shield: Shield) -> None:
    url = _segment_url(shield, 0)
    before = shield.origin_requests(SEGMENT_ROUTE)

    first = httpx.get(url)
    second = httpx.get(url)

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    # The origin's member first, the shield's appended (RFC 9211): the path the bytes took.
    origin, shield_miss = first.headers["cache-status"].split(", ")
    assert origin.startswith("streamer; ")
    assert shield_miss == "nginx-shield; fwd=miss"
    assert second.headers["cache-status"] == f"{origin}, nginx-shield; hit"
    assert first.content == second.content
    assert second.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert shield.origin_requests(SEGMENT_ROUTE) == before + 1


def test_a_storm_of_misses_reaches_the_origin_once(shield: Shield) -> None:
    url = _segment_url(shield, 1)
    before = shield.origin_requests(SEGMENT_ROUTE)

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as client:
            return await asyncio.gather(*(client.get(url) for _ in range(50)))

    responses = asyncio.run(storm())

    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert shield.origin_requests(SEGMENT_ROUTE) == before + 1


def test_ranges_of_originals_pass_through_the_shield(shield: Shield) -> None:
    url = f"{shield.url}/media/{shield.track_id}/original"
    with shield.origin.api() as client:
        whole = client.get(f"/media/{shield.track_id}/original").content

    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    again = httpx.get(url, headers={"Range": "bytes=100-199"})

    assert (part.status_code, part.content) == (206, whole[100:200])
    assert again.headers["x-cache-status"] == "HIT"
    assert again.content == whole[100:200]


def test_the_api_is_never_cached(shield: Shield) -> None:
    url = f"{shield.url}/api/v1/tracks/{shield.track_id}"
    response = httpx.get(url, headers=bearer(shield.origin.api_key or ""))
    assert response.status_code == 200
    assert "x-cache-status" not in response.headers
    assert "cache-status" not in response.headers
