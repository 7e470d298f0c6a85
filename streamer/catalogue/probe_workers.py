"""Hashing and probing local files, in worker processes when a scan has many to read.

A scan's per-file work (a content hash, then mutagen, which is pure Python) is CPU-bound.
In threads it takes turns on the GIL with the event loop that builds and writes the rows,
so a scan used one core, and eight threads contending for the GIL doubled the CPU each
probe cost (docs/performance.md, "Scanning"). So a scan of a local library with many
changed files sends them, in batches, to ``min(scan_concurrency, CPUs)`` worker processes.

The workers are plain ``python -m streamer.catalogue.probe_workers`` children speaking
length-prefixed pickles over their stdin and stdout, not :mod:`multiprocessing`: its spawn
and forkserver start methods import the parent's ``__main__`` in every worker (for
`streamer`, all of ``streamer.cli``: 2.3 s of CPU each, against 0.5 s for this module),
and fork would copy a process whose other threads (the database driver's, the listing's)
may hold locks. A worker exits when its stdin closes, so one whose parent died goes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pickle
import signal
import struct
import sys
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from streamer.storage.base import ObjectNotFound, ObjectStore, StorageError
from transcoder.probe import ProbeError, ProbeResult, probe

__all__ = ["Examined", "ProbeWorkers", "examine_batch", "examine_local", "hash_file"]

_HASH_CHUNK = 1024 * 1024
_FRAME = struct.Struct(">Q")
_STOP_SECONDS = 5.0
# A batch that takes longer than this (a hung network mount, a pathological file) kills its
# worker and fails the scan, which the next scan retries: a scan must not wait for ever.
BATCH_TIMEOUT_SECONDS = 600.0
_PACKAGES = str(Path(__file__).resolve().parents[2])  # resolved at import, not on the loop


class Examined(NamedTuple):
    """One file's outcome: ``failure`` ("vanished" or "unreadable", and the error) when it
    could not be read; else its content hash and the probe's outcome (None: the bytes
    are those already known), with the SHA-256 of its cover, if any."""

    content_hash: str | None
    outcome: ProbeResult | ProbeError | None
    cover_digest: str | None
    failure: tuple[str, str] | None


def hash_file(fh: BinaryIO) -> tuple[str, int]:
    """(content hash, size) of a local file read from its start: the identity a scan
    records (blocking; call it in a thread)."""
    digest = hashlib.blake2b(digest_size=16)
    size = 0
    while chunk := fh.read(_HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def examine_local(
    path: Path, key: str, prior_hash: str | None
) -> tuple[str, ProbeResult | ProbeError | None]:
    """(content hash, probe outcome or None when the bytes hash to ``prior_hash``) of the
    file at ``path``. Blocking; OSError if it cannot be read."""
    with open(path, "rb") as fh:
        content_hash, size = hash_file(fh)
        if content_hash == prior_hash:
            return content_hash, None
        try:
            return content_hash, probe(fh, key, size)
        except ProbeError as exc:
            return content_hash, exc


def examine_batch(store: ObjectStore, items: list[tuple[str, str | None]]) -> list[Examined]:
    """Examine each (key, prior hash) of a local ``store``; blocking."""
    results = []
    for key, prior_hash in items:
        try:
            path = store.local_path(key)  # resolves symlinks: I/O
            if path is None:
                raise StorageError(f"{key} is not on local disk")
            content_hash, outcome = examine_local(path, key, prior_hash)
        except ObjectNotFound as exc:
            results.append(Examined(None, None, None, ("vanished", str(exc))))
            continue
        except (StorageError, OSError) as exc:
            results.append(Examined(None, None, None, ("unreadable", str(exc))))
            continue
        cover = outcome.cover if isinstance(outcome, ProbeResult) else None
        digest = hashlib.sha256(cover.data).hexdigest() if cover is not None else None
        results.append(Examined(content_hash, outcome, digest, None))
    return results


class ProbeWorkerError(RuntimeError):
    """A worker process died or answered nonsense."""


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def call(self, payload: bytes) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(_FRAME.pack(len(payload)) + payload)
        try:
            await self.proc.stdin.drain()
            size = _FRAME.unpack(await self.proc.stdout.readexactly(_FRAME.size))[0]
            return pickle.loads(await self.proc.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            code = await _wait(self.proc, 1.0)
            raise ProbeWorkerError(f"scan worker process exited (status {code})") from exc

    async def stop(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            self.proc.stdin.close()  # the worker's signal to exit
        if await _wait(self.proc, _STOP_SECONDS) is None:
            self.kill()
            await _wait(self.proc, _STOP_SECONDS)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    async def reap(self) -> None:
        """After kill: wait for the process and close its input pipe."""
        await _wait(self.proc, _STOP_SECONDS)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


async def _wait(proc: asyncio.subprocess.Process, seconds: float) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), seconds)
    except TimeoutError:
        return None


class ProbeWorkers:
    """Up to ``size`` worker processes, started when first needed, each examining one
    batch at a time. ``close`` stops them; a worker whose call was cancelled or failed
    is killed (its pipe may hold half a frame)."""

    def __init__(self, size: int, *, batch_timeout: float = BATCH_TIMEOUT_SECONDS) -> None:
        self.size = size
        self.batch_timeout = batch_timeout
        self.started = False
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()

    async def examine(
        self, store: ObjectStore, items: list[tuple[str, str | None]]
    ) -> list[Examined]:
        payload = pickle.dumps((store, items), protocol=pickle.HIGHEST_PROTOCOL)
        worker = await self._take()
        try:
            result: list[Examined] = await asyncio.wait_for(
                worker.call(payload), self.batch_timeout
            )
        except BaseException as exc:
            self._all.discard(worker)
            worker.kill()
            if isinstance(exc, TimeoutError):
                await worker.reap()
                raise ProbeWorkerError(
                    f"a scan worker took over {self.batch_timeout:.0f} s to read "
                    f"{len(items)} files (first: {items[0][0] if items else '-'})"
                ) from exc
            raise
        self._idle.put_nowait(worker)
        return result

    async def _take(self) -> _Worker:
        if not self._idle.empty() or len(self._all) >= self.size:
            return await self._idle.get()
        self.started = True
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=_child_env(),
        )
        worker = _Worker(proc)
        self._all.add(worker)
        return worker

    async def close(self) -> None:
        workers, self._all = list(self._all), set()
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)


def _child_env() -> dict[str, str]:
    # The packages this process runs from, first: a checkout run without installing.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGES, env.get("PYTHONPATH")) if p)
    return env


def _serve() -> None:
    """A worker's loop: read (store, items), answer examine_batch's list, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, by closing stdin
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the frames
    while header := requests.read(_FRAME.size):
        if len(header) < _FRAME.size:
            return
        (size,) = _FRAME.unpack(header)
        store, items = pickle.loads(requests.read(size))
        answer = pickle.dumps(examine_batch(store, items), protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(_FRAME.pack(len(answer)) + answer)
        answers.flush()


if __name__ == "__main__":
    # Through the module's own name, so that what it pickles (Examined) unpickles in the
    # parent as streamer.catalogue.probe_workers.Examined, not __main__.Examined.
    from streamer.catalogue.probe_workers import _serve as serve

    serve()
