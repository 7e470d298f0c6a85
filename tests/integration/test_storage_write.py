"""Writing through the ObjectStore: put, delete, delete by prefix, on a real directory tree and
a real S3 API (moto).

Tests that take the ``store`` fixture run once per backend; the rest name their backend.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamer.settings import Settings
from streamer.storage.base import (
    DERIVED_PREFIX,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
    derived_key,
)
from streamer.storage.factory import open_store
from streamer.storage.local import LocalStore
from streamer.storage.s3 import S3Store
from tests.fixtures.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Bucket, s3_client
from tests.fixtures.servers import free_port, wait_until_listening

MB = 1024 * 1024
S3_PREFIX = "library/v1"
SOURCES: dict[str, bytes] = {"album/01 song.mp3": b"ID3" + bytes(100), "cover.jpg": b"\xff\xd8"}

# Above S3Store.multipart_threshold, and not a multiple of its part size.
LARGE_SIZE = 20 * MB + 12345
LARGE = random.Random(20261102).randbytes(LARGE_SIZE)


@dataclass
class Backend:
    """A store holding SOURCES, and a look at its objects from outside the store."""

    kind: str
    store: ObjectStore
    list_raw: Callable[[], list[str]]

    def stored_keys(self) -> list[str]:
        """Every key really stored (hidden, derived and temporary files included), sorted."""
        return sorted(self.list_raw())


def _local_keys(root: Path) -> list[str]:
    return [
        str(Path(directory, name).relative_to(root))
        for directory, _, names in os.walk(root)
        for name in names
    ]


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        root = tmp_path / "library"
        for key, data in SOURCES.items():
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)
        store = open_store(str(root), Settings.load({}))
        return Backend("local", store, lambda: _local_keys(root))
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    settings: Settings = request.getfixturevalue("s3_settings")
    for key, data in SOURCES.items():
        bucket.put(f"{S3_PREFIX}/{key}", data)
    bucket.put(f"{S3_PREFIX}-sibling/a/b/x", b"a sibling prefix, not ours")

    def s3_keys() -> list[str]:
        listed = bucket.client.list_objects_v2(Bucket=bucket.name, Prefix=f"{S3_PREFIX}/")
        return [entry["Key"][len(S3_PREFIX) + 1 :] for entry in listed.get("Contents", [])]

    store = open_store(f"s3://{bucket.name}/{S3_PREFIX}", settings)
    return Backend("s3", store, s3_keys)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[ObjectStore]:
    await backend.store.open()
    try:
        yield backend.store
    finally:
        await backend.store.close()


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sources") / "large.bin"
    path.write_bytes(LARGE)
    return path


def _file(tmp_path: Path, data: bytes, name: str = "source.bin") -> Path:
    path = tmp_path / "sources" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def _read_all(store: ObjectStore, key: str) -> bytes:
    info = await store.stat(key)
    return await store.read(key, 0, info.size)


async def _list_keys(store: ObjectStore) -> list[str]:
    async with asyncio.timeout(30):
        return sorted([info.key async for info in store.iter_objects()])


def test_both_backends_implement_the_protocol(backend: Backend) -> None:
    assert isinstance(backend.store, ObjectStore)


# -- put_file and put_bytes -------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, 8 * MB - 1])
async def test_put_file_stores_the_exact_bytes(
    store: ObjectStore, tmp_path: Path, size: int
) -> None:
    data = random.Random(size).randbytes(size)
    await store.put_file(".streamer/t/1/128k.mp4", _file(tmp_path, data))
    assert (await store.stat(".streamer/t/1/128k.mp4")).size == size
    assert await _read_all(store, ".streamer/t/1/128k.mp4") == data


async def test_put_file_stores_a_large_file_exactly(store: ObjectStore, large_file: Path) -> None:
    info = await store.put_file("renditions/large.mp4", large_file)
    assert info.size == LARGE_SIZE
    assert await _read_all(store, "renditions/large.mp4") == LARGE


async def test_put_file_returns_the_info_stat_reports(store: ObjectStore, tmp_path: Path) -> None:
    info = await store.put_file("x/y.bin", _file(tmp_path, b"hello"))
    stated = await store.stat("x/y.bin")
    assert (info.key, info.size, info.version) == ("x/y.bin", 5, stated.version)
    assert info.mtime == pytest.approx(stated.mtime, abs=1.0)


async def test_put_file_leaves_the_source_file_in_place(store: ObjectStore, tmp_path: Path) -> None:
    source = _file(tmp_path, b"keep me")
    await store.put_file("copy.bin", source)
    assert source.read_bytes() == b"keep me"
    await store.put_bytes("copy.bin", b"changed")  # the stored object is not the source
    assert source.read_bytes() == b"keep me"


async def test_a_consumed_file_is_stored_and_outlives_its_source(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = _file(tmp_path, b"an upload, given up")
    info = await store.put_file("given.bin", source, consume=True)
    source.unlink()  # what the caller does next
    assert info.size == len(b"an upload, given up")
    assert await store.read("given.bin", 0, info.size) == b"an upload, given up"


async def test_a_consumed_local_file_is_linked_not_copied(tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    store = open_store(str(root), Settings.load({}))
    await store.open()
    try:
        source = _file(tmp_path, b"x" * 100_000)
        await store.put_file("linked.bin", source, consume=True)
        assert (root / "linked.bin").stat().st_ino == source.stat().st_ino
        await store.put_file("copied.bin", source)
        assert (root / "copied.bin").stat().st_ino != source.stat().st_ino
    finally:
        await store.close()


@pytest.mark.parametrize("data", [b"", b"{}", b'{"segments": []}' * 1000])
async def test_put_bytes_stores_the_exact_bytes(store: ObjectStore, data: bytes) -> None:
    info = await store.put_bytes(".streamer/t/1/128k.index.json", data)
    assert info.size == len(data)
    assert await _read_all(store, ".streamer/t/1/128k.index.json") == data


async def _pieces(data: bytes, seed: int = 0) -> AsyncIterator[bytes]:
    """``data`` in pieces of uneven sizes, as a request body arrives."""
    rng = random.Random(seed)
    position = 0
    while position < len(data):
        size = rng.choice([1, 100, 65536, 300_000])
        yield data[position : position + size]
        position += size
        await asyncio.sleep(0)


class _Dropped(Exception):
    """The producer of a stream failed half way (a client went away)."""


async def _failing(data: bytes) -> AsyncIterator[bytes]:
    async for piece in _pieces(data):
        yield piece
    raise _Dropped


@pytest.mark.parametrize("size", [0, 1, 1000, LARGE_SIZE])
async def test_put_stream_stores_the_exact_bytes(store: ObjectStore, size: int) -> None:
    data = LARGE[:size]
    info = await store.put_stream("pieces/a/0001", _pieces(data), size_hint=size)
    assert (info.key, info.size) == ("pieces/a/0001", size)
    assert info.version == (await store.stat("pieces/a/0001")).version
    assert await _read_all(store, "pieces/a/0001") == data


@pytest.mark.parametrize("size", [1000, LARGE_SIZE])
async def test_a_stream_that_fails_stores_nothing_and_its_error_propagates(
    store: ObjectStore, backend: Backend, size: int
) -> None:
    before = backend.stored_keys()
    with pytest.raises(_Dropped):
        await store.put_stream("pieces/b/0001", _failing(LARGE[:size]))
    with pytest.raises(ObjectNotFound):
        await store.stat("pieces/b/0001")
    assert backend.stored_keys() == before  # no temporary file, no object


@pytest.mark.parametrize("how", ["put_file", "put_bytes"])
async def test_overwriting_changes_the_version_and_the_bytes(
    store: ObjectStore, tmp_path: Path, how: str
) -> None:
    async def put(data: bytes) -> ObjectInfo:
        if how == "put_file":
            return await store.put_file("o.bin", _file(tmp_path, data, name=data.hex()))
        return await store.put_bytes("o.bin", data)

    first = await put(b"first!")
    second = await put(b"second")  # same size
    assert second.version != first.version
    assert (await store.stat("o.bin")).version == second.version
    assert await _read_all(store, "o.bin") == b"second"


async def test_put_file_of_a_missing_source_raises_os_error_and_stores_nothing(
    store: ObjectStore, backend: Backend, tmp_path: Path
) -> None:
    before = backend.stored_keys()
    with pytest.raises(FileNotFoundError):
        await store.put_file("never.bin", tmp_path / "no-such-file")
    assert backend.stored_keys() == before


async def test_put_file_of_a_directory_raises_os_error(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="not a regular file"):
        await store.put_file("never.bin", tmp_path)


INVALID_KEYS = ["", "/etc/passwd", "../x", "a/../../x", "./a", "a//b", "a/", "a\x00b", ".."]


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_writes_refuse_keys_that_are_not_keys(
    store: ObjectStore, backend: Backend, tmp_path: Path, key: str
) -> None:
    before = backend.stored_keys()
    source = _file(tmp_path, b"x")
    with pytest.raises(ObjectNotFound):
        await store.put_file(key, source)
    with pytest.raises(ObjectNotFound):
        await store.put_bytes(key, b"x")
    with pytest.raises(ObjectNotFound):
        await store.delete(key)
    assert backend.stored_keys() == before


# -- delete -----------------------------------------------------------------------------------


async def test_delete_removes_the_object(store: ObjectStore) -> None:
    await store.put_bytes("d/e/f.bin", b"x")
    await store.delete("d/e/f.bin")
    with pytest.raises(ObjectNotFound):
        await store.stat("d/e/f.bin")


@pytest.mark.parametrize("key", ["never-there.bin", "no/such/dir/x", "album"])
async def test_delete_of_a_missing_key_is_not_an_error(
    store: ObjectStore, backend: Backend, key: str
) -> None:
    before = backend.stored_keys()
    await store.delete(key)
    await store.delete(key)
    assert backend.stored_keys() == before


async def test_delete_twice_is_not_an_error(store: ObjectStore) -> None:
    await store.put_bytes("twice.bin", b"x")
    await store.delete("twice.bin")
    await store.delete("twice.bin")
    assert "twice.bin" not in await _list_keys(store)


async def test_delete_leaves_other_objects_alone(store: ObjectStore, backend: Backend) -> None:
    await store.put_bytes("album/02 other.mp3", b"x")
    await store.delete("album/02 other.mp3")
    assert backend.stored_keys() == sorted(SOURCES)


# -- delete_prefix ----------------------------------------------------------------------------

TREE = ["a/b/1", "a/b/c/2", "a/b/c/d/3", "a/bc", "a/b.txt", "a/bcd/4", "a/x", "ab"]


@pytest.fixture
async def tree(store: ObjectStore) -> ObjectStore:
    for key in TREE:
        await store.put_bytes(key, key.encode())
    return store


@pytest.mark.parametrize(
    ("prefix", "deleted"),
    [
        ("a/b/", ["a/b/1", "a/b/c/2", "a/b/c/d/3"]),
        ("a/b/c/", ["a/b/c/2", "a/b/c/d/3"]),
        ("a/b", ["a/b/1", "a/b/c/2", "a/b/c/d/3", "a/bc", "a/b.txt", "a/bcd/4"]),
        ("a/bc", ["a/bc", "a/bcd/4"]),
        ("a/b/1", ["a/b/1"]),
        ("a/", [key for key in TREE if key.startswith("a/")]),
        ("a", [*TREE, "album/01 song.mp3"]),
        ("nothing/", []),
        ("a/b/1/", []),  # a file is not a directory
        ("zzz", []),
    ],
)
async def test_delete_prefix_deletes_exactly_the_keys_starting_with_it(
    tree: ObjectStore, backend: Backend, prefix: str, deleted: list[str]
) -> None:
    everything = sorted([*TREE, *SOURCES])
    expected_deleted = sorted(key for key in everything if key.startswith(prefix))
    assert sorted(set(deleted)) == expected_deleted  # the table agrees with S3's meaning
    assert await tree.delete_prefix(prefix) == len(expected_deleted)
    assert backend.stored_keys() == sorted(set(everything) - set(expected_deleted))
    for key in set(everything) - set(expected_deleted):
        assert await _read_all(tree, key) == (SOURCES[key] if key in SOURCES else key.encode())


async def test_delete_prefix_twice_deletes_nothing_the_second_time(tree: ObjectStore) -> None:
    assert await tree.delete_prefix("a/b/") == 3
    assert await tree.delete_prefix("a/b/") == 0


INVALID_PREFIXES = ["", "/", "/a/", "../", "a/../", "a//", "./", "a/.", "a/..", "..", "a\x00/"]


@pytest.mark.parametrize("prefix", INVALID_PREFIXES)
async def test_delete_prefix_refuses_prefixes_that_are_not_key_prefixes(
    tree: ObjectStore, backend: Backend, prefix: str
) -> None:
    before = backend.stored_keys()
    with pytest.raises(ObjectNotFound):
        await tree.delete_prefix(prefix)
    assert backend.stored_keys() == before


async def test_delete_prefix_of_a_track_removes_its_derived_objects(
    store: ObjectStore, tmp_path: Path
) -> None:
    for name in ("64k.mp4", "64k.index.json", "128k.mp4", "128k.index.json", "cover.jpg"):
        await store.put_bytes(derived_key("tracks", "42", name), b"x")
    await store.put_bytes(derived_key("tracks", "420", "64k.mp4"), b"y")
    assert await store.delete_prefix(derived_key("tracks", "42") + "/") == 5
    assert await _read_all(store, derived_key("tracks", "420", "64k.mp4")) == b"y"


# -- derived objects --------------------------------------------------------------------------


async def test_derived_objects_are_not_listed_but_can_be_read(
    store: ObjectStore, tmp_path: Path
) -> None:
    key = derived_key("tracks", "7", "128k.mp4")
    await store.put_file(key, _file(tmp_path, b"fmp4"))
    await store.put_bytes(derived_key("tracks", "7", "cover.jpg"), b"jpeg")
    assert await _list_keys(store) == sorted(SOURCES)
    assert await _read_all(store, key) == b"fmp4"


def test_derived_key_is_under_the_derived_prefix() -> None:
    assert derived_key("tracks", "42", "128k.mp4") == ".streamer/tracks/42/128k.mp4"
    assert derived_key("x").startswith(DERIVED_PREFIX)


@pytest.mark.parametrize("parts", [(), ("",), ("a/b",), ("..",), (".",), ("a", "\x00")])
def test_derived_key_rejects_parts_that_are_not_components(parts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"derived key|component"):
        derived_key(*parts)


# -- local only -------------------------------------------------------------------------------


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    (root / "song.mp3").write_bytes(b"source")
    return root


@pytest.fixture
async def local(library: Path) -> AsyncIterator[LocalStore]:
    store = LocalStore(library)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_bytes(b"not for you")
    return directory


def _all_entries(root: Path) -> list[str]:
    """Every file, directory and symlink under ``root`` (hidden ones included)."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


