"""HLS answers measured like benchmarks/ranges.py: wrk against the streamer, nginx and the bare
app serving the same bytes.

    .venv/bin/python benchmarks/hls.py             # full run, about 8 minutes
    .venv/bin/python benchmarks/hls.py --quick     # smoke run, about 1 minute

What it does, all on 127.0.0.1, every process started here stopped here:

1. Makes (once, kept in benchmarks/.data/hls/) a 60 s stereo MP3, and lets `streamer serve
   --workers 2` transcode it (ladder ``aac_128``) into a data folder of this run.
2. Fetches the track's media playlist, its init section and one segment (seg_3) from the
   streamer and writes them as files, which nginx (2 workers, sendfile, access log on, as in
   ranges.py) and the bare ASGI app (benchmarks/bare_app.py: the floor cost of Python on
   the streamer's uvicorn) serve for the whole run.
3. Runs the streamer once per segment cache tier, on the same data folder:
   ``memory`` (the defaults: each worker's in-process cache), ``redis`` (no memory tier,
   a redis-server of its own) and ``storage`` (no cache: the rendition file's range, read
   through the page cache). Its answers say which tier served them (Cache-Status), and the
   script checks that before it measures.
4. For each tier, wrk on each of the three URLs, samples interleaved between the three
   servers with the order alternating; prints req/s, p99 and each server's CPU per request
   (user + system of all its processes, from /proc) side by side, the streamer's ratios to nginx
   and the bare app. Raw figures go to benchmarks/results/hls-<time>.json.

The playlist does not depend on the tier (it is made from the catalogue and kept in
memory), so its rows say the same thing three times over: a measure of the noise.

A script, not a test: nothing here asserts. The machine's 2 cores are shared by wrk and all
three servers: read the ratios and the CPU per request, not the absolute req/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cache import mint_key, start_redis  # noqa: E402
from benchmarks.ranges import (  # noqa: E402
    HOST,
    Bare,
    Case,
    MediaSpec,
    Nginx,
    Sample,
    Server,
    _on_sigterm,
    cpu_times,
    ensure_tools,
    free_port,
    raise_fd_limit,
    run_wrk,
    stop_group,
    summarise,
    wait_for_port,
)
from transcoder.ffmpeg import ffmpeg_exe  # noqa: E402

DATA = ROOT / "benchmarks" / ".data" / "hls"
RESULTS = ROOT / "benchmarks" / "results"
TRACK_SECONDS = 60
RENDITION = "aac_128"
SEGMENT = 3
TIERS = ("memory", "redis", "storage")
# What each answer is called in the files nginx and the bare app serve.
FILES = {"playlist": "media.m3u8", "init": "init.mp4", "segment": "seg.m4s"}
LABELS = {"playlist": "media playlist", "init": "init section", "segment": "segment (6 s)"}


def make_track(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    track = folder / "tone.mp3"
    if not track.exists():
        partial = folder / "tone.tmp.mp3"
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"sine=frequency=440:sample_rate=44100:duration={TRACK_SECONDS}",
             "-ac", "2", "-c:a", "libmp3lame", "-b:a", "192k", str(partial)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        partial.rename(track)
    return track


class Streamer(Server):
    """`streamer serve --workers 2` over the benchmark's library, with one tier's settings."""

    def __init__(self, port: int, workdir: Path, library: Path, env: dict[str, str]) -> None:
        self.name = "streamer"
        super().__init__(port, workdir)
        self.library = library
        self.data_dir = workdir / "streamer-data"  # shared by the tiers: transcoded once
        self.env = env

    def start(self) -> None:
        self._spawn(
            [str(ROOT / ".venv" / "bin" / "streamer"), "serve", "--library", str(self.library),
             "--data-dir", str(self.data_dir), "--host", HOST, "--port", str(self.port),
             "--workers", "2"],
            env={**os.environ, "STREAMER_LADDER": RENDITION, **self.env},
        )  # fmt: skip
        assert self.proc is not None
        wait_for_port(self.port, self.proc, timeout=180)

    def workers(self) -> list[int]:
        return [
            pid
            for pid, cmd in self.processes().items()
            if "spawn_main" in cmd and "resource_tracker" not in cmd
        ]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                (response.read()),
            )
    except urllib.error.HTTPError as error:
        return error.code, {}, error.read()


def hls_paths(streamer: Streamer, auth: dict[str, str], timeout: float) -> dict[str, str]:
    """The track's three URLs, once its rendition exists (transcoded at start-up)."""
    base = streamer.url("")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = get(base + "/api/v1/tracks?limit=10", auth)
        items = json.loads(body)["items"] if status == 200 else []
        if items:
            track = items[0]["id"]
            status, _, master = get(f"{base}/hls/{track}/master.m3u8")
            if status == 200 and RENDITION.encode() in master:
                variant = next(
                    line for line in master.decode().splitlines() if line.startswith(RENDITION)
                )
                status, _, media = get(f"{base}/hls/{track}/{variant}")
                if status == 200:
                    lines = media.decode().splitlines()
                    init = next(line for line in lines if "EXT-X-MAP" in line)
                    init_uri = init.split('URI="', 1)[1].split('"', 1)[0]
                    segment = [line for line in lines if line.startswith("seg_")][SEGMENT]
                    prefix = f"/hls/{track}/{RENDITION}/"
                    return {
                        "playlist": f"/hls/{track}/{variant}",
                        "init": prefix + init_uri,
                        "segment": prefix + segment,
                    }
        time.sleep(1)
    raise RuntimeError(f"the track was not transcoded within {timeout:.0f} s")


