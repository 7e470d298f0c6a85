"""The segment cache under listeners, beside nginx serving the same bytes from disk.

    .venv/bin/python benchmarks/cache.py                 # 1,000 tracks, 2 x 30 s of load
    .venv/bin/python benchmarks/cache.py --tracks 200 --run-seconds 10   # a quicker look

It needs locust: ``make bench-deps`` (requirements/bench.txt).

What it does, all on 127.0.0.1, every process started here stopped here:

1. Makes (once, kept in benchmarks/.data/cache/) ``--tracks`` distinct 12-second MP3s and
   lets `streamer serve` transcode them (ladder ``aac_128`` only, to keep the first run
   short; later runs find the renditions and skip it).
2. Starts a redis-server of its own (maxmemory 1 GB, allkeys-lru), `streamer serve
   --workers 2` with that Redis, and nginx (2 workers, sendfile) over the same folder.
3. Runs locust headless (benchmarks/locustfile.py): ``--users`` listeners, Zipf popularity
   over the tracks, the master and media playlists then segments at ``--pace`` seconds
   apart; first against the streamer (playlists and segments by their HLS URLs), then
   against nginx (the same playlists as files, each segment as a Range request of the
   rendition file: the same bytes).
4. A CDN-miss storm: ``--storm`` simultaneous requests for one segment nobody asked for
   yet, counting the storage reads it caused (goal: 1 per node).
5. Prints requests/s and segment p50/p99 for both, and for the streamer's segments by the
   tier that answered them (its Cache-Status field), the cache's hit ratio per tier, the
   storm's storage reads and latency, and the memory Redis used. Raw figures go to
   benchmarks/results/cache-<time>.json.

A script, not a test: nothing here asserts. On this 2-core machine locust (one Python
process) competes with the servers for the CPU: read the figures side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.ranges import HOST, Nginx, free_port, stop_group, wait_for_port  # noqa: E402
from transcoder.ffmpeg import ffmpeg_exe  # noqa: E402

DATA = ROOT / "benchmarks" / ".data" / "cache"
RESULTS = ROOT / "benchmarks" / "results"
TRACK_SECONDS = 12
PLAYLIST_COPIES = ".bench-playlists"  # in the library: nginx serves the playlists from here


def make_library(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    missing = [n for n in range(count) if not (folder / f"t{n:04d}.mp3").exists()]
    if not missing:
        return
    print(f"making {len(missing)} tracks ...", flush=True)

    def make(n: int) -> None:
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"sine=frequency={110 + n % 900}:sample_rate=44100:duration={TRACK_SECONDS}",
             "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(folder / f"t{n:04d}.mp3")],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(make, missing))


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
         "--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    wait_for_port(port, process, timeout=10)
    return process, port


def start_streamer(
    library: Path, data_dir: Path, port: int, redis_port: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STREAMER_REDIS_URL": f"redis://{HOST}:{redis_port}/0",
        "STREAMER_LADDER": "aac_128",
        "STREAMER_ACCESS_LOG": "false",
        "STREAMER_PREFETCH_SEGMENTS": "1",
    }
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "streamer"), "serve", "--library", str(library),
             "--data-dir", str(data_dir), "--host", HOST, "--port", str(port),
             "--workers", "2"],
            env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    wait_for_port(port, process, timeout=60)
    return process


def mint_key(data_dir: Path) -> dict[str, str]:
    """The admin API's credentials: a key made by the CLI (printed alone on stdout)."""
    minted = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "streamer"), "apikey", "create", "--name", "bench",
         "--role", "admin", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return {"Authorization": f"Bearer {minted.stdout.strip()}"}


def api_json(base: str, path: str, auth: dict[str, str]) -> Any:
    with urllib.request.urlopen(urllib.request.Request(base + path, headers=auth)) as r:
        return json.load(r)


