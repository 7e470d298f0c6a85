"""A channel as live HLS from real transcoded tracks: the window parsed with m3u8 at
successive instants of an injected clock (sequence numbers that follow each other,
discontinuities at track changes), two app instances on one database answering the same
bytes at the same instant, an edit showing on both at the next boundary, and the live
event of a track change.

Three generated tones (distinct frequencies, 15-19 s, so about three 6-second segments
each) are scanned and transcoded once for the module."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import m3u8
import pytest
from sqlalchemy import create_engine, select, text

from packager.retime import decode_time, retime_fragment
from streamer.analytics.iab_counter import load_counter
from streamer.analytics.rollup import RollupOptions, roll_up
from streamer.app import StreamerApp, create_app
from streamer.channels.loudness import level_gain
from streamer.db import Database, Event
from streamer.db.engine import sync_url
from streamer.settings import Settings
from tests.fixtures.immediate import AnswerSpy, comparable
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = [pytest.mark.slow, pytest.mark.ffmpeg]  # scripts/test: with each ffmpeg

RATE = 48_000
# name -> (frequency, seconds)
TONES = {"a.flac": (330, 15.0), "b.flac": (440, 17.0), "c.flac": (550, 19.0)}
T0 = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


class Clock:
    """The channels' "now", moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Live:
    server: RunningServer
    other: RunningServer  # a second app instance on the same database
    clock: Clock
    ids: dict[str, str]  # file name -> track id
    playlist: str
    folder: Path
    spy: AnswerSpy  # the first instance's immediate answers


def make_tones(folder: Path) -> None:
    for name, (frequency, seconds) in TONES.items():
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"sine=f={frequency}:r={RATE}:d={seconds},volume=0.5",
             "-c:a", "flac", str(folder / name)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("live-library")
    make_tones(folder)
    data = tmp_path_factory.mktemp("live-data")
    settings = Settings.load({}, data_dir=data)
    scan_roots(settings, [str(folder)])
    transcode_library(settings, str(folder), data / "work")
    clock = Clock(T0)
    first: StreamerApp = create_app(settings)
    second: StreamerApp = create_app(settings)
    spy = AnswerSpy(first)
    first.answer_now = spy  # type: ignore[method-assign]  # read when the lifespan starts
    for app in (first, second):
        app.channels.clock = clock
        # Rounds every second of real time; pools read again at most every 30 s of the
        # channels' clock (the tests move it in jumps).
        app.announcer.max_sleep = 1.0
        app.announcer.refresh_every = timedelta(seconds=30)
    with (
        serve_in_thread(settings, app=first) as server,
        serve_in_thread(settings, app=second) as other,
        server.api() as client,
    ):
        page = client.get("/api/v1/tracks", params={"limit": 100}).json()
        ids = {item["path"]: item["id"] for item in page["items"]}
        library = client.get("/api/v1/libraries").json()[0]["id"]
        body = {"library_id": library, "name": "tones", "track_ids": [ids[n] for n in TONES]}
        created = client.post("/api/v1/playlists", json=body)
        assert created.status_code == 201, created.text
        yield Live(server, other, clock, ids, created.json()["id"], folder, spy)


def _channel(
    live: Live,
    client: httpx.Client,
    start: str = "2026-12-07T00:00:00",
    playlist: str | None = None,
) -> str:
    """A channel playing the tones (or ``playlist``) in order, all day every day, from the
    clock's now."""
    live.clock.now = T0
    created = client.post("/api/v1/channels", json={"name": "Tones", "timezone": "UTC"})
    assert created.status_code == 201, created.text
    channel_id = str(created.json()["id"])
    entry = {
        "playlist_id": playlist or live.playlist,
        "start": start,
        "duration_seconds": 86400,
        "rrule": "FREQ=DAILY",
    }
    added = client.post(f"/api/v1/channels/{channel_id}/entries", json=entry)
    assert added.status_code == 201, added.text
    return channel_id


