"""GET /api/v1/events: live events over real servers on loopback, on SQLite and PostgreSQL.

The module's server runs what `streamer serve` runs (the supervisor's Background with the
embedded job runner, and the app on uvicorn), so job events come from another event loop
and database engine than the stream's, through the events table, as they do between
processes. One test runs `streamer serve` itself as a process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from streamer.cli import Background, normalise_root
from streamer.db import Database, Event, library_id_for, migrate
from streamer.events import EventPublisher, Outgoing
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import (
    RunningServer,
    admin_key,
    bearer,
    scan_roots,
    serve_in_process,
    serve_in_thread,
)

Json = dict[str, Any]
PASSWORD = "correct horse battery"
MAX_EVENTS = 60  # the backlog this module's server keeps


@dataclass
class Message:
    """One dispatched server-sent event, or a comment (``event`` is ":")."""

    id: str
    event: str
    data: Any


@dataclass
class Stream:
    """A live event stream read in a thread (as a browser would, with a real client)."""

    response: httpx.Response
    client: httpx.Client
    messages: queue.Queue[Message | None] = field(default_factory=queue.Queue)
    last_id: str = ""  # the stream's current last event id (moved by id-only messages too)
    seen: list[Message] = field(default_factory=list)

    def next(self, timeout: float = 30.0) -> Message | None:
        """The next message (None once the stream has ended)."""
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no event within the time allowed") from None
        if message is not None:
            self.seen.append(message)
        return message

    def until(self, wanted: Callable[[Message], bool], timeout: float = 60.0) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(deadline - time.monotonic(), 0.01))
            if message is None:
                raise EOFError("the stream ended")
            if wanted(message):
                return message

    def events(self, kind: str) -> list[Json]:
        return [m.data for m in self.seen if m.event == kind]

    def ended(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.next(max(deadline - time.monotonic(), 0.01)) is None:
                    return True
            except TimeoutError:
                return False
        return False


def _read(stream: Stream) -> None:
    """Parse text/event-stream (WHATWG's algorithm, the parts this server uses)."""
    fields: dict[str, str] = {}
    try:
        for line in stream.response.iter_lines():
            if line == "":
                if "id" in fields:
                    stream.last_id = fields["id"]
                if "data" in fields:
                    data = json.loads(fields["data"])
                    stream.messages.put(Message(stream.last_id, fields.get("event", ""), data))
                fields = {}
            elif line.startswith(":"):
                stream.messages.put(Message(stream.last_id, ":", line[1:].strip()))
            else:
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
    except (httpx.HTTPError, RuntimeError):
        pass  # closed by the test
    finally:
        stream.messages.put(None)


@dataclass
class Live:
    server: RunningServer
    settings: Settings
    library: Path
    library_id: str
    other_id: str  # a second library, for access filtering
    ids: dict[str, str]  # file name -> track id
    streams: list[Stream] = field(default_factory=list)

    def api(self) -> httpx.Client:
        return self.server.api()

    def open(self, headers: dict[str, str] | None = None, **params: str) -> Stream:
        """An open stream, signed in with the admin key unless ``headers`` say otherwise."""
        client = httpx.Client(base_url=self.server.base_url, timeout=httpx.Timeout(10, read=60))
        request = client.build_request(
            "GET",
            "/api/v1/events",
            headers=headers if headers is not None else bearer(self.server.api_key or ""),
            params=params,
        )
        response = client.send(request, stream=True)
        assert response.status_code == 200, response.read()
        stream = Stream(response, client)
        threading.Thread(target=_read, args=(stream,), daemon=True).start()
        self.streams.append(stream)
        return stream

    def close_all(self) -> None:
        for stream in self.streams:
            stream.response.close()
            stream.client.close()
        self.streams.clear()

    def playlist(self, library_id: str | None = None) -> str:
        with self.api() as api:
            made = api.post(
                "/api/v1/playlists",
                json={"library_id": library_id or self.library_id, "name": "mix"},
            )
            assert made.status_code == 201, made.text
            return str(made.json()["id"])

    def key(self, role: str, libraries: dict[str, str] | None) -> tuple[str, str]:
        """A new API key (its id and secret)."""
        with self.api() as api:
            made = api.post(
                "/api/v1/apikeys", json={"name": "k", "role": role, "libraries": libraries}
            ).json()
            return made["id"], made["key"]


def run_async(settings: Settings, work: Callable[[Database], Any]) -> Any:
    async def run() -> Any:
        db = Database(settings.effective_database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    audio_samples: dict[str, Path],
    module_database_url: str | None,
) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("events")
    library, other = base / "library", base / "other"
    library.mkdir()
    other.mkdir()
    shutil.copy(audio_samples["mp3"], library / "short.mp3")
    make_audio(library / "long.flac", "flac", 120.0, frequency=220)
    shutil.copy(audio_samples["mp3"], other / "elsewhere.mp3")
    roots = [normalise_root(str(library)), normalise_root(str(other))]
    settings = Settings.load(
        {},
        data_dir=base / "data",
        libraries=roots,
        database_url=module_database_url,
        job_poll_seconds=0.1,
        job_concurrency=1,
        ladder=["aac_64", "aac_128"],
        events_poll_seconds=0.1,
        events_heartbeat_seconds=1.0,
        events_max_count=MAX_EVENTS,
        events_prune_seconds=0.3,
        rate_limit_api="100000/minute",
        rate_limit_ip="100000/minute",
    )
    migrate(settings.effective_database_url)
    background = Background(settings)
    background.start()
    try:
        with serve_in_thread(settings) as server, server.api() as api:
            deadline = time.monotonic() + 60
            ids: dict[str, str] = {}
            while time.monotonic() < deadline:
                tracks = api.get("/api/v1/tracks").json()["items"]
                ids = {t["path"]: t["id"] for t in tracks}
                jobs = api.get("/api/v1/jobs").json()["items"]
                if (
                    len(ids) == 3
                    and jobs
                    and all(j["status"] in ("succeeded", "failed") for j in jobs)
                ):
                    break
                time.sleep(0.1)
            else:
                raise TimeoutError("the start-up scan and transcodes did not finish")
            live = Live(
                server, settings, library, library_id_for(roots[0]), library_id_for(roots[1]), ids
            )
            try:
                yield live
            finally:
                live.close_all()
    finally:
        background.stop()


@pytest.fixture(autouse=True)
def _close_streams(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "live" in request.fixturenames:
        request.getfixturevalue("live").close_all()


def test_a_transcode_sends_job_events_with_rising_progress_until_it_succeeds(live: Live) -> None:
    stream = live.open()
    with live.api() as api:
        queued = api.post("/api/v1/jobs", json={"track_id": live.ids["long.flac"], "force": True})
    assert queued.status_code == 201, queued.text
    job_id = queued.json()["id"]

    final = stream.until(
        lambda m: m.event == "job" and m.data["id"] == job_id and m.data["status"] == "succeeded"
    )

    mine = [e for e in stream.events("job") if e["id"] == job_id]
    assert mine[0]["status"] == "queued"
    assert {e["status"] for e in mine} == {"queued", "running", "succeeded"}
    assert mine[0] == {
        "id": job_id,
        "track_id": live.ids["long.flac"],
        "library_id": live.library_id,
        "kind": "transcode",
        "status": "queued",
        "progress": 0.0,
        "error": None,
        "attempts": 0,
        "cancel_requested": False,
    }
    # Progress rises from the queued 0 to the final 1, with what the running job reported
    # in between (about once a second: how many depends on the machine's speed).
    progress = [e["progress"] for e in mine]
    assert progress == sorted(progress)
    assert any(0 < p < 1 for p in progress), progress
    assert final.data["progress"] == 1.0
    assert int(final.id) > int(stream.seen[0].id)


def test_a_scan_sends_scan_events_and_its_new_track_a_track_event(live: Live) -> None:
    stream = live.open()
    shutil.copy(live.library / "short.mp3", live.library / "copy.mp3")
    try:
        with live.api() as api:
            started = api.post(f"/api/v1/libraries/{live.library_id}/scan")
        assert started.status_code == 202, started.text

        done = stream.until(lambda m: m.event == "scan" and m.data["state"] != "running")
    finally:
        (live.library / "copy.mp3").unlink()

    assert done.data == {
        "library_id": live.library_id,
        "state": "done",
        "processed": 3,
        "total": 3,
        "added": 1,
        "changed": 0,
        "failed": 0,
        "gone": 0,
        "error": None,
    }
    assert stream.events("scan")[0]["state"] == "running"
    (created,) = [e for e in stream.events("track") if e["action"] == "created"]
    assert created["library_id"] == live.library_id
    with live.api() as api:
        track = api.get(f"/api/v1/tracks/{created['id']}").json()
    assert track["path"] == "copy.mp3"


def test_a_completed_and_a_failed_upload_send_upload_events(live: Live) -> None:
    stream = live.open()
    audio = (live.library / "short.mp3").read_bytes()

    def upload(name: str, body: bytes) -> str:
        meta = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}"
            for k, v in (("filename", name), ("library", live.library_id))
        )
        headers = {
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(body)),
            "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream",
        }
        with live.api() as api:
            response = api.post("/api/v1/uploads", headers=headers, content=body)
        return str(response.headers["location"].rsplit("/", 1)[-1])

    good = upload("sent.mp3", audio)
    bad = upload("noise.mp3", b"not audio at all" * 64)

    completed = stream.until(lambda m: m.event == "upload" and m.data["id"] == good)
    failed = stream.until(lambda m: m.event == "upload" and m.data["id"] == bad)
    assert completed.data["state"] == "completed"
    assert completed.data["filename"] == "sent.mp3"
    assert completed.data["error"] is None
    track_id = completed.data["track_id"]
    assert {"id": track_id, "library_id": live.library_id, "action": "created"} in stream.events(
        "track"
    )
    assert failed.data["state"] == "failed"
    assert failed.data["track_id"] is None
    assert failed.data["error"].startswith("not playable audio")
    with live.api() as api:  # leave the library as it was
        api.post("/api/v1/tracks/batch", json={"action": "delete", "track_ids": [track_id]})
    (live.library / "uploads" / "sent.mp3").unlink()


