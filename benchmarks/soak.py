"""Soak: a `streamer serve` with two workers under mixed traffic for a long while, its
memory sampled, to show whether it holds steady.

    .venv/bin/python benchmarks/soak.py                 # 30 minutes (the real soak)
    .venv/bin/python benchmarks/soak.py --minutes 4     # a short look
    .venv/bin/python benchmarks/soak.py --help          # every flag

What it does, all on 127.0.0.1, every process started here stopped here:

1. Makes ``--tracks`` distinct MP3s (ffmpeg) in a temporary folder, starts `streamer serve
   --workers 2` on it (ladder ``aac_64,aac_128``, rate limits out of the way) with a
   second, empty library for uploads, mints an admin key and waits until every track has
   its HLS renditions.
2. Samples the server once while idle: the reference the rest is read against.
3. For ``--minutes``, in threads of this process:
   - ``--hls-listeners`` listeners, each on a new connection per track: the master
     playlist, a variant, its init section, then its segments ``--pace`` seconds apart
     (real time would be 6 s; the default 1.5 s plays at 4x, for more requests per
     listener-minute);
   - ``--range-listeners`` clients reading 64 KB byte ranges of the originals at random
     offsets, as progressive players and download managers do;
   - one admin: lists tracks, creates a playlist, renames it, replaces its items, reads
     it and deletes it, over and over; every ``--upload-every`` seconds, a tus upload
     (tuspy) of a new one-second WAV into the upload library (then transcoded by the
     server's job runner, as any upload is).
4. Every ``--interval`` seconds (10) it reads from /proc the resident memory (VmRSS) of
   the supervisor and of each of its children (found through /proc/<pid>/task/*/children:
   the two uvicorn workers, multiprocessing's helpers, ffmpeg while a job runs), and the
   requests and errors counted by the clients, and prints a row.
5. The verdict: the run is cut into thirds; the first is warm-up (the segment and media
   caches fill, the allocator settles). Memory is **stable** when the median RSS of the
   last third is less than ``--max-growth`` per cent (5) above the middle third's, for the
   supervisor, each worker and their total. Why 5 %: a worker holds 115 to 135 MiB
   here, so 5 % is 6 to 7 MiB in the 10 minutes between the middle and the last third
   of a 30-minute run: a leak of 40 MiB an hour, about 1 GiB a day, which must not pass.
   Below it is what a healthy server shows: in the 4-minute run of docs/performance.md
   the workers still grew 1 to 2 % between thirds (caches and allocator arenas filling).
   Errors (transport failures, 5xx, any status the request should not get) are counted
   apart and make the run fail too.

Raw figures (every sample) go to benchmarks/results/soak-<time>.json. Exit status 0 when
memory is stable and nothing failed, 1 otherwise.

A short run says less than a long one: with 4 minutes, each third is 80 s. The 30-minute
default is the soak; run it on a quiet machine (this one has 2 cores, shared).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.ranges import HOST, free_port, stop_group, wait_for_port  # noqa: E402
from transcoder.ffmpeg import ffmpeg_exe  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
STREAMER = ROOT / ".venv" / "bin" / "streamer"
TRACK_SECONDS = 60
RANGE_SPAN = 64 * 1024
MIB = 1024 * 1024


# --------------------------------------------------------------------------- the counts


@dataclass
class Counts:
    """Requests and errors by kind, shared by every client thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def ok(self, kind: str) -> None:
        with self.lock:
            self.requests[kind] += 1

    def failed(self, kind: str, what: str) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.errors[kind] += 1
            self.examples.setdefault(kind, what)

    def totals(self) -> tuple[int, int]:
        with self.lock:
            return sum(self.requests.values()), sum(self.errors.values())


