"""The rollup job and reports over its rows, on SQLite and PostgreSQL: hourly and daily
rows, the watermark across runs and batches, a failed batch retried, the lease between
two runs at once, and reports (groups, time zones, unique listeners, access)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from streamer.analytics import reports, repository, rollup
from streamer.analytics.iab_counter import load_counter
from streamer.analytics.periods import zone
from streamer.analytics.report_model import ReportQuery
from streamer.analytics.rollup import RollupOptions, roll_up
from streamer.analytics.rows import COLUMNS
from streamer.db import AnalyticsDaily, AnalyticsHourly, Database, DeliveryEventRow, migrate
from streamer.db.engine import sync_url
from streamer.settings import Settings
from tests.fixtures.analytics import T0, MemoryEvents, delivery, load_fake

NOW = T0 + timedelta(days=3)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None) -> str:
    data = tmp_path_factory.mktemp("rollup") / "data"
    settings = Settings.load({}, data_dir=Path(data), database_url=module_database_url)
    migrate(settings.effective_database_url)
    for name in ("UTC", "Asia/Tokyo"):  # zone files read here, not on the event loop
        zone(name)
    return settings.effective_database_url


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    await rollup.reset(database)
    try:
        yield database
    finally:
        await database.dispose()


def _events() -> list[Any]:
    return [
        delivery(0, "a"),  # 22:00 on Nov 30th
        delivery(5, "a"),  # the same listener again
        delivery(10, "b", "t2", agent="Apple Podcasts", country="DE"),
        delivery(65, "c"),  # 23:05
        delivery(125, "a"),  # 00:05 on Dec 1st
        *[delivery(130 + i * 0.1, "d", "c1", kind="channel", segment=i) for i in range(10)],
    ]


async def _rows(db: Database, table: Any) -> list[tuple[Any, ...]]:
    async with db.session() as session:
        rows = await session.scalars(select(table))
        return sorted(
            (r.period.astimezone(UTC), r.kind, r.subject_id, r.app, r.country, r.downloads,
             r.listeners, r.listener_sketch, r.listening_seconds, r.sessions, r.q4)
            for r in rows
        )  # fmt: skip


async def test_hourly_rows_and_daily_rows(db: Database) -> None:
    events = MemoryEvents(_events())
    run = await roll_up(db, load_fake, owner="n1", now=NOW, read=events,
                        options=RollupOptions(batch=4))  # fmt: skip
    assert (run.events, run.batches) == (15, 4)
    hourly = await _rows(db, AnalyticsHourly)
    t1_22 = [r for r in hourly if r[2] == "t1" and r[0].hour == 22]
    assert [(r[5], r[6]) for r in t1_22] == [(2, 1)]  # two downloads, one listener
    daily = await _rows(db, AnalyticsDaily)
    t1 = {r[0].day: (r[5], r[6]) for r in daily if r[2] == "t1"}
    assert t1 == {30: (3, 2), 1: (1, 1)}
    (channel,) = [r for r in daily if r[1] == "channel"]
    assert channel[8] == 60.0
    assert channel[9] == 1
    assert channel[10] == 1


async def test_a_rerun_batches_and_a_reset_give_the_same_rows(db: Database) -> None:
    events = MemoryEvents(_events())
    await roll_up(db, load_fake, owner="n1", now=NOW, read=events, options=RollupOptions(batch=3))
    first = (await _rows(db, AnalyticsHourly), await _rows(db, AnalyticsDaily))
    again = await roll_up(db, load_fake, owner="n1", now=NOW, read=events)
    assert again.events == 0
    assert (await _rows(db, AnalyticsHourly), await _rows(db, AnalyticsDaily)) == first
    await rollup.reset(db)
    await roll_up(db, load_fake, owner="n2", now=NOW, read=MemoryEvents(_events()),
                  options=RollupOptions(batch=1000))  # fmt: skip
    assert (await _rows(db, AnalyticsHourly), await _rows(db, AnalyticsDaily)) == first


async def test_events_arriving_later_are_added_to_their_hour(db: Database) -> None:
    early = _events()[:3]
    await roll_up(db, load_fake, owner="n1", now=NOW, read=MemoryEvents(early))
    await roll_up(db, load_fake, owner="n1", now=NOW, read=MemoryEvents(_events()))
    once = await _rows(db, AnalyticsDaily)
    await rollup.reset(db)
    await roll_up(db, load_fake, owner="n1", now=NOW, read=MemoryEvents(_events()))
    assert await _rows(db, AnalyticsDaily) == once


async def test_events_within_the_lag_wait_for_the_next_run(db: Database) -> None:
    events = MemoryEvents(_events())
    lag = RollupOptions(lag=timedelta(minutes=2))
    run = await roll_up(db, load_fake, owner="n1", now=T0 + timedelta(minutes=66), read=events,
                        options=lag)  # fmt: skip
    assert run.events == 3  # 23:05 is less than two minutes old at 23:06
    run = await roll_up(db, load_fake, owner="n1", now=NOW, read=events, options=lag)
    assert run.events == 12


async def test_a_failed_batch_is_retried_without_counting_twice(db: Database) -> None:
    events = MemoryEvents(_events())
    events.fail_on = 3
    with pytest.raises(ConnectionError):
        await roll_up(
            db, load_fake, owner="n1", now=NOW, read=events, options=RollupOptions(batch=3)
        )
    await roll_up(db, load_fake, owner="n1", now=NOW, read=events, options=RollupOptions(batch=3))
    broken = (await _rows(db, AnalyticsHourly), await _rows(db, AnalyticsDaily))
    await rollup.reset(db)
    await roll_up(db, load_fake, owner="n1", now=NOW, read=MemoryEvents(_events()))
    assert (await _rows(db, AnalyticsHourly), await _rows(db, AnalyticsDaily)) == broken


async def test_two_rollups_at_once_one_does_the_work(url: str, db: Database) -> None:
    other = Database(url)  # another node's engine
    try:
        slow = MemoryEvents(_events(), delay=0.3)
        first, second = await asyncio.gather(
            roll_up(db, load_fake, owner="n1", now=NOW, read=slow),
            roll_up(other, load_fake, owner="n2", now=NOW, read=slow),
        )
    finally:
        await other.dispose()
    assert sorted([first.skipped, second.skipped]) == [False, True]
    assert first.events + second.events == 15
    daily = await _rows(db, AnalyticsDaily)
    assert sum(r[5] for r in daily) == 5
    # The lease was given back: the next run takes it at once.
    assert not (await roll_up(db, load_fake, owner="n2", now=NOW, read=slow)).skipped


async def test_an_expired_lease_is_taken_over(db: Database) -> None:
    ttl = timedelta(minutes=5)
    assert await rollup.take_lease(db, "n1", now=NOW, ttl=ttl)
    assert not await rollup.take_lease(db, "n2", now=NOW + timedelta(minutes=1), ttl=ttl)
    assert await rollup.take_lease(db, "n2", now=NOW + timedelta(minutes=6), ttl=ttl)
    await rollup.release_lease(db, "n2")


async def test_reports_over_the_rollups(db: Database) -> None:
    await roll_up(db, load_fake, owner="n1", now=NOW, read=MemoryEvents(_events()))
    day = datetime(2026, 11, 30, tzinfo=UTC)
    query = ReportQuery(metric="downloads", start=day, end=day + timedelta(days=2),
                        group_by="track")  # fmt: skip
    out = await reports.report(db, query, None)
    assert [(s["key"], s["total"], [p["value"] for p in s["points"]]) for s in out["series"]] == [
        ("t1", 4.0, [3.0, 1.0]),
        ("t2", 1.0, [1.0, 0.0]),
    ]
    # Unique listeners of two days: a, b, c, d (a came back on the second day).
    listeners = ReportQuery(metric="listeners", start=day, end=day + timedelta(days=2))
    out = await reports.report(db, listeners, None)
    assert out["total"] == 4
    assert [p["value"] for p in out["series"][0]["points"]] == [3, 2]
    # In Tokyo every event falls on December 1st.
    tokyo = ReportQuery(metric="downloads", start=datetime(2026, 11, 30, 15, tzinfo=UTC),
                        end=datetime(2026, 12, 2, 15, tzinfo=UTC), tz="Asia/Tokyo")  # fmt: skip
    out = await reports.report(db, tokyo, None)
    assert [p["value"] for p in out["series"][0]["points"]] == [5.0, 0.0]
    by_app = ReportQuery(metric="downloads", start=day, end=day + timedelta(days=2),
                         group_by="app", filters={"country": "DE"})  # fmt: skip
    assert [(s["key"], s["total"]) for s in (await reports.report(db, by_app, None))["series"]] == [
        ("Apple Podcasts", 1.0)
    ]
    # Limited to no library: no tracks, no channels.
    assert (await reports.report(db, query, frozenset()))["series"] == []
    top = await reports.top(db, "listening_seconds", ReportQuery(
        metric="listening_seconds", start=day, end=day + timedelta(days=2), group_by="channel"
    ), None)  # fmt: skip
    assert top == [{"key": "c1", "label": "c1", "value": 60.0}]
    completion = ReportQuery(metric="completion", start=day, end=day + timedelta(days=2),
                             compare=True)  # fmt: skip
    out = await reports.report(db, completion, None)
    assert out["total"] == 1.0
    assert out["previous"]["total"] == 0.0


async def test_the_iab_counter_feeds_the_rollup(db: Database) -> None:
    overcast = "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)"
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    preload = replace(delivery(1, "p", agent=overcast), range_start=0, range_end=1, sent=2)
    events = [
        delivery(0, "a", agent=overcast),
        delivery(2, "a", agent=overcast),  # the same download again
        preload,
        delivery(3, "bot", agent="Googlebot/2.1 (+http://www.google.com/bot.html)"),
        *[
            delivery(10 + i * 0.1, "d", "c1", kind="channel", segment=i, agent=firefox)
            for i in range(10)
        ],
    ]
    run = await roll_up(db, load_counter, owner="n1", now=NOW, read=MemoryEvents(events))
    assert run.events == 14
    rows = await _rows(db, AnalyticsDaily)
    (track,) = [r for r in rows if r[1] == "track"]
    assert (track[3], track[5], track[6]) == ("Overcast", 1, 1)
    (channel,) = [r for r in rows if r[1] == "channel"]
    assert (channel[8], channel[9]) == (60.0, 1)  # ten 6-second segments, one session


def _store(url: str, events: list[Any]) -> None:
    """Events into delivery_events as the capture writes them (partitions included)."""
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            repository.ensure_partitions(conn, sorted({e.at.date() for e in events}))
            repository.insert_rows(
                conn,
                [
                    tuple(
                        e.at.timestamp()
                        if name == "at"
                        else "n"
                        if name == "node"
                        else None
                        if name == "ip"
                        else getattr(e, name)
                        for name in COLUMNS
                    )
                    for e in events
                ],
            )
    finally:
        engine.dispose()


async def test_raw_events_are_read_from_the_table_in_batches(url: str, db: Database) -> None:
    async with db.session() as session, session.begin():
        await session.execute(DeliveryEventRow.__table__.delete())  # type: ignore[attr-defined]
    same_time = [delivery(200, f"s{i}") for i in range(5)]  # one instant: ids break the tie
    await asyncio.to_thread(_store, url, _events() + same_time)
    run = await roll_up(db, load_fake, owner="n1", now=NOW, options=RollupOptions(batch=4))
    assert run.events == 20
    daily = await _rows(db, AnalyticsDaily)
    assert sum(r[5] for r in daily) == 10
    again = await roll_up(db, load_fake, owner="n1", now=NOW, options=RollupOptions(batch=4))
    assert again.events == 0