def test_playlist_changes_send_playlist_events_with_their_revision(live: Live) -> None:
    stream = live.open()
    playlist = live.playlist()
    with live.api() as api:
        api.put(f"/api/v1/playlists/{playlist}/items", json={"track_ids": [live.ids["short.mp3"]]})
        api.post(f"/api/v1/playlists/{playlist}/undo")
        api.delete(f"/api/v1/playlists/{playlist}")

    stream.until(lambda m: m.event == "playlist" and m.data["action"] == "deleted")

    assert [(e["action"], e["revision"]) for e in stream.events("playlist")] == [
        ("created", 1),
        ("updated", 2),
        ("updated", 1),
        ("deleted", None),
    ]
    assert stream.events("playlist")[0] == {
        "id": playlist,
        "library_id": live.library_id,
        "action": "created",
        "revision": 1,
    }


def test_track_edits_and_deletes_send_track_events(live: Live) -> None:
    stream = live.open()
    track = live.ids["short.mp3"]
    with live.api() as api:
        api.patch(f"/api/v1/tracks/{track}", json={"labels": ["live"]}, headers={"If-Match": "*"})
        api.post("/api/v1/tracks/batch", json={"action": "untag", "track_ids": [track],
                                                "labels": ["live"]})  # fmt: skip

    # Only this track's events: an earlier test's upload or copy may still be finishing its
    # transcode, and its track's "updated" event may arrive in between (seen in a fresh clone).
    def mine() -> list[Json]:
        return [e for e in stream.events("track") if e["id"] == track]

    stream.until(lambda m: m.event == "track" and len(mine()) == 2)

    assert mine() == [{"id": track, "library_id": live.library_id, "action": "updated"}] * 2


