"""Failover drills: a dependency or a process of the many-node setup (docs/scaling.md) is
taken away under traffic, and the test says what listeners and operators see.

Each drill is bounded in time and in requests, talks to 127.0.0.1 only, and stops every
process it started by its PID. They fill what the outage tests do not cover:

- a node killed (SIGKILL) under listener load behind the nginx shield, with two origins
  (test_nginx_shield.py runs one origin and no fault);
- a worker killed (SIGKILL) mid-transcode: the job ends on another worker once its
  heartbeat is stale (test_worker.py stops a worker gracefully);
- Redis restarted under two serving nodes: segments are served throughout, and the same
  nodes serve from Redis again once it is back (test_segment_cache_serving.py kills Redis
  for good; test_segment_cache.py sees recovery on a cache object, not a serving node);
- PostgreSQL crashed and restarted under a `streamer serve` process with two workers and
  steady API traffic (test_database_outage.py stops it cleanly under a one-worker node in
  a thread, without traffic in flight);
- the S3 endpoint unreachable and back (a TCP proxy between the node and moto, so the
  bucket keeps its objects): 503 with Retry-After, /readyz names the store, recovery
  without a restart.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest
from sqlalchemy import select

from streamer import cli
from streamer.db import Database, Job, Track
from streamer.jobs import RunnerConfig
from streamer.jobs.queue import queue_transcodes
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.nginx_shield import running_nginx, shield_config
from tests.fixtures.postgres import PostgresProcess, fresh_database
from tests.fixtures.redis import RedisProcess
from tests.fixtures.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Bucket
from tests.fixtures.servers import (
    RunningServer,
    ServerProcess,
    admin_key,
    bearer,
    free_port,
    scan_roots,
    serve_in_process,
    serve_in_thread,
    transcode_library,
)
from tests.fixtures.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

LISTENERS = 4  # threads of listener load in the shield drill


def _until(check: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


@dataclass
class Outcome:
    """One request of a load: what was asked, when, and what came back."""

    label: str
    at: float  # seconds since the load started
    seconds: float
    status: int | None  # None: no HTTP answer (the error says why)
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.label} at {self.at:.2f}s: {self.status or self.error} ({self.seconds:.2f}s)"


class Load:
    """``threads`` threads each calling ``request(client, thread, n)`` until ``seconds``
    pass or ``max_requests`` are made; every outcome is recorded, none raises."""

    def __init__(
        self,
        request: Callable[[httpx.Client, int, int], tuple[str, httpx.Response]],
        *,
        threads: int,
        seconds: float,
        max_requests: int,
        client: Callable[[], httpx.Client] = lambda: httpx.Client(timeout=10),
    ) -> None:
        self.request, self.threads, self.seconds = request, threads, seconds
        self.max_requests, self.client = max_requests, client
        self.outcomes: list[Outcome] = []
        self.started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        self._workers = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.join()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        for worker in self._workers:
            worker.join(timeout=self.seconds + 30)
        assert not any(w.is_alive() for w in self._workers), "a load thread hung"

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _run(self, thread: int) -> None:
        with self.client() as client:
            n = 0
            while not self._stop.is_set() and self.elapsed() < self.seconds:
                with self._lock:
                    if len(self.outcomes) >= self.max_requests:
                        return
                n += 1
                at = self.elapsed()
                try:
                    label, response = self.request(client, thread, n)
                    outcome = Outcome(
                        label, at, self.elapsed() - at, response.status_code,
                        headers=dict(response.headers),
                    )  # fmt: skip
                except (httpx.HTTPError, AssertionError) as exc:
                    try:
                        label = str(exc.request.url)  # type: ignore[union-attr]
                    except (AttributeError, RuntimeError):
                        label = "?"
                    outcome = Outcome(label, at, self.elapsed() - at, None, repr(exc))
                with self._lock:
                    self.outcomes.append(outcome)


def _children(pid: int) -> list[int]:
    """The PIDs of ``pid``'s child processes (Linux /proc), for stopping them by PID."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _kill_by_pid(pids: list[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- 1. a node killed under listener load behind the nginx shield -----------------------