async def test_a_concurrent_reader_never_sees_a_partial_object(
    local: LocalStore, tmp_path: Path
) -> None:
    size = 32 * MB
    old, new = b"o" * size, random.Random(1).randbytes(size)
    await local.put_bytes("big.mp4", old)
    source = _file(tmp_path, new)
    putting = asyncio.ensure_future(local.put_file("big.mp4", source))
    seen_old = seen_new = 0
    async with asyncio.timeout(60):
        while True:
            done = putting.done()
            data = await local.read("big.mp4", 0, size + 1)  # ObjectNotFound would fail here
            assert data in (old, new), f"a partial object of {len(data)} bytes"
            seen_old += data == old
            seen_new += data == new
            if done:
                break
    await putting
    print(f"reads during the put: {seen_old} old, {seen_new} new")
    assert seen_old >= 1
    assert seen_new >= 1


async def test_writes_leave_no_temporary_files(local: LocalStore, library: Path) -> None:
    await local.put_bytes("a/b/c.json", b"{}")
    await local.put_bytes("a/b/c.json", b"[]")
    assert _all_entries(library) == ["a", "a/b", "a/b/c.json", "song.mp3"]


async def test_a_failed_write_leaves_no_trace(local: LocalStore, library: Path) -> None:
    (library / "taken").mkdir()
    with pytest.raises(StorageError):
        await local.put_bytes("taken", b"a directory is in the way")
    assert _all_entries(library) == ["song.mp3", "taken"]


