"""tus 1.0 uploads at /api/v1/uploads, driven by a real tus client (tuspy) and raw HTTP
against the streamer on uvicorn over loopback; each test states one rule.

Every test runs with each staging: ``local`` (files under data_dir/uploads) and pieces in
an object store, a bucket of moto's S3 server (``s3``) or a directory (``file``), on SQLite
and on PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError
from tusclient.uploader import Uploader

from streamer.cli import normalise_root
from streamer.db import Database, library_id_for
from streamer.db.models import utcnow
from streamer.settings import Settings
from streamer.uploads import expire_uploads
from tests.fixtures.audio import make_audio, make_png
from tests.fixtures.audit import audit_actions
from tests.fixtures.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Bucket, temporary_bucket
from tests.fixtures.servers import RunningServer, admin_key, bearer, scan_roots, serve_in_thread

MAX_BYTES = 8 * 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}


STAGING_PREFIX = "tus-staging"


@dataclass
class Site:
    settings: Settings
    library: Path
    library_id: str
    audio: Path  # a real FLAC of a few seconds
    staging: str  # "local", "s3" or "file"
    bucket: S3Bucket | None  # holds the pieces with s3 staging
    pieces_dir: Path | None  # holds the pieces with file staging

    def staged(self, upload_id: str) -> list[str]:
        """What is staged for an upload: its staging file, or its pieces' names."""
        if self.bucket is not None:
            prefix = f"{STAGING_PREFIX}/{upload_id}/"
            return [key[len(prefix) :] for key in self.bucket.keys(prefix)]
        if self.pieces_dir is not None:
            folder = self.pieces_dir / upload_id
            return sorted(p.name for p in folder.iterdir()) if folder.exists() else []
        path = self.settings.data_dir / "uploads" / upload_id
        return [path.name] if path.exists() else []

    def local_leftovers(self, upload_id: str) -> list[Path]:
        """Files of the upload under data_dir/uploads (staging or assembled copies)."""
        return sorted((self.settings.data_dir / "uploads").glob(f"{upload_id}*"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def metadata(filename: str, library: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in (("filename", filename), ("library", library))
    )


def audit(settings: Settings, target_id: str) -> list[str]:
    """The audit actions recorded for one upload, oldest first."""
    return audit_actions(settings, "upload", target_id)


@pytest.fixture(scope="module", params=["local", "s3", "file"])
def staging(request: pytest.FixtureRequest) -> Iterator[tuple[str, S3Bucket | None]]:
    """The staging's kind, and with s3 the bucket whose STAGING_PREFIX holds the pieces."""
    if request.param != "s3":
        yield request.param, None
        return
    with temporary_bucket(request.getfixturevalue("s3_server")) as bucket:
        yield "s3", bucket


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    module_database_url: str | None,
    staging: tuple[str, S3Bucket | None],
) -> Site:
    kind, bucket = staging
    base = tmp_path_factory.mktemp("uploads")
    library = base / "library"
    library.mkdir()
    root = normalise_root(str(library))
    pieces_dir = base / "pieces" if kind == "file" else None
    chosen: dict[str, object] = {}
    if bucket is not None:
        chosen = {
            "upload_staging": f"s3://{bucket.name}/{STAGING_PREFIX}",
            "s3_endpoint_url": bucket.endpoint,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
        }
    if pieces_dir is not None:
        pieces_dir.mkdir()  # a store's root must exist, as a library's must
        chosen = {"upload_staging": f"file://{pieces_dir}"}
    settings = Settings.load(
        {},
        data_dir=base / "data",
        libraries=[root],
        workers=1,
        upload_max_bytes=MAX_BYTES,
        scan_on_start=False,
        transcode_on_start=False,
        database_url=module_database_url,
        **chosen,
    )
    scan_roots(settings, [root])  # creates the library row
    audio = make_audio(base / "tone.flac", "flac", 4.0, frequency=330)
    return Site(settings, library, library_id_for(root), audio, kind, bucket, pieces_dir)


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[RunningServer]:
    with serve_in_thread(site.settings) as running:
        yield running


@pytest.fixture
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with server.api() as client:
        yield client


@contextmanager
def uploader(server: RunningServer, path: Path, **kwargs: Any) -> Iterator[Uploader]:
    """tuspy's uploader of ``path`` (opened here: tuspy leaves a file_path open)."""
    assert server.api_key is not None
    client = tus.TusClient(f"{server.base_url}/api/v1/uploads", headers=bearer(server.api_key))
    with path.open("rb") as stream:
        yield client.uploader(file_stream=stream, **kwargs)


def create(api: httpx.Client, site: Site, length: int, filename: str = "song.flac") -> str:
    response = api.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(filename, site.library_id),
        },
    )
    assert response.status_code == 201, response.text
    location: str = response.headers["location"]
    return location


