"""End to end: real requests to a running server are captured, rolled up with the IAB
counting and show in the reports with the right counts; realtime listeners see them;
conversions by pixel and postback; a listener's data deleted on request."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from streamer.analytics.iab_counter import load_counter
from streamer.analytics.listener_data import listener_now
from streamer.analytics.rollup import RollupOptions, roll_up
from streamer.db import Conversion, Database, DeliveryEventRow
from streamer.routes.conversions import PIXEL
from streamer.settings import Settings
from tests.fixtures.audio import FFMPEG_TIMEOUT, make_audio
from tests.fixtures.servers import (
    RunningServer,
    bearer,
    scan_roots,
    serve_in_thread,
    transcode_library,
)
from transcoder.ffmpeg import ffmpeg_exe

OVERCAST = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"
APPLE = "Podcasts/1410.53 CFNetwork/1111 Darwin/19.0.0 (x86_64)"
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


@dataclass
class Served:
    server: RunningServer
    track: str


def _run(coro_factory):  # type: ignore[no-untyped-def]
    return asyncio.run(coro_factory())


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, audio_samples: dict[str, Path]
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("e2e")
    (root / "lib").mkdir()
    shutil.copy(audio_samples["mp3"], root / "lib" / "episode.mp3")
    settings = Settings.load(
        {}, data_dir=root / "data", analytics_rollup_seconds=0, analytics_flush_seconds=0.05
    )
    scan_roots(settings, [str(root / "lib")])
    with serve_in_thread(settings) as server, server.api() as api:
        track = api.get("/api/v1/tracks").json()["items"][0]["id"]
        yield Served(server, track)


def _get(served: Served, path: str, agent: str, **headers: str) -> httpx.Response:
    with served.server.client() as client:
        return client.get(path, headers={"user-agent": agent, **headers})


def _count_events(served: Served, want: int, agent: str | None = None) -> int:
    """The delivery events stored (of ``agent``'s requests only, if given), once there
    are ``want`` of them (or after 10 s)."""

    async def count() -> int:
        db = Database(served.server.settings.effective_database_url)
        try:
            query = select(func.count()).select_from(DeliveryEventRow)
            if agent is not None:
                query = query.where(DeliveryEventRow.user_agent == agent)
            async with db.session() as session:
                return int(await session.scalar(query) or 0)
        finally:
            await db.dispose()

    deadline = time.monotonic() + 10
    while True:
        got = asyncio.run(count())
        if got >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_requests_show_in_reports_after_a_rollup(served: Served) -> None:
    media = f"/media/{served.track}/original"
    assert _get(served, media, OVERCAST).status_code == 200
    assert _get(served, media, OVERCAST).status_code == 200  # the same download again
    assert _get(served, media, BOT).status_code == 200  # a bot: not counted
    assert _get(served, media, APPLE, range="bytes=0-1").status_code == 206  # a pre-load
    assert _get(served, media, APPLE).status_code == 200
    assert _count_events(served, 5) == 5

    async def rollup() -> None:
        db = Database(served.server.settings.effective_database_url)
        try:
            run = await roll_up(db, load_counter, owner="e2e",
                                options=RollupOptions(lag=timedelta(0)))  # fmt: skip
            assert run.events == 5
        finally:
            await db.dispose()

    asyncio.run(rollup())
    with served.server.api() as api:
        report = api.get(
            "/api/v1/analytics/report",
            params={
                "metric": "downloads",
                "group_by": "app",
                "interval": "hour",
                "from": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
                "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
        ).json()
        assert {s["key"]: s["total"] for s in report["series"]} == {
            "Overcast": 1,
            "Apple Podcasts": 1,
        }
        listeners = api.get("/api/v1/analytics/report", params={"metric": "listeners"}).json()
        assert listeners["total"] == 2
        realtime = api.get("/api/v1/analytics/realtime").json()
        assert realtime["listeners_now"] == 2  # the bot is not a listener
        assert realtime["by_subject"] == [
            {
                "kind": "track",
                "id": served.track,
                "label": realtime["by_subject"][0]["label"],
                "listeners": 2,
            }
        ]


def test_conversions_by_pixel_and_postback_and_erasure(served: Served) -> None:
    pixel = _get(served, "/conversions/pixel.gif?campaign=spring&source=pod", OVERCAST)
    assert pixel.status_code == 200
    assert pixel.headers["content-type"] == "image/gif"
    assert pixel.headers["cache-control"] == "no-store"
    assert pixel.content == PIXEL
    too_long = _get(served, "/conversions/pixel.gif?campaign=" + "x" * 101, OVERCAST)
    assert too_long.status_code == 400
    with served.server.api() as api:
        posted = api.post("/api/v1/analytics/conversions",
                          json={"ip": "127.0.0.1", "user_agent": OVERCAST, "campaign": "spring",
                                "source": "s2s", "value": 9.5})  # fmt: skip
        assert posted.status_code == 201, posted.text
        bad = api.post("/api/v1/analytics/conversions", json={"ip": "nope", "user_agent": "x"})
        assert bad.status_code == 422

    async def stored() -> tuple[list[tuple[str, str, str]], str]:
        db = Database(served.server.settings.effective_database_url)
        try:
            who = await listener_now(db, "127.0.0.1", OVERCAST, datetime.now(UTC))
            async with db.session() as session:
                rows = await session.execute(
                    select(Conversion.campaign, Conversion.source, Conversion.via)
                    .where(Conversion.listener == who)
                    .order_by(Conversion.id)
                )
                return [(c, s, v) for c, s, v in rows], who
        finally:
            await db.dispose()

    rows, _ = asyncio.run(stored())
    assert rows == [("spring", "pod", "pixel"), ("spring", "s2s", "postback")]

    media = f"/media/{served.track}/original"
    assert _get(served, media, OVERCAST).status_code == 200
    _count_events(served, 6)
    with served.server.api() as api:
        before = api.get("/api/v1/analytics/report", params={"metric": "downloads"}).json()
        gone = api.request("DELETE", "/api/v1/analytics/listeners",
                           json={"ip": "127.0.0.1", "user_agent": OVERCAST})  # fmt: skip
        assert gone.status_code == 200, gone.text
        assert gone.json()["events_deleted"] >= 3
        assert gone.json()["conversions_deleted"] == 2
        # Rollups hold no per-listener data: the counts stay, anonymous.
        after = api.get("/api/v1/analytics/report", params={"metric": "downloads"}).json()
        assert after["total"] == before["total"]
    assert asyncio.run(stored())[0] == []
    viewer_key = served.server.api_key
    assert viewer_key is not None
    with served.server.client(headers=bearer(viewer_key)) as admin:
        again = admin.request("DELETE", "/api/v1/analytics/listeners",
                              json={"ip": "127.0.0.1", "user_agent": OVERCAST})  # fmt: skip
        assert again.json()["events_deleted"] == 0


# --- HLS: listening sessions from segments a real client fetched --------------------------

ANTENNAPOD = "AntennaPod/3.6.2"
HLS_SECONDS = 30.0  # five 6-second segments


@pytest.fixture(scope="module")
def hls_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("e2e-hls")
    make_audio(root / "lib" / "show.mp3", "mp3", HLS_SECONDS)
    settings = Settings.load(
        {}, data_dir=root / "data", analytics_rollup_seconds=0, analytics_flush_seconds=0.05
    )
    scan_roots(settings, [str(root / "lib")])
    transcode_library(settings, str(root / "lib"), root / "work")
    with serve_in_thread(settings) as server, server.api() as api:
        track = api.get("/api/v1/tracks").json()["items"][0]["id"]
        yield Served(server, track)


def _ffmpeg_listens(url: str, agent: str, seconds: float | None = None) -> None:
    """ffmpeg as an HLS player: it fetches the master, a media playlist and its segments
    (all of them, or about ``seconds`` worth) and decodes them."""
    limit = ["-t", str(seconds)] if seconds is not None else []
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-user_agent", agent,
         "-i", url, *limit, "-map", "0:a:0", "-f", "null", "-"],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip


@pytest.mark.ffmpeg
def test_hls_listening_by_real_clients_becomes_sessions_with_listening_time(
    hls_served: Served,
) -> None:
    master = f"{hls_served.server.base_url}/hls/{hls_served.track}/master.m3u8"
    _ffmpeg_listens(master, OVERCAST)  # the whole show
    _ffmpeg_listens(master, ANTENNAPOD, seconds=1.0)  # the first seconds only
    # Both fetched segments of a rendition: the events arrive, none is a download. Each
    # player's own (CI once rolled up before the second player's had been written).
    assert _count_events(hls_served, 4, OVERCAST) >= 4
    assert _count_events(hls_served, 4, ANTENNAPOD) >= 4

    async def rollup() -> None:
        db = Database(hls_served.server.settings.effective_database_url)
        try:
            # A session is counted once it has ended: 30 minutes without a segment.
            await roll_up(db, load_counter, owner="e2e", options=RollupOptions(lag=timedelta(0)),
                          now=datetime.now(UTC) + timedelta(minutes=31))  # fmt: skip
        finally:
            await db.dispose()

    asyncio.run(rollup())
    window = {
        "interval": "hour",
        "from": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "group_by": "app",
    }

    def by_app(metric: str) -> dict[str, float]:
        with hls_served.server.api() as api:
            answer = api.get("/api/v1/analytics/report", params={**window, "metric": metric})
        assert answer.status_code == 200, answer.text
        return {s["key"]: s["total"] for s in answer.json()["series"]}

    assert by_app("sessions") == {"Overcast": 1, "AntennaPod": 1}
    # Segments are listening, never downloads.
    assert set(by_app("downloads").values()) <= {0}
    listened = by_app("listening_seconds")
    # The whole show is its segments' durations (AAC frames round them a little).
    assert abs(listened["Overcast"] - HLS_SECONDS) < 1.0, listened
    # ffmpeg fetched at least one segment, and not the whole show, for its first second.
    assert 5.0 <= listened["AntennaPod"] < HLS_SECONDS - 5.0, listened
    with hls_served.server.api() as api:
        answer = api.get(
            "/api/v1/analytics/report", params={**window, "metric": "completion", "quartiles": "1"}
        )
    assert answer.status_code == 200, answer.text
    quartiles = {s["key"]: s["quartiles"] for s in answer.json()["series"]}
    # The whole show reached its end; the first second (a player's buffer ahead) did not.
    assert quartiles["Overcast"] == {"q1": 1.0, "q2": 1.0, "q3": 1.0, "q4": 1.0}
    assert quartiles["AntennaPod"]["q1"] == 1.0
    assert quartiles["AntennaPod"]["q4"] == 0.0
