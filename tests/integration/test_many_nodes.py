"""The scaled stack for real: two `streamer serve` processes and one `streamer worker`
sharing one Redis, one PostgreSQL and one S3 (moto's server).

A file put in the bucket is catalogued by node A's start-up scan, transcoded by the worker
(node A runs no jobs), served by node B; then the file is replaced, transcoded again,
purged through node A, and node B never serves the old renditions: its master playlist
moves to the new files at once and the old URLs answer 404. A file uploaded with tus
through node A goes the same way: into S3, transcoded by the worker, served by B. Uploads
are staged in the bucket too (no node shares a data directory), so one upload's requests
can reach either node."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest
from tusclient import client as tus

from streamer.db import migrate
from tests.fixtures.audio import make_audio
from tests.fixtures.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Bucket
from tests.fixtures.servers import ServerProcess, serve_in_process, stop_process

Json = dict[str, Any]
STAGING = "tus-staging"  # where partial uploads wait, in the stack's bucket


def _until(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


@dataclass
class Stack:
    a: ServerProcess
    b: ServerProcess
    bucket: S3Bucket
    env: dict[str, str]  # the STREAMER_* settings every process shares
    tmp_path: Path
    auth: dict[str, str]  # an admin key minted with `streamer apikey create`


@pytest.fixture
def stack(
    tmp_path: Path, s3_bucket: S3Bucket, postgres_url: str, redis_url: str
) -> Iterator[Stack]:
    source = make_audio(tmp_path / "a.flac", "flac", 14.0, frequency=440)
    s3_bucket.put("music/a.flac", source.read_bytes())
    env = {
        "STREAMER_DATABASE_URL": postgres_url,
        "STREAMER_REDIS_URL": redis_url,
        "STREAMER_JOB_BROKER": "redis",
        "STREAMER_JOBS_IN_PROCESS": "false",
        "STREAMER_JOB_POLL_SECONDS": "0.1",
        "STREAMER_S3_ENDPOINT_URL": s3_bucket.endpoint,
        "STREAMER_S3_REGION": REGION,
        "STREAMER_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "STREAMER_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "STREAMER_PREFETCH_SEGMENTS": "0",
        "STREAMER_UPLOAD_STAGING": f"s3://{s3_bucket.name}/{STAGING}",
    }
    library = f"s3://{s3_bucket.name}/music"
    migrate(postgres_url)
    mint = [sys.executable, "-m", "streamer.cli", "apikey", "create", "--name", "t", "--role"]
    minted = subprocess.run(
        [*mint, "admin"], env={**os.environ, **env}, check=True, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    worker_log = (tmp_path / "worker.log").open("wb")
    with worker_log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "worker", "--data-dir", str(tmp_path / "w")],
            env={**os.environ, **env}, stdout=worker_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        common = ["--library", library, "--workers", "1"]
        with (
            serve_in_process(
                [*common, "--data-dir", str(tmp_path / "a")], tmp_path / "a.log", env=env
            ) as a,
            serve_in_process(
                [*common, "--no-scan", "--data-dir", str(tmp_path / "b")],
                tmp_path / "b.log",
                env=env,
            ) as b,
        ):
            yield Stack(a, b, s3_bucket, env, tmp_path, auth)
    finally:
        stop_process(worker, grace=20)


def _track(node: ServerProcess, auth: dict[str, str]) -> Json | None:
    items = httpx.get(f"{node.base_url}/api/v1/tracks", headers=auth).json()["items"]
    return items[0] if items and items[0]["status"] == "ok" else None


def _master(node: ServerProcess, track_id: str) -> m3u8.M3U8 | None:
    response = httpx.get(f"{node.base_url}/hls/{track_id}/master.m3u8")
    return m3u8.loads(response.text) if response.status_code == 200 else None


def _segment(node: ServerProcess, track_id: str, master: m3u8.M3U8) -> tuple[str, bytes]:
    variant = next(p.uri for p in master.playlists if p.uri.startswith("aac_128/"))
    media = m3u8.loads(httpx.get(f"{node.base_url}/hls/{track_id}/{variant}").text)
    url = f"{node.base_url}/hls/{track_id}/aac_128/{media.segments[0].uri}"
    response = httpx.get(url)
    assert response.status_code == 200
    return media.segments[0].uri, response.content


@pytest.mark.slow
def test_added_on_a_transcoded_by_the_worker_served_by_b_purged_never_stale(
    stack: Stack,
) -> None:
    a, b, bucket, tmp_path = stack.a, stack.b, stack.bucket, stack.tmp_path
    # Node A's start-up scan catalogues the file and queues its job; the worker runs it.
    track = _until(lambda: _track(b, stack.auth), "node B sees the track")
    track_id = track["id"]
    job = _until(
        lambda: httpx.get(
            f"{a.base_url}/api/v1/jobs", params={"status": "succeeded"}, headers=stack.auth
        ).json()["items"],
        "the worker transcodes it",
    )[0]
    assert job["track_id"] == track_id
    master = _until(lambda: _master(b, track_id), "node B serves HLS")
    old_uri, old_bytes = _segment(b, track_id, master)
    assert _segment(a, track_id, master) == (old_uri, old_bytes)

    # The file is replaced: a rescan (the CLI, as an admin would) sees new content, node A
    # queues its transcode, the worker runs it.
    replacement = make_audio(tmp_path / "b.flac", "flac", 14.0, frequency=880)
    bucket.put("music/a.flac", replacement.read_bytes())
    scan_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")}
    scan_env.update(stack.env)
    subprocess.run(
        [sys.executable, "-m", "streamer.cli", "scan", f"s3://{bucket.name}/music",
         "--data-dir", str(tmp_path / "scan"), "--no-progress"],
        env=scan_env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    queued = httpx.post(
        f"{a.base_url}/api/v1/jobs", json={"track_id": track_id}, headers=stack.auth
    )
    assert queued.status_code == 201
    job_url = f"{a.base_url}/api/v1/jobs/{queued.json()['id']}"
    _until(
        lambda: httpx.get(job_url, headers=stack.auth).json()["status"] == "succeeded",
        "the worker transcodes the new file",
    )

    purge = httpx.post(
        f"{a.base_url}/api/v1/cache/purge", json={"track_id": track_id}, headers=stack.auth
    )
    assert purge.status_code == 200
    assert purge.json()["broadcast"] is True

    # Node B moves to the new renditions at once (within the purge's pub/sub hop).
    new_master = _until(
        lambda: (
            (m := _master(b, track_id)) is not None
            and m.playlists[0].uri != master.playlists[0].uri
            and m
        ),
        "node B serves the new master",
        timeout=2.0,
    )
    new_uri, new_bytes = _segment(b, track_id, new_master)
    assert new_uri != old_uri
    assert new_bytes != old_bytes
    assert _segment(a, track_id, new_master)[1] == new_bytes
    stale = httpx.get(f"{b.base_url}/hls/{track_id}/aac_128/{old_uri}")
    assert stale.status_code == 404


@pytest.mark.slow
def test_uploaded_through_a_transcoded_by_the_worker_served_by_b(stack: Stack) -> None:
    a, b, bucket = stack.a, stack.b, stack.bucket
    library = _bucket_library(stack)
    source = make_audio(stack.tmp_path / "upload.flac", "flac", 9.0, frequency=660)
    client = tus.TusClient(f"{a.base_url}/api/v1/uploads", headers=stack.auth)
    with source.open("rb") as stream:
        uploader = client.uploader(
            file_stream=stream,
            chunk_size=256 * 1024,  # several PATCHes
            metadata={"filename": "episode 1.flac", "library": library},
        )
        uploader.upload()
    state = httpx.get(uploader.url, headers=stack.auth).json()
    assert state["status"] == "completed", state
    # Stored in the bucket through S3, byte for byte.
    stored = bucket.client.get_object(Bucket=bucket.name, Key=f"music/{state['key']}")
    assert stored["Body"].read() == source.read_bytes()

    track_id = state["track_id"]
    job = _until(
        lambda: next(
            (
                j
                for j in httpx.get(
                    f"{b.base_url}/api/v1/jobs", params={"track": track_id}, headers=stack.auth
                ).json()["items"]
                if j["status"] == "succeeded"
            ),
            None,
        ),
        "the worker transcodes the upload",
    )
    assert job["track_id"] == track_id  # run by the worker: the nodes run no jobs
    master = _until(lambda: _master(b, track_id), "node B serves the upload as HLS")
    _uri, segment = _segment(b, track_id, master)
    assert segment[4:8] in (b"styp", b"moof")  # an fMP4 fragment


def _bucket_library(stack: Stack) -> str:
    """The id of the bucket's library, once node A has catalogued it."""
    libraries = _until(
        lambda: httpx.get(f"{stack.a.base_url}/api/v1/libraries", headers=stack.auth).json(),
        "node A catalogues the bucket",
    )
    return str(libraries[0]["id"])