@dataclass
class Shielded:
    url: str
    nodes: list[ServerProcess]
    access_log: Path
    track_id: str
    original: bytes
    segments: dict[str, bytes]  # segment URI (with its ?v=) -> bytes


@pytest.fixture
def shielded(tmp_path: Path, postgres_url: str) -> Iterator[Shielded]:
    if os.geteuid() != 0:
        pytest.fail("the drill runs nginx as root (its workers write the cache folder)")
    folder = tmp_path / "music"
    source = make_audio(folder / "tone.flac", "flac", 14.0, frequency=440)
    settings = Settings.load({}, data_dir=tmp_path / "prepare", database_url=postgres_url)
    scan_roots(settings, [str(folder)])
    transcode_library(settings, str(folder), tmp_path / "work")
    auth = bearer(admin_key(settings))
    env = {"STREAMER_DATABASE_URL": postgres_url, "STREAMER_JOBS_IN_PROCESS": "false"}
    common = ["--library", str(folder), "--no-scan", "--workers", "1"]
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(
                serve_in_process(
                    [*common, "--data-dir", str(tmp_path / name)], tmp_path / f"{name}.log", env=env
                )
            )
            for name in ("a", "b")
        ]
        origin = nodes[0].base_url
        track_id = httpx.get(f"{origin}/api/v1/tracks", headers=auth).json()["items"][0]["id"]
        master = m3u8.loads(httpx.get(f"{origin}/hls/{track_id}/master.m3u8").text)
        variant = next(p.uri for p in master.playlists if p.uri.startswith("aac_64/"))
        media = m3u8.loads(httpx.get(f"{origin}/hls/{track_id}/{variant}").text)
        segments = {
            s.uri: httpx.get(f"{origin}/hls/{track_id}/aac_64/{s.uri}").content
            for s in media.segments
        }
        port = free_port()
        ports = [int(node.base_url.rsplit(":", 1)[1]) for node in nodes]
        conf = shield_config(tmp_path / "nginx" / "cache", ports, port)
        assert "proxy_next_upstream " in conf, "the shipped shield does not fail over"
        log = stack.enter_context(running_nginx(tmp_path / "nginx", conf, port, access_log=True))
        yield Shielded(
            f"http://127.0.0.1:{port}", nodes, log, track_id, source.read_bytes(), segments
        )


def _fresh(uri: str, tag: str) -> str:
    """``uri`` with a query argument of its own: a key the shield has not cached, as a
    cold cache (many tracks, many listeners) sends every request to an origin."""
    return f"{uri}{'&' if '?' in uri else '?'}drill={tag}"


def test_a_node_killed_behind_the_shield_fails_no_listener_request_begun_after_the_kill(
    shielded: Shielded,
) -> None:
    uris = list(shielded.segments)
    size = len(shielded.original)

    def listen(client: httpx.Client, thread: int, n: int) -> tuple[str, httpx.Response]:
        tag = f"{thread}-{n}"
        if n % 2:  # an HLS segment
            uri = uris[n % len(uris)]
            response = client.get(
                f"{shielded.url}/hls/{shielded.track_id}/aac_64/{_fresh(uri, tag)}"
            )
            if response.status_code == 200:
                assert response.content == shielded.segments[uri], f"segment {uri} differs"
            return "segment", response
        start = (n * 7919) % (size - 4096)  # a seek: a range of the original
        response = client.get(
            f"{shielded.url}/media/{shielded.track_id}/{_fresh('original', tag)}",
            headers={"Range": f"bytes={start}-{start + 4095}"},
        )
        if response.status_code == 206:
            assert response.content == shielded.original[start : start + 4096], "range differs"
        return "range", response

    victim = shielded.nodes[0]
    with Load(listen, threads=LISTENERS, seconds=5.0, max_requests=4000) as load:
        time.sleep(1.5)
        killed_at = load.elapsed()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)

    # A response the dead node had begun (its header already passed on) cannot be moved
    # to another origin: nginx cuts it, and the player asks again. At most one per
    # listener, begun before the kill, and never an error status.
    cut = [o for o in load.outcomes if o.at < killed_at and o.error and "RemoteProtocol" in o.error]
    failed = [o for o in load.outcomes if o not in cut and o.status not in (200, 206)]
    assert not failed, "\n".join(map(str, failed[:20]))
    assert len(cut) <= LISTENERS, "\n".join(map(str, cut))
    after = [o for o in load.outcomes if o.at > killed_at]
    assert len(after) >= 20, f"too little load after the kill: {len(after)} requests"
    # The shield did move requests: some went to the dead node first, then to the other.
    victim_addr = victim.base_url.removeprefix("http://")
    log = shielded.access_log.read_text().splitlines()
    assert any(f'"{victim_addr}, ' in line for line in log), "no request moved to the other origin"


