"""Delivery events end to end: real requests over loopback to a running server become rows
of delivery_events with the right fields, on SQLite and on PostgreSQL (partitioned by day).

One server per database for the module: a short tone transcoded into HLS, a playlist of
it. Each case sends its own user agent, so its rows are found by it. Requests come from
127.0.0.1, which uvicorn trusts for X-Forwarded-For by default: the rows must name the
forwarded client.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from streamer.analytics.privacy import address_key, listener_id
from streamer.db.engine import sync_url
from streamer.settings import Settings
from tests.fixtures.immediate import AnswerSpy, spied_app
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library
from tests.fixtures.subsonic import subsonic_user
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = [pytest.mark.slow, pytest.mark.ffmpeg]

SECONDS = 9.0


@dataclass
class Served:
    server: RunningServer
    spy: AnswerSpy
    url: str  # the database's
    track: str
    playlist: str
    size: int  # bytes of the original


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("analytics-library")
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=f=330:r=44100:d={SECONDS}", "-c:a", "flac", str(folder / "tone.flac")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    data = tmp_path_factory.mktemp("analytics-data")
    settings = Settings.load(
        {},
        data_dir=data,
        database_url=module_database_url,
        workers=1,
        ladder=("aac_64",),
        analytics_flush_seconds=0.05,
        analytics_trust_country_header=True,
        node_name="node-a",
    )
    scan_roots(settings, [str(folder)])
    transcode_library(settings, str(folder), data / "work")
    app, spy = spied_app(settings)
    with serve_in_thread(settings, app=app) as server, server.api() as client:
        track = client.get("/api/v1/tracks").json()["items"][0]
        library = client.get("/api/v1/libraries").json()[0]["id"]
        made = client.post(
            "/api/v1/playlists",
            json={"library_id": library, "name": "p", "track_ids": [track["id"]]},
        )
        assert made.status_code == 201, made.text
        size = (folder / "tone.flac").stat().st_size
        yield Served(
            server, spy, settings.effective_database_url, track["id"], made.json()["id"], size
        )


def _rows(served: Served, agent: str, count: int) -> list[dict[str, Any]]:
    """The rows of ``agent``'s requests, once ``count`` of them are there (or 10 s)."""
    engine = create_engine(sync_url(served.url))
    try:
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as conn:
                rows = [
                    dict(row._mapping)
                    for row in conn.execute(
                        text("SELECT * FROM delivery_events WHERE user_agent = :a ORDER BY id"),
                        {"a": agent},
                    )
                ]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)
    finally:
        engine.dispose()


def _get(served: Served, path: str, agent: str, **headers: str) -> int:
    with served.server.client() as client:
        response = client.get(path, headers={"user-agent": agent, **headers})
        return response.status_code


def test_a_range_request_is_a_row_with_its_range_and_the_forwarded_client(
    served: Served,
) -> None:
    agent = "TestPlayer/1.0 (range)"
    status = _get(
        served,
        f"/media/{served.track}/original",
        agent,
        range="bytes=100-1099",
        referer="https://example.org/show",
        **{"x-forwarded-for": "2001:db8:1:2::5", "cf-ipcountry": "de"},
    )
    assert status == 206
    (row,) = _rows(served, agent, 1)
    assert row["kind"] == "track"
    assert row["subject_id"] == served.track
    assert row["rendition"] == "original"
    assert row["segment"] is None
    assert (row["range_start"], row["range_end"]) == (100, 1099)
    assert row["total_bytes"] == served.size
    assert row["duration"] == pytest.approx(SECONDS, abs=0.1)
    assert (row["status"], row["sent"]) == (206, 1000)
    assert row["referrer"] == "https://example.org/show"
    assert row["ip"] == "2001:db8:1:2::5"
    assert row["country"] == "DE"
    assert row["node"] == "node-a"
    assert len(row["listener"]) == 32
    assert row["at"] is not None


def test_the_same_64_and_agent_is_one_listener(served: Served) -> None:
    agent = "TestPlayer/1.0 (listener)"
    for address in ("2001:db8:7:7::1", "2001:db8:7:7:ffff::2", "2001:db8:7:8::1"):
        _get(served, f"/media/{served.track}/original", agent, **{"x-forwarded-for": address})
    rows = _rows(served, agent, 3)
    assert [r["ip"] for r in rows] == ["2001:db8:7:7::1", "2001:db8:7:7:ffff::2", "2001:db8:7:8::1"]
    assert rows[0]["listener"] == rows[1]["listener"] != rows[2]["listener"]


def test_full_requests_are_rows_and_immediate_answers_too(served: Served) -> None:
    agent = "TestPlayer/1.0 (full)"
    served.spy.clear()
    path = f"/media/{served.track}/original"
    assert _get(served, path, agent) == 200
    assert _get(served, path, agent) == 200  # the entry is in memory: answered at once
    assert path in served.spy.answered
    rows = _rows(served, agent, 2)
    assert len(rows) == 2
    for row in rows:
        assert (row["status"], row["sent"], row["range_start"]) == (200, served.size, None)
        assert row["ip"] == "127.0.0.1"
        assert row["country"] is None


