"""The analytics spool on SQLite and PostgreSQL: workers' batches written as files, inserted
by the supervisor's ingester exactly once (a file found again after a crash is not
inserted twice, a damaged one is set aside), the spool's bound, each node's backlog
reported and holding the rollups back while it is fresh, and `streamer serve` with two
workers, whose requests reach delivery_events through it, the last ones at shutdown."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from streamer.analytics import rollup
from streamer.analytics.capture import Writer
from streamer.analytics.rollup import RollupOptions, oldest_waiting, roll_up
from streamer.analytics.rows import Captured
from streamer.analytics.spool import (
    BACKLOG_FRESH,
    Ingester,
    SpoolFull,
    SpoolWriter,
    oldest_event,
    ready_files,
)
from streamer.db import Database, migrate
from streamer.db.engine import sync_url
from streamer.settings import Settings
from streamer.types import Delivery
from tests.fixtures.analytics import T0, MemoryEvents, delivery, load_fake
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import admin_key, bearer, scan_roots, serve_in_process

DELIVERY = Delivery("track", "0123456789abcdef", "original", None, 0, 1023, 10_000, 60.0)
START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None) -> str:
    data = tmp_path_factory.mktemp("spool") / "data"
    settings = Settings.load({}, data_dir=Path(data), database_url=module_database_url)
    migrate(settings.effective_database_url)
    return settings.effective_database_url


@pytest.fixture
def database(url: str) -> Iterator[str]:
    yield url
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:  # the module's database: empty it for the next test
        for table in ("delivery_events", "analytics_spool_files", "analytics_spool_backlog"):
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


def _query(url: str, sql: str) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _captured(seconds: float, agent: str = "Player/1") -> Captured:
    at = (START + timedelta(seconds=seconds)).timestamp()
    return (at, DELIVERY, 206, 1024, [(b"user-agent", agent.encode())], ("192.0.2.1", 1))


def _spooled(url: str, spool: Path, *batches: list[Captured]) -> Writer:
    """A worker's writer with a spool, having written ``batches``."""
    writer = Writer(url, "node-a", retention_days=90, spool=SpoolWriter(spool, 1 << 30))
    for batch in batches:
        writer.write(batch)
    return writer


def _agents(url: str) -> list[str]:
    return sorted(r[0] for r in _query(url, "SELECT user_agent FROM delivery_events"))


