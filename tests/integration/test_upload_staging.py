"""tus uploads staged in an object store (moto's S3 server): what only pieces do. Writers
racing at one offset, a dropped connection's piece, long bodies as multipart pieces, and
`streamer cleanup` deleting pieces. tests/integration/test_uploads.py runs every general
rule with this staging too; tests/integration/test_many_nodes.py moves an upload between
two nodes."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from streamer.cli import normalise_root
from streamer.db import Database, library_id_for
from streamer.db.models import utcnow
from streamer.maintenance.cleanup import CleanupReport, cleanup
from streamer.settings import Settings
from streamer.storage.factory import open_store
from streamer.uploads import service
from streamer.uploads.pieces import ObjectStaging
from tests.fixtures.audio import make_audio
from tests.fixtures.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Bucket, temporary_bucket
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread
from tests.integration.test_uploads import OCTETS, TUS, metadata, send_half_and_drop

MAX_BYTES = 16 * 1024 * 1024
PREFIX = "staging/tus"


@dataclass
class Site:
    settings: Settings
    library: Path
    library_id: str
    bucket: S3Bucket

    def pieces(self, upload_id: str) -> list[str]:
        """The names of the upload's piece objects, sorted (so by offset)."""
        prefix = f"{PREFIX}/{upload_id}/"
        return [key[len(prefix) :] for key in self.bucket.keys(prefix)]

    def size(self, upload_id: str, piece: str) -> int:
        head = self.bucket.client.head_object(
            Bucket=self.bucket.name, Key=f"{PREFIX}/{upload_id}/{piece}"
        )
        size: int = head["ContentLength"]
        return size


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None, s3_server: str
) -> Iterator[Site]:
    # A bucket per database: cleanup takes pieces the database does not know for leftovers.
    with temporary_bucket(s3_server) as bucket:
        base = tmp_path_factory.mktemp("staging")
        library = base / "library"
        library.mkdir()
        root = normalise_root(str(library))
        settings = Settings.load(
            {},
            data_dir=base / "data",
            libraries=[root],
            workers=1,
            upload_max_bytes=MAX_BYTES,
            upload_staging=f"s3://{bucket.name}/{PREFIX}",
            s3_endpoint_url=bucket.endpoint,
            s3_region=REGION,
            s3_access_key_id=ACCESS_KEY_ID,
            s3_secret_access_key=SECRET_ACCESS_KEY,
            scan_on_start=False,
            transcode_on_start=False,
            jobs_in_process=False,  # the queued transcodes are not what these tests look at
            database_url=module_database_url,
        )
        scan_roots(settings, [root])
        yield Site(settings, library, library_id_for(root), bucket)


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[RunningServer]:
    with serve_in_thread(site.settings) as running:
        yield running


@pytest.fixture
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with server.api() as client:
        yield client


def create(api: httpx.Client, site: Site, length: int, filename: str) -> tuple[str, str]:
    """A new upload: its location and id."""
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
    return location, location.rsplit("/", 1)[1]


def patch(api: httpx.Client, location: str, offset: int, body: bytes) -> httpx.Response:
    return api.patch(location, content=body, headers={**OCTETS, "Upload-Offset": str(offset)})


# -- writers racing ------------------------------------------------------------------------