def test_a_playable_channel_takes_its_first_entry_at_once(live: Live) -> None:
    # Its first checkpoint used to be written inside the entry's own write transaction,
    # which on SQLite waited for itself until the lock timed out (503 after 30 s).
    live.clock.now = T0
    with live.server.api(timeout=10.0) as client:
        body = {
            "name": "Filled",
            "timezone": "UTC",
            "fill": {"mode": "loop", "playlist_id": live.playlist},
        }
        created = client.post("/api/v1/channels", json=body)
        assert created.status_code == 201, created.text
        entry = {
            "playlist_id": live.playlist,
            "start": "2026-12-07T00:00:00",
            "duration_seconds": 600,
        }
        added = client.post(f"/api/v1/channels/{created.json()['id']}/entries", json=entry)
        assert added.status_code == 201, added.text


def test_a_channel_whose_first_segment_is_still_going_out_asks_players_to_retry(
    live: Live,
) -> None:
    # hls.js gives up on a 404 but retries a 503: a listener who tunes in during a new
    # channel's first seconds must get its stream once the first segment has gone out.
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        master = client.get(f"/live/{channel_id}/master.m3u8")
        rendition = m3u8.loads(master.text).playlists[0].uri.split("/")[0]
        url = f"/live/{channel_id}/{rendition}/index.m3u8"
        early = client.get(url)
        assert early.status_code == 503, early.text
        assert early.headers["content-type"] == "application/problem+json"
        # The channel starts at the next segment boundary, then one segment goes out.
        assert 1 <= int(early.headers["retry-after"]) <= 2 * 6 + 1
        live.clock.now = T0 + timedelta(seconds=int(early.headers["retry-after"]))
        later = client.get(url)
        assert later.status_code == 200, later.text
        assert m3u8.loads(later.text).segments


def _invalidate(live: Live, channel_id: str) -> None:
    for server in (live.server, live.other):
        assert server.app is not None
        server.app.channels.invalidate(channel_id)


def _track_of(uri: str) -> str:
    return uri.split("/")[1]  # seg/{track}/{n}.m4s?v=...&t=...


def test_a_channel_serves_each_segment_at_its_decode_time_on_the_channel(live: Live) -> None:
    """A segment of the window is the track's own fragment with the decode time it has on
    the channel: decode time runs on across tracks, as players following by timestamps
    need (ffmpeg drops a later track's first segment otherwise)."""
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(minutes=2)
        url = f"/live/{channel_id}/aac_128/index.m3u8"
        window = m3u8.loads(client.get(url).text)
        base = httpx.URL(f"{live.server.base_url}{url}")
        times = []
        for segment in window.segments:
            uri = httpx.URL(base.join(segment.uri))
            assert uri.path.startswith(f"/live/{channel_id}/aac_128/seg/")
            answer = client.get(uri)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "audio/mp4"
            assert "immutable" in answer.headers["cache-control"]
            t = int(uri.params["t"])
            assert decode_time(answer.content) == t
            # The same bytes as the track's own segment but for the decode time.
            track, name = uri.path.split("/")[-2:]
            own = client.get(
                f"/hls/{track}/aac_128/seg_{name.removesuffix('.m4s')}.m4s",
                params={"v": uri.params["v"]},
            )
            assert own.status_code == 200
            assert answer.content == retime_fragment(own.content, t)
            times.append((t, float(segment.duration)))
        assert len({_track_of(s.uri) for s in window.segments}) >= 2
        for (t, seconds), (following, _) in itertools.pairwise(times):
            # Runs on, across track changes too, within one AAC frame: a track's first
            # segment holds the encoder's priming, which its EXTINF leaves out and which
            # overlaps the track before on the channel's timeline (docs/channels.md).
            assert abs((following - t) / RATE - seconds) <= 1024 / RATE + 0.001, times

        last = httpx.URL(base.join(window.segments[-1].uri))
        part = client.get(last, headers={"Range": "bytes=0-99"})
        assert part.status_code == 206
        assert part.content == client.get(last).content[:100]
        assert client.head(last).status_code == 200
        track = last.path.split("/")[-2]
        for wrong, detail in [
            (last.copy_remove_param("t"), "names its version"),
            (last.copy_set_param("t", "0" + last.params["t"]), "names its version"),
            (last.copy_set_param("v", "stale"), "replaced"),
            (last.copy_with(path=last.path.replace(track, "0123456789abcdef")), "not on this"),
        ]:
            refused = client.get(wrong)
            assert refused.status_code == 404, wrong
            assert detail in refused.json()["detail"]


