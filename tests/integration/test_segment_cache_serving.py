"""HLS segments through the segment cache on real servers: two nodes (two apps on uvicorn)
share one Redis; what one node read from storage the other serves from Redis; a hot
segment is served from memory; Redis dying changes nothing a player can see."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer import cli
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.redis import RedisProcess
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread


@dataclass
class Nodes:
    a: RunningServer
    b: RunningServer
    track_id: str
    redis: RedisProcess

    def stats(self, node: RunningServer) -> dict[str, Any]:
        with node.api() as client:
            body: dict[str, Any] = client.get("/api/v1/cache/stats").json()
            return body


@pytest.fixture
def nodes(tmp_path: Path, redis_process: RedisProcess) -> Iterator[Nodes]:
    library = tmp_path / "library"
    make_audio(library / "tone.flac", "flac", 20.0)  # four 6-second segments
    common: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "redis_url": redis_process.url,
        "redis_timeout": 0.2,
        "redis_retry_seconds": 0.3,
        "prefetch_segments": 0,  # counted exactly below; prefetching has its own test
        "warm_segments": 0,  # and so has warming after a transcode
    }
    settings = Settings.load({}, **common)
    root = cli.normalise_root(str(library))
    scan_roots(settings, [root])
    outcome = asyncio.run(cli.run_transcodes(settings, roots=[root]))
    assert outcome.succeeded == 1
    with serve_in_thread(settings) as a, serve_in_thread(settings) as b, a.api() as client:
        track_id = client.get("/api/v1/tracks").json()["items"][0]["id"]
        yield Nodes(a, b, track_id, redis_process)


def _get(node: RunningServer, path: str, **headers: str) -> httpx.Response:
    with node.api() as client:
        return client.get(path, headers=headers)


def test_a_segment_read_by_one_node_is_served_by_the_other_from_redis(nodes: Nodes) -> None:
    path = f"/hls/{nodes.track_id}/aac_128/seg_0.m4s"

    first = _get(nodes.a, path)
    second = _get(nodes.b, path)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    a, b = nodes.stats(nodes.a), nodes.stats(nodes.b)
    assert a["storage"]["reads"] == 1
    assert b["storage"]["reads"] == 0
    assert b["tiers"]["redis"]["hits"] == 1


def test_a_hot_segment_is_served_from_memory(nodes: Nodes) -> None:
    path = f"/hls/{nodes.track_id}/aac_64/init.mp4"
    bodies = {_get(nodes.a, path).content for _ in range(5)}

    assert len(bodies) == 1
    stats = nodes.stats(nodes.a)
    assert stats["storage"]["reads"] == 1
    assert stats["tiers"]["memory"]["hits"] == 4
    assert stats["tiers"]["memory"]["held_bytes"] > 0


def test_cache_status_says_which_tier_answered(nodes: Nodes) -> None:
    path = f"/hls/{nodes.track_id}/aac_128/seg_1.m4s"

    tiers = [_get(node, path).headers.get("cache-status") for node in (nodes.a, nodes.a, nodes.b)]

    assert tiers == [
        "streamer; fwd=miss; stored",
        "streamer; hit; detail=memory",
        "streamer; hit; detail=redis",
    ]


@pytest.mark.parametrize("header", [{"If-None-Match": "*"}, {"Range": "bytes=0-9"}])
def test_cache_status_is_on_conditional_and_partial_answers_too(
    nodes: Nodes, header: dict[str, str]
) -> None:
    path = f"/hls/{nodes.track_id}/aac_128/init.mp4"
    _get(nodes.a, path)

    response = _get(nodes.a, path, **header)

    assert response.status_code in (206, 304)
    assert response.headers["cache-status"] == "streamer; hit; detail=memory"


def test_browser_players_may_read_cache_status(nodes: Nodes) -> None:
    response = _get(nodes.a, f"/hls/{nodes.track_id}/aac_128/init.mp4", Origin="https://p.example")

    assert "Cache-Status" in response.headers["access-control-expose-headers"]


def test_ranges_and_validators_of_cached_segments_behave_as_from_storage(nodes: Nodes) -> None:
    path = f"/hls/{nodes.track_id}/aac_128/seg_0.m4s"
    whole = _get(nodes.a, path)

    part = _get(nodes.a, path, Range="bytes=10-19")
    assert (part.status_code, part.content) == (206, whole.content[10:20])
    assert part.headers["content-range"] == f"bytes 10-19/{len(whole.content)}"
    assert _get(nodes.a, path, **{"If-None-Match": whole.headers["etag"]}).status_code == 304
    two = _get(nodes.a, path, Range="bytes=0-1,5-6")
    assert two.status_code == 206
    assert two.headers["content-type"].startswith("multipart/byteranges")


def test_with_redis_dead_segments_are_still_served_from_storage(nodes: Nodes) -> None:
    path = f"/hls/{nodes.track_id}/aac_256/seg_0.m4s"
    expected = _get(nodes.a, path).content

    nodes.redis.kill()
    started = time.monotonic()
    responses = [
        _get(nodes.b, f"/hls/{nodes.track_id}/{r}/seg_0.m4s") for r in ("aac_256", "aac_64")
    ]

    assert [r.status_code for r in responses] == [200, 200]
    assert responses[0].content == expected
    assert time.monotonic() - started < 2.0
    assert nodes.stats(nodes.b)["tiers"]["redis"]["errors"] >= 1


def test_a_segment_request_warms_the_next_ones(nodes: Nodes) -> None:
    settings = nodes.a.settings.model_copy(update={"prefetch_segments": 2})
    with serve_in_thread(settings) as warm:
        assert _get(warm, f"/hls/{nodes.track_id}/aac_64/seg_0.m4s").status_code == 200
        assert _reads_settle(nodes, warm) == 3  # seg_0, then seg_1 and seg_2

        for n in (1, 2):
            assert _get(warm, f"/hls/{nodes.track_id}/aac_64/seg_{n}.m4s").status_code == 200
        assert nodes.stats(warm)["tiers"]["memory"]["hits"] >= 2
        # Requests for seg_1 and seg_2 warmed seg_3 (once: a fill in flight is joined).
        assert _reads_settle(nodes, warm) == 4


def _reads_settle(nodes: Nodes, node: RunningServer) -> int:
    """Storage reads once background fills have stopped adding to them."""
    reads, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = nodes.stats(node)["storage"]["reads"]
        if now != reads:
            reads, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 0.3:
            break
        time.sleep(0.02)
    return reads


def _wait_subscribed(*servers: RunningServer) -> None:
    deadline = time.monotonic() + 5
    for server in servers:
        assert server.app is not None
        while not server.app.purges.subscribed.is_set():
            assert time.monotonic() < deadline, "the purge listener never subscribed"
            time.sleep(0.02)


def test_a_purge_through_one_node_empties_redis_and_every_nodes_memory(nodes: Nodes) -> None:
    _wait_subscribed(nodes.a, nodes.b)
    path = f"/hls/{nodes.track_id}/aac_128/seg_0.m4s"
    _get(nodes.a, path)
    _get(nodes.b, path)
    assert nodes.b.app is not None
    assert len(nodes.b.app.segments.memory) == 1

    with nodes.a.api() as client:
        response = client.post("/api/v1/cache/purge", json={"key": f"hls-{nodes.track_id}"})

    assert response.status_code == 200
    body = response.json()
    assert (body["memory_entries"], body["redis_entries"], body["broadcast"]) == (1, 1, True)
    assert body["surrogate_keys"] == [f"track-{nodes.track_id}", f"hls-{nodes.track_id}"]
    deadline = time.monotonic() + 5
    while len(nodes.b.app.segments.memory) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(nodes.b.app.segments.memory) == 0
    before = nodes.stats(nodes.b)["storage"]["reads"]
    assert _get(nodes.b, path).status_code == 200
    assert nodes.stats(nodes.b)["storage"]["reads"] == before + 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"track_id": "0123456789abcdef"}, 404),
        ({"track_id": "../etc"}, 422),
        ({"key": "album-0123456789abcdef"}, 422),
        ({}, 422),
        ({"track_id": "0123456789abcdef", "key": "track-0123456789abcdef"}, 422),
    ],
)
def test_a_purge_of_nothing_known_is_refused(
    nodes: Nodes, body: dict[str, str], status: int
) -> None:
    with nodes.a.api() as client:
        response = client.post("/api/v1/cache/purge", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_a_transcode_warms_redis_with_each_renditions_first_segments(
    nodes: Nodes, tmp_path: Path
) -> None:
    settings = nodes.a.settings.model_copy(update={"warm_segments": 2})
    outcome = asyncio.run(cli.run_transcodes(settings, track_ids=[nodes.track_id], force=True))
    assert outcome.succeeded == 1

    with serve_in_thread(settings) as fresh:
        with fresh.api() as client:
            master = client.get(f"/hls/{nodes.track_id}/master.m3u8").text
        variant = next(line for line in master.splitlines() if line.startswith("aac_64/"))
        with fresh.api() as client:
            media = client.get(f"/hls/{nodes.track_id}/{variant}").text
        uris = [line for line in media.splitlines() if line.startswith("seg_")]
        init = next(line for line in media.splitlines() if "init.mp4" in line)
        init_uri = init.split('URI="')[1].rstrip('"')
        base = f"/hls/{nodes.track_id}/aac_64/"
        for uri in (init_uri, uris[0], uris[1]):
            assert _get(fresh, base + uri).status_code == 200
        stats = nodes.stats(fresh)
        assert stats["storage"]["reads"] == 0
        assert stats["tiers"]["redis"]["hits"] == 3
        assert _get(fresh, base + uris[2]).status_code == 200  # not warmed
        assert nodes.stats(fresh)["storage"]["reads"] == 1