def purge(base: str, track_id: str, auth: dict[str, str]) -> None:
    body = json.dumps({"track_id": track_id}).encode()
    headers = {**auth, "Content-Type": "application/json"}
    request = urllib.request.Request(base + "/api/v1/cache/purge", body, headers, method="POST")
    with urllib.request.urlopen(request) as response:
        response.read()


def wait_transcoded(base: str, count: int, timeout: float, auth: dict[str, str]) -> None:
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        done = api_json(base, "/api/v1/jobs?status=succeeded&limit=1", auth)["total"]
        if done != last:
            print(f"  transcoded {done}/{count}", flush=True)
            last = done
        if done >= count:
            return
        time.sleep(2)
    raise RuntimeError(f"only {last} of {count} tracks transcoded after {timeout:.0f} s")


def build_plan(base: str, data_dir: Path, library: Path, auth: dict[str, str]) -> dict[str, Any]:
    """Every track's HLS URLs (streamer) and segment byte ranges of its file (nginx)."""
    db = sqlite3.connect(data_dir / "streamer.db")
    keys = dict(db.execute("SELECT track_id, key FROM renditions WHERE name = 'aac_128'"))
    db.close()
    tracks = []
    with httpx.Client(base_url=base, timeout=30, headers=auth) as client:
        offset = 0
        while True:
            page = client.get("/api/v1/tracks", params={"limit": 500, "offset": offset}).json()
            for item in page["items"]:
                if item["id"] not in keys:
                    continue
                master = client.get(f"/hls/{item['id']}/master.m3u8").text
                variant = next(line for line in master.splitlines() if line.startswith("aac_128/"))
                media_url = f"/hls/{item['id']}/{variant}"
                media = client.get(media_url).text
                # The same two playlists as files for nginx, so that both servers answer
                # the same requests (a hidden folder: scans skip it).
                copies = library / PLAYLIST_COPIES / item["id"]
                copies.mkdir(parents=True, exist_ok=True)
                (copies / "master.m3u8").write_text(master)
                (copies / "media.m3u8").write_text(media)
                segments = [
                    f"/hls/{item['id']}/aac_128/{line}"
                    for line in media.splitlines()
                    if line.startswith("seg_")
                ]
                ranges = _byte_ranges(client.get(f"/hls/{item['id']}/aac_128/index_br.m3u8").text)
                nginx_path = "/media/" + keys[item["id"]]
                tracks.append(
                    {
                        "id": item["id"],
                        "master": f"/hls/{item['id']}/master.m3u8",
                        "media": media_url,
                        "segments": segments,
                        "nginx": [[nginx_path, first, last] for first, last in ranges],
                        "nginx_master": f"/media/{PLAYLIST_COPIES}/{item['id']}/master.m3u8",
                        "nginx_media": f"/media/{PLAYLIST_COPIES}/{item['id']}/media.m3u8",
                    }
                )
            offset += len(page["items"])
            if offset >= page["total"] or not page["items"]:
                break
    tracks.sort(key=lambda t: t["id"])
    return {"tracks": tracks}


def _byte_ranges(playlist: str) -> list[tuple[int, int]]:
    ranges = []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-BYTERANGE:"):
            length, _, start = line.split(":", 1)[1].partition("@")
            ranges.append((int(start), int(start) + int(length) - 1))
    return ranges


def run_locust(
    host: str, plan: Path, target: str, opts: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    prefix = workdir / f"locust-{target}"
    env = {**os.environ, "BENCH_PLAN": str(plan), "BENCH_TARGET": target,
           "BENCH_PACE": str(opts.pace)}  # fmt: skip
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "locust"), "-f", str(ROOT / "benchmarks" / "locustfile.py"),
         "--headless", "-u", str(opts.users), "-r", str(opts.users), "-t",
         f"{opts.run_seconds}s", "--host", host, "--csv", str(prefix), "--only-summary",
         "--loglevel", "WARNING"],
        env=env, check=True, capture_output=True, timeout=opts.run_seconds + 120,
    )  # fmt: skip
    figures: dict[str, Any] = {}
    with open(f"{prefix}_stats.csv") as fh:
        for row in csv.DictReader(fh):
            figures[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]),
                "p50_ms": float(row["50%"]),
                "p99_ms": float(row["99%"]),
            }
    return figures