def tier_env(tier: str, redis_port: int) -> dict[str, str]:
    if tier == "memory":
        return {}
    env = {"STREAMER_SEGMENT_CACHE_BYTES": "0", "STREAMER_PREFETCH_SEGMENTS": "0"}
    if tier == "redis":
        env["STREAMER_REDIS_URL"] = f"redis://{HOST}:{redis_port}/0"
    return env


def expected_source(tier: str, case: str) -> str | None:
    """What a warm answer's Cache-Status says of the tier (None: no cache stands behind
    it). The memory tier is each worker's own, so a worker's first answer is a miss."""
    if case == "playlist":
        return None
    return {"memory": "detail=memory", "redis": "detail=redis", "storage": "fwd=miss"}[tier]


def check(
    servers: dict[str, Server], urls: dict[str, dict[str, str]], files: Path, tier: str
) -> list[str]:
    """Every server answers every case with the bytes of the files, and the streamer's
    answers come from the tier once warm (each request a new connection, so both workers
    get some); the problems found."""
    problems = []
    for case, name in FILES.items():
        wanted = (files / name).read_bytes()
        for label, server in servers.items():
            url = server.url(urls[label][case])
            status, headers, body = get(url)
            source = expected_source(tier, case) if label == "streamer" else None
            seen = headers.get("cache-status", "")
            for _ in range(8):
                if source is None or source in seen:
                    break
                status, headers, body = get(url)
                seen = headers.get("cache-status", "")
            if source is not None and source not in seen:
                problems.append(f"{tier} {case}: Cache-Status {seen!r}, wanted {source}")
            if status != 200 or body != wanted:
                problems.append(f"{tier} {label} {case}: status {status}, {len(body)} bytes")
    return problems


def format_tier(tier: str, results: dict[str, dict[str, dict[str, Any]]]) -> str:
    names = ("nginx", "bare", "streamer")
    lines = [
        f"tier: {tier}",
        f"{'case':<16}"
        + "".join(f" | {n:>8} req/s  p99 ms  CPU us (user+sys)" for n in names)
        + " | st/nginx st/bare | CPU st/ng st/bare",
    ]
    lines.append("-" * len(lines[1]))
    for case, per in results.items():
        row = f"{LABELS[case]:<16}"
        for n in names:
            r = per[n]
            cpu = f"{r['user_us_per_request']:.1f}+{r['sys_us_per_request']:.1f}"
            row += f" | {r['rps']:>14,.0f}  {r['p99_ms']:>6.2f}  {cpu:>17}"
        st, ng, bare = per["streamer"], per["nginx"], per["bare"]
        row += f" | {st['rps'] / ng['rps']:>7.2f}x {st['rps'] / bare['rps']:>6.2f}x"
        row += (
            f" | {st['cpu_us_per_request'] / ng['cpu_us_per_request']:>8.2f}x"
            f" {st['cpu_us_per_request'] / bare['cpu_us_per_request']:>6.2f}x"
        )
        lines.append(row)
        for n in names:
            if per[n]["errors"]:
                lines.append(f"{'':<16}   ! {n} errors: {per[n]['errors']}")
    return "\n".join(lines)


