"""End to end with a browser: hls.js in Chromium plays a track from a running server, and
the rollup counts what it fetched in the reports: one listening session of the browser,
its listening time the track's segments, the track completed. Headless Chromium says
"HeadlessChrome" (an OPAWG bot), so the page uses a desktop Chrome user agent, as a
listener's browser sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import func, select

from streamer.analytics.iab_counter import load_counter
from streamer.analytics.rollup import RollupOptions, roll_up
from streamer.db import Database, DeliveryEventRow
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library
from tests.web.conftest import in_thread

pytestmark = pytest.mark.ffmpeg

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SECONDS = 24.0  # four 6-second segments

# hls.js from the admin's own copy, playing the track muted and fast to its end.
PLAY = """async (url) => {
    const { default: Hls } = await import('/admin/vendor/hls.mjs');
    const audio = document.createElement('audio');
    document.body.append(audio);
    audio.muted = true;
    audio.addEventListener('ended', () => { window.__ended = true; });
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.__error = data.details; });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
        audio.playbackRate = 4;
        audio.play().catch((error) => { window.__error = String(error); });
    });
    hls.loadSource(url);
    hls.attachMedia(audio);
}"""


@dataclass
class Served:
    server: RunningServer
    track: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("hls-js-analytics")
    make_audio(root / "lib" / "song.mp3", "mp3", SECONDS)
    settings = Settings.load(
        {}, data_dir=root / "data", analytics_rollup_seconds=0, analytics_flush_seconds=0.05
    )
    in_thread(scan_roots, settings, [str(root / "lib")])
    in_thread(transcode_library, settings, str(root / "lib"), root / "work")
    with serve_in_thread(settings) as server, server.api() as api:
        yield Served(server, api.get("/api/v1/tracks").json()["items"][0]["id"])


def _events(served: Served) -> int:
    async def count() -> int:
        db = Database(served.server.settings.effective_database_url)
        try:
            async with db.session() as session:
                found = await session.scalar(select(func.count()).select_from(DeliveryEventRow))
                return int(found or 0)
        finally:
            await db.dispose()

    return in_thread(asyncio.run, count())


def _roll_up(served: Served) -> None:
    async def run() -> None:
        db = Database(served.server.settings.effective_database_url)
        try:
            # A session is counted once it has ended: 30 minutes without a segment.
            await roll_up(db, load_counter, owner="e2e", options=RollupOptions(lag=timedelta(0)),
                          now=datetime.now(UTC) + timedelta(minutes=31))  # fmt: skip
        finally:
            await db.dispose()

    in_thread(asyncio.run, run())


def test_hls_js_listening_in_chromium_shows_in_the_reports(
    served: Served, browser: Browser
) -> None:
    context = browser.new_context(user_agent=CHROME)
    try:
        page = context.new_page()
        page.goto(f"{served.server.base_url}/healthz")  # the server's origin, for the import
        page.evaluate(PLAY, f"/hls/{served.track}/master.m3u8")
        page.wait_for_function("() => window.__ended || window.__error", timeout=60_000)
        assert page.evaluate("window.__error ?? null") is None
    finally:
        context.close()
    # The master, a media playlist, the init section and four segments at least.
    deadline = time.monotonic() + 10
    while _events(served) < 7:
        assert time.monotonic() < deadline, "the deliveries were never stored"
        time.sleep(0.1)
    _roll_up(served)
    window = {
        "interval": "hour",
        "from": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "group_by": "browser",
    }

    def report(metric: str, **extra: str) -> list[dict[str, Any]]:
        with served.server.api() as api:
            answer = api.get(
                "/api/v1/analytics/report", params={**window, "metric": metric, **extra}
            )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["series"])

    def by_browser(metric: str) -> dict[str, float]:
        return {s["key"]: s["total"] for s in report(metric)}

    assert by_browser("sessions") == {"Chrome": 1}
    assert set(by_browser("downloads").values()) <= {0}  # segments are listening
    listened = by_browser("listening_seconds")
    assert abs(listened["Chrome"] - SECONDS) < 1.0, listened
    quartiles = {s["key"]: s["quartiles"] for s in report("completion", quartiles="1")}
    assert quartiles["Chrome"] == {"q1": 1.0, "q2": 1.0, "q3": 1.0, "q4": 1.0}