@pytest.mark.parametrize("key", ["song.mp3/x", "song.mp3/x/y"])
async def test_a_file_in_the_way_of_a_directory_raises_storage_error(
    local: LocalStore, library: Path, key: str
) -> None:
    with pytest.raises(StorageError) as raised:
        await local.put_bytes(key, b"x")
    assert not isinstance(raised.value, ObjectNotFound | StorageUnavailable)
    assert raised.value.__cause__ is not None
    assert (library / "song.mp3").read_bytes() == b"source"


async def test_written_files_follow_the_umask(local: LocalStore, library: Path) -> None:
    await local.put_bytes("x.json", b"{}")
    umask = os.umask(0o22)
    os.umask(umask)
    assert (library / "x.json").stat().st_mode & 0o777 == 0o666 & ~umask


async def test_writes_into_a_missing_root_raise_and_create_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "gone")
    with pytest.raises(StorageUnavailable):
        await store.put_bytes("a/b.json", b"{}")
    with pytest.raises(StorageUnavailable):
        await store.delete_prefix("a/")
    assert not (tmp_path / "gone").exists()


async def test_delete_removes_emptied_directories_but_not_the_root(
    local: LocalStore, library: Path
) -> None:
    await local.put_bytes("x/y/z/1.bin", b"1")
    await local.put_bytes("x/2.bin", b"2")
    await local.delete("x/y/z/1.bin")
    assert _all_entries(library) == ["song.mp3", "x", "x/2.bin"]
    await local.delete("x/2.bin")
    await local.delete("song.mp3")
    assert library.is_dir()
    assert _all_entries(library) == []


