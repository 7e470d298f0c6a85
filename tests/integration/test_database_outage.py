"""PostgreSQL going away under a running node, and coming back.

While the database is down the node stays alive (healthz) and says it is not ready
(readyz); the API answers 503 problem+json with Retry-After, not a 500; tracks the node
already knows keep streaming from what it last read of the catalogue (stale-if-error,
also past the catalogue cache's TTL), while one it never saw is a 503, never a hang. Once
the database is back, everything works again without restarting the node.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.postgres import PostgresProcess, fresh_database
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library

pytestmark = pytest.mark.slow

CATALOGUE_TTL = 5.0  # MediaIndex's and RenditionCatalog's default


@dataclass
class Node:
    server: RunningServer
    sources: dict[str, bytes]  # file name -> bytes
    tracks: dict[str, dict[str, object]]  # file name -> the API's track


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def node(tmp_path: Path, postgres_process: PostgresProcess) -> Iterator[Node]:
    library = tmp_path / "library"
    sources = {
        name: make_audio(library / name, "flac", 3.0, frequency=300 + 100 * n).read_bytes()
        for n, name in enumerate(["a.flac", "b.flac"])
    }
    with fresh_database(postgres_process.url) as url:
        settings = Settings.load({}, data_dir=tmp_path / "data", database_url=url, workers=1)
        scan_roots(settings, [str(library)])
        transcode_library(settings, str(library), tmp_path / "work")
        try:
            with serve_in_thread(settings) as server, server.api() as api:
                items = api.get("/api/v1/tracks").json()["items"]
                yield Node(server, sources, {t["path"]: t for t in items})
        finally:
            if not _listening(postgres_process.port):  # the test failed mid-outage
                postgres_process.start()


def test_the_api_answers_503_with_retry_after_while_the_database_is_down(
    node: Node, postgres_process: PostgresProcess
) -> None:
    postgres_process.stop()
    with node.server.api() as api:
        started = time.monotonic()
        listing = api.get("/api/v1/tracks")
        assert time.monotonic() - started < 5, "a request hung on the dead database"
    assert listing.status_code == 503, listing.text
    assert listing.headers["content-type"] == "application/problem+json"
    assert listing.headers["retry-after"] == "5"
    assert "database" in listing.json()["detail"]


def test_health_stays_up_and_readiness_names_the_database(
    node: Node, postgres_process: PostgresProcess
) -> None:
    postgres_process.stop()
    with node.server.client() as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("error")


def test_known_tracks_keep_streaming_through_an_outage_past_the_cache_ttl(
    node: Node, postgres_process: PostgresProcess
) -> None:
    with node.server.client() as player:
        for track in node.tracks.values():  # the node has served them: it knows them
            assert player.get(f"/hls/{track['id']}/master.m3u8").status_code == 200
            assert player.head(str(track["urls"]["original"])).status_code == 200  # type: ignore[index]
        postgres_process.stop()
        time.sleep(CATALOGUE_TTL + 1)
        for name, body in node.sources.items():
            track = node.tracks[name]
            media = player.get(str(track["urls"]["original"]))  # type: ignore[index]
            assert media.status_code == 200
            assert media.content == body
            assert player.get(f"/hls/{track['id']}/master.m3u8").status_code == 200


def test_a_track_the_node_never_saw_is_a_503_during_an_outage(
    node: Node, postgres_process: PostgresProcess
) -> None:
    postgres_process.stop()
    with node.server.client() as player:
        media = player.get("/media/0123456789abcdef/original")
        hls = player.get("/hls/0123456789abcdef/master.m3u8")
    for response in (media, hls):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "database" in response.json()["detail"]


def test_the_node_recovers_by_itself_when_the_database_returns(
    node: Node, postgres_process: PostgresProcess
) -> None:
    postgres_process.stop()
    with node.server.api() as api, node.server.client() as player:
        assert api.get("/api/v1/tracks").status_code == 503
        postgres_process.start()
        deadline = time.monotonic() + 15
        while api.get("/api/v1/tracks").status_code != 200:
            assert time.monotonic() < deadline, "the node did not recover"
            time.sleep(0.2)
        assert player.get("/readyz").status_code == 200
        for name, body in node.sources.items():
            assert player.get(str(node.tracks[name]["urls"]["original"])).content == body  # type: ignore[index]