def call(
    counts: Counts,
    kind: str,
    client: httpx.Client,
    method: str,
    url: str,
    expect: tuple[int, ...],
    **kwargs: Any,
) -> httpx.Response | None:
    """One request, counted; None when it failed (transport error or unexpected status)."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        counts.failed(kind, f"{method} {url}: {type(exc).__name__}: {exc}")
        return None
    if response.status_code not in expect:
        counts.failed(kind, f"{method} {url}: {response.status_code} {response.text[:200]}")
        return None
    counts.ok(kind)
    return response


# --------------------------------------------------------------------------- the traffic


@dataclass
class Site:
    base: str
    auth: dict[str, str]
    library_id: str
    upload_library_id: str
    tracks: list[str]


def hls_listener(site: Site, counts: Counts, stop: threading.Event, pace: float, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        track = rng.choice(site.tracks)
        with httpx.Client(base_url=site.base, timeout=30) as client:  # a new listener
            master_url = f"/hls/{track}/master.m3u8"
            master = call(counts, "hls playlist", client, "GET", master_url, (200,))
            if master is None:
                stop.wait(1.0)
                continue
            variants = [line for line in master.text.splitlines() if ".m3u8" in line]
            variant_url = urljoin(master_url, rng.choice(variants))
            variant = call(counts, "hls playlist", client, "GET", variant_url, (200,))
            if variant is None:
                stop.wait(1.0)
                continue
            lines = variant.text.splitlines()
            for line in lines:
                if line.startswith("#EXT-X-MAP:URI="):
                    init = line.split('"')[1]
                    call(counts, "hls segment", client, "GET", urljoin(variant_url, init), (200,))
            for line in lines:
                if stop.is_set():
                    return
                if line and not line.startswith("#"):
                    segment_url = urljoin(variant_url, line)
                    call(counts, "hls segment", client, "GET", segment_url, (200,))
                    stop.wait(pace)


def range_listener(site: Site, counts: Counts, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    sizes: dict[str, int] = {}
    with httpx.Client(base_url=site.base, timeout=30) as client:
        while not stop.is_set():
            track = rng.choice(site.tracks)
            url = f"/media/{track}/original"
            if track not in sizes:
                head = call(counts, "media range", client, "HEAD", url, (200,))
                if head is None:
                    stop.wait(1.0)
                    continue
                sizes[track] = int(head.headers["content-length"])
            start = rng.randrange(max(1, sizes[track] - RANGE_SPAN))
            headers = {"Range": f"bytes={start}-{start + RANGE_SPAN - 1}"}
            call(counts, "media range", client, "GET", url, (206,), headers=headers)
            stop.wait(0.2)


def one_second_wav(seed: int) -> bytes:
    """A new, valid one-second WAV (noise): every upload's bytes differ."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22050)
        out.writeframes(bytes(rng.getrandbits(8) for _ in range(22050 * 2)))
    return buffer.getvalue()


def upload(site: Site, counts: Counts, number: int) -> None:
    from tusclient import client as tus
    from tusclient.exceptions import TusCommunicationError, TusUploadFailed

    data = one_second_wav(number)
    tus_client = tus.TusClient(f"{site.base}/api/v1/uploads", headers=site.auth)
    metadata = {"filename": f"soak-{number:05d}.wav", "library": site.upload_library_id}
    try:
        uploader = tus_client.uploader(file_stream=io.BytesIO(data), metadata=metadata)
        uploader.upload()
    except (TusCommunicationError, TusUploadFailed, httpx.HTTPError, OSError) as exc:
        counts.failed("tus upload", f"{type(exc).__name__}: {exc}")
    else:
        counts.ok("tus upload")