def cache_stats(base: str, auth: dict[str, str]) -> dict[str, Any]:
    stats: dict[str, Any] = api_json(base, "/api/v1/cache/stats", auth)
    return stats


async def storm(
    base: str, path: str, count: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def one() -> tuple[int, float, str]:
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            tier = response.headers.get("cache-status", "?").split("; ", 1)[-1]
            return response.status_code, time.perf_counter() - started, tier

        results = await asyncio.gather(*(one() for _ in range(count)))
    times = sorted(t for _, t, _ in results)
    return {
        "statuses": sorted({s for s, _, _ in results}),
        "cache_status": dict(collections.Counter(tier for _, _, tier in results)),
        "p50_ms": times[len(times) // 2] * 1000,
        "max_ms": times[-1] * 1000,
    }


def redis_memory(port: int) -> str:
    cli = shutil.which("redis-cli")
    if cli is None:
        return "?"
    info = subprocess.run(
        [cli, "-h", HOST, "-p", str(port), "INFO", "memory"],
        capture_output=True, text=True, timeout=10, check=False,
    ).stdout  # fmt: skip
    for line in info.splitlines():
        if line.startswith("used_memory_human:"):
            return line.split(":", 1)[1].strip()
    return "?"


def _all_rps(figures: dict[str, Any]) -> float:
    """Requests/s of the playlists and segments (locust's aggregate also counts the
    per-tier copies of the streamer's segments)."""
    return sum(figures.get(name, {}).get("rps", 0) for name in ("master", "media", "segment"))


def main(argv: list[str] | None = None) -> int:
    if not (ROOT / ".venv" / "bin" / "locust").exists():
        raise SystemExit("locust is missing: make bench-deps")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between segments")
    parser.add_argument("--run-seconds", type=int, default=30)
    parser.add_argument("--storm", type=int, default=500)
    opts = parser.parse_args(argv)

    library = DATA / f"library-{opts.tracks}"
    data_dir = DATA / f"streamer-{opts.tracks}"
    make_library(library, opts.tracks)
    workdir = Path(tempfile.mkdtemp(prefix="streamer-cache-bench-"))
    redis, redis_port = start_redis(workdir)
    port, nginx_port = free_port(), free_port()
    streamer = nginx = None
    try:
        streamer = start_streamer(library, data_dir, port, redis_port, workdir / "streamer.log")
        base = f"http://{HOST}:{port}"
        auth = mint_key(data_dir)
        wait_transcoded(base, opts.tracks, timeout=opts.tracks * 3 + 120, auth=auth)
        plan = build_plan(base, data_dir, library, auth)
        storm_track = plan["tracks"].pop()  # nobody listens to it before the storm
        plan_path = workdir / "plan.json"
        plan_path.write_text(json.dumps(plan))
        nginx_plan = {
            "tracks": [
                {
                    **t,
                    "segments": t["nginx"],
                    "master": t["nginx_master"],
                    "media": t["nginx_media"],
                }
                for t in plan["tracks"]
            ]
        }
        nginx_plan_path = workdir / "plan-nginx.json"
        nginx_plan_path.write_text(json.dumps(nginx_plan))
        nginx = Nginx(nginx_port, workdir, library, access_log=False)
        nginx.start(shutil.which("nginx") or "/usr/sbin/nginx")

        print(f"locust: {opts.users} listeners, {opts.run_seconds} s each server ...", flush=True)
        before = cache_stats(base, auth)
        streamer_figures = run_locust(base, plan_path, "streamer", opts, workdir)
        after = cache_stats(base, auth)
        nginx_figures = run_locust(nginx.url(""), nginx_plan_path, "nginx", opts, workdir)

        # Cold for real: the transcode's warming may have put it in Redis.
        purge(base, storm_track["id"], auth)
        reads_before = cache_stats(base, auth)["storage"]["reads"]
        stormed = asyncio.run(storm(base, storm_track["segments"][-1], opts.storm))
        # The same storm at nginx (the segment's bytes as a Range of the file): what the
        # client and the machine allow, for reading the streamer's figure.
        nginx_path, first, last = storm_track["nginx"][-1]
        range_header = {"Range": f"bytes={first}-{last}"}
        nginx_stormed = asyncio.run(storm(nginx.url(""), nginx_path, opts.storm, range_header))
        time.sleep(1.5)  # the other worker's counters reach /metrics within a second
        storm_reads = cache_stats(base, auth)["storage"]["reads"] - reads_before
        memory = redis_memory(redis_port)
    finally:
        for process in (streamer, redis):
            if process is not None:
                stop_group(process)
        if nginx is not None:
            nginx.stop()

    def tier(name: str) -> str:
        hits = after["tiers"][name]["hits"] - before["tiers"][name]["hits"]
        misses = after["tiers"][name]["misses"] - before["tiers"][name]["misses"]
        total = hits + misses
        return f"{hits / total:.1%} of {total}" if total else "no requests"

    reads = after["storage"]["reads"] - before["storage"]["reads"]
    served = after["tiers"]["memory"]["hits"] + after["tiers"]["memory"]["misses"]
    served -= before["tiers"]["memory"]["hits"] + before["tiers"]["memory"]["misses"]
    lines = [
        f"{opts.tracks} tracks, {opts.users} listeners, a segment every {opts.pace} s each, "
        f"{opts.run_seconds} s per server; Zipf s=1.1; 2 workers each; locust on the same cores",
        f"{'':10} {'segment req/s':>14} {'p50 ms':>8} {'p99 ms':>8} {'failures':>9}",
    ]
    for name, figures in (("nginx", nginx_figures), ("streamer", streamer_figures)):
        seg = figures.get("segment", {})
        lines.append(
            f"{name:10} {seg.get('rps', 0):14.0f} {seg.get('p50_ms', 0):8.1f} "
            f"{seg.get('p99_ms', 0):8.1f} {seg.get('failures', 0):9d}"
        )
    for tier_name in ("memory", "redis", "storage", "collapsed"):
        seg = streamer_figures.get(f"segment from {tier_name}")
        if seg:
            lines.append(
                f"{'  ' + tier_name:10} {seg['rps']:14.0f} {seg['p50_ms']:8.1f} "
                f"{seg['p99_ms']:8.1f} {seg['failures']:9d}"
            )
    all_rps = _all_rps(streamer_figures)
    nginx_all = _all_rps(nginx_figures)
    lines += [
        f"all requests (playlists too): nginx {nginx_all:.0f} req/s, streamer {all_rps:.0f} req/s",
        f"hit ratio: memory {tier('memory')}, redis {tier('redis')}; "
        f"storage reads {reads} for {served} segment requests "
        f"({1 - reads / served:.1%} served without storage)"
        if served
        else "no segments",
        f"storm: {opts.storm} simultaneous requests for one cold segment -> {storm_reads} "
        f"storage read(s); statuses {stormed['statuses']}, p50 {stormed['p50_ms']:.0f} ms, "
        f"max {stormed['max_ms']:.0f} ms; answered as {stormed['cache_status']}; "
        f"the same storm at nginx: p50 {nginx_stormed['p50_ms']:.0f} ms, "
        f"max {nginx_stormed['max_ms']:.0f} ms",
        f"redis memory used: {memory}",
    ]
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"cache-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "options": vars(opts),
                "nginx": nginx_figures,
                "streamer": streamer_figures,
                "cache_before": before,
                "cache_after": after,
                "storm": {**stormed, "storage_reads": storm_reads},
                "nginx_storm": nginx_stormed,
                "redis_memory": memory,
            },
            indent=2,
        )
    )
    print(f"raw figures: {out.relative_to(ROOT)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