async def test_delete_prefix_removes_emptied_directories_but_not_the_root(
    local: LocalStore, library: Path
) -> None:
    await local.put_bytes("p/q/r/1.bin", b"1")
    await local.put_bytes("p/q/s/2.bin", b"2")
    await local.put_bytes("p/t.bin", b"3")
    assert await local.delete_prefix("p/q/") == 2
    assert _all_entries(library) == ["p", "p/t.bin", "song.mp3"]
    assert await local.delete_prefix("p") == 1
    assert _all_entries(library) == ["song.mp3"]


async def test_delete_prefix_counts_hidden_files_too(local: LocalStore, library: Path) -> None:
    await local.put_bytes("h/.partial", b"x")
    await local.put_bytes("h/visible", b"x")
    assert await local.delete_prefix("h/") == 2


@pytest.mark.parametrize("link", ["leakdir", "deep/leakdir"])
async def test_writes_through_a_symlink_out_of_the_root_are_refused(
    local: LocalStore, library: Path, outside: Path, link: str
) -> None:
    (library / link).parent.mkdir(parents=True, exist_ok=True)
    (library / link).symlink_to(outside)
    with pytest.raises(ObjectNotFound):
        await local.put_bytes(f"{link}/x.json", b"{}")
    with pytest.raises(ObjectNotFound):
        await local.put_bytes(f"{link}/new/dir/x.json", b"{}")
    with pytest.raises(ObjectNotFound):
        await local.delete(f"{link}/secret.txt")
    with pytest.raises(ObjectNotFound):
        await local.delete_prefix(f"{link}/")
    assert _all_entries(outside) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"not for you"