def offset_of(api: httpx.Client, location: str) -> int:
    response = api.head(location, headers=TUS)
    assert response.status_code == 200
    return int(response.headers["upload-offset"])


# -- the whole journey -----------------------------------------------------------------


def test_a_tuspy_upload_becomes_a_track_with_a_queued_transcode(
    server: RunningServer, site: Site, api: httpx.Client
) -> None:
    with uploader(
        server,
        site.audio,
        chunk_size=64 * 1024,  # several PATCHes
        metadata={"filename": "journey.flac", "library": site.library_id},
    ) as tusup:
        tusup.upload()
    state = api.get(tusup.url).json()
    assert state["status"] == "completed", state
    assert state["key"] == "uploads/journey.flac"
    assert sha256(site.library / "uploads" / "journey.flac") == sha256(site.audio)
    tracks = api.get("/api/v1/tracks", params={"library": site.library_id}).json()["items"]
    track = next(t for t in tracks if t["path"] == "uploads/journey.flac")
    assert track["id"] == state["track_id"]
    assert track["status"] == "ok"
    assert track["codec"] == "flac"
    assert track["duration"] == pytest.approx(4.0, abs=0.1)
    jobs = api.get("/api/v1/jobs", params={"track": track["id"]}).json()["items"]
    assert [job["status"] for job in jobs] == ["queued"]
    assert audit(site.settings, state["id"]) == ["upload.create", "upload.complete"]
    assert site.staged(state["id"]) == []  # the staging file or every piece is gone
    assert site.local_leftovers(state["id"]) == []  # and so is an assembled copy


def test_an_upload_never_replaces_a_file_already_in_the_library(
    server: RunningServer, site: Site, api: httpx.Client
) -> None:
    keys = []
    for _ in range(2):
        with uploader(
            server, site.audio, metadata={"filename": "twice.flac", "library": site.library_id}
        ) as tusup:
            tusup.upload()
        keys.append(api.get(tusup.url).json()["key"])
    assert keys[0] == "uploads/twice.flac"
    assert keys[1].startswith("uploads/twice-")
    assert keys[1].endswith(".flac")


def test_creation_with_upload_sends_the_whole_file_in_the_post(
    site: Site, api: httpx.Client
) -> None:
    body = site.audio.read_bytes()
    response = api.post(
        "/api/v1/uploads",
        content=body,
        headers={
            **OCTETS,
            "Upload-Length": str(len(body)),
            "Upload-Metadata": metadata("in-one.flac", site.library_id),
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["upload-offset"] == str(len(body))
    assert api.get(response.headers["location"]).json()["status"] == "completed"


# -- resuming ------------------------------------------------------------------------------


def send_half_and_drop(server: RunningServer, location: str, body: bytes) -> None:
    """A PATCH that announces the whole body, sends half and closes the socket."""
    assert server.api_key is not None
    path = httpx.URL(location).raw_path.decode()
    port = httpx.URL(server.base_url).port
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Authorization: Bearer {server.api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port or 80)) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.3)  # let the server take the bytes before the connection goes