# --- 2. a worker killed mid-transcode ---------------------------------------------------

STALE_SECONDS = 8  # job_stale_seconds in the drill: above the runner's 5 s heartbeat


@dataclass
class Workers:
    settings: Settings
    env: dict[str, str]
    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.started)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamer.cli", "worker",
                 "--data-dir", str(self.settings.data_dir), "--concurrency", "1"],
                env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.started.append(process)
        return process

    def job(self, job_id: str) -> Job:
        async def go() -> Job:
            db = Database(self.settings.effective_database_url)
            try:
                async with db.session() as session:
                    job = await session.get(Job, job_id)
                    assert job is not None
                    return job
            finally:
                await db.dispose()

        return asyncio.run(go())

    def queue(self, name: str) -> str:
        async def go() -> str:
            db = Database(self.settings.effective_database_url)
            try:
                async with db.session() as session:
                    ids = list(
                        (await session.scalars(select(Track.id).where(Track.key == name))).all()
                    )
                config = RunnerConfig.from_settings(self.settings)
                (job,) = await queue_transcodes(db, config, track_ids=ids)
                return job.id
            finally:
                await db.dispose()

        return asyncio.run(go())


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Workers]:
    library = tmp_path / "library"
    make_audio(library / "long.flac", "flac", 90.0, frequency=220)
    env = {
        "STREAMER_REDIS_URL": redis_url,
        "STREAMER_JOB_BROKER": "redis",
        "STREAMER_JOB_POLL_SECONDS": "0.1",
        "STREAMER_JOB_STALE_SECONDS": str(STALE_SECONDS),
        "STREAMER_WARM_SEGMENTS": "0",
        "STREAMER_LOG_LEVEL": "info",
    }
    settings = Settings.load(env, data_dir=tmp_path / "data")
    scan_roots(settings, [cli.normalise_root(str(library))])
    made = Workers(settings, env, tmp_path)
    try:
        yield made
    finally:
        for process in made.started:
            children = _children(process.pid)
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            _kill_by_pid(children)


def test_a_worker_killed_mid_transcode_leaves_the_job_to_another_once_its_heartbeat_is_stale(
    workers: Workers,
) -> None:
    first = workers.start()
    job_id = workers.queue("long.flac")
    _until(
        lambda: (j := workers.job(job_id)).status == "running" and j.progress > 0.05,
        "the first worker is transcoding",
        timeout=60,
    )
    survivor = workers.start()
    assert str(first.pid) in (workers.job(job_id).worker or "")

    ffmpeg = _children(first.pid)  # a crashed machine loses its ffmpeg too
    killed_at = time.monotonic()
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    _kill_by_pid(ffmpeg)

    done = _until(
        lambda: (j := workers.job(job_id)).status in ("succeeded", "failed") and j,
        "the job ends on the surviving worker",
        timeout=STALE_SECONDS + 60,
    )
    taken_over_in = time.monotonic() - killed_at
    assert done.status == "succeeded", done.error
    assert str(survivor.pid) in (done.worker or "")
    assert done.attempts == 2  # the killed run counts: a job that kills workers must end
    assert taken_over_in > STALE_SECONDS - 1  # not before its heartbeat went stale
    assert survivor.poll() is None