def test_hls_playlists_init_and_segments_are_rows(served: Served) -> None:
    agent = "TestPlayer/1.0 (hls)"
    base = f"/hls/{served.track}"
    for path in (
        f"{base}/master.m3u8",
        f"{base}/aac_64/index.m3u8",
        f"{base}/aac_64/init.mp4",
        f"{base}/aac_64/seg_0.m4s",
        f"{base}/aac_64/seg_1.m4s",
        f"{base}/aac_64/seg_1.m4s",  # from memory now: an immediate answer
    ):
        assert _get(served, path, agent) == 200, path
    rows = _rows(served, agent, 6)
    seen = [(r["rendition"], r["segment"]) for r in rows]
    assert seen == [
        ("playlist", None),
        ("playlist", None),
        ("aac_64", -1),
        ("aac_64", 0),
        ("aac_64", 1),
        ("aac_64", 1),
    ]
    segment = rows[3]
    assert segment["total_bytes"] == segment["sent"] > 0
    assert 0 < segment["duration"] <= 7.0
    assert rows[2]["duration"] == 0.0
    assert len({r["listener"] for r in rows}) == 1


def test_a_stitched_playlist_and_its_segment_are_rows(served: Served) -> None:
    agent = "TestPlayer/1.0 (stitched)"
    base = f"/hls/playlists/{served.playlist}"
    assert _get(served, f"{base}/master.m3u8", agent) == 200
    with served.server.client() as client:
        media = client.get(f"{base}/aac_64/index.m3u8", headers={"user-agent": agent})
        assert media.status_code == 200
        segment = next(
            line for line in media.text.splitlines() if ".m4s" in line and not line.startswith("#")
        )
        # The stitched playlist names the track's own segment URLs, relative to it.
        url = client.build_request("GET", f"{base}/aac_64/{segment}").url
        assert client.get(url, headers={"user-agent": agent}).status_code == 200
    rows = _rows(served, agent, 3)
    assert [(r["kind"], r["subject_id"], r["rendition"]) for r in rows] == [
        ("playlist", served.playlist, "playlist"),
        ("playlist", served.playlist, "playlist"),
        ("track", served.track, "aac_64"),
    ]


def test_the_listener_is_the_days_salted_hash(served: Served) -> None:
    agent = "TestPlayer/1.0 (hash)"
    _get(served, f"/media/{served.track}/original", agent, **{"x-forwarded-for": "192.0.2.9"})
    (row,) = _rows(served, agent, 1)
    engine = create_engine(sync_url(served.url))
    try:
        with engine.connect() as conn:
            day = row["at"].date().isoformat() if hasattr(row["at"], "date") else row["at"][:10]
            salt = conn.execute(
                text("SELECT salt FROM analytics_salts WHERE day = :d"), {"d": day}
            ).scalar_one()
    finally:
        engine.dispose()
    assert row["listener"] == listener_id(bytes(salt), address_key("192.0.2.9")[0], agent)


def test_postgresql_stores_events_in_daily_partitions(
    served: Served, module_database_url: str | None
) -> None:
    if module_database_url is None:
        pytest.skip("PostgreSQL only")
    engine = create_engine(sync_url(served.url))
    try:
        with engine.connect() as conn:
            kind = conn.execute(
                text("SELECT relkind FROM pg_class WHERE relname = 'delivery_events'")
            ).scalar_one()
            where = (
                conn.execute(text("SELECT DISTINCT tableoid::regclass::text FROM delivery_events"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert kind == "p"
    # Written in the last minutes: today's partition (and yesterday's around midnight).
    now = time.time()
    days = {time.strftime("%Y%m%d", time.gmtime(now - s)) for s in (0, 600)}
    assert where
    assert set(where) <= {f"delivery_events_p{day}" for day in days}


def test_subsonic_streams_are_rows_of_the_track_original_and_transcoded(served: Served) -> None:
    """Listening through the Subsonic API counts as listening: /rest/stream of the
    original is the same row as /media's, a transcode a row of its format and bitrate."""
    _, password = subsonic_user(served.server, "sonic")
    agent = "DSub/5.5.2 (subsonic)"
    auth = {"u": "sonic", "p": password, "c": "DSub", "v": "1.16.1", "id": served.track}
    with served.server.client(headers={"user-agent": agent}) as client:
        assert client.get("/rest/stream", params=auth).status_code == 200
        mp3 = client.get("/rest/stream", params={**auth, "format": "mp3", "maxBitRate": 128})
        assert mp3.status_code == 200
    original, transcoded = _rows(served, agent, 2)
    assert (original["kind"], original["subject_id"]) == ("track", served.track)
    assert (original["rendition"], original["sent"]) == ("original", served.size)
    assert (transcoded["subject_id"], transcoded["rendition"]) == (served.track, "mp3_128")
    assert transcoded["sent"] == len(mp3.content)
    assert transcoded["duration"] == pytest.approx(SECONDS, abs=0.1)