def wait_for_offset(api: httpx.Client, location: str) -> int:
    deadline = time.monotonic() + 10
    while (offset := offset_of(api, location)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return offset


def test_a_dropped_connection_keeps_the_bytes_received_and_tuspy_resumes(
    server: RunningServer, site: Site, api: httpx.Client
) -> None:
    body = site.audio.read_bytes()
    location = create(api, site, len(body), "dropped.flac")
    send_half_and_drop(server, location, body)
    offset = wait_for_offset(api, location)
    assert 0 < offset <= len(body) // 2
    with uploader(server, site.audio, url=location) as tusup:
        assert tusup.offset == offset  # tuspy asked with HEAD
        tusup.upload()
    assert sha256(site.library / "uploads" / "dropped.flac") == sha256(site.audio)


def test_an_upload_resumes_after_a_server_restart(site: Site) -> None:
    half = site.audio.stat().st_size // 2
    with serve_in_thread(site.settings) as first:
        with uploader(
            first,
            site.audio,
            chunk_size=16 * 1024,
            metadata={"filename": "restarted.flac", "library": site.library_id},
        ) as tusup:
            tusup.upload(stop_at=half)
        path = httpx.URL(tusup.url).path
    # A new server (new state, new port) on the same database and data directory.
    with serve_in_thread(site.settings) as second:
        url = f"{second.base_url}{path}"
        with uploader(second, site.audio, url=url, chunk_size=16 * 1024) as resumed:
            assert resumed.offset >= half
            resumed.upload()
    assert sha256(site.library / "uploads" / "restarted.flac") == sha256(site.audio)


# -- refusals ------------------------------------------------------------------------------


def test_a_file_that_is_not_audio_fails_with_its_reason_and_leaves_the_library_alone(
    server: RunningServer, site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"these are not the sounds you are looking for\n" * 100)
    with (
        uploader(
            server, fake, metadata={"filename": "fake.mp3", "library": site.library_id}
        ) as tusup,
        pytest.raises(TusCommunicationError) as failure,
    ):
        tusup.upload()
    assert failure.value.status_code == 422
    state = api.get(tusup.url).json()
    assert state["status"] == "failed"
    assert state["error"].startswith("not playable audio")
    assert state["key"] is None
    assert state["track_id"] is None
    assert not (site.library / "uploads" / "fake.mp3").exists()
    assert api.head(tusup.url, headers=TUS).status_code == 410
    assert audit(site.settings, state["id"]) == ["upload.create", "upload.fail"]


def test_bytes_that_are_clearly_not_audio_are_refused_at_the_first_patch(
    site: Site, api: httpx.Client
) -> None:
    body = random.Random(196).randbytes(196 * 1024)
    location = create(api, site, len(body), "noise.mp3")
    upload_id = location.rsplit("/", 1)[1]
    third = len(body) // 3 + 1
    response = api.patch(location, content=body[:third], headers={**OCTETS, "Upload-Offset": "0"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    reason = "not playable audio: not an audio file (no audio format recognised in its first"
    assert response.json()["detail"].startswith(reason)
    state = api.get(location).json()
    assert (state["status"], state["offset"]) == ("failed", 0)
    assert state["error"] == response.json()["detail"]
    assert site.staged(upload_id) == []
    assert site.local_leftovers(upload_id) == []
    assert audit(site.settings, upload_id) == ["upload.create", "upload.fail"]
    response = api.patch(
        location, content=body[third : 2 * third], headers={**OCTETS, "Upload-Offset": "0"}
    )
    assert response.status_code == 410
    assert not (site.library / "uploads" / "noise.mp3").exists()


def test_a_large_upload_that_is_not_audio_is_refused_before_its_end(
    server: RunningServer, site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    fake = tmp_path / "holiday.flac"
    fake.write_bytes(b"%PDF-1.7\n" + random.Random(5).randbytes(6 * 1024 * 1024))

    def body() -> Iterator[bytes]:
        # Streamed: the answer comes while the client is still sending (httpx stopped
        # after about 3.5 of the 6 MB here), and the connection closes.
        with fake.open("rb") as stream:
            while chunk := stream.read(64 * 1024):
                yield chunk

    location = create(api, site, fake.stat().st_size, "holiday.flac")
    response = api.patch(location, content=body(), headers={**OCTETS, "Upload-Offset": "0"})
    assert response.status_code == 422
    detail = "not playable audio: not an audio file (looks like a PDF document)"
    assert response.json()["detail"] == detail
    assert response.headers["connection"] == "close"
    assert api.get(location).json()["error"] == detail


def test_tuspy_stops_at_an_early_refusal(
    server: RunningServer, site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    fake = tmp_path / "photo.mp3"
    fake.write_bytes(make_png() + random.Random(6).randbytes(300_000))
    with (
        uploader(
            server,
            fake,
            metadata={"filename": "photo.mp3", "library": site.library_id},
            chunk_size=100_000,
        ) as tusup,
        pytest.raises(TusCommunicationError) as failure,
    ):
        tusup.upload()
    assert failure.value.status_code == 422
    state = api.get(tusup.url).json()
    assert (state["status"], state["offset"]) == ("failed", 0)
    assert state["error"] == "not playable audio: not an audio file (looks like a PNG image)"


def test_a_chunk_with_a_wrong_checksum_is_refused_with_460_and_discarded(
    site: Site, api: httpx.Client
) -> None:
    body = site.audio.read_bytes()
    location = create(api, site, len(body))
    wrong = base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    response = api.patch(
        location,
        content=body[:1000],
        headers={**OCTETS, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {wrong}"},
    )
    assert response.status_code == 460
    assert response.headers["tus-resumable"] == "1.0.0"
    assert offset_of(api, location) == 0
    upload_id = location.rsplit("/", 1)[1]
    if site.staging != "local":
        assert site.staged(upload_id) == []  # the piece was deleted
    right = base64.b64encode(hashlib.sha1(body[:1000]).digest()).decode()
    response = api.patch(
        location,
        content=body[:1000],
        headers={**OCTETS, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {right}"},
    )
    assert response.status_code == 204
    assert response.headers["upload-offset"] == "1000"
    if site.staging != "local":
        (piece,) = site.staged(upload_id)  # the good chunk's piece, at offset 0
        assert piece.startswith(f"{0:016d}-")


@pytest.mark.parametrize("offset", ["5", str(10**15), str(10**30)])
def test_a_patch_at_the_wrong_offset_is_a_409(site: Site, api: httpx.Client, offset: str) -> None:
    location = create(api, site, 1000)
    response = api.patch(location, content=b"x" * 10, headers={**OCTETS, "Upload-Offset": offset})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"Upload-Offset {offset} does not match the upload's 0"


@pytest.mark.parametrize(
    ("length", "sent", "status"),
    [
        pytest.param(MAX_BYTES + 1, 0, 413, id="Upload-Length over upload_max_bytes"),
        pytest.param(10**15, 0, 413, id="Upload-Length of 16 digits"),
        pytest.param(10**30, 0, 413, id="Upload-Length of 31 digits"),
        pytest.param(100, 101, 413, id="body longer than the upload"),
    ],
)
def test_too_many_bytes_are_a_413(
    site: Site, api: httpx.Client, length: int, sent: int, status: int
) -> None:
    headers = {
        **TUS,
        "Upload-Length": str(length),
        "Upload-Metadata": metadata("a.flac", site.library_id),
    }
    response = api.post("/api/v1/uploads", headers=headers)
    if sent:
        assert response.status_code == 201
        response = api.patch(
            response.headers["location"],
            content=b"x" * sent,
            headers={**OCTETS, "Upload-Offset": "0"},
        )
    assert response.status_code == status


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Tus-Resumable": "0.2.2"}, 412, id="unsupported version"),
        pytest.param(
            {"Tus-Resumable": "1.0.0", "Content-Type": "text/plain"}, 415, id="wrong type"
        ),
        pytest.param({**OCTETS, "Upload-Offset": "-1"}, 400, id="negative offset"),
        pytest.param(
            {**OCTETS, "Upload-Offset": "0", "Upload-Checksum": "crc32 AAAA"},
            400,
            id="unknown checksum",
        ),
    ],
)
def test_malformed_patches_are_refused(
    site: Site, api: httpx.Client, headers: dict[str, str], status: int
) -> None:
    location = create(api, site, 100)
    response = api.patch(location, content=b"x", headers=headers)
    assert response.status_code == status
    assert response.headers["tus-resumable"] == "1.0.0"
    if status == 412:
        assert response.headers["tus-version"] == "1.0.0"


@pytest.mark.parametrize(
    "upload_metadata",
    [
        pytest.param(None, id="no metadata"),
        pytest.param("filename " + base64.b64encode(b"a.flac").decode(), id="no library"),
        pytest.param("filename !!!, library eA==", id="value not base64"),
        pytest.param("LIB", id="no filename"),
    ],
)
def test_creation_needs_a_filename_and_a_library(
    api: httpx.Client, upload_metadata: str | None
) -> None:
    headers = {**TUS, "Upload-Length": "10"}
    if upload_metadata is not None:
        headers["Upload-Metadata"] = upload_metadata
    assert api.post("/api/v1/uploads", headers=headers).status_code == 400


def test_a_file_name_that_is_not_audio_is_refused_at_creation(
    site: Site, api: httpx.Client
) -> None:
    headers = {
        **TUS,
        "Upload-Length": "10",
        "Upload-Metadata": metadata("notes.txt", site.library_id),
    }
    assert api.post("/api/v1/uploads", headers=headers).status_code == 400


def test_options_describes_the_server(server: RunningServer) -> None:
    with server.client() as anonymous:
        response = anonymous.options("/api/v1/uploads")
    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-extension"] == (
        "creation,creation-with-upload,termination,checksum,expiration"
    )
    assert response.headers["tus-max-size"] == str(MAX_BYTES)
    assert response.headers["tus-checksum-algorithm"] == "sha1,md5,sha256"


def test_head_reports_offset_length_and_expiry(site: Site, api: httpx.Client) -> None:
    location = create(api, site, 1234)
    response = api.head(location, headers=TUS)
    assert response.headers["upload-offset"] == "0"
    assert response.headers["upload-length"] == "1234"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["upload-expires"].endswith(" GMT")


# -- termination and expiry ----------------------------------------------------------------


def test_termination_discards_the_partial_upload(site: Site, api: httpx.Client) -> None:
    location = create(api, site, 100)
    api.patch(location, content=b"x" * 10, headers={**OCTETS, "Upload-Offset": "0"})
    upload_id = location.rsplit("/", 1)[1]
    assert len(site.staged(upload_id)) == 1
    assert api.delete(location, headers=TUS).status_code == 204
    assert site.staged(upload_id) == []
    assert api.head(location, headers=TUS).status_code == 410
    assert (
        api.patch(location, content=b"x", headers={**OCTETS, "Upload-Offset": "10"}).status_code
        == 410
    )
    assert api.get(location).json()["status"] == "terminated"
    assert audit(site.settings, upload_id) == ["upload.create", "upload.terminate"]


def test_expire_uploads_removes_partial_data_past_its_expiry(site: Site, api: httpx.Client) -> None:
    location = create(api, site, 100)
    api.patch(location, content=b"x" * 10, headers={**OCTETS, "Upload-Offset": "0"})
    upload_id = location.rsplit("/", 1)[1]

    async def expire(now_plus: timedelta) -> int:
        db = Database(site.settings.effective_database_url)
        try:
            return await expire_uploads(db, site.settings, now=utcnow() + now_plus)
        finally:
            await db.dispose()

    assert asyncio.run(expire(timedelta(seconds=0))) == 0  # not due yet
    assert site.staged(upload_id) != []
    assert asyncio.run(expire(timedelta(seconds=site.settings.upload_expiry_seconds + 1))) >= 1
    assert site.staged(upload_id) == []
    assert api.head(location, headers=TUS).status_code == 410
    assert api.get(location).json()["status"] == "expired"
    assert audit(site.settings, upload_id) == ["upload.create", "upload.expire"]


# -- who may upload ------------------------------------------------------------------------


def test_uploading_needs_credentials(server: RunningServer, site: Site) -> None:
    with server.client() as anonymous:
        response = anonymous.post(
            "/api/v1/uploads",
            headers={
                **TUS,
                "Upload-Length": "10",
                "Upload-Metadata": metadata("a.flac", site.library_id),
            },
        )
    assert response.status_code == 401
    assert response.headers["tus-resumable"] == "1.0.0"


def test_a_viewer_cannot_upload(server: RunningServer, site: Site) -> None:
    viewer = admin_key(site.settings, role="viewer", name="viewer")
    with server.client(headers=bearer(viewer)) as client:
        response = client.post(
            "/api/v1/uploads",
            headers={
                **TUS,
                "Upload-Length": "10",
                "Upload-Metadata": metadata("a.flac", site.library_id),
            },
        )
        assert response.status_code == 403
        assert response.json()["detail"] == "write access to this library is needed"
        assert client.get("/api/v1/uploads").status_code == 200  # but may look


def test_the_list_shows_uploads_newest_first(site: Site, api: httpx.Client) -> None:
    location = create(api, site, 10, "newest.flac")
    items = api.get("/api/v1/uploads").json()
    assert items[0]["id"] == location.rsplit("/", 1)[1]
    assert items[0]["filename"] == "newest.flac"
    assert items[0]["status"] == "receiving"
