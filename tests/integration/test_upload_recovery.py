"""Whole uploads whose completion did not happen are finished by the server itself: a
tus client resuming one sees its offset at the length and reports success, so nobody
else will. One claim (``completing_until``) keeps retries, recoveries and nodes from
completing an upload twice. Real uvicorn, real SQLite or PostgreSQL, real files; the
storage failure is injected where the completion stores the file.

One server runs recovery rounds every 0.3 s, as a node does; the others never run one by
themselves (``upload_retry_seconds`` of a day) and the tests run each round they mean
(``_round``), so no round races what a test sets up."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from streamer.cli import normalise_root
from streamer.db import Database, Track, Upload, library_id_for
from streamer.db.models import utcnow
from streamer.errors import StorageUnavailable
from streamer.settings import Settings
from streamer.storage.registry import StoreRegistry
from streamer.uploads import service
from streamer.uploads.recovery import resume_completions
from streamer.uploads.staging import StagingArea
from streamer.uploads.stagings import staging_for
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread
from tests.integration.test_uploads import OCTETS, TUS, audit, metadata


class FailingStore:
    """Makes the completion's store step fail while ``failing`` is set (storage down)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.failing = True
        self.calls = 0
        original = service._store

        async def store(*args: Any) -> Any:
            self.calls += 1
            if self.failing:
                raise StorageUnavailable("the library's storage is down")
            return await original(*args)

        monkeypatch.setattr(service, "_store", store)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None) -> Settings:
    """A node whose recovery rounds run only when a test runs one (``_round``)."""
    base = tmp_path_factory.mktemp("recovery")
    library = base / "library"
    library.mkdir()
    root = normalise_root(str(library))
    chosen = Settings.load(
        {},
        data_dir=base / "data",
        libraries=[root],
        scan_on_start=False,
        transcode_on_start=False,
        database_url=module_database_url,
        upload_retry_seconds=86_400,
    )
    scan_roots(chosen, [root])
    return chosen


@pytest.fixture
def looping_server(settings: Settings, tmp_path: Path) -> Iterator[RunningServer]:
    """Another node of the module's installation, running a recovery round every 0.3 s;
    it stages its uploads in its own data dir, so neither node can complete the other's."""
    update = {
        "data_dir": tmp_path / "looping",
        "database_url": settings.effective_database_url,
        "upload_retry_seconds": 0.3,
    }
    with serve_in_thread(settings.model_copy(update=update)) as running:
        yield running


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("audio") / "tone.flac", "flac", 3.0)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[RunningServer]:
    with serve_in_thread(settings) as running:
        yield running


def _library_id(settings: Settings) -> str:
    return library_id_for(settings.libraries[0])


def _upload_whole(
    server: RunningServer, settings: Settings, body: bytes
) -> tuple[httpx.Response, str]:
    """POST, then PATCH every byte: the PATCH's answer (its completion's outcome), and the
    upload's id."""
    with server.api() as api:
        created = api.post(
            "/api/v1/uploads",
            headers={
                **TUS,
                "Upload-Length": str(len(body)),
                "Upload-Metadata": metadata(f"{uuid.uuid4().hex[:8]}.flac", _library_id(settings)),
            },
        )
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        response = api.patch(location, content=body, headers={**OCTETS, "Upload-Offset": "0"})
        return response, location.rsplit("/", 1)[1]