def test_a_caller_without_access_to_a_library_gets_none_of_its_events(live: Live) -> None:
    _, viewer_key = live.key("viewer", {live.library_id: "read"})
    with live.api() as api:  # a user, signed in with a cookie, who may read the other library
        api.post("/api/v1/users", json={"name": "olga", "password": PASSWORD, "role": "viewer",
                                        "libraries": {live.other_id: "read"}})  # fmt: skip
    with httpx.Client(base_url=live.server.base_url) as browser:
        login = browser.post("/api/v1/auth/login", json={"name": "olga", "password": PASSWORD})
        assert login.status_code == 200, login.text
        cookie = browser.cookies["streamer_session"]
    viewer = live.open(bearer(viewer_key))
    olga = live.open({"Cookie": f"streamer_session={cookie}"})
    admin = live.open()

    foreign = live.playlist(live.other_id)
    own = live.playlist(live.library_id)
    marker = live.playlist(live.other_id)

    admin.until(lambda m: m.event == "playlist" and m.data["id"] == marker)
    viewer.until(lambda m: m.event == "playlist" and m.data["id"] == own)
    olga.until(lambda m: m.event == "playlist" and m.data["id"] == marker)
    # Each stream sends in id order: having seen the last one it may see, it has passed
    # those it may not.
    assert [e["id"] for e in admin.events("playlist")] == [foreign, own, marker]
    assert [e["id"] for e in viewer.events("playlist")] == [own]
    assert [e["id"] for e in olga.events("playlist")] == [foreign, marker]


