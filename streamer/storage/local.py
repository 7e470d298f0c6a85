"""The local-filesystem ObjectStore: a library is a directory tree.

Every filesystem call runs in a worker thread. Keys are resolved as starlette's
``StaticFiles.lookup_path`` does: ``os.path.realpath`` of root and key, then an
``os.path.commonpath`` containment check, so neither ``..`` nor a symlink can leave the root.

Writes go to a hidden temporary file beside the destination, are fsynced and then renamed
over it (``os.replace``), so a reader holds either the old inode or the complete new one, and
the walker, which skips hidden names, never lists a half-written file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import os
import secrets
import stat as stat_mode
import threading
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from streamer.storage.base import (
    DERIVED_PREFIX,
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from streamer.storage.keys import check_key, check_prefix, check_range

__all__ = ["LocalStore", "write_all"]

logger = logging.getLogger("streamer.storage")

# Errors that mean "this key names nothing readable", as opposed to a failing disk.
_NOT_FOUND_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG})

_BATCH_SIZE = 512  # objects per hop from the walker thread to the loop
_QUEUE_BATCHES = 8  # batches buffered before the walker waits for the consumer
_PUT_POLL_SECONDS = 0.25  # how often a waiting walker checks whether the consumer left
_WALKER_JOIN_SECONDS = 10.0  # how long aclose() waits for the walker thread to notice

# A file or directory stands where a write needs the other ("a" is a file, "a/b" is wanted).
_CONFLICT_ERRNOS = frozenset({errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY})
# copy_file_range cannot serve this pair of files: copy through user space instead.
_NO_COPY_RANGE_ERRNOS = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}
)
_COPY_RANGE_SIZE = 64 * 1024 * 1024  # per copy_file_range call: kernel-side, no buffer
_COPY_BUFFER_SIZE = 1024 * 1024  # per read/write when copying through user space
_STREAM_BATCH = 1024 * 1024  # bytes gathered from a stream per thread hop (put_stream)
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _version(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}"


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime, version=_version(st))


def _is_inside(real_root: str, real_path: str) -> bool:
    return os.path.commonpath([real_root, real_path]) == real_root


def _copy_fd(source: int, destination: int) -> None:
    """Copy from ``source``'s position to its end into ``destination``, in the kernel if it can."""
    try:
        # The kernel moves the bytes (and may share extents on CoW filesystems): no buffer.
        while os.copy_file_range(source, destination, _COPY_RANGE_SIZE):
            pass
        return
    except OSError as exc:
        if exc.errno not in _NO_COPY_RANGE_ERRNOS:
            raise
    # Both offsets advanced by whatever was copied, so carrying on from here is exact.
    while data := os.read(source, _COPY_BUFFER_SIZE):
        write_all(destination, data)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a blocking descriptor (os.write may take less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(path: str) -> None:
    """Make a rename in ``path`` durable; best effort (some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_entries(dir_fd: int, name_prefix: str) -> int:
    """Remove the entries of an open directory whose names start with ``name_prefix``,
    subdirectories with all they hold; return how many non-directories went.

    Everything goes through descriptors opened with O_NOFOLLOW: a symlink is unlinked, never
    entered, so nothing outside the tree can be reached. Entries that vanish meanwhile are
    skipped, and a directory refilled meanwhile stays (with what was written into it).
    """
    with os.scandir(dir_fd) as entries:
        matching = [entry for entry in entries if entry.name.startswith(name_prefix)]
    removed = 0
    for entry in matching:
        try:
            if entry.is_dir(follow_symlinks=False):
                child = os.open(entry.name, _OPEN_DIR, dir_fd=dir_fd)
                try:
                    removed += _remove_entries(child, "")
                finally:
                    os.close(child)
                try:
                    os.rmdir(entry.name, dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno != errno.ENOTEMPTY:
                        raise  # a vanished directory (ENOENT) is skipped below
            else:
                os.unlink(entry.name, dir_fd=dir_fd)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _write_batch(fd: int, batch: list[bytes]) -> None:
    for part in batch:
        write_all(fd, part)


@dataclass(frozen=True, slots=True)
class _Temporary:
    """A hidden file being written beside the key it will become."""

    fd: int
    path: str
    parent: str  # the key's real parent directory
    name: str  # the key's last component

    def abandon(self) -> None:
        """Close and remove it: the write did not go through."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def _close_opened(task: asyncio.Future[tuple[int, bytes]]) -> None:
    """Done-callback closing the fd of an open whose caller was cancelled meanwhile."""
    if not task.cancelled() and task.exception() is None:
        os.close(task.result()[0])


class LocalStore:
    """An ObjectStore over a directory tree (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def url(self) -> str:
        return str(self._root)

    async def open(self) -> None:
        """Nothing to acquire: files are opened per read."""

    async def close(self) -> None:
        """Nothing to release."""

    async def check(self) -> None:
        await asyncio.to_thread(self._check_sync)

    def _check_sync(self) -> None:
        try:
            st = os.stat(self._root)
        except OSError as exc:
            raise StorageUnavailable(f"library root {self._root}: {exc.strerror}") from exc
        if not stat_mode.S_ISDIR(st.st_mode):
            raise StorageUnavailable(f"library root {self._root} is not a directory")
        if not os.access(self._root, os.R_OK | os.X_OK):
            raise StorageUnavailable(f"library root {self._root} is not readable")

    def local_path(self, key: str) -> Path:
        """The real path of ``key``; ObjectNotFound if it is not a key or leaves the root.

        Resolves symlinks (it does I/O): call it from a worker thread.
        """
        check_key(key)
        real_root = os.path.realpath(self._root)
        real_path = os.path.realpath(os.path.join(real_root, key))
        if not _is_inside(real_root, real_path):
            raise ObjectNotFound(f"key {key!r} resolves outside the library")
        return Path(real_path)

    # -- stat and reads ------------------------------------------------------------------

    async def stat(self, key: str) -> ObjectInfo:
        return await asyncio.to_thread(self._stat_sync, key)

    def _stat_sync(self, key: str) -> ObjectInfo:
        path = self.local_path(key)
        try:
            st = os.stat(path)
        except OSError as exc:
            raise self._translate(key, exc) from exc
        if not stat_mode.S_ISREG(st.st_mode):
            raise ObjectNotFound(f"key {key!r} is not a regular file")
        return _info(key, st)

    async def read(self, key: str, start: int, length: int) -> bytes:
        check_range(start, length)
        return await asyncio.to_thread(self._read_sync, key, start, length)

    def _read_sync(self, key: str, start: int, length: int) -> bytes:
        fd, _ = self._open_sync(key)
        try:
            parts: list[bytes] = []
            offset, remaining = start, length
            # pread may return less than asked (signals, huge reads): loop until EOF.
            while remaining > 0:
                data = os.pread(fd, remaining, offset)
                if not data:
                    break
                parts.append(data)
                offset += len(data)
                remaining -= len(data)
            return b"".join(parts)
        except OSError as exc:
            raise StorageUnavailable(f"reading {key!r}: {exc.strerror}") from exc
        finally:
            os.close(fd)

    async def iter_range(
        self,
        key: str,
        start: int,
        length: int,
        *,
        version: str | None = None,
        chunk_size: int = 262144,
    ) -> AsyncGenerator[bytes, None]:
        """Yield ``length`` bytes from ``start``, each chunk at most ``chunk_size`` bytes.

        The file is opened and checked (size, ``version``) before the first chunk, and each
        chunk is one ``os.pread`` in a worker thread. A read that comes back short (the file
        shrank) raises ObjectChanged without yielding it. The descriptor is closed however
        the iteration ends; callers that may stop early should ``aclose()`` the iterator (or
        use ``contextlib.aclosing``) so that happens at once rather than at garbage collection.
        """
        check_range(start, length)
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if length == 0:
            return
        first_size = min(chunk_size, length)
        opening = asyncio.ensure_future(
            asyncio.to_thread(self._open_for_range, key, start, length, version, first_size)
        )
        try:
            # Shielded so that a cancellation cannot lose the descriptor: the callback
            # closes it once the thread is done.
            fd, chunk = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise
        try:
            offset, remaining = start, length
            while True:
                if len(chunk) != min(chunk_size, remaining):
                    raise ObjectChanged(f"{key!r} shrank while being read")
                yield chunk
                offset += len(chunk)
                remaining -= len(chunk)
                if remaining == 0:
                    return
                chunk = await asyncio.to_thread(
                    self._pread, key, fd, min(chunk_size, remaining), offset
                )
        finally:
            # A read-only descriptor has nothing to flush, so closing it on the loop does not
            # wait on the disk; doing it here (not in a thread) means it happens even while
            # the generator is being torn down by cancellation.
            os.close(fd)

    def _open_for_range(
        self, key: str, start: int, length: int, version: str | None, first_size: int
    ) -> tuple[int, bytes]:
        """Open and check ``key`` and read the first chunk, all in one thread hop."""
        fd, st = self._open_sync(key)
        try:
            if version is not None and _version(st) != version:
                raise ObjectChanged(f"{key!r} is no longer version {version}")
            if start + length > st.st_size:
                raise ObjectChanged(
                    f"{key!r} has {st.st_size} bytes, fewer than the {start + length} expected"
                )
            return fd, self._pread(key, fd, first_size, start)
        except BaseException:
            os.close(fd)
            raise

    @staticmethod
    def _pread(key: str, fd: int, size: int, offset: int) -> bytes:
        try:
            return os.pread(fd, size, offset)
        except OSError as exc:
            raise StorageUnavailable(f"reading {key!r}: {exc.strerror}") from exc

    def _open_sync(self, key: str) -> tuple[int, os.stat_result]:
        path = self.local_path(key)
        try:
            # local_path already resolved every symlink; O_NOFOLLOW refuses one swapped in
            # since then. O_NONBLOCK keeps a FIFO from blocking the open (it has no effect
            # on regular files, and anything else is refused below).
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise self._translate(key, exc) from exc
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise StorageUnavailable(f"stat of {key!r}: {exc.strerror}") from exc
        if not stat_mode.S_ISREG(st.st_mode):
            os.close(fd)
            raise ObjectNotFound(f"key {key!r} is not a regular file")
        return fd, st

    @staticmethod
    def _translate(key: str, exc: OSError) -> ObjectNotFound | StorageUnavailable:
        if exc.errno in _NOT_FOUND_ERRNOS:
            return ObjectNotFound(f"no object {key!r}")
        return StorageUnavailable(f"{key!r}: {exc.strerror}")

    # -- writes ----------------------------------------------------------------------------

    async def put_file(
        self, key: str, path: Path, *, content_type: str | None = None, consume: bool = False
    ) -> ObjectInfo:
        """Copy ``path`` into the store under ``key``, atomically for readers.

        The copy goes to a hidden temporary file in the destination directory (created as
        needed), is fsynced and renamed over ``key``; the caller's file stays where it is.
        ``content_type`` is accepted for the protocol's sake: files keep no media type.
        Runs in a worker thread; once started, the write completes even if the caller is
        cancelled.
        """
        check_key(key)
        return await asyncio.to_thread(self._put_file_sync, key, path, consume)

    def _put_file_sync(self, key: str, path: Path, consume: bool = False) -> ObjectInfo:
        # Opened before anything is created, so an unreadable source leaves no trace; its
        # errors are the caller's and stay OSErrors. O_NONBLOCK keeps a FIFO from blocking.
        source = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            if not stat_mode.S_ISREG(os.fstat(source).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(path))
            if consume:
                # A second name for the same inode: no bytes move (a 1 GiB upload lands
                # at once). Another filesystem or a refusal falls back to the copy.
                with contextlib.suppress(OSError, StorageError):
                    return self._write_sync(key, lambda _fd: None, link_from=str(path))
            return self._write_sync(key, lambda fd: _copy_fd(source, fd))
        finally:
            os.close(source)

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        """Store ``data`` under ``key``, atomically for readers (as put_file)."""
        check_key(key)
        return await asyncio.to_thread(self._write_sync, key, lambda fd: write_all(fd, data))

    def _write_sync(
        self, key: str, write: Callable[[int], None], *, link_from: str | None = None
    ) -> ObjectInfo:
        """Create ``key`` from what ``write`` puts into a new file descriptor, or (with
        ``link_from``) as a hard link to that file."""
        temporary = self._create_temporary(key, link_from=link_from)
        try:
            write(temporary.fd)
        except BaseException as exc:
            temporary.abandon()
            if isinstance(exc, OSError):
                raise self._write_error(key, exc) from exc
            raise
        return self._install(key, temporary)

    def _create_temporary(self, key: str, *, link_from: str | None = None) -> _Temporary:
        """A new hidden file beside ``key`` (its directories created), open for writing,
        or a hard link to ``link_from`` opened for reading."""
        self._check_sync()  # never create a missing root: that is an unavailable store
        _, parent, name = self._locate(key)
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise self._write_error(key, exc) from exc
        if os.path.realpath(parent) != parent:
            # A component became a symlink after it was resolved.
            raise ObjectNotFound(f"key {key!r} resolves outside the library")
        # Hidden, so listings skip it; random, so concurrent writers never share one.
        path = os.path.join(parent, f".{name[:200]}.{secrets.token_hex(8)}.tmp")
        try:
            if link_from is not None:
                os.link(link_from, path, follow_symlinks=False)
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            else:
                fd = os.open(
                    path,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o666,  # as open() creates files: the umask decides
                )
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise self._write_error(key, exc) from exc
        return _Temporary(fd, path, parent, name)

    def _install(self, key: str, temporary: _Temporary) -> ObjectInfo:
        """Sync the temporary file and rename it over ``key``; it is gone either way."""
        try:
            try:
                os.fsync(temporary.fd)
                st = os.fstat(temporary.fd)  # a rename keeps inode and mtime: the object's
            finally:
                os.close(temporary.fd)
            os.replace(temporary.path, os.path.join(temporary.parent, temporary.name))
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary.path)
            if isinstance(exc, OSError):
                raise self._write_error(key, exc) from exc
            raise
        _fsync_directory(temporary.parent)
        return _info(key, st)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size_hint: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Write what ``chunks`` yields to a temporary file, in batches of up to
        ``_STREAM_BATCH`` bytes each written by a worker thread, then rename it over
        ``key`` as put_file does. Whatever ends the iteration early (its error, a
        cancellation) removes the temporary file. ``size_hint`` and ``content_type`` are
        accepted for the protocol's sake."""
        check_key(key)
        temporary = await asyncio.to_thread(self._create_temporary, key)
        writing: asyncio.Future[None] | None = None
        try:
            batch: list[bytes] = []
            filled = 0
            async for chunk in chunks:
                batch.append(chunk)
                filled += len(chunk)
                if filled >= _STREAM_BATCH or len(batch) >= 512:
                    writing = asyncio.ensure_future(
                        asyncio.to_thread(_write_batch, temporary.fd, batch)
                    )
                    await asyncio.shield(writing)
                    batch, filled = [], 0
            if batch:
                writing = asyncio.ensure_future(
                    asyncio.to_thread(_write_batch, temporary.fd, batch)
                )
                await asyncio.shield(writing)
        except BaseException as exc:
            # A cancelled wait leaves the thread writing: let it finish before the
            # descriptor is closed (its number could be reused at once). Shielded, so a
            # cancelled PATCH never leaves its half-written file behind.
            if writing is not None:
                await asyncio.wait([writing])
            await asyncio.shield(asyncio.to_thread(temporary.abandon))
            if isinstance(exc, OSError):
                raise self._write_error(key, exc) from exc
            raise
        return await asyncio.to_thread(self._install, key, temporary)

    async def delete(self, key: str) -> None:
        """Unlink ``key`` (a missing key, or one naming a directory, is no error) and remove
        the directories left empty, up to but not including the root."""
        check_key(key)
        await asyncio.to_thread(self._delete_sync, key)

    def _delete_sync(self, key: str) -> None:
        real_root, parent, name = self._locate(key)
        try:
            # Unlinks a symlink itself, never its target.
            os.unlink(os.path.join(parent, name))
        except OSError as exc:
            if exc.errno in _NOT_FOUND_ERRNOS or exc.errno == errno.EISDIR:
                return
            raise StorageUnavailable(f"deleting {key!r}: {exc.strerror}") from exc
        self._prune(real_root, PurePosixPath(key).parts[:-1])

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every file (and symlink) whose key starts with ``prefix``, in one worker
        thread; remove the directories left empty. Returns how many were deleted."""
        directory, name_prefix = check_prefix(prefix)
        return await asyncio.to_thread(self._delete_prefix_sync, prefix, directory, name_prefix)

    def _delete_prefix_sync(self, prefix: str, directory: str, name_prefix: str) -> int:
        self._check_sync()
        real_root = os.path.realpath(self._root)
        target = os.path.realpath(os.path.join(real_root, directory))
        if not _is_inside(real_root, target):
            raise ObjectNotFound(f"prefix {prefix!r} resolves outside the library")
        try:
            dir_fd = os.open(target, _OPEN_DIR)
        except OSError as exc:
            if exc.errno in _NOT_FOUND_ERRNOS:
                return 0
            raise StorageUnavailable(f"deleting {prefix!r}: {exc.strerror}") from exc
        try:
            removed = _remove_entries(dir_fd, name_prefix)
        except OSError as exc:
            raise StorageUnavailable(f"deleting {prefix!r}: {exc.strerror}") from exc
        finally:
            os.close(dir_fd)
        self._prune(real_root, PurePosixPath(directory).parts if directory else ())
        return removed

    def _locate(self, key: str) -> tuple[str, str, str]:
        """(real root, real parent directory, last component) of a key about to be written
        or deleted; ObjectNotFound if the parent resolves outside the root.

        The last component is not resolved: writing replaces and deleting unlinks whatever
        entry has that name (a symlink included) inside the parent.
        """
        parts = check_key(key).parts
        real_root = os.path.realpath(self._root)
        parent = os.path.realpath(os.path.join(real_root, *parts[:-1]))
        if not _is_inside(real_root, parent):
            raise ObjectNotFound(f"key {key!r} resolves outside the library")
        return real_root, parent, parts[-1]

    @staticmethod
    def _prune(real_root: str, parts: tuple[str, ...]) -> None:
        """Remove the now-empty directories ``parts`` names, deepest first, never the root.

        rmdir only ever removes an empty directory, and stops at the first that is not
        (or is a symlink, or resolves outside the root).
        """
        for depth in range(len(parts), 0, -1):
            directory = os.path.join(real_root, *parts[:depth])
            if not _is_inside(real_root, os.path.realpath(directory)):
                return
            try:
                os.rmdir(directory)
            except OSError:
                return

    @staticmethod
    def _write_error(key: str, exc: OSError) -> StorageError:
        if exc.errno in _CONFLICT_ERRNOS:
            return StorageError(f"cannot store {key!r}: a file or directory is in the way")
        return StorageUnavailable(f"storing {key!r}: {exc.strerror}")

    # -- listing ---------------------------------------------------------------------------

    async def iter_objects(self) -> AsyncGenerator[ObjectInfo, None]:
        """Every regular, non-hidden file under the root, walked in one worker thread.

        The walker hands over batches through a bounded queue, so a slow consumer holds it
        back rather than letting a large tree pile up in memory. Directory symlinks are
        followed only while they stay inside the root, each directory is entered once
        (symlink cycles end there), and unreadable subdirectories are logged and skipped.
        An unreadable root raises StorageUnavailable. Stopping early (``aclose()``) stops
        the walker.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[list[ObjectInfo] | None] = asyncio.Queue(maxsize=_QUEUE_BATCHES)
        stop = threading.Event()

        def emit(batch: list[ObjectInfo] | None) -> bool:
            """Hand one batch (None: the end) to the loop; False once the consumer left."""
            if stop.is_set():
                return False
            try:
                put = asyncio.run_coroutine_threadsafe(queue.put(batch), loop)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return False
            while True:
                try:
                    put.result(timeout=_PUT_POLL_SECONDS)
                except TimeoutError:
                    if stop.is_set():
                        put.cancel()
                        return False
                except concurrent.futures.CancelledError:
                    return False
                else:
                    return not stop.is_set()

        def walk() -> None:
            try:
                self._walk(emit, stop)
            finally:
                emit(None)

        walker = asyncio.ensure_future(asyncio.to_thread(walk))
        try:
            while (batch := await queue.get()) is not None:
                for info in batch:
                    yield info
            await walker  # re-raises what stopped the walk (an unreadable root)
        finally:
            stop.set()
            # Free the queue so a walker blocked on a full queue sees the stop at once.
            while not queue.empty():
                queue.get_nowait()
            if not walker.done():
                await asyncio.wait({walker}, timeout=_WALKER_JOIN_SECONDS)
            if walker.done() and not walker.cancelled():
                # The consumer left; what the walker met afterwards no longer matters.
                with contextlib.suppress(Exception):
                    walker.result()

    async def iter_derived(self) -> AsyncGenerator[ObjectInfo, None]:
        """Every regular file under ``.streamer/``, listed in one worker thread.

        Maintenance only (not a hot path): the listing is gathered whole, which is bounded
        by the number of derived objects (a few per track).
        """
        for info in await asyncio.to_thread(self._list_derived):
            yield info

    def _list_derived(self) -> list[ObjectInfo]:
        base = os.path.join(os.path.realpath(self._root), DERIVED_PREFIX.rstrip("/"))
        found: list[ObjectInfo] = []
        pending: list[tuple[str, str]] = [(base, DERIVED_PREFIX)]
        while pending:
            directory, prefix = pending.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        # Hidden names are temporary files of writes in progress.
                        if entry.name.startswith("."):
                            continue
                        try:
                            # Derived objects are never symlinks: do not follow any.
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        if stat_mode.S_ISDIR(st.st_mode):
                            pending.append((entry.path, f"{prefix}{entry.name}/"))
                        elif stat_mode.S_ISREG(st.st_mode):
                            found.append(_info(prefix + entry.name, st))
            except FileNotFoundError:
                continue  # no derived objects yet, or a folder removed meanwhile
            except OSError as exc:
                raise StorageUnavailable(f"cannot list {directory}: {exc.strerror}") from exc
        return found

    def _walk(self, emit: Callable[[list[ObjectInfo] | None], bool], stop: threading.Event) -> None:
        """Depth-first walk of the root; runs in a worker thread."""
        real_root = os.path.realpath(self._root)
        try:
            root_st = os.stat(real_root)
        except OSError as exc:
            raise StorageUnavailable(f"library root {self._root}: {exc.strerror}") from exc
        if not stat_mode.S_ISDIR(root_st.st_mode):
            raise StorageUnavailable(f"library root {self._root} is not a directory")
        visited = {(root_st.st_dev, root_st.st_ino)}
        pending: list[tuple[str, str]] = [(real_root, "")]  # (directory path, key prefix)
        batch: list[ObjectInfo] = []
        while pending and not stop.is_set():
            directory, prefix = pending.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.name.startswith("."):
                            continue
                        st = self._entry_stat(real_root, entry)
                        if st is None:
                            continue
                        if stat_mode.S_ISDIR(st.st_mode):
                            identity = (st.st_dev, st.st_ino)
                            if identity not in visited:
                                visited.add(identity)
                                pending.append((entry.path, f"{prefix}{entry.name}/"))
                        elif stat_mode.S_ISREG(st.st_mode):
                            batch.append(_info(prefix + entry.name, st))
                            if len(batch) >= _BATCH_SIZE:
                                if not emit(batch):
                                    return
                                batch = []
            except OSError as exc:
                if directory == real_root:
                    raise StorageUnavailable(
                        f"cannot list library root {self._root}: {exc.strerror}"
                    ) from exc
                logger.warning("skipping unreadable directory %s: %s", directory, exc.strerror)
        if batch:
            emit(batch)

    @staticmethod
    def _entry_stat(real_root: str, entry: os.DirEntry[str]) -> os.stat_result | None:
        """The stat of an entry to list or enter, or None to skip it."""
        try:
            if entry.is_symlink():
                # Follow a symlink only if its target stays inside the library.
                if not _is_inside(real_root, os.path.realpath(entry.path)):
                    logger.debug("skipping symlink leaving the library: %s", entry.path)
                    return None
                return entry.stat(follow_symlinks=True)
            return entry.stat(follow_symlinks=False)
        except OSError as exc:
            # Vanished since scandir saw it, or a dangling or looping symlink.
            logger.debug("skipping %s: %s", entry.path, exc.strerror)
            return None
