"""/api/v1/analytics against a real server: reports and top lists over rollups (JSON and
CSV parsed back), access by library, dashboards of one's own, scheduled reports with a
webhook on 127.0.0.1, and realtime listeners shared by two nodes through one Redis."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.analytics import schedules
from streamer.analytics.realtime_share import Realtime
from streamer.analytics.rollup import roll_up
from streamer.auth.audit import Actor
from streamer.auth.users import create_key
from streamer.db import Database
from streamer.settings import Settings
from tests.fixtures.analytics import T0, MemoryEvents, delivery, load_fake
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread

DAY = "2026-11-30T00:00:00Z"
TWO_DAYS_LATER = "2026-12-02T00:00:00Z"


@dataclass
class World:
    server: RunningServer
    tracks: list[str]  # of the first library
    foreign: str  # the second library's track
    library: str

    def key(self, role: str, libraries: dict[str, str] | None = None) -> str:
        async def mint() -> str:
            db = Database(self.server.settings.effective_database_url)
            try:
                secret, _ = await create_key(
                    db,
                    "scoped",
                    role,  # type: ignore[arg-type]
                    Actor("cli", None, "tests"),
                    libraries=libraries,  # type: ignore[arg-type]
                )
                return secret
            finally:
                await db.dispose()

        return asyncio.run(mint())

    def client(self, key: str) -> httpx.Client:
        return self.server.client(headers=bearer(key))


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, audio_samples: dict[str, Path]
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("analytics")
    first, second = root / "first", root / "second"
    first.mkdir()
    second.mkdir()
    shutil.copy(audio_samples["mp3"], first / "a.mp3")
    shutil.copy(audio_samples["flac"], first / "b.flac")
    shutil.copy(audio_samples["ogg"], second / "c.ogg")
    settings = Settings.load({}, data_dir=root / "data", analytics_rollup_seconds=0)
    scan_roots(settings, [str(first), str(second)])
    with serve_in_thread(settings) as server, server.api() as client:
        items = client.get("/api/v1/tracks", params={"limit": 100, "status": "ok"}).json()
        by_path = {t["path"]: t for t in items["items"]}
        a, b, c = by_path["a.mp3"], by_path["b.flac"], by_path["c.ogg"]
        events = [
            delivery(0, "x", a["id"]),
            delivery(5, "y", a["id"], agent="Apple Podcasts", country="DE"),
            delivery(70, "x", b["id"]),
            delivery(125, "z", a["id"]),  # the next day
            delivery(130, "x", c["id"]),
        ]

        async def fill() -> None:
            db = Database(settings.effective_database_url)
            try:
                await roll_up(
                    db,
                    load_fake,
                    owner="tests",
                    now=T0 + timedelta(days=2),
                    read=MemoryEvents(events),
                )
            finally:
                await db.dispose()

        asyncio.run(fill())
        yield World(server, [a["id"], b["id"]], c["id"], a["library_id"])


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with world.server.api() as client:
        yield client


def test_report_by_track_with_trend_and_csv(api: httpx.Client, world: World) -> None:
    params: dict[str, Any] = {
        "metric": "downloads",
        "from": DAY,
        "to": TWO_DAYS_LATER,
        "group_by": "track",
        "compare": "previous",
        "moving_average": 2,
    }
    report = api.get("/api/v1/analytics/report", params=params)
    assert report.status_code == 200, report.text
    body = report.json()
    a, b = world.tracks
    totals = {s["key"]: (s["total"], [p["value"] for p in s["points"]]) for s in body["series"]}
    assert totals == {a: (3, [2, 1]), b: (1, [1, 0]), world.foreign: (1, [0, 1])}
    assert body["from"] == "2026-11-30T00:00:00Z"
    assert body["previous"]["total"] == 0
    assert body["series"][0]["label"] != a  # the track's title or file name
    exported = api.get("/api/v1/analytics/report", params={**params, "format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sum(float(r["downloads"]) for r in rows) == 5
    assert {r["series"] for r in rows} == set(totals)
    by_accept = api.get("/api/v1/analytics/report", params=params, headers={"Accept": "text/csv"})
    assert by_accept.text == exported.text


def test_listeners_by_hour_in_a_time_zone(api: httpx.Client) -> None:
    body = api.get(
        "/api/v1/analytics/report",
        params={
            "metric": "listeners",
            "interval": "day",
            "tz": "Asia/Tokyo",
            "from": "2026-12-01T00:00:00",
            "to": "2026-12-02T00:00:00",
        },
    ).json()
    # Every event is on December 1st in Tokyo: listeners x, y, z.
    assert body["total"] == 3
    assert body["series"][0]["points"] == [{"t": "2026-12-01T00:00:00+09:00", "value": 3}]


def test_top_lists_and_filters(api: httpx.Client, world: World) -> None:
    top = api.get("/api/v1/analytics/top", params={"by": "app", "from": DAY, "to": TWO_DAYS_LATER})
    assert [(i["key"], i["value"]) for i in top.json()["items"]] == [
        ("Overcast", 4),
        ("Apple Podcasts", 1),
    ]
    german = api.get(
        "/api/v1/analytics/report", params={"country": "DE", "from": DAY, "to": TWO_DAYS_LATER}
    ).json()
    assert german["total"] == 1
    exported = api.get(
        "/api/v1/analytics/top",
        params={"by": "country", "format": "csv", "from": DAY, "to": TWO_DAYS_LATER},
    )
    assert list(csv.reader(io.StringIO(exported.text)))[1:] == [
        ["FR", "FR", "4.0"],
        ["DE", "DE", "1.0"],
    ]


def test_a_viewer_of_one_library_sees_its_tracks_only(world: World) -> None:
    key = world.key("viewer", {world.library: "read"})
    with world.client(key) as client:
        body = client.get(
            "/api/v1/analytics/report",
            params={"group_by": "track", "from": DAY, "to": TWO_DAYS_LATER},
        ).json()
    assert {s["key"] for s in body["series"]} == set(world.tracks)


@pytest.mark.parametrize(
    "params",
    [
        {"tz": "Mars/Olympus"},
        {"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        {"interval": "hour", "from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"metric": "likes"},
    ],
)
def test_bad_reports_are_problems(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get("/api/v1/analytics/report", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_dashboards_belong_to_their_owner(api: httpx.Client, world: World) -> None:
    view = {
        "id": "v1",
        "title": "Downloads",
        "metric": "downloads",
        "group_by": "track",
        "chart": "bar",
        "position": {"x": 0, "y": 0, "w": 6, "h": 4},
    }
    created = api.post("/api/v1/analytics/dashboards", json={"name": "Mine", "views": [view]})
    assert created.status_code == 201, created.text
    dashboard = created.json()
    url = f"/api/v1/analytics/dashboards/{dashboard['id']}"
    assert api.get(url).json()["views"][0]["chart"] == "bar"
    moved = {**view, "position": {"x": 6, "y": 0, "w": 6, "h": 4}}
    replaced = api.put(url, json={"name": "Mine", "views": [moved]})
    assert replaced.json()["views"][0]["position"]["x"] == 6
    with world.client(world.key("viewer")) as other:
        assert other.get(url).status_code == 404
        assert other.get("/api/v1/analytics/dashboards").json() == []
        own = other.post("/api/v1/analytics/dashboards", json={"name": "Viewer's"})
        assert own.status_code == 201
    twice = api.post("/api/v1/analytics/dashboards", json={"name": "x", "views": [view, view]})
    assert twice.status_code == 422
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def _receiving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A webhook receiver on 127.0.0.1 answering with ``handler``; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook() -> Iterator[str]:
    with _receiving(_Hook) as base:
        yield f"{base}/hook"


def test_scheduled_report_runs_stored_and_posted(
    api: httpx.Client, world: World, webhook: str
) -> None:
    body = {
        "name": "Daily downloads",
        "cadence": "daily",
        "timezone": "UTC",
        "query": {"metric": "downloads", "group_by": "track"},
        "webhook_url": webhook,
    }
    created = api.post("/api/v1/analytics/scheduled-reports", json=body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    broken = api.post(
        "/api/v1/analytics/scheduled-reports",
        json={**body, "name": "Broken", "webhook_url": "http://127.0.0.1:9/x"},
    )
    with world.client(world.key("viewer")) as viewer:
        refused = viewer.post("/api/v1/analytics/scheduled-reports", json=body)
        assert refused.status_code == 403

    async def run() -> list[Any]:
        db = Database(world.server.settings.effective_database_url)
        try:
            # The occurrence due after December 1st's midnight reports on November 30th.
            return await schedules.run_due(
                db, datetime(2026, 12, 1, 0, 30, tzinfo=UTC).replace(year=2099), webhook_timeout=2.0
            )
        finally:
            await db.dispose()

    _Hook.received.clear()
    runs = asyncio.run(run())
    assert len(runs) == 2
    assert len(_Hook.received) == 1
    posted = _Hook.received[0]
    assert posted["schedule"]["id"] == schedule["id"]
    stored = api.get(f"/api/v1/analytics/scheduled-reports/{schedule['id']}/runs").json()
    assert stored[0]["webhook_status"] == 204
    assert stored[0]["webhook_error"] is None
    assert stored[0]["report"] == posted["report"]
    failed = api.get(f"/api/v1/analytics/scheduled-reports/{broken.json()['id']}/runs").json()
    assert failed[0]["webhook_status"] is None
    assert failed[0]["webhook_error"]
    again = asyncio.run(run())
    assert again == []  # claimed: each occurrence runs once
    assert (
        api.get(f"/api/v1/analytics/scheduled-reports/{schedule['id']}").json()["next_run_at"]
        > "2099-"
    )


class _Flaky(BaseHTTPRequestHandler):
    """/hook answers what ``script`` says next (a 503 asks for ten minutes), /gone 410."""

    script: list[int] = []
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        status = 410 if self.path == "/gone" else _Flaky.script.pop(0)
        if self.path != "/gone":
            _Flaky.received.append(body)
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    with _receiving(_Flaky) as base:
        yield base


def test_a_failed_webhook_is_tried_again_until_delivered_and_a_refusal_is_not(
    api: httpx.Client, world: World, flaky: str
) -> None:
    body = {
        "name": "Flaky",
        "cadence": "daily",
        "timezone": "UTC",
        "query": {"metric": "downloads"},
        "webhook_url": f"{flaky}/hook",
    }
    schedule = api.post("/api/v1/analytics/scheduled-reports", json=body).json()
    gone = api.post(
        "/api/v1/analytics/scheduled-reports",
        json={**body, "name": "Gone", "webhook_url": f"{flaky}/gone"},
    ).json()
    mine = {schedule["id"], gone["id"]}
    start = datetime(2099, 12, 1, 0, 30, tzinfo=UTC)
    url = world.server.settings.effective_database_url

    async def due(at: datetime) -> list[Any]:
        db = Database(url)
        try:
            return await schedules.run_due(db, at, webhook_timeout=2.0)
        finally:
            await db.dispose()

    async def retry(at: datetime, nodes: int = 1) -> list[Any]:
        dbs = [Database(url) for _ in range(nodes)]
        try:
            tried = await asyncio.gather(
                *(schedules.retry_webhooks(db, at, webhook_timeout=2.0) for db in dbs)
            )
            return [run for runs in tried for run in runs if run.schedule_id in mine]
        finally:
            for db in dbs:
                await db.dispose()

    def run_of(schedule_id: str) -> dict[str, Any]:
        url = f"/api/v1/analytics/scheduled-reports/{schedule_id}/runs"
        return dict(api.get(url).json()[0])

    _Flaky.script, _Flaky.received = [503, 503, 204], []
    assert {run.schedule_id for run in asyncio.run(due(start))} >= mine
    first = run_of(schedule["id"])
    assert (first["webhook_status"], first["webhook_attempts"]) == (503, 1)
    assert datetime.fromisoformat(first["webhook_next_at"]) == start + timedelta(minutes=10)
    refused = run_of(gone["id"])
    assert (refused["webhook_status"], refused["webhook_attempts"]) == (410, 1)
    assert refused["webhook_next_at"] is None  # the receiver's final word

    assert asyncio.run(retry(start + timedelta(minutes=9))) == []  # not due yet
    # Two nodes at once: one of them sends the retry.
    assert len(asyncio.run(retry(start + timedelta(minutes=10), nodes=2))) == 1
    second = run_of(schedule["id"])
    assert (second["webhook_status"], second["webhook_attempts"]) == (503, 2)
    later = start + timedelta(minutes=20)
    assert datetime.fromisoformat(second["webhook_next_at"]) == later
    assert len(asyncio.run(retry(later))) == 1
    delivered = run_of(schedule["id"])
    assert (delivered["webhook_status"], delivered["webhook_attempts"]) == (204, 3)
    assert delivered["webhook_error"] is None
    assert delivered["webhook_next_at"] is None
    assert asyncio.run(retry(later + timedelta(days=1))) == []
    # The same report every time.
    assert len(_Flaky.received) == 3
    assert all(sent == _Flaky.received[0] for sent in _Flaky.received)
    assert _Flaky.received[0]["report"] == delivered["report"]
    for schedule_id in mine:
        api.delete(f"/api/v1/analytics/scheduled-reports/{schedule_id}")


def test_scheduled_report_of_a_past_day(world: World) -> None:
    async def run() -> dict[str, Any]:
        db = Database(world.server.settings.effective_database_url)
        try:
            spec = schedules.ScheduleSpec("d", {"metric": "downloads"}, "daily", "UTC", None)
            row = await schedules.create(db, "user:x", "x", None, spec, T0)
            made = await schedules.run_schedule(db, row, row.next_run_at)
            return made.result
        finally:
            await db.dispose()

    result = asyncio.run(run())
    assert (result["from"], result["total"]) == ("2026-11-30T00:00:00+00:00", 3)


def test_realtime_on_the_api(api: httpx.Client, world: World) -> None:
    realtime = world.server.app.realtime  # type: ignore[union-attr]
    a, _ = world.tracks
    realtime.note("track", a, "listener-1")
    realtime.note("track", a, "listener-2")
    realtime.note("track", world.foreign, "listener-2")
    body = api.get("/api/v1/analytics/realtime", params={"minutes": 5}).json()
    assert body["scope"] == "process"
    assert body["listeners_now"] == 2
    assert body["by_subject"][0]["id"] == a
    assert body["by_subject"][0]["listeners"] == 2
    assert len(body["minutes"]) == 5
    assert body["minutes"][-1]["listeners"] == 2
    key = world.key("viewer", {world.library: "read"})
    with world.client(key) as client:
        limited = client.get("/api/v1/analytics/realtime").json()
    assert [s["id"] for s in limited["by_subject"]] == [a]


async def test_realtime_shared_by_two_nodes_through_redis(redis_url: str) -> None:
    one, two = Realtime(redis_url=redis_url), Realtime(redis_url=redis_url)
    try:
        now = datetime.now(UTC).timestamp()
        one.note("channel", "c1", "alice", now)
        two.note("channel", "c1", "bob", now)
        two.note("track", "t1", "alice", now)
        await one.share()
        await two.share()
        snap, scope = await one.snapshot(now)
        assert scope == "cluster"
        assert snap.listeners_now == 2
        assert snap.by_subject == [("channel", "c1", 2), ("track", "t1", 1)]
        alone = Realtime()
        alone.note("channel", "c1", "carol", now)
        snap, scope = await alone.snapshot(now)
        assert (scope, snap.listeners_now) == ("process", 1)
    finally:
        await one.close()
        await two.close()