def _offset(node: ServerProcess, path: str, auth: dict[str, str]) -> int:
    response = httpx.head(f"{node.base_url}{path}", headers={**auth, "Tus-Resumable": "1.0.0"})
    assert response.status_code == 200, response.text
    return int(response.headers["upload-offset"])


@pytest.mark.slow
def test_an_upload_started_on_a_is_finished_on_b_and_served_by_a(stack: Stack) -> None:
    a, b, bucket = stack.a, stack.b, stack.bucket
    library = _bucket_library(stack)
    source = make_audio(stack.tmp_path / "roaming.flac", "flac", 6.0, frequency=550)
    chunk = 16 * 1024
    assert source.stat().st_size > 4 * chunk
    with source.open("rb") as stream:
        # POST and the first PATCH reach node A (with checksums, which pieces check too)...
        first = tus.TusClient(f"{a.base_url}/api/v1/uploads", headers=stack.auth).uploader(
            file_stream=stream,
            chunk_size=chunk,
            upload_checksum=True,
            metadata={"filename": "roaming.flac", "library": library},
        )
        first.upload_chunk()
    path = httpx.URL(first.url).path
    assert _offset(a, path, stack.auth) == _offset(b, path, stack.auth) == chunk
    with source.open("rb") as stream:
        # ...every later request reaches node B, which has no file of the upload.
        rest = tus.TusClient(f"{b.base_url}/api/v1/uploads", headers=stack.auth).uploader(
            file_stream=stream, url=f"{b.base_url}{path}", chunk_size=chunk, upload_checksum=True
        )
        assert rest.offset == chunk
        rest.upload_chunk()
        assert _offset(a, path, stack.auth) == _offset(b, path, stack.auth) == 2 * chunk
        rest.upload()
    state = httpx.get(f"{a.base_url}{path}", headers=stack.auth).json()
    assert state["status"] == "completed", state
    # Completed on B; A serves the original from the library's store, byte for byte.
    original = httpx.get(f"{a.base_url}/media/{state['track_id']}/original", headers=stack.auth)
    assert original.status_code == 200
    assert original.content == source.read_bytes()
    assert bucket.keys(f"{STAGING}/") == []  # every piece deleted
    for node in ("a", "b"):  # and no node kept a local copy
        assert list((stack.tmp_path / node / "uploads").glob("*")) == []