def _failed_completion(
    server: RunningServer, settings: Settings, audio: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[FailingStore, str]:
    """An upload whose every byte arrived while storage was down (its PATCH got 503)."""
    store = FailingStore(monkeypatch)
    _response, upload_id = _upload_whole(server, settings, audio.read_bytes())
    return store, upload_id


def _retry(server: RunningServer, upload_id: str, length: int) -> httpx.Response:
    """The zero-byte PATCH at the full offset that tries a completion again."""
    with server.api() as api:
        return api.patch(
            f"/api/v1/uploads/{upload_id}",
            content=b"",
            headers={**OCTETS, "Upload-Offset": str(length)},
        )


def _row(settings: Settings, upload_id: str) -> Upload:
    async def read() -> Upload:
        db = Database(settings.effective_database_url)
        try:
            async with db.session() as session:
                upload = await session.get(Upload, upload_id)
                assert upload is not None
                return upload
        finally:
            await db.dispose()

    return asyncio.run(read())


def _set_claim(settings: Settings, upload_id: str, until: timedelta | None) -> None:
    async def write() -> None:
        db = Database(settings.effective_database_url)
        try:
            async with db.session() as session, session.begin():
                value = None if until is None else utcnow() + until
                await session.execute(
                    update(Upload).where(Upload.id == upload_id).values(completing_until=value)
                )
        finally:
            await db.dispose()

    asyncio.run(write())


def _round(settings: Settings) -> list[str]:
    """One recovery round of the node with ``settings`` (as its loop runs): the ids of
    the uploads it finished."""

    async def run() -> list[str]:
        db = Database(settings.effective_database_url)
        stores = StoreRegistry(settings)
        try:
            staging = await staging_for(settings, stores)
            return [upload.id for upload in await resume_completions(db, stores, settings, staging)]
        finally:
            await stores.close()
            await db.dispose()

    return asyncio.run(run())


def _wait_for_status(settings: Settings, upload_id: str, timeout: float = 10.0) -> Upload:
    deadline = time.monotonic() + timeout
    while True:
        upload = _row(settings, upload_id)
        if upload.status != "receiving" or time.monotonic() > deadline:
            return upload
        time.sleep(0.1)


def test_a_completion_that_storage_failed_is_finished_by_the_server_itself(
    looping_server: RunningServer, audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = looping_server.settings
    store = FailingStore(monkeypatch)
    body = audio.read_bytes()

    response, upload_id = _upload_whole(looping_server, settings, body)
    with looping_server.api() as api:
        head = api.head(f"/api/v1/uploads/{upload_id}", headers=TUS)
    time.sleep(1.0)  # recovery rounds meanwhile fail too, and keep every byte
    waiting = _row(settings, upload_id)
    store.failing = False
    upload = _wait_for_status(settings, upload_id)

    assert response.status_code == 503
    # What a resuming tus client sees: every byte is there, so it reports success.
    assert head.headers["upload-offset"] == str(len(body))
    assert (waiting.status, waiting.offset) == ("receiving", len(body))
    assert store.calls >= 2  # the PATCH, then at least one recovery round
    assert upload.status == "completed"
    assert upload.track_id is not None
    with looping_server.api() as api:
        original = api.get(f"/media/{upload.track_id}/original")
    assert original.content == body
    assert audit(settings, upload_id) == ["upload.create", "upload.complete"]


def test_a_round_while_storage_is_down_keeps_the_upload_and_gives_its_claim_back(
    server: RunningServer, settings: Settings, audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, upload_id = _failed_completion(server, settings, audio, monkeypatch)

    finished = _round(settings)

    upload = _row(settings, upload_id)
    assert upload_id not in finished
    assert store.calls == 2  # the PATCH's completion, then the round's
    assert (upload.status, upload.offset, upload.completing_until) == (
        "receiving",
        audio.stat().st_size,
        None,
    )


def test_a_retry_while_another_node_completes_is_told_to_wait(
    server: RunningServer, settings: Settings, audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, upload_id = _failed_completion(server, settings, audio, monkeypatch)
    _set_claim(settings, upload_id, timedelta(minutes=5))  # another node is at it
    store.failing = False

    retry = _retry(server, upload_id, audio.stat().st_size)
    finished = _round(settings)  # and a recovery round leaves it to that node as well

    assert retry.status_code == 423
    assert upload_id not in finished
    assert _row(settings, upload_id).status == "receiving"


def test_a_crashed_completion_is_finished_once_its_claim_runs_out(
    server: RunningServer, settings: Settings, audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, upload_id = _failed_completion(server, settings, audio, monkeypatch)
    _set_claim(settings, upload_id, timedelta(minutes=5))  # a node died holding it
    store.failing = False
    held = _round(settings)

    _set_claim(settings, upload_id, timedelta(seconds=-1))  # its lease ran out
    finished = _round(settings)

    assert upload_id not in held
    assert upload_id in finished
    assert _row(settings, upload_id).status == "completed"
    assert audit(settings, upload_id) == ["upload.create", "upload.complete"]


def test_a_retry_patch_completes_an_upload_at_once(
    server: RunningServer, settings: Settings, audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, upload_id = _failed_completion(server, settings, audio, monkeypatch)
    store.failing = False

    retry = _retry(server, upload_id, audio.stat().st_size)

    assert retry.status_code == 204
    assert _row(settings, upload_id).status == "completed"
    assert audit(settings, upload_id).count("upload.complete") == 1


# -- without a server: the recovery's own rules ------------------------------------------


def _staged_upload(settings: Settings, staging_dir: Path, audio: Path) -> str:
    """A receiving upload with every byte staged and nobody completing it (as after a
    crash that also took the claim's holder)."""
    upload_id = uuid.uuid4().hex
    staging_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(audio, staging_dir / upload_id)
    size = audio.stat().st_size

    async def insert() -> None:
        db = Database(settings.effective_database_url)
        try:
            async with db.session() as session, session.begin():
                session.add(
                    Upload(
                        id=upload_id,
                        library_id=_library_id(settings),
                        filename=f"{upload_id[:8]}.flac",
                        length=size,
                        offset=size,
                        meta={},
                        expires_at=utcnow() + timedelta(days=1),
                        status="receiving",
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(insert())
    return upload_id


async def _recover(settings: Settings, staging: StagingArea, rounds: int) -> list[str]:
    """Run ``rounds`` recoveries at once; the ids each finished, all together."""
    db = Database(settings.effective_database_url)
    stores = StoreRegistry(settings)
    try:
        results = await asyncio.gather(
            *(resume_completions(db, stores, settings, staging) for _ in range(rounds))
        )
        return [upload.id for finished in results for upload in finished]
    finally:
        await stores.close()
        await db.dispose()


@pytest.fixture
def quiet_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The module's database and library, a data dir no server recovers uploads from."""
    update = {"data_dir": tmp_path / "data", "database_url": settings.effective_database_url}
    return settings.model_copy(update=update)


def test_concurrent_recoveries_complete_an_upload_once(
    quiet_settings: Settings, audio: Path
) -> None:
    staging = StagingArea(quiet_settings.data_dir / "uploads")
    upload_id = _staged_upload(quiet_settings, staging.root, audio)

    finished = asyncio.run(_recover(quiet_settings, staging, rounds=3))

    assert finished.count(upload_id) == 1
    upload = _row(quiet_settings, upload_id)
    assert upload.status == "completed"
    assert audit(quiet_settings, upload_id) == ["upload.complete"]

    async def tracks_with_key() -> int:
        db = Database(quiet_settings.effective_database_url)
        try:
            async with db.session() as session:
                # Any copy of this upload: its key, or one with the upload id added.
                copies = Track.key.like(f"uploads/{upload_id[:8]}%")
                query = select(func.count()).select_from(Track).where(copies)
                return int(await session.scalar(query) or 0)
        finally:
            await db.dispose()

    assert asyncio.run(tracks_with_key()) == 1


def test_a_node_without_the_staged_bytes_leaves_the_upload_alone(
    quiet_settings: Settings, audio: Path, tmp_path: Path
) -> None:
    upload_id = _staged_upload(quiet_settings, tmp_path / "another-node", audio)
    elsewhere = StagingArea(quiet_settings.data_dir / "uploads")  # holds nothing of it

    finished = asyncio.run(_recover(quiet_settings, elsewhere, rounds=1))

    assert upload_id not in finished
    upload = _row(quiet_settings, upload_id)
    assert (upload.status, upload.completing_until) == ("receiving", None)