def test_reconnecting_with_last_event_id_replays_exactly_the_missed_events(live: Live) -> None:
    witness = live.open()  # stays connected throughout: what a client should have seen
    first = live.open()
    playlist = live.playlist()
    seen = first.until(lambda m: m.event == "playlist" and m.data["id"] == playlist)
    first.response.close()
    with live.api() as api:
        for name in ("a", "b", "c"):
            api.patch(f"/api/v1/playlists/{playlist}", json={"name": name})
    last = witness.until(lambda m: m.event == "playlist" and m.data["revision"] == 4)

    again = live.open({**bearer(live.server.api_key or ""), "Last-Event-ID": seen.id})
    replayed = [again.until(lambda m: m.event != ":")]
    while replayed[-1].id != last.id:
        replayed.append(again.until(lambda m: m.event != ":"))

    missed = [m for m in witness.seen if m.event != ":" and int(seen.id) < int(m.id)]
    assert [(m.id, m.event, m.data) for m in replayed] == [(m.id, m.event, m.data) for m in missed]
    assert [m.data["revision"] for m in replayed if m.event == "playlist"] == [2, 3, 4]


def test_the_first_connection_may_resume_from_a_query_parameter(live: Live) -> None:
    origin = live.open()
    playlist = live.playlist()
    created = origin.until(lambda m: m.event == "playlist" and m.data["id"] == playlist)
    before = str(int(created.id) - 1)

    again = live.open(last_event_id=before)

    assert again.until(lambda m: m.event != ":").data == created.data


def test_a_new_stream_starts_at_the_newest_event_and_says_where_that_is(live: Live) -> None:
    live.playlist()  # an older event, which a new client must not be sent
    time.sleep(0.3)

    stream = live.open()
    heartbeat = stream.until(lambda m: m.event == ":")

    assert heartbeat.data == "ping"
    assert stream.events("playlist") == []
    newest = run_async(live.settings, _newest_id)
    assert int(heartbeat.id) == newest