# --- 3. Redis restarted under two serving nodes -----------------------------------------

REDIS_RETRY = 0.3  # redis_retry_seconds of the drill's nodes


@dataclass
class CachedNodes:
    a: RunningServer
    b: RunningServer
    redis: RedisProcess
    track_id: str
    segments: dict[str, bytes]  # "aac_128/seg_0.m4s" -> bytes

    def events(self, node: RunningServer, tier: str, event: str) -> float:
        """``streamer_cache_events_total{tier,event}`` of ``node``, from /metrics."""
        with node.api() as client:
            text = client.get("/metrics").text
        pattern = r"streamer_cache_events_total\{([^}]*)\} (\S+)"
        return sum(
            float(value)
            for labels, value in re.findall(pattern, text)
            if f'tier="{tier}"' in labels and f'event="{event}"' in labels
        )


@pytest.fixture
def cached_nodes(tmp_path: Path, redis_process: RedisProcess) -> Iterator[CachedNodes]:
    library = tmp_path / "library"
    make_audio(library / "tone.flac", "flac", 20.0)  # four 6-second segments
    settings = Settings.load(
        {},
        data_dir=tmp_path / "data",
        redis_url=redis_process.url,
        redis_timeout=0.2,
        redis_retry_seconds=REDIS_RETRY,
        segment_cache_bytes=0,  # no memory tier: every request asks Redis, then storage
        prefetch_segments=0,
        warm_segments=0,
    )
    root = cli.normalise_root(str(library))
    scan_roots(settings, [root])
    transcode_library(settings, root, tmp_path / "work")
    with serve_in_thread(settings) as a, serve_in_thread(settings) as b, a.api() as client:
        track_id = client.get("/api/v1/tracks").json()["items"][0]["id"]
        segments = {}
        for rendition in ("aac_64", "aac_128"):
            for n in range(4):
                path = f"{rendition}/seg_{n}.m4s"
                response = client.get(f"/hls/{track_id}/{path}")
                assert response.status_code == 200
                segments[path] = response.content
        yield CachedNodes(a, b, redis_process, track_id, segments)


def test_segments_are_served_through_a_redis_restart_and_from_redis_again_after(
    cached_nodes: CachedNodes,
) -> None:
    nodes = cached_nodes
    paths = list(nodes.segments)

    def play(client: httpx.Client, thread: int, n: int) -> tuple[str, httpx.Response]:
        node = (nodes.a, nodes.b)[thread % 2]
        path = paths[(n + thread) % len(paths)]
        response = client.get(f"{node.base_url}/hls/{nodes.track_id}/{path}")
        if response.status_code == 200:
            assert response.content == nodes.segments[path], f"{path} differs"
        return path, response

    with Load(play, threads=2, seconds=30.0, max_requests=3000) as load:
        time.sleep(0.5)
        nodes.redis.kill()
        killed_at = load.elapsed()
        time.sleep(1.5)
        restarted_at = load.elapsed()
        nodes.redis.start()  # same port, empty: a restart without persistence

        def served_from_redis() -> bool:
            # Node A stores what it reads from storage into the new Redis; node B then
            # finds it there, without either node being restarted.
            path = f"/hls/{nodes.track_id}/aac_64/seg_3.m4s"
            with nodes.a.client() as a, nodes.b.client() as b:
                a.get(path)
                status = b.get(path).headers.get("cache-status", "")
            return status == "streamer; hit; detail=redis"

        _until(served_from_redis, "node B serves from Redis again", timeout=10)
        recovered_in = load.elapsed() - restarted_at
        time.sleep(0.5)
        load.stop()

    failed = [o for o in load.outcomes if o.status != 200]
    assert not failed, "\n".join(map(str, failed[:20]))
    down = [o for o in load.outcomes if killed_at < o.at < restarted_at]
    assert len(down) >= 10, f"too little load while Redis was down: {len(down)}"
    assert max(o.seconds for o in down) < 1.0  # Redis timing out does not hold a listener
    assert recovered_in < 3.0 + REDIS_RETRY
    # The steady load too ends up with hits in Redis again, on both nodes.
    late = [o for o in load.outcomes if o.at > restarted_at + recovered_in]
    assert any(o.headers.get("cache-status") == "streamer; hit; detail=redis" for o in late)
    for node in (nodes.a, nodes.b):
        assert nodes.events(node, "redis", "error") >= 1
        assert nodes.events(node, "redis", "hit") >= 1


