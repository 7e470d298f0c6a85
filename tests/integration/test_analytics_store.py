"""delivery_events on SQLite and PostgreSQL: batches written by the writer (partitions
made as needed), maintenance (addresses cleared after 24 h, retention, old salts,
partitions ahead) and deleting a listener on request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from streamer.analytics.capture import Writer
from streamer.analytics.listeners import NotAnAddress, forget_listener
from streamer.analytics.repository import PARTITIONS_AHEAD, partition_name
from streamer.analytics.rows import Captured
from streamer.db import Database, migrate
from streamer.db.engine import sync_url
from streamer.types import Delivery

NOW = datetime.now(UTC).replace(microsecond=0)
DELIVERY = Delivery("track", "0123456789abcdef", "original", None, 0, 1023, 10_000, 60.0)


@pytest.fixture
def url(tmp_path: Path, module_database_url: str | None) -> Iterator[str]:
    database = module_database_url or f"sqlite+aiosqlite:///{tmp_path}/analytics.db"
    migrate(database)
    yield database
    engine = create_engine(sync_url(database))
    with engine.begin() as conn:  # the PostgreSQL database is the module's: empty it
        conn.execute(text("DELETE FROM delivery_events"))
        conn.execute(text("DELETE FROM analytics_salts"))
    engine.dispose()


def _captured(when: datetime, host: str, agent: str = "Player/1") -> Captured:
    return (when.timestamp(), DELIVERY, 206, 1024, [(b"user-agent", agent.encode())], (host, 1))


def _query(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def _writer(url: str, retention_days: int = 90) -> Writer:
    return Writer(url, "node-a", retention_days=retention_days)


def test_a_batch_is_written_across_days(url: str) -> None:
    writer = _writer(url)
    try:
        days_ago = [0, 1, 40]
        batch = [_captured(NOW - timedelta(days=d), "192.0.2.1") for d in days_ago]
        assert writer.write(batch) == 3
        assert writer.write(batch[:1]) == 1  # the partition is known now
    finally:
        writer.close()
    rows = _query(url, "SELECT at, ip, node, sent FROM delivery_events ORDER BY at")
    assert len(rows) == 4
    assert {r.node for r in rows} == {"node-a"}


def test_maintenance_clears_addresses_deletes_old_events_and_salts(url: str) -> None:
    writer = _writer(url, retention_days=30)
    try:
        writer.write(
            [
                _captured(NOW - timedelta(hours=1), "192.0.2.1"),
                _captured(NOW - timedelta(hours=30), "192.0.2.2"),
                _captured(NOW - timedelta(days=45), "192.0.2.3"),
            ]
        )
        salts_before = {r.day for r in _query(url, "SELECT day FROM analytics_salts")}
        assert len(salts_before) == 3
        done = writer.maintain(NOW)
    finally:
        writer.close()
    rows = _query(url, "SELECT ip, listener FROM delivery_events ORDER BY at")
    assert [r.ip for r in rows] == [None, "192.0.2.1"]  # 30 h old: cleared; 45 days: gone
    assert all(len(r.listener) == 32 for r in rows)
    assert done["events_deleted"] + done["partitions_dropped"] >= 1
    kept = {r.day for r in _query(url, "SELECT day FROM analytics_salts")}
    assert kept == {d for d in salts_before if d >= (NOW.date() - timedelta(days=1)).isoformat()}


def test_postgresql_partitions_ahead_and_retention_drops_whole_days(
    url: str, module_database_url: str | None
) -> None:
    if module_database_url is None:
        pytest.skip("PostgreSQL only")
    writer = _writer(url, retention_days=30)
    try:
        writer.write([_captured(NOW - timedelta(days=45), "192.0.2.3")])
        old = partition_name((NOW - timedelta(days=45)).date())
        names = {r.relname for r in _query(url, "SELECT relname FROM pg_class")}
        assert old in names
        writer.maintain(NOW)
    finally:
        writer.close()
    names = {r.relname for r in _query(url, "SELECT relname FROM pg_class")}
    assert old not in names
    for ahead in range(PARTITIONS_AHEAD + 1):
        assert partition_name(NOW.date() + timedelta(days=ahead)) in names


def test_a_listener_is_deleted_on_request(url: str) -> None:
    writer = _writer(url)
    try:
        writer.write(
            [
                _captured(NOW - timedelta(minutes=5), "2001:db8:5:5::1"),
                _captured(NOW - timedelta(minutes=4), "2001:db8:5:5::2"),  # same /64
                _captured(NOW - timedelta(minutes=3), "2001:db8:5:5::1", "Other/2"),
                _captured(NOW - timedelta(minutes=2), "2001:db8:6:6::1"),
            ]
        )
    finally:
        writer.close()

    async def forget() -> int:
        db = Database(url)
        try:
            return await forget_listener(db, "2001:db8:5:5::99", "Player/1")
        finally:
            await db.dispose()

    assert asyncio.run(forget()) == 2
    rows = _query(url, "SELECT ip, user_agent FROM delivery_events ORDER BY at")
    assert [(r.ip, r.user_agent) for r in rows] == [
        ("2001:db8:5:5::1", "Other/2"),
        ("2001:db8:6:6::1", "Player/1"),
    ]


def test_deleting_a_listener_needs_an_address(url: str) -> None:
    async def forget() -> int:
        db = Database(url)
        try:
            return await forget_listener(db, "example.org", "Player/1")
        finally:
            await db.dispose()

    with pytest.raises(NotAnAddress):
        asyncio.run(forget())


def test_a_large_batch_is_written_whole(url: str) -> None:
    writer = _writer(url)
    try:
        batch = [_captured(NOW - timedelta(seconds=n / 100), "192.0.2.1") for n in range(2500)]
        assert writer.write(batch) == 2500  # two full statements and a short one on SQLite
    finally:
        writer.close()
    (count,) = _query(url, "SELECT count(*) AS n FROM delivery_events")
    assert count.n == 2500