def test_a_last_event_id_older_than_the_backlog_gets_a_reset(live: Live) -> None:
    publish_filler(live.settings, MAX_EVENTS * 2)
    deadline = time.monotonic() + 10
    while run_async(live.settings, _oldest_id) <= MAX_EVENTS and time.monotonic() < deadline:
        time.sleep(0.1)

    stream = live.open({**bearer(live.server.api_key or ""), "Last-Event-ID": "1"})
    reset = stream.until(lambda m: m.event != ":")

    assert reset.event == "reset"
    assert int(reset.id) >= run_async(live.settings, _newest_id)
    playlist = live.playlist()  # and it goes on from there
    stream.until(lambda m: m.event == "playlist" and m.data["id"] == playlist)


@pytest.mark.parametrize("last_event_id", ["999999999999", "not-a-number"])
def test_a_last_event_id_this_server_never_gave_gets_a_reset(
    live: Live, last_event_id: str
) -> None:
    stream = live.open({**bearer(live.server.api_key or ""), "Last-Event-ID": last_event_id})

    assert stream.until(lambda m: m.event != ":").event == "reset"


def test_pruning_keeps_the_backlog_bounded(live: Live) -> None:
    publish_filler(live.settings, MAX_EVENTS * 3)
    deadline = time.monotonic() + 10
    count = run_async(live.settings, _count)
    while count > MAX_EVENTS and time.monotonic() < deadline:
        time.sleep(0.1)
        count = run_async(live.settings, _count)

    assert count <= MAX_EVENTS


def test_events_without_credentials_answer_401_as_a_problem(live: Live) -> None:
    response = httpx.get(f"{live.server.base_url}/api/v1/events")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_the_stream_is_an_uncached_event_stream_with_a_retry_hint(live: Live) -> None:
    with (
        httpx.Client(base_url=live.server.base_url) as client,
        client.stream(
            "GET", "/api/v1/events", headers=bearer(live.server.api_key or "")
        ) as response,
    ):
        first = next(response.iter_lines())
        headers = response.headers

    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-store"
    assert first == f"retry: {round(live.settings.events_retry_seconds * 1000)}"


def test_a_revoked_key_stops_receiving_at_the_next_heartbeat(live: Live) -> None:
    key_id, secret = live.key("admin", None)
    stream = live.open(bearer(secret))
    stream.until(lambda m: m.event == ":")

    with live.api() as api:
        assert api.delete(f"/api/v1/apikeys/{key_id}").status_code == 204

    assert stream.ended(timeout=3 * live.settings.events_heartbeat_seconds + 2)


def test_the_stream_ends_when_the_client_leaves(live: Live) -> None:
    assert live.server.app is not None
    hub = live.server.app.events
    # Earlier tests' clients are closed; the server notices each at its next heartbeat,
    # which a loaded machine delays (seen in CI: two still counted after 3 beats + 2 s).
    notice = 10 * live.settings.events_heartbeat_seconds + 10
    assert _wait_for(lambda: hub.streams == 0, timeout=notice), hub.streams
    stream = live.open()
    stream.until(lambda m: m.event == ":")
    assert hub.streams == 1

    stream.response.close()
    stream.client.close()

    assert _wait_for(lambda: hub.streams == 0, timeout=notice), hub.streams


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_shutting_down_ends_open_streams_at_once(tmp_path: Path) -> None:
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", workers=1, events_heartbeat_seconds=0.5
    )
    with serve_in_thread(settings) as server:
        live = Live(server, settings, tmp_path, "", "", {})
        stream = live.open()
        stream.until(lambda m: m.event == ":", timeout=10)
        started = time.monotonic()
        # Leaving the block stops uvicorn (without a graceful-shutdown timeout it would
        # wait for the open response for ever).
    stopped = time.monotonic() - started
    try:
        assert stopped < 3, stopped
        assert stream.ended(timeout=2)
    finally:
        live.close_all()


