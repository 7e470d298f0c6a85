"""A 1 GiB tus upload over loopback, with the server's memory, beside a plain file copy.

    .venv/bin/python benchmarks/upload.py               # 1 GiB
    .venv/bin/python benchmarks/upload.py --mib 256     # a quicker look

What it does, on 127.0.0.1 only, every process started here stopped here:

1. Writes a WAV file of ``--mib`` MiB (a real header, silence), so the upload completes
   into a track like any other.
2. Starts the streamer app on uvicorn in a child process (one worker, no job runner: the
   transcode is queued, not run) and mints an admin key.
3. POSTs the upload, then PATCHes the whole file from a streamed request body (1 MiB
   reads), sampling the server's RSS every 20 ms. The PATCH's answer comes after the
   completion (probe, store through the ObjectStore, catalogue, queue): both the time to
   the last byte sent and the time to the answer are printed.
4. Copies the same file with ``shutil.copyfile`` for comparison.

A script, not a test: nothing here asserts. Goal: 300 MB/s, RSS growth under 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.auth.audit import Actor  # noqa: E402
from streamer.auth.users import create_key  # noqa: E402
from streamer.cli import normalise_root, scan_roots  # noqa: E402
from streamer.db import Database, library_id_for, migrate  # noqa: E402
from streamer.settings import Settings  # noqa: E402

MIB = 1024 * 1024


def write_wav(path: Path, size: int) -> None:
    """A 16-bit stereo 44.1 kHz WAV of exactly ``size`` bytes (silence)."""
    data = size - 44
    header = b"RIFF" + struct.pack("<I", size - 8) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 2, 44100, 44100 * 4, 4, 16)
    header += b"data" + struct.pack("<I", data)
    block = bytes(8 * MIB)
    with path.open("wb") as fh:
        fh.write(header)
        left = data
        while left:
            left -= fh.write(block[: min(left, len(block))])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss(self.pid))


def serve(port: int, data_dir: str, library: str) -> None:
    """The child: the streamer app on uvicorn, as `serve` runs one worker."""
    import uvicorn

    from streamer.app import create_app
    from streamer.serving import StreamerHttpProtocol

    settings = settings_for(Path(data_dir), library)
    uvicorn.run(
        create_app(settings),
        http=StreamerHttpProtocol,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def settings_for(data_dir: Path, library: str) -> Settings:
    return Settings.load(
        {},
        data_dir=data_dir,
        libraries=[library],
        workers=1,
        scan_on_start=False,
        transcode_on_start=False,
        jobs_in_process=False,
        access_log=False,
        log_level="warning",
    )


def body(path: Path, sent: list[float]) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(MIB):
            yield chunk
    sent.append(time.perf_counter())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="upload-bench-") as tmp:
        run(Path(tmp), args.mib * MIB)


def run(base: Path, size: int) -> None:
    library = base / "library"
    library.mkdir()
    root = normalise_root(str(library))
    settings = settings_for(base / "data", root)
    source = base / "source.wav"
    write_wav(source, size)
    migrate(settings.effective_database_url)
    asyncio.run(scan_roots(settings, [root], progress=False))

    async def mint() -> str:
        db = Database(settings.effective_database_url)
        try:
            secret, _ = await create_key(db, "bench", "admin", Actor("cli", None, "bench"))
            return secret
        finally:
            await db.dispose()

    key = asyncio.run(mint())
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(settings.data_dir), root],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.05)
        upload(port, key, library_id_for(root), source, size, child.pid, library)
    finally:
        child.terminate()
        child.wait(timeout=15)
    copy = base / "copy.wav"
    started = time.perf_counter()
    shutil.copyfile(source, copy)
    os.sync()
    seconds = time.perf_counter() - started
    print(f"shutil.copyfile     {size / seconds / 1e6:8.0f} MB/s  ({seconds:.2f} s, with sync)")


def upload(
    port: int, key: str, library_id: str, source: Path, size: int, pid: int, library: Path
) -> None:
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("filename", "bench.wav"), ("library", library_id))
    )
    headers = {"Authorization": f"Bearer {key}", "Tus-Resumable": "1.0.0"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600, headers=headers) as client:
        created = client.post(
            "/api/v1/uploads", headers={"Upload-Length": str(size), "Upload-Metadata": meta}
        )
        created.raise_for_status()
        location = created.headers["location"]
        client.get("/api/v1/uploads")  # warm the routes before the baseline
        baseline = rss(pid)
        sampler = Sampler(pid)
        sampler.start()
        sent: list[float] = []
        started = time.perf_counter()
        response = client.patch(
            location,
            content=body(source, sent),
            headers={
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
                "Content-Length": str(size),
            },
        )
        answered = time.perf_counter()
        sampler.done.set()
        sampler.join()
        state = client.get(location).json()
    transfer = sent[0] - started
    total = answered - started
    print(f"upload: {size / MIB:.0f} MiB, PATCH {response.status_code}, upload {state['status']}")
    print(f"tus PATCH transfer  {size / transfer / 1e6:8.0f} MB/s  ({transfer:.2f} s to last byte)")
    print(
        f"tus PATCH + finish  {size / total / 1e6:8.0f} MB/s  ({total:.2f} s: + fsync, probe,"
        " put_file link or copy, hash)"
    )
    print(
        f"server RSS          {baseline / 1e6:8.1f} MB before, peak {sampler.peak / 1e6:.1f} MB,"
        f" growth {(sampler.peak - baseline) / 1e6:.1f} MB"
    )
    stored = library / "uploads" / "bench.wav"
    same = stored.stat().st_size == size
    print(f"stored              {'same size' if same else 'SIZE DIFFERS'}")


if __name__ == "__main__":
    main()