def admin(
    site: Site, counts: Counts, stop: threading.Event, upload_every: float, seed: int
) -> None:
    rng = random.Random(seed)
    next_upload = time.monotonic() + upload_every / 2 if upload_every > 0 else float("inf")
    uploads = 0
    with httpx.Client(base_url=site.base, headers=site.auth, timeout=30) as client:
        while not stop.is_set():
            call(
                counts, "admin", client, "GET", "/api/v1/tracks", (200,),
                params={"library": site.library_id, "limit": 50},
            )  # fmt: skip
            picked = rng.sample(site.tracks, k=min(3, len(site.tracks)))
            created = call(
                counts, "admin", client, "POST", "/api/v1/playlists", (201,),
                json={"library_id": site.library_id, "name": f"soak {rng.random():.6f}",
                      "track_ids": picked},
            )  # fmt: skip
            if created is not None:
                playlist = f"/api/v1/playlists/{created.json()['id']}"
                call(counts, "admin", client, "PATCH", playlist, (200,), json={"name": "renamed"})
                items = rng.sample(site.tracks, k=min(4, len(site.tracks)))
                call(
                    counts, "admin", client, "PUT", f"{playlist}/items", (200,),
                    json={"track_ids": items},
                )  # fmt: skip
                call(counts, "admin", client, "GET", playlist, (200,))
                call(counts, "admin", client, "DELETE", playlist, (204,))
            if time.monotonic() >= next_upload:
                uploads += 1
                upload(site, counts, uploads)
                next_upload += upload_every
            stop.wait(1.0)


# --------------------------------------------------------------------------- memory