@contextlib.contextmanager
def stopping(*procs: subprocess.Popen[bytes] | Server | None) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            if isinstance(p, Server):
                p.stop()
            elif p is not None:
                stop_group(p)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, help="samples per case and server (5; quick 1)")
    p.add_argument("--seconds", type=float, help="seconds per sample (3; quick 1)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--tiers", default=",".join(TIERS), help="comma-separated, of " + str(TIERS))
    p.add_argument("--quick", action="store_true", help="1 short sample per case: a smoke run")
    a = p.parse_args(argv)
    samples = a.samples or (1 if a.quick else 5)
    seconds = a.seconds or (1.0 if a.quick else 3.0)
    tiers = [t for t in a.tiers.split(",") if t]
    if not tiers or set(tiers) - set(TIERS):
        p.error(f"--tiers takes some of {TIERS}")
    signal.signal(signal.SIGTERM, _on_sigterm)
    nginx_bin, wrk_bin = ensure_tools()
    if wrk_bin is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    raise_fd_limit()
    began = time.monotonic()
    library = DATA / "library"
    make_track(library)

    results: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    raw: dict[str, Any] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-hls-") as tmp:
        work = Path(tmp)
        files = work / "files"
        files.mkdir()
        redis_proc, redis_port = start_redis(work)
        nginx = Nginx(free_port(), work, files, access_log=True)
        bare = Bare(free_port(), work, files)
        with stopping(redis_proc, nginx, bare):
            paths: dict[str, str] = {}
            for tier in tiers:
                streamer = Streamer(free_port(), work, library, tier_env(tier, redis_port))
                with stopping(streamer):
                    streamer.start()
                    if not paths:
                        auth = mint_key(streamer.data_dir)
                        paths = hls_paths(streamer, auth, timeout=300)
                        for case, name in FILES.items():
                            _, _, body = get(streamer.url(paths[case]))
                            (files / name).write_bytes(body)
                        nginx.start(nginx_bin)
                        bare.start(ROOT / ".venv" / "bin" / "uvicorn")
                    servers: dict[str, Server] = {
                        "nginx": nginx,
                        "bare": bare,
                        "streamer": streamer,
                    }
                    as_files = {case: f"/media/{name}" for case, name in FILES.items()}
                    urls = {"nginx": as_files, "bare": as_files, "streamer": paths}
                    found = check(servers, urls, files, tier)
                    problems += found
                    for problem in found:
                        print(f"WRONG ANSWER: {problem}", flush=True)
                    results[tier], raw[tier] = measure(
                        servers, urls, wrk_bin, work, samples, seconds, a.connections, a.threads
                    )
                    print(format_tier(tier, results[tier]), flush=True)
                    print(flush=True)

    print(
        f"{a.connections} connections, {samples} sample(s) x {seconds:g} s per case and server, "
        "medians; CPU is the workers' user+system time per request (from /proc); st/x is the "
        "streamer's req/s (or CPU) over x's"
    )
    for tier in tiers:
        print()
        print(format_tier(tier, results[tier]))
    for problem in problems:
        print(f"WRONG ANSWER: {problem}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"hls-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"summary": results, "samples": raw, "wrong_answers": problems,
             "options": {"samples": samples, "seconds": seconds, "connections": a.connections},
             "load_average": Path("/proc/loadavg").read_text().split()[:3]},
            indent=2,
        )
    )  # fmt: skip
    print(f"\nraw figures: {out.relative_to(ROOT)}; total {time.monotonic() - began:.0f} s")
    return 1 if problems else 0


def measure(
    servers: dict[str, Server],
    urls: dict[str, dict[str, str]],
    wrk_bin: str,
    work: Path,
    samples: int,
    seconds: float,
    connections: int,
    threads: int,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    raw: dict[str, Any] = {}
    order = list(servers)
    for case, name in FILES.items():
        size = (work / "files" / name).stat().st_size
        spec = Case(case, LABELS[case], MediaSpec(name, size, 0))
        taken: dict[str, list[Sample]] = {label: [] for label in order}
        for label in order:  # warm-up: connections, the tier, the page cache
            server = servers[label]
            run_wrk(wrk_bin, server.url(""), urls[label][case], spec,
                    connections=connections, threads=threads, seconds=1, workdir=work)  # fmt: skip
        for i in range(samples):
            for label in order if i % 2 == 0 else order[::-1]:
                server = servers[label]
                pids = server.cpu_pids()
                user, system = cpu_times(pids)
                sample = run_wrk(
                    wrk_bin, server.url(""), urls[label][case], spec,
                    connections=connections, threads=threads, seconds=seconds, workdir=work,
                )  # fmt: skip
                user_after, system_after = cpu_times(pids)
                sample.cpu_user_seconds = user_after - user
                sample.cpu_seconds = sample.cpu_user_seconds + system_after - system
                taken[label].append(sample)
        results[case] = {label: summarise(ss) for label, ss in taken.items()}
        raw[case] = {label: [asdict(s) for s in ss] for label, ss in taken.items()}
        line = ", ".join(f"{label} {r['rps']:,.0f} req/s" for label, r in results[case].items())
        print(f"  {LABELS[case]}: {line}", flush=True)
    return results, raw


if __name__ == "__main__":
    sys.exit(main())