# --- 4. PostgreSQL crashed and restarted under a serving process -------------------------


@dataclass
class DatabaseNode:
    node: ServerProcess
    auth: dict[str, str]
    track_id: str
    original: bytes


@pytest.fixture
def database_node(tmp_path: Path, postgres_process: PostgresProcess) -> Iterator[DatabaseNode]:
    folder = tmp_path / "music"
    source = make_audio(folder / "a.flac", "flac", 3.0, frequency=330)
    with fresh_database(postgres_process.url) as url:
        settings = Settings.load({}, data_dir=tmp_path / "prepare", database_url=url)
        scan_roots(settings, [str(folder)])
        auth = bearer(admin_key(settings))
        env = {"STREAMER_DATABASE_URL": url, "STREAMER_JOBS_IN_PROCESS": "false"}
        args = ["--library", str(folder), "--no-scan", "--workers", "2"]
        try:
            with serve_in_process(
                [*args, "--data-dir", str(tmp_path / "node")], tmp_path / "node.log", env=env
            ) as node:
                track_id = _until(
                    lambda: httpx.get(f"{node.base_url}/api/v1/tracks", headers=auth).json()[
                        "items"
                    ][0]["id"],
                    "the node lists the track",
                    timeout=30,
                )
                yield DatabaseNode(node, auth, track_id, source.read_bytes())
        finally:
            if not _listening(postgres_process.port):  # the test failed mid-outage
                postgres_process.start()


def _listening(port: int) -> bool:
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def test_a_postgres_crash_and_restart_under_traffic_is_503s_then_recovery_without_restart(
    database_node: DatabaseNode, postgres_process: PostgresProcess
) -> None:
    base, auth = database_node.node.base_url, database_node.auth

    def api(client: httpx.Client, thread: int, n: int) -> tuple[str, httpx.Response]:
        if thread < 2:
            return "tracks", client.get(f"{base}/api/v1/tracks", headers=auth)
        response = client.get(f"{base}/media/{database_node.track_id}/original")
        if response.status_code == 200:
            assert response.content == database_node.original
        return "original", response

    # A new connection per request, so both worker processes take their share.
    def fresh_connections() -> httpx.Client:
        return httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))

    with Load(api, threads=3, seconds=40.0, max_requests=6000, client=fresh_connections) as load:
        time.sleep(1.0)
        crashed_at = load.elapsed()
        postgres_process.stop("immediate")
        time.sleep(2.0)
        with httpx.Client(timeout=10) as probe:
            ready = probe.get(f"{base}/readyz")
        restarted_at = load.elapsed()
        postgres_process.start()

        def recovered() -> bool:  # ten listings in a row, over new connections
            with fresh_connections() as client:
                return all(
                    client.get(f"{base}/api/v1/tracks", headers=auth).status_code == 200
                    for _ in range(10)
                )

        _until(recovered, "the node answers again", timeout=20)
        recovered_in = load.elapsed() - restarted_at
        load.stop()

    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("error")
    answers = load.outcomes
    unavailable = [o for o in answers if o.status == 503]
    assert unavailable, "no request saw the outage"
    assert all(o.headers.get("retry-after") == "5" for o in unavailable)
    assert all(o.headers["content-type"] == "application/problem+json" for o in unavailable)
    assert all(o.label == "tracks" for o in unavailable)  # the known track kept streaming
    assert max(o.seconds for o in answers) < 6.0, "a request hung on the dead database"
    assert all(o.status == 200 for o in answers if o.at > restarted_at + recovered_in)
    # Most 503s come after the crash. Not all: on a starved machine a request before it
    # may wait out the connection pool, and that is a correct 503 too.
    assert sum(o.at > crashed_at - 1.0 for o in unavailable) > len(unavailable) / 2
    assert recovered_in < 15
    odd = [o for o in answers if o.status not in (200, 503)]
    assert not odd, "\n".join(map(str, odd[:20]))