async def test_delete_prefix_unlinks_symlinks_without_following_them(
    local: LocalStore, library: Path, outside: Path
) -> None:
    await local.put_bytes("gone/keep-me-not.bin", b"x")
    (library / "gone" / "dirlink").symlink_to(outside)
    (library / "gone" / "filelink").symlink_to(outside / "secret.txt")
    (library / "gone" / "inside").symlink_to(library / "song.mp3")
    assert await local.delete_prefix("gone/") == 4
    assert _all_entries(outside) == ["secret.txt"]
    assert (library / "song.mp3").read_bytes() == b"source"
    assert _all_entries(library) == ["song.mp3"]


async def test_delete_of_a_symlink_removes_the_link_not_its_target(
    local: LocalStore, library: Path, outside: Path
) -> None:
    (library / "link.txt").symlink_to(outside / "secret.txt")
    await local.delete("link.txt")
    assert not (library / "link.txt").is_symlink()
    assert (outside / "secret.txt").read_bytes() == b"not for you"


async def test_put_replaces_a_symlink_rather_than_writing_through_it(
    local: LocalStore, library: Path, outside: Path
) -> None:
    (library / "link.txt").symlink_to(outside / "secret.txt")
    await local.put_bytes("link.txt", b"mine")
    assert not (library / "link.txt").is_symlink()
    assert (library / "link.txt").read_bytes() == b"mine"
    assert (outside / "secret.txt").read_bytes() == b"not for you"