def test_the_window_slides_with_consistent_numbers_and_discontinuities(live: Live) -> None:
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        master = client.get(f"/live/{channel_id}/master.m3u8")
        assert master.status_code == 200, master.text
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        variants = m3u8.loads(master.text).playlists
        names = {v.uri.split("/")[0] for v in variants}
        assert {"aac_64", "aac_128", "aac_256"} <= names
        rendition = variants[0].uri.split("/")[0]
        url = f"/live/{channel_id}/{rendition}/index.m3u8"

        by_sequence: dict[int, str] = {}  # media sequence -> URI, across all windows
        discontinuities: dict[int, int] = {}  # media sequence -> discontinuities up to it
        previous_first = -1
        for step in range(0, 200, 3):  # 200 s of air in 3-second steps
            live.clock.now = T0 + timedelta(minutes=2, seconds=step)
            response = client.get(url)
            assert response.status_code == 200, response.text
            cache_control = response.headers["cache-control"]
            assert "max-age=3" in cache_control
            assert "s-maxage=3" in cache_control
            playlist = m3u8.loads(response.text)
            assert playlist.is_endlist is False
            assert playlist.playlist_type is None
            assert playlist.target_duration == 6
            first = playlist.media_sequence
            assert first >= previous_first
            previous_first = first
            count = playlist.discontinuity_sequence
            for offset, segment in enumerate(playlist.segments):
                number = first + offset
                assert by_sequence.setdefault(number, segment.uri) == segment.uri
                if segment.discontinuity:
                    count += 1
                    assert segment.init_section is not None
                    assert segment.program_date_time is not None
                assert discontinuities.setdefault(number, count) == count
                previous = by_sequence.get(number - 1)
                changed = previous is not None and _track_of(previous) != _track_of(segment.uri)
                assert segment.discontinuity or not changed, (number, response.text)
        numbers = sorted(by_sequence)
        assert numbers == list(range(numbers[0], numbers[-1] + 1))  # no hole, no repeat
        tracks_seen: list[str] = []
        for number in numbers:
            track = _track_of(by_sequence[number])
            if not tracks_seen or tracks_seen[-1] != track:
                tracks_seen.append(track)
        order = [live.ids[name] for name in TONES]
        # The tones play in the playlist's order, round and round.
        start = order.index(tracks_seen[0])
        assert tracks_seen == [order[(start + k) % 3] for k in range(len(tracks_seen))]
        assert len(tracks_seen) >= 4
        # Every listed segment serves (relative to the playlist's URL).
        base = httpx.URL(f"{live.server.base_url}{url}")
        for uri in list(by_sequence.values())[-4:]:
            assert client.get(base.join(uri)).status_code == 200

        # Validators and errors.
        again = client.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
        assert client.get(f"/live/{channel_id}/flac/index.m3u8").status_code == 404
        missing = client.get("/live/0123456789abcdef/master.m3u8")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert client.post(url).status_code == 405


@pytest.mark.parametrize(
    "headers",
    [{}, {"If-None-Match": "ETAG"}, {"Origin": "https://player.example"}, "HEAD"],
    ids=["get", "if-none-match", "cors", "head"],
)
def test_a_window_already_rendered_is_answered_by_the_protocol_as_asgi_would(
    live: Live, headers: dict[str, str] | str
) -> None:
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(minutes=2)
        path = f"/live/{channel_id}/aac_128/index.m3u8"
        rendered = client.get(path)  # the ASGI path renders the window
        assert rendered.status_code == 200
    method = "HEAD" if headers == "HEAD" else "GET"
    fields = {} if isinstance(headers, str) else headers
    fields = {k: v.replace("ETAG", rendered.headers["etag"]) for k, v in fields.items()}
    url = live.server.base_url + path
    live.spy.clear()
    immediate = httpx.request(method, url, headers=fields)
    assert live.spy.answered == [path]
    live.spy.enabled = False
    try:
        asgi = httpx.request(method, url, headers=fields)
    finally:
        live.spy.enabled = True
    assert live.spy.declined == [path]
    assert comparable(immediate) == comparable(asgi)
    assert immediate.status_code == (304 if "If-None-Match" in fields else 200)