# --- 5. the S3 endpoint unreachable, then back -------------------------------------------


@dataclass
class S3Node:
    server: RunningServer
    proxy: TcpProxy
    root: str
    track_id: str
    original: bytes


@pytest.fixture
def s3_node(tmp_path: Path, s3_bucket: S3Bucket) -> Iterator[S3Node]:
    source = make_audio(tmp_path / "a.flac", "flac", 8.0, frequency=550)
    s3_bucket.put("music/a.flac", source.read_bytes())
    host, port = s3_bucket.endpoint.removeprefix("http://").rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    proxy.start()
    try:
        settings = Settings.load(
            {},
            data_dir=tmp_path / "data",
            s3_endpoint_url=f"http://{proxy.address}",  # the node reaches moto through it
            s3_region=REGION,
            s3_access_key_id=ACCESS_KEY_ID,
            s3_secret_access_key=SECRET_ACCESS_KEY,
            open_file_valid_seconds=0.0,  # every request stats the object: no stat cache
            inline_read_max=0,
            segment_cache_bytes=0,
            prefetch_segments=0,
        )
        root = f"s3://{s3_bucket.name}/music"
        scan_roots(settings, [root])
        with serve_in_thread(settings) as server, server.api() as api:
            track_id = api.get("/api/v1/tracks").json()["items"][0]["id"]
            yield S3Node(server, proxy, root, track_id, source.read_bytes())
    finally:
        proxy.stop()


def test_an_unreachable_s3_is_503_with_retry_after_and_the_node_serves_again_when_it_returns(
    s3_node: S3Node,
) -> None:
    node, size = s3_node, len(s3_node.original)

    def seek(client: httpx.Client, start: int) -> httpx.Response:
        return client.get(
            f"/media/{node.track_id}/original", headers={"Range": f"bytes={start}-{start + 999}"}
        )

    with node.server.client(timeout=30) as player:
        before = seek(player, 0)
        assert (before.status_code, before.content) == (206, node.original[:1000])

        node.proxy.stop()  # refused from now on; pooled connections reset

        def timed_seek(n: int) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            return seek(player, 1000 * (n + 1) % size), time.monotonic() - started

        with ThreadPoolExecutor(4) as listeners:  # four listeners seek at once
            answers = list(listeners.map(timed_seek, range(4)))
        ready = player.get("/readyz")

        node.proxy.start()  # the same endpoint, the same objects
        back = _until(
            lambda: (r := seek(player, 5000)).status_code == 206 and r,
            "the node serves from S3 again",
            timeout=15,
        )
        ready_after = player.get("/readyz")

    statuses = [response.status_code for response, _ in answers]
    assert statuses == [503] * 4, [(r.status_code, r.text[:200]) for r, _ in answers]
    for response, seconds in answers:
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"
        assert seconds < 10.0, f"a request waited {seconds:.1f} s on the dead endpoint"
    assert ready.status_code == 503
    assert ready.json()["checks"][f"storage {node.root}"].startswith("error")
    assert ready.json()["checks"]["database"] == "ok"
    assert back.content == node.original[5000:6000]
    assert ready_after.status_code == 200
