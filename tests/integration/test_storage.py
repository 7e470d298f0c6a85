"""The ObjectStore protocol, against a real directory tree and a real S3 API (moto).

Tests that take the ``store`` fixture run once per backend; the rest name their backend.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streamer.errors import SettingsError
from streamer.settings import Settings
from streamer.storage.base import (
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageUnavailable,
)
from streamer.storage.factory import open_store
from streamer.storage.local import LocalStore
from streamer.storage.s3 import S3Store
from tests.fixtures.s3 import S3Bucket

CHUNK = 4096
BIG_SIZE = 100 * 1024 + 123  # not a multiple of CHUNK
BIG = random.Random(20261101).randbytes(BIG_SIZE)

SAMPLE: dict[str, bytes] = {
    "big.bin": BIG,
    "empty.dat": b"",
    "nested/deeper/still/c.txt": b"hello, nested world\n",
    "nested/b.txt": b"b" * 10,
    "Ünïcødé/曲 café.mp3": "ﾃｽﾄ".encode() * 100,
    "dir with spaces/x y.flac": b"fLaC" + bytes(range(256)),
}

S3_PREFIX = "library/v1"


@dataclass
class Backend:
    """A store over SAMPLE plus how to change its objects behind its back."""

    kind: str
    store: ObjectStore
    replace: Callable[[str, bytes], None]  # a new object (new version) under the same key
    missing: Callable[[], ObjectStore]  # a store whose root (directory, bucket) is absent


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _replace_file(path: Path, data: bytes) -> None:
    # As atomic writers do: a new inode renamed over the old one.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        root = tmp_path / "library"
        for key, data in SAMPLE.items():
            _write_file(root / key, data)
        return Backend(
            kind="local",
            store=open_store(str(root), Settings.load({})),
            replace=lambda key, data: _replace_file(root / key, data),
            missing=lambda: LocalStore(tmp_path / "no-such-dir"),
        )
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    settings: Settings = request.getfixturevalue("s3_settings")
    for key, data in SAMPLE.items():
        bucket.put(f"{S3_PREFIX}/{key}", data)
    bucket.put("elsewhere/not-in-library.bin", b"outside the prefix")
    bucket.put(f"{S3_PREFIX}-sibling/x.bin", b"a sibling prefix, not ours")
    return Backend(
        kind="s3",
        store=open_store(f"s3://{bucket.name}/{S3_PREFIX}", settings),
        replace=lambda key, data: bucket.put(f"{S3_PREFIX}/{key}", data),
        missing=lambda: open_store(f"s3://no-such-{bucket.name}/x", settings),
    )


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[ObjectStore]:
    await backend.store.open()
    try:
        yield backend.store
    finally:
        await backend.store.close()


def _generator(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """The protocol promises an AsyncIterator; both backends return closable generators."""
    assert isinstance(chunks, AsyncGenerator)
    return chunks


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    received: list[bytes] = []
    await _collect_into(received, chunks)
    return received


async def _collect_into(
    received: list[bytes],
    chunks: AsyncIterator[bytes],
    after_each: Callable[[], None] = lambda: None,
) -> None:
    """Append each chunk to ``received`` (kept when the iteration raises), then call back."""
    async with aclosing(_generator(chunks)) as iterator:
        async for chunk in iterator:
            received.append(chunk)
            after_each()


async def _list(store: ObjectStore) -> list[ObjectInfo]:
    async with asyncio.timeout(30):
        return [info async for info in store.iter_objects()]


# -- listing and stat ------------------------------------------------------------------------


async def test_iter_objects_lists_every_object_once(store: ObjectStore) -> None:
    infos = await _list(store)
    assert sorted(info.key for info in infos) == sorted(SAMPLE)
    assert {info.key: info.size for info in infos} == {k: len(v) for k, v in SAMPLE.items()}


async def test_iter_objects_agrees_with_stat(store: ObjectStore) -> None:
    for listed in await _list(store):
        stated = await store.stat(listed.key)
        assert (stated.key, stated.size, stated.version) == (
            listed.key,
            listed.size,
            listed.version,
        )
        # S3 lists milliseconds but HEAD answers whole seconds.
        assert stated.mtime == pytest.approx(listed.mtime, abs=1.0)
        assert abs(stated.mtime - time.time()) < 3600


async def test_stat_reports_size_and_a_version(store: ObjectStore) -> None:
    info = await store.stat("big.bin")
    assert info.key == "big.bin"
    assert info.size == BIG_SIZE
    assert info.version
    assert '"' not in info.version


async def test_stat_of_a_zero_byte_object(store: ObjectStore) -> None:
    assert (await store.stat("empty.dat")).size == 0


async def test_version_changes_when_the_object_is_replaced(
    store: ObjectStore, backend: Backend
) -> None:
    before = await store.stat("nested/b.txt")
    backend.replace("nested/b.txt", b"c" * 10)
    assert (await store.stat("nested/b.txt")).version != before.version


# -- iter_range ------------------------------------------------------------------------------

RANGES = [
    (0, 1),
    (0, CHUNK - 1),
    (0, CHUNK),
    (0, CHUNK + 1),
    (CHUNK - 1, 2),
    (CHUNK, CHUNK),
    (1, 3 * CHUNK),
    (12345, 54321),
    (0, BIG_SIZE),
    (BIG_SIZE - 1, 1),
    (BIG_SIZE - CHUNK, CHUNK),
    (BIG_SIZE - CHUNK - 7, CHUNK + 7),
]


@pytest.mark.parametrize(("start", "length"), RANGES)
async def test_iter_range_yields_exactly_the_range(
    store: ObjectStore, start: int, length: int
) -> None:
    chunks = await _collect(store.iter_range("big.bin", start, length, chunk_size=CHUNK))
    assert b"".join(chunks) == BIG[start : start + length]


@pytest.mark.parametrize(("start", "length"), [(0, BIG_SIZE), (CHUNK - 1, 5 * CHUNK + 3)])
async def test_iter_range_chunks_never_exceed_chunk_size(
    store: ObjectStore, start: int, length: int
) -> None:
    chunks = await _collect(store.iter_range("big.bin", start, length, chunk_size=CHUNK))
    assert chunks
    assert max(len(chunk) for chunk in chunks) <= CHUNK
    assert all(chunks)  # no empty chunks


@pytest.mark.parametrize("key", ["big.bin", "empty.dat", "no/such/key"])
async def test_iter_range_of_zero_bytes_yields_nothing(store: ObjectStore, key: str) -> None:
    assert await _collect(store.iter_range(key, 0, 0)) == []


@pytest.mark.parametrize("key", sorted(SAMPLE))
async def test_iter_range_reads_whole_objects(store: ObjectStore, key: str) -> None:
    info = await store.stat(key)
    chunks = await _collect(store.iter_range(key, 0, info.size, version=info.version))
    assert b"".join(chunks) == SAMPLE[key]


async def test_iter_range_with_the_current_version_succeeds(store: ObjectStore) -> None:
    info = await store.stat("big.bin")
    chunks = await _collect(store.iter_range("big.bin", 10, 100, version=info.version))
    assert b"".join(chunks) == BIG[10:110]


async def test_iter_range_with_another_version_raises_object_changed(store: ObjectStore) -> None:
    with pytest.raises(ObjectChanged):
        await _collect(store.iter_range("big.bin", 0, 100, version="0123abcd"))


async def test_object_replaced_after_stat_raises_object_changed(
    store: ObjectStore, backend: Backend
) -> None:
    info = await store.stat("big.bin")
    backend.replace("big.bin", bytes(BIG_SIZE))  # same size, other bytes
    chunks = store.iter_range("big.bin", 0, BIG_SIZE, version=info.version, chunk_size=CHUNK)
    received: list[bytes] = []
    with pytest.raises(ObjectChanged):
        await _collect_into(received, chunks)
    assert received == []


@pytest.mark.parametrize(("start", "length"), [(BIG_SIZE - 10, 11), (BIG_SIZE, 1), (0, 10**9)])
async def test_iter_range_past_the_end_raises_object_changed(
    store: ObjectStore, start: int, length: int
) -> None:
    with pytest.raises(ObjectChanged):
        await _collect(store.iter_range("big.bin", start, length, chunk_size=CHUNK))


@pytest.mark.parametrize(("start", "length"), [(-1, 10), (0, -1)])
async def test_iter_range_rejects_negative_arguments(
    store: ObjectStore, start: int, length: int
) -> None:
    with pytest.raises(ValueError, match="invalid range"):
        await _collect(store.iter_range("big.bin", start, length))


async def test_early_aclose_releases_the_object(store: ObjectStore, backend: Backend) -> None:
    # Local: no descriptor is left open. S3: no pooled connection is left busy, so many more
    # abandoned reads than the pool holds still leave it usable.
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    rounds = 5 if backend.kind == "local" else 60
    await _collect(store.iter_range("big.bin", 0, CHUNK))  # warm up lazily created state
    before = open_fds()
    for _ in range(rounds):
        iterator = _generator(store.iter_range("big.bin", 0, BIG_SIZE, chunk_size=CHUNK))
        assert len(await anext(iterator)) == CHUNK
        await iterator.aclose()
    if backend.kind == "local":
        assert open_fds() == before
    async with asyncio.timeout(10):
        assert b"".join(await _collect(store.iter_range("big.bin", 0, BIG_SIZE))) == BIG


# -- read ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, 16, BIG[:16]),
        (CHUNK - 3, 10, BIG[CHUNK - 3 : CHUNK + 7]),
        (BIG_SIZE - 5, 100, BIG[-5:]),  # fewer bytes at the end
        (BIG_SIZE, 100, b""),
        (BIG_SIZE + 100, 1, b""),
        (10, 0, b""),
    ],
)
async def test_read_returns_the_range_or_less_at_the_end(
    store: ObjectStore, start: int, length: int, expected: bytes
) -> None:
    assert await store.read("big.bin", start, length) == expected


async def test_read_of_a_zero_byte_object_is_empty(store: ObjectStore) -> None:
    assert await store.read("empty.dat", 0, 100) == b""


# -- missing and invalid keys ----------------------------------------------------------------


@pytest.mark.parametrize("key", ["nope.bin", "nested/nope", "nested", "big.bin/x"])
async def test_missing_keys_raise_object_not_found(store: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    with pytest.raises(ObjectNotFound):
        await _collect(store.iter_range(key, 0, 1))
    with pytest.raises(ObjectNotFound):
        await store.read(key, 0, 1)


INVALID_KEYS = [
    "",
    "/etc/passwd",
    "../x",
    "a/../../x",
    "nested/../big.bin",
    "./big.bin",
    "nested//b.txt",
    "nested/",
    "big.bin\x00.txt",
    "..",
]


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_invalid_keys_raise_object_not_found(store: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    with pytest.raises(ObjectNotFound):
        await _collect(store.iter_range(key, 0, 1))
    with pytest.raises(ObjectNotFound):
        await store.read(key, 0, 1)


# -- check and a missing root ----------------------------------------------------------------


async def test_check_passes_on_a_reachable_store(store: ObjectStore) -> None:
    await store.check()


async def test_check_on_a_missing_root_raises_storage_unavailable(backend: Backend) -> None:
    missing = backend.missing()
    await missing.open()
    try:
        with pytest.raises(StorageUnavailable):
            await missing.check()
    finally:
        await missing.close()


async def test_listing_a_missing_root_raises_storage_unavailable(backend: Backend) -> None:
    missing = backend.missing()
    await missing.open()
    try:
        with pytest.raises(StorageUnavailable):
            await _list(missing)
    finally:
        await missing.close()


# -- local only ------------------------------------------------------------------------------


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    for key, data in SAMPLE.items():
        _write_file(root / key, data)
    return root


@pytest.fixture
async def local(library: Path) -> AsyncIterator[LocalStore]:
    store = LocalStore(library)
    await store.open()
    yield store
    await store.close()


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_local_path_rejects_keys_that_are_not_keys(library: Path, key: str) -> None:
    with pytest.raises(ObjectNotFound):
        LocalStore(library).local_path(key)


def test_local_path_is_the_real_path_inside_the_root(tmp_path: Path, library: Path) -> None:
    (tmp_path / "alias").symlink_to(library)
    path = LocalStore(tmp_path / "alias").local_path("nested/b.txt")
    assert path == (library / "nested" / "b.txt").resolve()


@pytest.mark.parametrize("name", [".hidden.bin", ".git/config", "nested/.DS_Store"])
async def test_hidden_files_and_directories_are_not_listed(
    local: LocalStore, library: Path, name: str
) -> None:
    _write_file(library / name, b"hidden")
    assert sorted(info.key for info in await _list(local)) == sorted(SAMPLE)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    _write_file(secret, b"not for you")
    return secret


@pytest.mark.parametrize(
    ("link", "target", "key"),
    [
        ("leak.txt", "file", "leak.txt"),
        ("leakdir", "dir", "leakdir/secret.txt"),
        ("nested/up.txt", "relative", "nested/up.txt"),
    ],
)
async def test_a_symlink_out_of_the_root_is_neither_listed_nor_readable(
    local: LocalStore, library: Path, outside: Path, link: str, target: str, key: str
) -> None:
    points_to = {
        "file": outside,
        "dir": outside.parent,
        "relative": Path("../../outside/secret.txt"),
    }[target]
    (library / link).symlink_to(points_to)
    assert key not in {info.key for info in await _list(local)}
    with pytest.raises(ObjectNotFound):
        await local.stat(key)
    with pytest.raises(ObjectNotFound):
        await _collect(local.iter_range(key, 0, 1))
    with pytest.raises(ObjectNotFound):
        await local.read(key, 0, 1)


async def test_a_symlink_inside_the_root_is_listed_and_readable(
    local: LocalStore, library: Path
) -> None:
    (library / "nested" / "alias.bin").symlink_to("../big.bin")
    (library / "shortcut").symlink_to("nested/deeper")
    keys = {info.key for info in await _list(local)}
    assert "nested/alias.bin" in keys
    assert (await local.stat("nested/alias.bin")).size == BIG_SIZE
    assert await local.read("shortcut/still/c.txt", 0, 5) == b"hello"


async def test_a_symlink_loop_does_not_hang_the_walk(local: LocalStore, library: Path) -> None:
    (library / "nested" / "deeper" / "up").symlink_to("..")
    (library / "nested" / "self").symlink_to(".")
    (library / "root").symlink_to(library)
    (library / "dangling").symlink_to("nowhere")
    (library / "knot").symlink_to("knot")
    keys = [info.key for info in await _list(local)]
    assert len(keys) == len(set(keys))
    # Each directory is entered once, by whichever name the walk meets first.
    assert {key.rsplit("/", 1)[-1] for key in keys} == {key.rsplit("/", 1)[-1] for key in SAMPLE}


async def test_a_fifo_is_neither_listed_nor_opened(local: LocalStore, library: Path) -> None:
    os.mkfifo(library / "nested" / "pipe.mp3")
    async with asyncio.timeout(10):
        assert "nested/pipe.mp3" not in {info.key for info in await _list(local)}
        with pytest.raises(ObjectNotFound):
            await local.stat("nested/pipe.mp3")
        with pytest.raises(ObjectNotFound):
            await _collect(local.iter_range("nested/pipe.mp3", 0, 1))
        with pytest.raises(ObjectNotFound):
            await local.read("nested/pipe.mp3", 0, 1)


async def test_object_shrinking_mid_read_raises_object_changed(
    local: LocalStore, library: Path
) -> None:
    info = await local.stat("big.bin")
    chunks = local.iter_range("big.bin", 0, BIG_SIZE, version=info.version, chunk_size=CHUNK)
    received: list[bytes] = []

    def shrink_after_first_chunk() -> None:
        if len(received) == 1:
            os.truncate(library / "big.bin", CHUNK + 100)

    with pytest.raises(ObjectChanged):
        await _collect_into(received, chunks, shrink_after_first_chunk)
    # The matching first chunk went out; the short second read was never yielded.
    assert received == [BIG[:CHUNK]]


async def test_check_on_a_file_instead_of_a_directory_raises(library: Path) -> None:
    with pytest.raises(StorageUnavailable):
        await LocalStore(library / "big.bin").check()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
async def test_an_unreadable_directory_is_skipped_and_logged(
    local: LocalStore, library: Path, caplog: pytest.LogCaptureFixture
) -> None:
    locked = library / "nested" / "deeper"
    locked.chmod(0)
    try:
        with caplog.at_level(logging.WARNING, logger="streamer.storage"):
            keys = {info.key for info in await _list(local)}
    finally:
        locked.chmod(0o755)
    assert keys == set(SAMPLE) - {"nested/deeper/still/c.txt"}
    assert "unreadable directory" in caplog.text


MANY = 10_000


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many")
    for d in range(100):
        directory = root / f"d{d:02}"
        directory.mkdir(parents=True)
        for f in range(MANY // 100):
            fd = os.open(directory / f"{f:03}.bin", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x")
            os.close(fd)
    return root


async def test_ten_thousand_files_are_listed_quickly(many_files: Path) -> None:
    store = LocalStore(many_files)
    started = time.perf_counter()
    count = sum([1 async for _ in store.iter_objects()])
    elapsed = time.perf_counter() - started
    print(f"listed {count} files in {elapsed:.3f}s")
    assert count == MANY
    assert elapsed < 20


async def test_stopping_a_listing_early_stops_the_walker(many_files: Path) -> None:
    iterator = LocalStore(many_files).iter_objects()
    first = await anext(iterator)
    assert first.size == 1
    async with asyncio.timeout(5):
        await iterator.aclose()


# -- S3 only ---------------------------------------------------------------------------------


@pytest.fixture
async def s3_store(s3_bucket: S3Bucket, s3_settings: Settings) -> AsyncIterator[S3Store]:
    for key, data in SAMPLE.items():
        s3_bucket.put(f"{S3_PREFIX}/{key}", data)
    store = open_store(f"s3://{s3_bucket.name}/{S3_PREFIX}/", s3_settings)
    assert isinstance(store, S3Store)
    await store.open()
    yield store
    await store.close()


async def test_presigned_url_serves_the_object(s3_store: S3Store) -> None:
    url = await s3_store.presigned_url("nested/b.txt", expires=60)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == SAMPLE["nested/b.txt"]


async def test_s3_listing_skips_folder_markers_and_unreadable_keys(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    s3_bucket.put(f"{S3_PREFIX}/folder/", b"")
    s3_bucket.put(f"{S3_PREFIX}/odd//key", b"x")
    s3_bucket.put(f"{S3_PREFIX}/../escape", b"x")
    assert sorted(info.key for info in await _list(s3_store)) == sorted(SAMPLE)


async def test_s3_version_is_the_etag_without_quotes(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=f"{S3_PREFIX}/big.bin")
    assert (await s3_store.stat("big.bin")).version == head["ETag"].strip('"')


async def test_s3_check_on_an_unreachable_endpoint_raises(s3_settings: Settings) -> None:
    settings = s3_settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"})
    store = open_store("s3://bucket/prefix", settings)
    await store.open()
    try:
        async with asyncio.timeout(15):
            with pytest.raises(StorageUnavailable):
                await store.check()
    finally:
        await store.close()


async def test_s3_store_used_before_open_says_so(s3_settings: Settings) -> None:
    store = open_store("s3://bucket/prefix", s3_settings)
    with pytest.raises(RuntimeError, match="not open"):
        await store.stat("x")


# -- factory ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "store_url"),
    [
        ("/srv/music", LocalStore, "/srv/music"),
        ("relative/dir", LocalStore, "relative/dir"),
        ("file:///srv/my%20music", LocalStore, "/srv/my music"),
        ("file://localhost/srv/music", LocalStore, "/srv/music"),
        ("s3://bucket/some/prefix", S3Store, "s3://bucket/some/prefix"),
        ("s3://bucket/some/prefix/", S3Store, "s3://bucket/some/prefix"),
        ("s3://bucket", S3Store, "s3://bucket/"),
    ],
)
def test_open_store_picks_the_backend_from_the_url(
    url: str, kind: type[ObjectStore], store_url: str
) -> None:
    store = open_store(url, Settings.load({}))
    assert isinstance(store, kind)
    assert store.url == store_url


@pytest.mark.parametrize(
    "url", ["", "s3://", "s3:///prefix", "http://example.com/x", "file://host/x", "s3://b/p?x=1"]
)
def test_open_store_rejects_urls_it_cannot_serve(url: str) -> None:
    with pytest.raises(SettingsError):
        open_store(url, Settings.load({}))