def test_a_channel_with_a_loudness_target_gives_each_play_its_gain(live: Live) -> None:
    """Each track's play carries, as an EXT-X-DATERANGE from its start, the gain that
    takes its rendition to the channel's target under the true-peak ceiling; a channel
    without a target carries none."""
    with live.server.api() as client:
        plain = _channel(live, client)
        levelled = _channel(live, client)
        answer = client.patch(f"/api/v1/channels/{levelled}", json={"loudness_target": -20.0})
        assert answer.status_code == 200, answer.text
        _invalidate(live, plain)
        _invalidate(live, levelled)
        live.clock.now = T0 + timedelta(minutes=2)
        expected = {}
        for track_id in live.ids.values():
            track = client.get(f"/api/v1/tracks/{track_id}").json()
            rendition = next(r for r in track["renditions"] if r["name"] == "aac_128")
            measured = track["loudness"]
            expected[track_id] = level_gain(
                -20.0, measured["integrated_lufs"], rendition["gain_db"], measured["true_peak_dbtp"]
            )
        text = client.get(f"/live/{levelled}/aac_128/index.m3u8").text
        assert "#EXT-X-DATERANGE" not in client.get(f"/live/{plain}/aac_128/index.m3u8").text
    window = m3u8.loads(text)
    levels = 0
    for segment in window.segments:
        for found in segment.dateranges:
            attributes = dict(found.x_client_attrs)
            gain = float(attributes["x_gain_db"].strip('"'))
            assert gain == pytest.approx(expected[_track_of(segment.uri)], abs=0.005)
            assert found.class_ == "org.streamer.level"
            assert datetime.fromisoformat(found.start_date) <= datetime.fromisoformat(
                segment.program_date_time.isoformat()
            )
            levels += 1
    # The first segment's play, and each play starting in the window.
    assert levels == 1 + sum(1 for s in window.segments[1:] if s.discontinuity)
    assert all(value is not None for value in expected.values())


def test_two_nodes_answer_the_same_bytes_and_see_an_edit_at_the_next_boundary(
    live: Live,
) -> None:
    with live.server.api() as client, live.other.client() as other:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        url = f"/live/{channel_id}/aac_128/index.m3u8"
        for seconds in (61, 95, 130.5):
            live.clock.now = T0 + timedelta(seconds=seconds)
            mine, theirs = client.get(url), other.get(url)
            assert mine.status_code == theirs.status_code == 200
            assert mine.content == theirs.content
            assert mine.headers["etag"] == theirs.headers["etag"]
            assert mine.headers["last-modified"] == theirs.headers["last-modified"]

        # An edit at 130.5 s: the channel switches to the tones from "c" on. What went out
        # stays; the new plan shows on both nodes from the next boundary after it settled.
        before = m3u8.loads(client.get(url).text)
        entries = client.get(f"/api/v1/channels/{channel_id}/entries").json()
        moved = client.patch(
            f"/api/v1/channels/{channel_id}/entries/{entries[0]['id']}",
            json={"start": "2026-12-07T00:00:07"},
        )
        assert moved.status_code == 200, moved.text
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(seconds=130.5)
        unchanged = m3u8.loads(client.get(url).text)
        assert [s.uri for s in unchanged.segments] == [s.uri for s in before.segments]
        for seconds in (150, 170, 200):
            live.clock.now = T0 + timedelta(seconds=seconds)
            mine, theirs = client.get(url), other.get(url)
            assert mine.content == theirs.content
        after = m3u8.loads(mine.text)
        # Sequence numbers continue across the switch.
        assert after.media_sequence > before.media_sequence
        old = {before.media_sequence + n: s.uri for n, s in enumerate(before.segments)}
        for n, segment in enumerate(after.segments):
            number = after.media_sequence + n
            if number in old:
                assert old[number] == segment.uri