def test_a_failing_publish_neither_fails_nor_undoes_the_change_and_is_counted(
    tmp_path: Path, audio_samples: dict[str, Path]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(audio_samples["mp3"], library / "song.mp3")
    settings = Settings.load({}, data_dir=tmp_path / "data", workers=1)
    scan_roots(settings, [str(library)])
    with serve_in_thread(settings) as server, server.api() as api:
        track = api.get("/api/v1/tracks").json()["items"][0]["id"]
        run_async(settings, _drop_events_table)  # every publish fails from now on

        edited = api.patch(
            f"/api/v1/tracks/{track}", json={"title": "Still saved"}, headers={"If-Match": "*"}
        )

        assert edited.status_code == 200, edited.text
        assert api.get(f"/api/v1/tracks/{track}").json()["title"] == "Still saved"
        metrics = api.get("/metrics").text
    assert "streamer_events_publish_failures_total 1.0" in metrics


def test_a_redis_nudge_brings_events_from_elsewhere_before_the_next_poll(
    tmp_path: Path, redis_url: str
) -> None:
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", workers=1, redis_url=redis_url,
        events_poll_seconds=30.0, events_heartbeat_seconds=0.5,
    )  # fmt: skip
    with serve_in_thread(settings) as server:
        live = Live(server, settings, tmp_path, "", "", {})
        try:
            stream = live.open()
            stream.until(lambda m: m.event == ":", timeout=10)  # open, and polled once
            started = time.monotonic()

            publish_filler(settings, 1, redis_url=redis_url)  # as another node would
            stream.until(lambda m: m.event == "track", timeout=20)

            assert time.monotonic() - started < 5  # not the 30 s poll
        finally:
            live.close_all()


def test_events_cross_processes_from_the_serve_supervisors_job_runner(
    tmp_path: Path, audio_samples: dict[str, Path]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(audio_samples["mp3"], library / "song.mp3")
    data = tmp_path / "data"
    settings = Settings.load({}, data_dir=data, workers=1)
    key = admin_key(settings)
    env = {"STREAMER_EVENTS_POLL_SECONDS": "0.1", "STREAMER_JOB_POLL_SECONDS": "0.1",
           "STREAMER_LADDER": "aac_64"}  # fmt: skip
    args = ["--library", str(library), "--workers", "1", "--data-dir", str(data)]
    with serve_in_process(args, tmp_path / "serve.log", env=env) as server:
        process = Live(
            RunningServer(server.base_url, settings, None, key), settings, library, "", "", {}
        )
        # From the first event on: the start-up scan may have begun before we connected.
        stream = process.open(last_event_id="0")
        try:
            done = stream.until(
                lambda m: m.event == "job" and m.data["status"] == "succeeded", timeout=120
            )
        finally:
            process.close_all()

    library_id = library_id_for(normalise_root(str(library)))
    assert [e["state"] for e in stream.events("scan")][-1] == "done"
    assert stream.events("track") == [
        {"id": done.data["track_id"], "library_id": library_id, "action": "created"}
    ]
    statuses = [e["status"] for e in stream.events("job")]
    assert statuses[0] == "queued"
    assert "running" in statuses


# --- helpers -------------------------------------------------------------------------------


def publish_filler(settings: Settings, count: int, *, redis_url: str | None = None) -> None:
    """``count`` admin-only events, as another process would publish them."""

    async def publish(db: Database) -> None:
        publisher = EventPublisher(db, redis_url=redis_url)
        try:
            for start in range(0, count, 20):
                batch = [
                    Outgoing("track", None, {"filler": n})
                    for n in range(start, min(start + 20, count))
                ]
                await publisher.publish_many(batch)
        finally:
            await publisher.close()
        assert publisher.failures == 0

    run_async(settings, publish)


async def _drop_events_table(db: Database) -> None:
    async with db.session() as session, session.begin():
        await session.execute(text("DROP TABLE events"))


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def _oldest_id(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.min(Event.id))) or 0)


async def _newest_id(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.max(Event.id))) or 0)
