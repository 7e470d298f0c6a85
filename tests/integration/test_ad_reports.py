"""A simulated audience against a real server: each listener opens a session of the track
with a pre-roll and a mid-roll (tests/fixtures/ads.py) and fetches what its script says;
the report then gives exact impressions, reach, quartiles, fill rate and revenue, with
analytics' bot rules (a crawler gets no ads; an HTTP library's fetches count for nothing)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import m3u8
import pytest
from sqlalchemy import func, select

from streamer.db import AdSession, Database, DeliveryEventRow
from streamer.maintenance import cleanup
from tests.fixtures.ads import build_ad_library, configure_ads
from tests.fixtures.servers import RunningServer, serve_in_thread

pytestmark = pytest.mark.ffmpeg

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"  # noqa: E501
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@dataclass
class World:
    server: RunningServer
    programme: str
    ad: str
    campaign: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = build_ad_library(tmp_path_factory.mktemp("ad-reports"))
    settings = settings.model_copy(update={"analytics_flush_seconds": 0.05})
    with serve_in_thread(settings) as server, server.api() as api:
        tracks, campaign = configure_ads(api)
        api.patch(campaign["urls"]["self"], json={"price_model": "cpm", "price": 20.0,
                                                  "goal": 100})  # fmt: skip
        yield World(server, tracks["show.flac"], tracks["spot.flac"], campaign)


def _listen(world: World, user_agent: str, wanted: Callable[[str, int], bool]) -> int:
    """Open a session as ``user_agent`` and fetch the segments ``wanted(track, n-th of that
    track in the playlist)`` picks; the number of ad segments the playlist lists."""
    with httpx.Client(base_url=world.server.base_url, headers={"user-agent": user_agent}) as c:
        master = c.get(f"/hls/ads/{world.programme}/master.m3u8")
        uri = next(p.uri for p in m3u8.loads(master.text).playlists if "aac_128" in p.uri)
        url = f"/hls/ads/{world.programme}/{uri}"
        playlist = m3u8.loads(c.get(url).text)
        base = url.rsplit("/", 1)[0]
        seen: dict[str, int] = {}
        ads = 0
        for segment in playlist.segments:
            track = segment.uri.split("/seg/")[1].split("/")[0]
            nth = seen.get(track, 0)
            seen[track] = nth + 1
            ads += track == world.ad
            if wanted(track, nth):
                response = c.get(f"{base}/{segment.uri}")
                assert response.status_code == 200
        return ads


def _segment_events(world: World) -> int:
    async def count() -> int:
        db = Database(world.server.settings.effective_database_url)
        rows = DeliveryEventRow
        query = select(func.count()).select_from(rows).where(rows.segment >= 0)
        try:
            async with db.session() as session:
                return int(await session.scalar(query) or 0)
        finally:
            await db.dispose()

    return asyncio.run(count())


def test_a_simulated_audience_gives_exact_impressions_and_quartiles(world: World) -> None:
    ad = world.ad
    # Everything: both ads whole (an impression each, every quartile).
    ads = _listen(world, f"{CHROME} L0", lambda track, nth: True)
    assert ads == 4  # two ads of two segments each: 6 s and 4 s
    # The pre-roll's first segment only (6 of 10 s: 25 and 50 % reached), then leaves.
    _listen(world, f"{CHROME} L1", lambda track, nth: track == ad and nth == 0)
    # The programme only: the ads' segments never fetched.
    _listen(world, f"{CHROME} L2", lambda track, nth: track != ad)
    # A crawler: no ads are placed for it.
    assert _listen(world, GOOGLEBOT, lambda track, nth: True) == 0
    # An HTTP library: ads placed, its fetches count for nothing (analytics' bot rules).
    _listen(world, "python-httpx/0.28.1", lambda track, nth: True)

    segments = 14 + 1 + 10 + 10 + 14  # as fetched above
    deadline = time.monotonic() + 15
    while _segment_events(world) < segments:
        assert time.monotonic() < deadline, "the deliveries were never stored"
        time.sleep(0.1)

    now = datetime.now(UTC)
    with world.server.api() as api:
        report = api.get(
            "/api/v1/ads/report",
            params={
                "from": (now - timedelta(hours=1)).isoformat(),
                "to": (now + timedelta(minutes=1)).isoformat(),
            },
        )
        assert report.status_code == 200, report.text
        csv_text = api.get("/api/v1/ads/report", params={"format": "csv"}).text
    body = report.json()
    assert body["inventory"] == {
        "sessions": 5,
        "breaks": 8,  # two per session, but none for the crawler's
        "filled": 8,
        "fill_rate": 1.0,
        "seconds_offered": 80.0,
        "seconds_filled": pytest.approx(80.0, abs=0.5),
    }
    (campaign,) = body["campaigns"]
    assert campaign["placed"] == 8
    assert campaign["impressions"] == 3
    assert campaign["reach"] == 2
    assert campaign["frequency"] == 1.5
    assert campaign["quartiles"] == {"q25": 3, "q50": 3, "q75": 2, "q100": 2}
    assert campaign["revenue"] == pytest.approx(3 * 20.0 / 1000)
    assert campaign["goal"] == 100
    assert 0 < campaign["pacing"] < 1
    header, row = csv_text.strip().split("\n")
    assert header.startswith("campaign_id,name,placed,impressions,reach")
    assert row.startswith(f"{world.campaign['id']},c,8,3,2,1.5,3,3,2,2,100,")


def test_a_period_over_93_days_is_refused(world: World) -> None:
    with world.server.api() as api:
        response = api.get(
            "/api/v1/ads/report",
            params={"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
        )
    assert response.status_code == 422
    assert "93 days" in response.json()["detail"]


def test_cleanup_removes_ad_sessions_older_than_they_are_kept(world: World) -> None:
    settings = world.server.settings
    now = datetime.now(UTC)

    async def run() -> tuple[int, set[str]]:
        db = Database(settings.effective_database_url)
        try:
            async with db.session() as session, session.begin():
                for name, age in (("old", settings.ads_session_days + 1), ("new", 1)):
                    session.add(
                        AdSession(id=name * 8, kind="track", subject_id=world.programme,
                                  listener="l", plan=[], created_at=now - timedelta(days=age))
                    )  # fmt: skip
            report = await cleanup(db, settings, now=now)
            async with db.session() as session:
                left = set((await session.scalars(select(AdSession.id))).all())
            return report.ad_sessions, left
        finally:
            await db.dispose()

    removed, left = asyncio.run(run())
    assert removed == 1
    assert "old" * 8 not in left
    assert "new" * 8 in left


def test_the_forecast_gives_each_day_the_same_weekdays_mean_and_the_goals_due(
    world: World,
) -> None:
    settings = world.server.settings
    today = datetime.now(UTC).date()
    next_week = today + timedelta(weeks=1)
    plan = [{"position": "pre", "boundary": 0, "seconds": 30.0, "ads": []},
            {"position": "mid", "boundary": 5, "seconds": 60.0,
             "ads": [{"campaign": "x", "creative": "y", "version": 1, "track": "z",
                      "seconds": 10.0}]}]  # fmt: skip

    async def seed() -> None:
        db = Database(settings.effective_database_url)
        try:
            async with db.session() as session, session.begin():
                for weeks_ago, count in ((1, 3), (2, 1)):  # 4 sessions on this weekday
                    midnight = datetime.combine(
                        today - timedelta(weeks=weeks_ago), datetime.min.time(), UTC
                    )
                    for n in range(count):
                        at = midnight + timedelta(hours=n + 1)
                        session.add(AdSession(id=f"f{weeks_ago}{n}".ljust(32, "0"), kind="track",
                                              subject_id=world.programme, listener="l",
                                              plan=plan, created_at=at))  # fmt: skip
        finally:
            await db.dispose()

    asyncio.run(seed())
    with world.server.api() as api:
        answer = api.get(
            "/api/v1/ads/forecast",
            params={"from": next_week.isoformat(), "to": next_week.isoformat()},
        )
        assert answer.status_code == 200, answer.text
        bad = api.get("/api/v1/ads/forecast", params={"from": "2027-01-10", "to": "2027-01-01"})
    body = answer.json()
    (day,) = body["days"]
    # 4 sessions of 2 breaks on this weekday over 4 weeks: 2 breaks a day, 90 s each session.
    assert day == {"day": next_week.isoformat(), "breaks": 2.0, "seconds": 90.0, "filled": 1.0}
    assert body["fill_rate"] == 0.5
    (goal,) = body["goals"]
    assert goal["campaign_id"] == world.campaign["id"]
    assert goal["goal"] == 100
    assert goal["remaining"] == 100 - goal["served"]
    assert bad.status_code == 422