async def test_the_derived_directory_is_hidden_from_the_walker(
    local: LocalStore, library: Path
) -> None:
    await local.put_bytes(derived_key("tracks", "1", "a.json"), b"{}")
    assert (library / ".streamer" / "tracks" / "1" / "a.json").read_bytes() == b"{}"
    assert await _list_keys(local) == ["song.mp3"]


# -- S3 only ----------------------------------------------------------------------------------


@pytest.fixture
async def s3_store(s3_bucket: S3Bucket, s3_settings: Settings) -> AsyncIterator[S3Store]:
    store = open_store(f"s3://{s3_bucket.name}/{S3_PREFIX}", s3_settings)
    assert isinstance(store, S3Store)
    await store.open()
    yield store
    await store.close()


def _head(bucket: S3Bucket, key: str) -> dict[str, object]:
    head: dict[str, object] = bucket.client.head_object(
        Bucket=bucket.name, Key=f"{S3_PREFIX}/{key}"
    )
    return head


async def test_s3_a_large_file_goes_up_as_a_multipart_upload(
    s3_store: S3Store, s3_bucket: S3Bucket, large_file: Path
) -> None:
    info = await s3_store.put_file("large.mp4", large_file)
    parts = -(-LARGE_SIZE // s3_store.multipart_chunksize)
    assert info.version.endswith(f"-{parts}")  # the ETag of a multipart object
    assert str(_head(s3_bucket, "large.mp4")["ETag"]).strip('"') == info.version


async def test_s3_a_small_file_goes_up_in_one_put(
    s3_store: S3Store, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    info = await s3_store.put_file("small.json", _file(tmp_path, b"{}"))
    assert re.fullmatch(r"[0-9a-f]{32}", info.version)  # a plain MD5 ETag


@pytest.mark.parametrize("size", [10, LARGE_SIZE])
async def test_s3_put_file_stores_the_content_type(
    s3_store: S3Store, s3_bucket: S3Bucket, large_file: Path, tmp_path: Path, size: int
) -> None:
    source = large_file if size == LARGE_SIZE else _file(tmp_path, bytes(size))
    await s3_store.put_file("r.mp4", source, content_type="audio/mp4")
    assert _head(s3_bucket, "r.mp4")["ContentType"] == "audio/mp4"


async def test_s3_put_bytes_stores_the_content_type(s3_store: S3Store, s3_bucket: S3Bucket) -> None:
    await s3_store.put_bytes("i.json", b"{}", content_type="application/json")
    assert _head(s3_bucket, "i.json")["ContentType"] == "application/json"


async def test_s3_writes_stay_under_the_store_prefix(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    await s3_store.put_bytes("k.json", b"{}")
    listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)
    assert [entry["Key"] for entry in listed["Contents"]] == [f"{S3_PREFIX}/k.json"]


async def test_s3_delete_prefix_never_reaches_a_sibling_prefix(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    s3_bucket.put(f"{S3_PREFIX}-sibling/a/x", b"not ours")
    s3_bucket.put(f"{S3_PREFIX}/a/x", b"ours")
    assert await s3_store.delete_prefix("a") == 1
    listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)
    assert [entry["Key"] for entry in listed["Contents"]] == [f"{S3_PREFIX}-sibling/a/x"]


async def test_s3_delete_prefix_deletes_in_batches(s3_store: S3Store) -> None:
    s3_store.delete_batch_size = 3
    for n in range(10):
        await s3_store.put_bytes(f"batch/{n}", b"x")
    assert await s3_store.delete_prefix("batch/") == 10
    assert await _list_keys(s3_store) == []


async def test_s3_listing_skips_derived_objects_put_by_anyone(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    s3_bucket.put(f"{S3_PREFIX}/.streamer/tracks/1/x.mp4", b"derived")
    s3_bucket.put(f"{S3_PREFIX}/.streamerish/y.mp3", b"a source after all")
    assert await _list_keys(s3_store) == [".streamerish/y.mp3"]


async def test_s3_a_cancelled_multipart_upload_is_aborted(
    s3_store: S3Store, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    # Small sequential parts, so the upload is still running when it is cancelled.
    s3_store.multipart_threshold = s3_store.multipart_chunksize = 5 * MB  # S3's minimum part
    s3_store.upload_concurrency = 1
    source = _file(tmp_path, bytes(60 * MB))

    def uploads_in_progress() -> int:
        listed = s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name)
        return len(listed.get("Uploads", []))

    putting = asyncio.ensure_future(s3_store.put_file("cancelled.mp4", source))
    async with asyncio.timeout(30):
        while not await asyncio.to_thread(uploads_in_progress):
            assert not putting.done()
            await asyncio.sleep(0.01)
        putting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await putting
    assert await asyncio.to_thread(uploads_in_progress) == 0
    with pytest.raises(ObjectNotFound):
        await s3_store.stat("cancelled.mp4")


async def test_s3_a_long_stream_goes_up_as_a_multipart_upload_of_bounded_parts(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    s3_store.multipart_chunksize = 5 * MB  # S3's minimum part
    info = await s3_store.put_stream("streamed.bin", _pieces(LARGE), size_hint=LARGE_SIZE)
    assert info.version.endswith(f"-{-(-LARGE_SIZE // (5 * MB))}")  # 5 MB parts
    listed = s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name)
    assert listed.get("Uploads", []) == []


async def test_s3_a_failed_stream_aborts_its_multipart_upload(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    s3_store.multipart_chunksize = 5 * MB
    with pytest.raises(_Dropped):
        await s3_store.put_stream("dropped.bin", _failing(LARGE))
    listed = s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name)
    assert listed.get("Uploads", []) == []


async def test_s3_put_stream_stores_the_content_type(
    s3_store: S3Store, s3_bucket: S3Bucket
) -> None:
    await s3_store.put_stream("t.bin", _pieces(b"abc"), content_type="audio/flac")
    assert _head(s3_bucket, "t.bin")["ContentType"] == "audio/flac"


async def test_s3_writes_to_a_missing_bucket_raise_storage_unavailable(
    s3_settings: Settings, tmp_path: Path
) -> None:
    store = open_store(f"s3://no-such-{uuid.uuid4().hex[:12]}/x", s3_settings)
    await store.open()
    try:
        with pytest.raises(StorageUnavailable) as raised:
            await store.put_bytes("a.json", b"{}")
        assert raised.value.__cause__ is not None
        with pytest.raises(StorageUnavailable):
            await store.put_file("a.bin", _file(tmp_path, bytes(10)))
        with pytest.raises(StorageUnavailable):
            await store.delete_prefix("a/")
    finally:
        await store.close()


# -- memory: a large upload against moto in its own process -----------------------------------
# In this process, moto would hold every uploaded part in our memory too.


@pytest.fixture(scope="module")
def external_s3() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, timeout=30, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _vm_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


@pytest.mark.slow
async def test_s3_a_200_mb_upload_stays_within_bounded_memory(
    external_s3: str, tmp_path: Path
) -> None:
    size = 200 * MB
    source = tmp_path / "sparse.bin"
    with source.open("wb") as handle:  # sparse: instant, and reads back as zeros
        handle.truncate(size)
    bucket = f"memory-{uuid.uuid4().hex[:12]}"
    s3_client(external_s3).create_bucket(Bucket=bucket)
    store = S3Store(
        bucket,
        "p",
        endpoint_url=external_s3,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    await store.open()
    try:
        await store.put_bytes("warm-up", b"x")  # client, pools and lazy imports
        before = _vm_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM, the peak RSS, to the current RSS
        async with asyncio.timeout(240):
            info = await store.put_file("big.mp4", source, content_type="audio/mp4")
        peak = _vm_kib("VmHWM")
    finally:
        await store.close()
    growth_mb = (peak - before) / 1024
    print(f"peak RSS grew by {growth_mb:.1f} MB for a {size // MB} MB upload")
    assert info.size == size
    assert info.version.endswith(f"-{size // store.multipart_chunksize}")
    assert growth_mb < 60


async def test_derived_objects_are_listed_apart_from_the_library(store: ObjectStore) -> None:
    await store.put_bytes(".streamer/tracks/t1/run/aac_128.mp4", b"derived")
    derived = [info.key async for info in store.iter_derived()]
    library = [info.key async for info in store.iter_objects()]
    assert derived == [".streamer/tracks/t1/run/aac_128.mp4"]
    assert not any(key.startswith(".streamer/") for key in library)
    assert library  # the sources are still listed