def children(pid: int) -> list[int]:
    """Every descendant of ``pid``, from /proc/<pid>/task/<tid>/children (Linux)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with (
                    contextlib.suppress(OSError),
                    open(f"/proc/{parent}/task/{task}/children") as fh,
                ):
                    for child in fh.read().split():
                        found.append(int(child))
                        queue.append(int(child))
    return found


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def role(pid: int, supervisor: int) -> str:
    """What a process of the server is, from its command line."""
    if pid == supervisor:
        return "supervisor"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return "gone"
    line = b" ".join(argv)
    if b"ffmpeg" in argv[0]:
        return "ffmpeg"
    if b"resource_tracker" in line:
        return "resource_tracker"
    if b"multiprocessing" in line or b"spawn_main" in line:
        return "worker"
    return os.path.basename(argv[0].decode(errors="replace")) or "other"


@dataclass
class Sample:
    at: float  # seconds since the load started (negative: the idle reference)
    requests: int
    errors: int
    rss: dict[str, int]  # "supervisor", "worker <pid>", ...: KiB

    @property
    def server_kib(self) -> int:
        """The supervisor and its workers (not ffmpeg and helpers, which come and go)."""
        return sum(v for k, v in self.rss.items() if k == "supervisor" or k.startswith("worker"))


def sample(supervisor: int, at: float, counts: Counts) -> Sample:
    requests, errors = counts.totals()
    rss: dict[str, int] = {}
    for pid in [supervisor, *children(supervisor)]:
        kib = rss_kib(pid)
        if kib is None:
            continue
        name = role(pid, supervisor)
        key = name if name == "supervisor" else f"{name} {pid}"
        rss[key] = kib
    return Sample(at, requests, errors, rss)


# --------------------------------------------------------------------------- the server


def make_library(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"sine=frequency={220 + 55 * n}:sample_rate=44100:duration={TRACK_SECONDS}",
             "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(folder / f"t{n:03d}.mp3")],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


@contextlib.contextmanager
def running_server(work: Path, library: Path, uploads: Path) -> Iterator[tuple[str, int, Path]]:
    data = work / "data"
    port = free_port()
    env = {
        **os.environ,
        "STREAMER_LADDER": "aac_64,aac_128",
        "STREAMER_RATE_LIMIT_API": "1000000/minute",
        "STREAMER_RATE_LIMIT_IP": "1000000/minute",
    }
    log = work / "serve.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [str(STREAMER), "serve", "--library", str(library), "--library", str(uploads),
             "--data-dir", str(data), "--host", HOST, "--port", str(port), "--workers", "2"],
            env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_port(port, process, timeout=120)
        yield f"http://{HOST}:{port}", process.pid, data
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} during the run")
    finally:
        stop_group(process)  # its own session: only what this script started


def mint_key(data: Path) -> dict[str, str]:
    minted = subprocess.run(
        [str(STREAMER), "apikey", "create", "--name", "soak", "--role", "admin",
         "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return {"Authorization": f"Bearer {minted.stdout.strip()}"}


def prepare(base: str, auth: dict[str, str], library: Path, uploads: Path, count: int) -> Site:
    deadline = time.monotonic() + 600
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        while True:
            roots = {lib["root"]: lib["id"] for lib in client.get("/api/v1/libraries").json()}
            library_id = roots.get(str(library))
            tracks = []
            if library_id is not None:
                page = client.get("/api/v1/tracks", params={"library": library_id, "limit": 100})
                tracks = [t["id"] for t in page.json()["items"]]
            ready = len(tracks) == count and all(
                client.get(f"/hls/{t}/master.m3u8").status_code == 200 for t in tracks
            )
            if ready and library_id is not None and str(uploads) in roots:
                return Site(base, auth, library_id, roots[str(uploads)], tracks)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(tracks)} of {count} tracks ready after 10 minutes")
            time.sleep(2)


# --------------------------------------------------------------------------- the report


def thirds(samples: list[Sample], minutes: float) -> tuple[list[Sample], list[Sample]]:
    span = minutes * 60
    middle = [s for s in samples if span / 3 <= s.at < 2 * span / 3]
    last = [s for s in samples if s.at >= 2 * span / 3]
    return middle, last


def growth(middle: list[Sample], last: list[Sample], value: Callable[[Sample], int]) -> float:
    before = statistics.median(value(s) for s in middle)
    after = statistics.median(value(s) for s in last)
    return (after - before) / before * 100


def worker_kib(name: str, s: Sample) -> int:
    return s.rss[name]


def print_table(samples: list[Sample], workers: list[str]) -> None:
    head = f"{'t (s)':>6} {'requests':>9} {'req/s':>6} {'errors':>6} {'supervisor':>11}"
    head += "".join(f" {w:>14}" for w in workers) + f" {'total MiB':>10} {'others':>7}"
    print(head)
    previous: Sample | None = None
    for s in samples:
        rate = ""
        if previous is not None and s.at > previous.at:
            rate = f"{(s.requests - previous.requests) / (s.at - previous.at):.1f}"
        others = sum(v for k, v in s.rss.items() if k != "supervisor" and k not in workers)
        row = f"{'idle' if s.at < 0 else f'{s.at:.0f}':>6} {s.requests:>9} {rate:>6}"
        row += f" {s.errors:>6} {s.rss.get('supervisor', 0) / 1024:>11.1f}"
        row += "".join(f" {s.rss.get(w, 0) / 1024:>14.1f}" for w in workers)
        row += f" {s.server_kib / 1024:>10.1f} {others / 1024:>7.1f}"
        print(row, flush=True)
        if s.at >= 0:
            previous = s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--hls-listeners", type=int, default=16)
    parser.add_argument("--range-listeners", type=int, default=4)
    parser.add_argument("--pace", type=float, default=1.5, help="seconds between segments")
    parser.add_argument("--upload-every", type=float, default=60.0, help="0: no uploads")
    parser.add_argument("--max-growth", type=float, default=5.0, help="per cent (docstring)")
    args = parser.parse_args(argv)
    upload_every = args.upload_every
    try:
        import tusclient  # noqa: F401
    except ImportError:
        print("tuspy is not installed (requirements/dev.txt): no uploads", flush=True)
        upload_every = 0.0

    with tempfile.TemporaryDirectory(prefix="soak-") as temp:
        work = Path(temp)
        library, uploads = work / "music", work / "uploads"
        uploads.mkdir()
        print(f"making {args.tracks} tracks of {TRACK_SECONDS} s ...", flush=True)
        make_library(library, args.tracks)
        with running_server(work, library, uploads) as (base, supervisor, data):
            auth = mint_key(data)
            print("waiting for the renditions ...", flush=True)
            site = prepare(base, auth, library, uploads, args.tracks)
            time.sleep(args.interval)  # let the start-up's jobs and scans finish
            counts = Counts()
            samples = [sample(supervisor, -1.0, counts)]
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=hls_listener, args=(site, counts, stop, args.pace, n), daemon=True
                )
                for n in range(args.hls_listeners)
            ]
            threads += [
                threading.Thread(target=range_listener, args=(site, counts, stop, 1000 + n),
                                 daemon=True)
                for n in range(args.range_listeners)
            ]  # fmt: skip
            threads.append(
                threading.Thread(
                    target=admin, args=(site, counts, stop, upload_every, 2000), daemon=True
                )
            )
            print(
                f"load for {args.minutes:g} min: {args.hls_listeners} HLS listeners "
                f"({args.pace:g} s between segments), {args.range_listeners} range readers, "
                f"1 admin (uploads every {upload_every:g} s; 0 = none); sample every "
                f"{args.interval:g} s",
                flush=True,
            )
            started = time.monotonic()
            for thread in threads:
                thread.start()
            end = started + args.minutes * 60
            try:
                while (now := time.monotonic()) < end:
                    time.sleep(min(args.interval - (now - started) % args.interval, end - now))
                    samples.append(sample(supervisor, time.monotonic() - started, counts))
                    s = samples[-1]
                    print(
                        f"  {s.at:6.0f} s  {s.requests:8d} requests  {s.errors:4d} errors  "
                        f"server {s.server_kib / 1024:7.1f} MiB",
                        flush=True,
                    )
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=40)
            log = (work / "serve.log").read_text(errors="replace")

    error_lines = 0
    for line in log.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
                error_lines += 1

    workers = sorted({k for s in samples for k in s.rss if k.startswith("worker")})
    print()
    print_table(samples, workers)
    requests, errors = counts.totals()
    print()
    print("requests by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.requests.items())))
    print(f"errors: {errors} of {requests}" + "".join(
        f"\n  {k}: {v}, e.g. {counts.examples[k]}" for k, v in sorted(counts.errors.items())
    ))  # fmt: skip
    print(f"error lines in the server's log: {error_lines}")

    middle, last = thirds([s for s in samples if s.at >= 0], args.minutes)
    verdicts: dict[str, float] = {}
    stable = bool(middle and last)
    if stable:
        verdicts["supervisor"] = growth(middle, last, lambda s: s.rss.get("supervisor", 0))
        for w in workers:
            if all(w in s.rss for s in middle + last):
                verdicts[w] = growth(middle, last, functools.partial(worker_kib, w))
            else:
                print(f"{w} did not live through the last two thirds (restarted?)")
                stable = False
        verdicts["total"] = growth(middle, last, lambda s: s.server_kib)
        stable = stable and all(g < args.max_growth for g in verdicts.values())
    idle = samples[0].server_kib / 1024
    print(f"\nreference, idle before the load: {idle:.1f} MiB (supervisor and workers)")
    if last:
        under_load = statistics.median(s.server_kib for s in last) / 1024
        print(f"under load, median of the last third: {under_load:.1f} MiB")
    print(
        "RSS growth, last third over middle third (medians): "
        + ", ".join(f"{k} {v:+.2f} %" for k, v in verdicts.items())
    )
    verdict = "stable" if stable else "NOT stable"
    print(f"verdict: memory {verdict} (limit {args.max_growth:g} %); errors: {errors}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "options": vars(args) | {"upload_every": upload_every},
                "samples": [vars(s) for s in samples],
                "requests": dict(counts.requests),
                "errors": dict(counts.errors),
                "error_examples": counts.examples,
                "server_error_lines": error_lines,
                "growth_percent": verdicts,
                "stable": stable,
                "loadavg": os.getloadavg(),
            },
            indent=1,
        )
    )
    print(f"raw figures: {out.relative_to(ROOT)}")
    return 0 if stable and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