def test_now_preview_and_history(live: Live) -> None:
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(seconds=40)
        now = client.get(f"/api/v1/channels/{channel_id}/now", params={"tz": "Asia/Kolkata"})
        assert now.status_code == 200, now.text
        body = now.json()
        assert body["track"]["track_id"] in live.ids.values()
        assert body["started_at"].endswith("+05:30")
        assert body["track"]["reason"]
        assert len(body["next"]) == 3
        preview = client.get(
            f"/api/v1/channels/{channel_id}/preview",
            params={"from": "2026-12-07T12:00:00Z", "to": "2026-12-07T12:05:00Z"},
        ).json()
        assert len(preview) >= 5
        for earlier, later in itertools.pairwise(preview):
            assert earlier["end"] == later["start"]
        history = client.get(
            f"/api/v1/channels/{channel_id}/history",
            params={"from": "2026-12-07T11:59:00Z"},
        ).json()
        assert history[-1]["track_id"] == body["track"]["track_id"]
        assert all(item["start"] <= "2026-12-07T12:00:40" for item in history)


def test_a_track_change_is_announced_once(live: Live) -> None:
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(seconds=30)
        on_air = client.get(f"/api/v1/channels/{channel_id}/now").json()
        deadline = time.monotonic() + 40
        while not (found := _channel_events(live, channel_id)):
            assert time.monotonic() < deadline, "no channel event"
            time.sleep(0.25)
        time.sleep(1.0)  # the other node's announcer had its chance too
        found = _channel_events(live, channel_id)
        assert len(found) == 1, found
        assert found[0]["track_id"] == on_air["track"]["track_id"]
        assert found[0]["started_at"] == on_air["started_at"]
        assert found[0]["ends_at"] == on_air["ends_at"]


def _channel_events(live: Live, channel_id: str) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        db = Database(live.server.settings.effective_database_url)
        try:
            async with db.session() as session:
                rows = await session.scalars(select(Event.data).where(Event.type == "channel"))
                return [dict(row) for row in rows if row["channel_id"] == channel_id]
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_live_playlists_are_delivery_events_of_the_channel(live: Live) -> None:
    agent = "live-delivery-test/1.0"
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(seconds=40)
        master = client.get(f"/live/{channel_id}/master.m3u8", headers={"user-agent": agent})
        rendition = m3u8.loads(master.text).playlists[0].uri.split("/")[0]
        media = client.get(
            f"/live/{channel_id}/{rendition}/index.m3u8", headers={"user-agent": agent}
        )
        assert (master.status_code, media.status_code) == (200, 200)
    assert live.server.settings.database_url is None  # the module's SQLite file
    engine = create_engine(sync_url(live.server.settings.effective_database_url))
    query = text(
        "SELECT kind, subject_id, rendition, status FROM delivery_events WHERE user_agent = :a"
    )
    try:
        deadline = time.monotonic() + 10  # written within the flush interval (1 s)
        while True:
            with engine.connect() as conn:
                rows = [tuple(row) for row in conn.execute(query, {"a": agent})]
            if len(rows) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        engine.dispose()
    # The master is a playlist; the media playlist a poll of the live window.
    assert sorted(rows) == [
        ("channel", channel_id, "live-window", 200),
        ("channel", channel_id, "playlist", 200),
    ]


def test_a_player_polling_a_channel_is_a_listening_session_of_the_channel(live: Live) -> None:
    agent = "AntennaPod/3.6.2"
    with live.server.api() as client:
        channel_id = _channel(live, client)
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(seconds=40)
        master = client.get(f"/live/{channel_id}/master.m3u8", headers={"user-agent": agent})
        url = f"/live/{channel_id}/{m3u8.loads(master.text).playlists[0].uri}"
        etag = None
        for n in range(6):  # a player polling; the second time it revalidates (304)
            live.clock.now = T0 + timedelta(seconds=40 + 3 * n)
            headers = {"user-agent": agent, **({"if-none-match": etag} if etag else {})}
            polled = client.get(url, headers=headers)
            assert polled.status_code in (200, 304), polled.text
            etag = polled.headers["etag"] if n == 0 else None
            time.sleep(0.5)
    deadline = time.monotonic() + 10  # the capture flushes within a second
    while _events_of(live, agent) < 7 and time.monotonic() < deadline:
        time.sleep(0.1)

    async def rollup() -> None:
        db = Database(live.server.settings.effective_database_url)
        try:
            # Counted once it has ended: 30 minutes without a poll.
            await roll_up(db, load_counter, owner="live", options=RollupOptions(lag=timedelta(0)),
                          now=datetime.now(UTC) + timedelta(minutes=31))  # fmt: skip
        finally:
            await db.dispose()

    asyncio.run(rollup())
    window = {
        "from": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "group_by": "channel",
    }
    with live.server.api() as client:
        sessions = client.get("/api/v1/analytics/report", params={**window, "metric": "sessions"})
        seconds = client.get(
            "/api/v1/analytics/report", params={**window, "metric": "listening_seconds"}
        )
    assert sessions.status_code == 200, sessions.text
    # (Other tests' channels may have sessions too, from their own clients.)
    assert {s["key"]: s["total"] for s in sessions.json()["series"]}[channel_id] == 1
    # Six polls half a second apart (wall clock): 2.5 s between the first and the last,
    # and the last poll's segment.
    (listened,) = [s["total"] for s in seconds.json()["series"] if s["key"] == channel_id]
    assert 2.5 + 6.0 <= listened < 2.5 + 6.0 + 2.0, listened