def test_a_spooled_batch_is_a_file_until_the_ingester_inserts_it(
    database: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    heard: list[int] = []
    writer = Writer(database, "node-a", retention_days=90, spool=SpoolWriter(spool, 1 << 30))
    writer.on_written = lambda rows: heard.append(len(rows))  # realtime listeners
    assert writer.write([_captured(1, "A/1"), _captured(2, "B/1")]) == 2
    assert writer.write([_captured(3, "C/1")]) == 1
    writer.close()
    assert heard == [2, 1]
    assert len(ready_files(spool)) == 2
    assert _agents(database) == []  # the worker inserted nothing
    ingester = Ingester(database, spool, "node-a")
    try:
        assert ingester.run_once() == 3
    finally:
        ingester.close()
    assert _agents(database) == ["A/1", "B/1", "C/1"]
    assert ready_files(spool) == []
    row = _query(database, "SELECT node, status, sent, listener FROM delivery_events LIMIT 1")[0]
    assert (row.node, row.status, row.sent, len(row.listener)) == ("node-a", 206, 1024, 32)


def test_files_are_named_and_read_oldest_event_first(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, 1 << 30)
    later = writer.append([(START.timestamp() + 60, "x")])
    earlier = writer.append([(START.timestamp() + 30, "y"), (START.timestamp() + 5, "z")])
    assert writer.append([]) is None  # an empty flush writes nothing
    assert ready_files(tmp_path) == [earlier, later]
    assert earlier is not None
    assert oldest_event(earlier) == START + timedelta(seconds=5)


def test_a_file_found_again_after_its_rows_went_in_is_not_inserted_twice(
    database: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    _spooled(database, spool, [_captured(1, "A/1")]).close()
    (path,) = ready_files(spool)
    kept = tmp_path / "copy"
    shutil.copy(path, kept)
    ingester = Ingester(database, spool, "node-a")
    try:
        assert ingester.run_once() == 1
        shutil.copy(kept, path)  # as if the process died between the commit and unlink
        assert ingester.run_once() == 0
    finally:
        ingester.close()
    assert _agents(database) == ["A/1"]
    assert ready_files(spool) == []


@pytest.mark.parametrize(
    "damage",
    [b"not a spool file", None],  # another file; a spool file cut short
    ids=["foreign", "truncated"],
)
def test_a_damaged_file_is_set_aside_and_the_others_inserted(
    database: str, tmp_path: Path, damage: bytes | None
) -> None:
    spool = tmp_path / "spool"
    _spooled(database, spool, [_captured(1, "A/1")], [_captured(2, "B/1")]).close()
    first, _second = ready_files(spool)
    content = first.read_bytes()
    first.write_bytes(damage if damage is not None else content[: len(content) // 2])
    ingester = Ingester(database, spool, "node-a")
    try:
        assert ingester.run_once() == 1
    finally:
        ingester.close()
    assert _agents(database) == ["B/1"]
    assert ready_files(spool) == []
    assert [p.name for p in spool.iterdir()] == [first.name + ".rejected"]


def test_the_spool_refuses_batches_past_its_bound(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, max_bytes=1 << 20)
    rows = [(START.timestamp(), f"{n:04d}" + "x" * 1000) for n in range(600)]  # 600 KB a file
    writer.append(rows)
    writer.append(rows)  # the bound is checked before a file: this one goes past it
    with pytest.raises(SpoolFull):
        writer.append(rows)
    assert len(ready_files(tmp_path)) == 2
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_the_backlog_names_the_oldest_waiting_event_then_none(
    database: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    # Two files of one row each, inserted one transaction at a time.
    _spooled(database, spool, [_captured(30, "A/1")], [_captured(90, "B/1")]).close()
    seen: list[Any] = []
    ingester = Ingester(database, spool, "node-a", batch_rows=1)
    report = ingester._report

    def spy(conn: Any, oldest: datetime | None) -> None:
        seen.append(oldest)
        report(conn, oldest)

    ingester._report = spy  # type: ignore[method-assign]
    try:
        assert ingester.run_once() == 2
        stored = _query(database, "SELECT node, oldest_at FROM analytics_spool_backlog")
        assert ingester.run_once() == 0  # nothing waits and nothing more is reported
    finally:
        ingester.close()
    assert seen == [START + timedelta(seconds=30), START + timedelta(seconds=90), None]
    assert [(r.node, r.oldest_at) for r in stored] == [("node-a", None)]


async def test_a_rollup_counts_no_further_than_a_fresh_backlog(database: str) -> None:
    now = T0 + timedelta(days=3)
    db = Database(database)
    await rollup.reset(db)
    events = [delivery(minutes, "a") for minutes in (0, 5, 10, 65, 125)]
    try:
        engine = create_engine(sync_url(database))
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO analytics_spool_backlog (node, oldest_at, reported_at)"
                    " VALUES ('node-b', :oldest, :fresh), ('node-c', :older, :stale)"
                ),
                {
                    "oldest": _stored(database, T0 + timedelta(minutes=60)),
                    "fresh": _stored(database, now - timedelta(minutes=1)),
                    # Down for longer than BACKLOG_FRESH: no longer waited for.
                    "older": _stored(database, T0 + timedelta(minutes=1)),
                    "stale": _stored(database, now - BACKLOG_FRESH - timedelta(seconds=1)),
                },
            )
        engine.dispose()
        async with db.session() as session:
            assert await oldest_waiting(session, now) == T0 + timedelta(minutes=60)
        run = await roll_up(db, load_fake, owner="n1", now=now, read=MemoryEvents(events))
        assert run.events == 3  # those before node-b's oldest waiting event
        engine = create_engine(sync_url(database))
        with engine.begin() as conn:
            conn.execute(text("UPDATE analytics_spool_backlog SET oldest_at = NULL"))
        engine.dispose()
        run = await roll_up(
            db, load_fake, owner="n1", now=now, read=MemoryEvents(events),
            options=RollupOptions(batch=100),
        )  # fmt: skip
        assert run.events == 2  # the rest, once nothing waits
    finally:
        await rollup.reset(db)
        await db.dispose()


def _stored(url: str, at: datetime) -> Any:
    """``at`` as a bound parameter each database stores for a DateTime column."""
    if url.startswith("sqlite"):
        return at.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return at


def test_the_ingesting_thread_runs_below_the_workers() -> None:
    from streamer.analytics.spool import _lower_priority

    found: list[int] = []

    def run() -> None:
        _lower_priority(7)
        found.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    before = os.getpriority(os.PRIO_PROCESS, 0)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert found == [min(before + 7, 19)]
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the process itself is untouched


@pytest.mark.slow
@pytest.mark.ffmpeg
def test_serve_with_two_workers_inserts_their_events_through_the_spool(
    tmp_path: Path, module_database_url: str | None
) -> None:
    library = tmp_path / "library"
    make_audio(library / "tone.flac", "flac", 2.0)
    data = tmp_path / "data"
    settings = Settings.load({}, data_dir=data, database_url=module_database_url)
    scan_roots(settings, [str(library)])
    key = admin_key(settings)
    url = settings.effective_database_url
    args = ["--data-dir", str(data), "--workers", "2", "--library", str(library)]
    if module_database_url:
        args += ["--database-url", module_database_url]
    env = {"STREAMER_TRANSCODE_ON_START": "false", "STREAMER_ANALYTICS_FLUSH_SECONDS": "0.2"}
    with serve_in_process(args, tmp_path / "serve.log", env=env) as server:
        base = server.base_url
        track = httpx.get(f"{base}/api/v1/tracks", headers=bearer(key)).json()["items"][0]["id"]
        for n in range(20):  # new connections: both workers answer some
            assert httpx.get(f"{base}/media/{track}/original", headers={"user-agent": f"a/{n}"})
        deadline = time.monotonic() + 20
        while len(_like(url, "a/%")) < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_like(url, "a/%")) == 20
        assert ready_files(data / "analytics-spool") == []
        for n in range(10):  # then stopped at once: these go in at shutdown
            assert httpx.get(f"{base}/media/{track}/original", headers={"user-agent": f"z/{n}"})
    assert len(_like(url, "z/%")) == 10
    assert ready_files(data / "analytics-spool") == []


def _like(url: str, pattern: str) -> list[Any]:
    return _query(url, f"SELECT id FROM delivery_events WHERE user_agent LIKE '{pattern}'")