def test_two_patches_at_one_offset_one_wins_and_the_upload_is_exactly_its_body(
    server: RunningServer, site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    # Two different files of one length, each sent whole at offset 0 by its own client.
    bodies = [
        make_audio(tmp_path / f"{hz}.wav", "wav", 2.0, frequency=hz).read_bytes()
        for hz in (300, 600)
    ]
    assert len(bodies[0]) == len(bodies[1])
    assert bodies[0] != bodies[1]
    location, upload_id = create(api, site, len(bodies[0]), "race.wav")
    halfway = threading.Barrier(2, timeout=20)

    def slow_body(data: bytes) -> Iterator[bytes]:
        yield data[: len(data) // 2]
        halfway.wait()  # both requests are in the server, each past reading the offset
        time.sleep(0.5)
        yield data[len(data) // 2 :]

    def send(data: bytes) -> httpx.Response:
        with server.api() as client:
            return client.patch(
                location,
                content=slow_body(data),
                headers={**OCTETS, "Upload-Offset": "0", "Content-Length": str(len(data))},
            )

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(send, bodies))
    statuses = [response.status_code for response in responses]
    assert sorted(statuses) == [204, 409], [r.text for r in responses]
    loser = responses[statuses.index(409)]
    assert "moved on meanwhile" in loser.json()["detail"]  # it lost the compare-and-set
    state = api.get(location).json()
    assert state["status"] == "completed"
    winner = bodies[statuses.index(204)]
    assert (site.library / state["key"]).read_bytes() == winner  # one body, never a mix
    assert site.pieces(upload_id) == []  # the loser's piece and the winner's are gone


def test_the_compare_and_set_records_one_piece_and_the_loser_deletes_its_own(
    site: Site, api: httpx.Client
) -> None:
    _, upload_id = create(api, site, 100, "cas.flac")

    async def body(data: bytes) -> AsyncIterator[bytes]:
        yield data

    async def race() -> tuple[list[bool], int, list[str], int]:
        db = Database(site.settings.effective_database_url)
        store = open_store(site.settings.upload_staging, site.settings)
        await store.open()
        try:
            staging = ObjectStaging(store, site.settings.data_dir / "uploads")
            # Both read the upload at offset 0, as two nodes taking two PATCHes would.
            seen = [await service.get_upload(db, upload_id) for _ in range(2)]
            writers = [await staging.open_writer(upload_id, 0) for _ in range(2)]
            for writer, data in zip(writers, [b"a" * 10, b"b" * 20], strict=True):
                await writer.receive(body(data), 100)
            stored = 0
            for writer in writers:
                assert writer.piece is not None
                await store.stat(f"{upload_id}/{writer.piece}")  # both stored, unrecorded
                stored += 1
            won = []
            for writer, upload in zip(writers, seen, strict=True):
                assert upload is not None
                moved = await service.move_offset(
                    db, upload, writer.position, service.expiry(site.settings), piece=writer.piece
                )
                if not moved:
                    await writer.rollback()
                won.append(moved)
            row = await service.get_upload(db, upload_id)
            assert row is not None
            return won, stored, list(row.pieces or []), row.offset
        finally:
            await store.close()
            await db.dispose()

    won, stored, recorded, offset = asyncio.run(race())
    assert won == [True, False]
    assert stored == 2
    assert offset == 10  # the winner's 10 bytes, not the loser's 20
    assert len(recorded) == 1
    assert site.pieces(upload_id) == recorded  # the loser's piece is gone


# -- what a piece holds ----------------------------------------------------------------------


def test_a_dropped_connection_commits_a_piece_of_exactly_the_bytes_that_arrived(
    server: RunningServer, site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    body = make_audio(tmp_path / "d.flac", "flac", 3.0, frequency=500).read_bytes()
    location, upload_id = create(api, site, len(body), "dropped.flac")
    send_half_and_drop(server, location, body)
    deadline = time.monotonic() + 10
    while (offset := int(api.head(location, headers=TUS).headers["upload-offset"])) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (piece,) = site.pieces(upload_id)
    assert piece.startswith(f"{0:016d}-")
    assert site.size(upload_id, piece) == offset
    # The rest, from where the piece ends, completes the file byte for byte.
    assert patch(api, location, offset, body[offset:]).status_code == 204
    state = api.get(location).json()
    assert (site.library / state["key"]).read_bytes() == body


def test_a_body_longer_than_a_part_is_staged_as_a_multipart_piece(
    site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    # Over S3Store.multipart_chunksize (8 MB): the piece goes up in parts as it arrives.
    body = make_audio(tmp_path / "long.wav", "wav", 55.0, frequency=220).read_bytes()
    assert 8 * 1024 * 1024 < len(body) <= MAX_BYTES
    location, upload_id = create(api, site, len(body) + 1, "long.wav")
    assert patch(api, location, 0, body).status_code == 204
    (piece,) = site.pieces(upload_id)
    head = site.bucket.client.head_object(
        Bucket=site.bucket.name, Key=f"{PREFIX}/{upload_id}/{piece}"
    )
    assert head["ETag"].strip('"').endswith("-2")  # a multipart object of two parts
    assert head["ContentLength"] == len(body)
    api.delete(location, headers=TUS)


def test_pieces_are_put_together_in_offset_order(
    site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    body = make_audio(tmp_path / "o.flac", "flac", 3.0, frequency=700).read_bytes()
    location, upload_id = create(api, site, len(body), "ordered.flac")
    cuts = [0, 1, 1000, len(body) // 2, len(body) - 10, len(body)]
    assert len(body) > 3000
    for start, end in itertools.pairwise(cuts):
        assert patch(api, location, start, body[start:end]).status_code == 204
        if end < len(body):
            assert len(site.pieces(upload_id)) == cuts.index(end)
    state = api.get(location).json()
    assert state["status"] == "completed"
    assert (site.library / state["key"]).read_bytes() == body
    assert site.pieces(upload_id) == []


# -- cleanup ---------------------------------------------------------------------------------


def run_cleanup(site: Site, *, later: timedelta, dry_run: bool = False) -> CleanupReport:
    async def run() -> CleanupReport:
        db = Database(site.settings.effective_database_url)
        try:
            return await cleanup(db, site.settings, dry_run=dry_run, grace=0, now=utcnow() + later)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_cleanup_expires_an_upload_and_deletes_its_pieces(site: Site, api: httpx.Client) -> None:
    location, upload_id = create(api, site, 100, "expiring.flac")
    assert patch(api, location, 0, b"x" * 10).status_code == 204
    assert patch(api, location, 10, b"y" * 15).status_code == 204
    assert len(site.pieces(upload_id)) == 2
    later = timedelta(seconds=site.settings.upload_expiry_seconds + 1)
    listed = run_cleanup(site, later=later, dry_run=True)
    assert [(r.what, r.size) for r in listed.uploads if upload_id in r.what] == [
        (f"upload {upload_id}", 25)
    ]
    assert len(site.pieces(upload_id)) == 2  # a dry run deletes nothing
    run_cleanup(site, later=later)
    assert site.pieces(upload_id) == []
    assert api.get(location).json()["status"] == "expired"


def test_cleanup_sweeps_pieces_no_receiving_upload_records(site: Site, api: httpx.Client) -> None:
    location, upload_id = create(api, site, 100, "sweep.flac")
    assert patch(api, location, 0, b"x" * 10).status_code == 204
    (committed,) = site.pieces(upload_id)
    # A PATCH that crashed after storing its piece, and pieces of an upload long gone.
    crashed = f"{10:016d}-{'c' * 16}"
    site.bucket.put(f"{PREFIX}/{upload_id}/{crashed}", b"z" * 7)
    site.bucket.put(f"{PREFIX}/{'f' * 32}/{0:016d}-{'d' * 16}", b"w" * 3)
    report = run_cleanup(site, later=timedelta(0))
    assert report.errors == []
    swept = {r.what: r.size for r in report.pieces}
    assert swept == {
        f"{upload_id}/{crashed}": 7,
        f"{'f' * 32}/{0:016d}-{'d' * 16}": 3,
    }
    assert site.pieces(upload_id) == [committed]  # the recorded piece stays
    assert site.bucket.keys(f"{PREFIX}/{'f' * 32}/") == []
    # The upload goes on from its offset as if nothing had happened.
    assert patch(api, location, 10, b"y" * 90).status_code == 422  # not audio, but whole
    assert site.pieces(upload_id) == []


def test_termination_deletes_leftover_pieces_with_the_committed_ones(
    site: Site, api: httpx.Client
) -> None:
    location, upload_id = create(api, site, 100, "terminated.flac")
    assert patch(api, location, 0, b"x" * 10).status_code == 204
    site.bucket.put(f"{PREFIX}/{upload_id}/{10:016d}-{'e' * 16}", b"left over")
    assert len(site.pieces(upload_id)) == 2
    assert api.delete(location, headers=TUS).status_code == 204
    assert site.pieces(upload_id) == []