def _events_of(live: Live, agent: str) -> int:
    engine = create_engine(sync_url(live.server.settings.effective_database_url))
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM delivery_events WHERE user_agent = :a")
            return int(conn.execute(query, {"a": agent}).scalar_one())
    finally:
        engine.dispose()


def test_a_playlist_edit_reaches_its_channel_at_a_boundary(live: Live) -> None:
    with live.server.api() as client:
        a, b, c = (live.ids[name] for name in TONES)
        body = {"library_id": _library(client), "name": "a and b", "track_ids": [a, b]}
        created = client.post("/api/v1/playlists", json=body)
        assert created.status_code == 201, created.text
        playlist = created.json()["id"]
        channel_id = _channel(live, client, playlist=playlist)
        _invalidate(live, channel_id)
        live.clock.now = T0 + timedelta(seconds=60)
        heard = _tracks_in(client, channel_id, T0 + timedelta(minutes=2), minutes=2)
        assert heard == {a, b}
        revisions = len(_plans(live, channel_id))
        # The playlist now plays c alone: a worker's next refresh gives the channel a new
        # plan, from a segment boundary after the settle time.
        edited = client.put(f"/api/v1/playlists/{playlist}/items", json={"track_ids": [c]})
        assert edited.status_code == 200, edited.text
        live.clock.now = T0 + timedelta(seconds=100)
        deadline = time.monotonic() + 15
        while len(_plans(live, channel_id)) == revisions:
            assert time.monotonic() < deadline, "no new plan after the playlist edit"
            time.sleep(0.2)
        (newest,) = _plans(live, channel_id)[revisions:]
        assert newest[1] >= T0 + timedelta(seconds=100)  # never in the past
        _invalidate(live, channel_id)
        assert _tracks_in(client, channel_id, T0 + timedelta(minutes=3), minutes=2) == {c}
        # Nothing else changed: the next refreshes write no plan.
        live.clock.now = T0 + timedelta(seconds=200)
        time.sleep(2.5)
        assert len(_plans(live, channel_id)) == revisions + 1


def _library(client: httpx.Client) -> str:
    return str(client.get("/api/v1/libraries").json()[0]["id"])


def _tracks_in(client: httpx.Client, channel_id: str, start: datetime, minutes: int) -> set[str]:
    preview = client.get(
        f"/api/v1/channels/{channel_id}/preview",
        params={"from": start.isoformat(), "to": (start + timedelta(minutes=minutes)).isoformat()},
    )
    assert preview.status_code == 200, preview.text
    return {row["track_id"] for row in preview.json()}


def _plans(live: Live, channel_id: str) -> list[tuple[int, datetime]]:
    engine = create_engine(sync_url(live.server.settings.effective_database_url))
    try:
        with engine.connect() as conn:
            query = text(
                "SELECT revision, effective_from FROM channel_plans"
                " WHERE channel_id = :c ORDER BY revision"
            )
            rows = conn.execute(query, {"c": channel_id}).all()
    finally:
        engine.dispose()
    return [(int(r), _utc(at)) for r, at in rows]


def _utc(value: object) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)
