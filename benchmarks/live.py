"""Live channels: media playlist requests per second with many channels, against nginx
serving a static playlist of the same size, and the cost of computing a window as the
schedule and the channel's age grow.

Run it from the repository root::

    .venv/bin/python benchmarks/live.py            # 1,000 channels, 3 x 20 s per server
    .venv/bin/python benchmarks/live.py --quick    # 100 channels, 2 x 5 s

It generates three 20-second tones, starts `streamer serve --workers 2` on them (the
server scans and transcodes them), creates one playlist and N channels through the API,
waits until they are on air, then loads random channels' /live/{id}/aac_128/index.m3u8
with wrk (every request a random channel of the N), and nginx (Debian's nginx-light, 2
workers, as in benchmarks/ranges.py) serving one static file holding a playlist as the
streamer answered it. The window costs are measured in process on synthetic pools:
``sequence.on_air`` from an hour-old checkpoint, for schedules of 1 to 500 entries and
for checkpoints 1 hour to 1 day behind. Figures go to docs/performance.md by hand; raw
ones to benchmarks/results/live-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ranges import (  # noqa: E402
    HOST,
    Nginx,
    ensure_tools,
    free_port,
    raise_fd_limit,
    stop_group,
    wait_for_port,
)

WRK_LUA = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
math.randomseed(20261206)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  io.write(string.format("WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, "
    .. "\\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"status\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status))
end
"""


def api(base: str, key: str, method: str, path: str, body: object | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def make_tones(folder: Path, seconds: float) -> None:
    from transcoder.ffmpeg import ffmpeg_exe

    for n, frequency in enumerate((330, 440, 550)):
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"sine=f={frequency}:r=48000:d={seconds}", "-c:a", "flac",
             str(folder / f"tone{n}.flac")],
            check=True, timeout=60,
        )  # fmt: skip


def wrk(binary: str, url: str, paths: Path, workdir: Path, seconds: int) -> dict[str, float]:
    script = workdir / "live.lua"
    script.write_text(WRK_LUA % {"paths": paths})
    done = subprocess.run(
        [binary, "-t2", "-c64", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[8:])
            return {
                "rps": d["requests"] / (d["duration_us"] / 1e6),
                "p50_ms": d["p50_us"] / 1e3,
                "p99_ms": d["p99_us"] / 1e3,
                "bad_status": d["status"],
            }
    raise RuntimeError(f"wrk printed no result: {done.stdout[-500:]} {done.stderr[-500:]}")


def serve_and_load(opts: argparse.Namespace, nginx_bin: str, wrk_bin: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    library = work / "library"
    library.mkdir()
    make_tones(library, 20.0)
    data = work / "data"
    port = free_port()
    binary = Path(sys.executable).with_name("streamer")
    env = {**os.environ, "STREAMER_RATE_LIMIT_API": "1000000/minute",
           "STREAMER_RATE_LIMIT_IP": "1000000/minute"}  # fmt: skip
    with (work / "streamer.log").open("ab") as log:
        server = subprocess.Popen(
            [str(binary), "serve", "--library", str(library), "--data-dir", str(data),
             "--host", HOST, "--port", str(port), "--workers", "2"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    nginx = Nginx(free_port(), work, work / "static", access_log=True)
    try:
        wait_for_port(port, server, timeout=300)  # it scans and starts transcoding first
        key = subprocess.run(
            [str(binary), "apikey", "create", "--name", "bench", "--role", "admin",
             "--data-dir", str(data)],
            capture_output=True, text=True, timeout=60, check=True, env=env,
        ).stdout.strip()  # fmt: skip
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 300
        while True:
            tracks = api(base, key, "GET", "/api/v1/tracks?limit=10")["items"]
            ready = [t for t in tracks if t.get("job") and t["job"]["status"] == "succeeded"]
            if len(ready) == 3:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the tones were not transcoded in time")
            time.sleep(1)
        library_id = tracks[0]["library_id"]
        playlist = api(base, key, "POST", "/api/v1/playlists",
                       {"library_id": library_id, "name": "tones",
                        "track_ids": [t["id"] for t in tracks]})["id"]  # fmt: skip
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        ids = []
        started = time.monotonic()
        for n in range(opts.channels):
            channel = api(base, key, "POST", "/api/v1/channels", {"name": f"c{n}"})["id"]
            entry = {
                "playlist_id": playlist,
                "start": (midnight + timedelta(seconds=n)).replace(tzinfo=None).isoformat(),
                "duration_seconds": 86400,
                "rrule": "FREQ=DAILY",
            }
            api(base, key, "POST", f"/api/v1/channels/{channel}/entries", entry)
            ids.append(channel)
        created = time.monotonic() - started
        paths = work / "paths.txt"
        paths.write_text("".join(f"/live/{c}/aac_128/index.m3u8\n" for c in ids))
        # On air once the edit settled and a first segment went out.
        sample = f"{base}/live/{ids[-1]}/aac_128/index.m3u8"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(sample, timeout=10) as response:
                    body = response.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        time.sleep(opts.seconds / 2)  # let the windows fill a little more
        with urllib.request.urlopen(sample, timeout=10) as response:
            body = response.read()
        static = work / "static"
        static.mkdir()
        (static / "index.m3u8").write_bytes(body)
        (work / "nginx-paths.txt").write_text("/media/index.m3u8\n")
        nginx.start(nginx_bin)
        rounds: dict[str, list[dict[str, float]]] = {"streamer": [], "nginx": []}
        for _ in range(opts.rounds):
            rounds["streamer"].append(wrk(wrk_bin, base, paths, work, opts.seconds))
            rounds["nginx"].append(
                wrk(wrk_bin, f"http://{HOST}:{nginx.port}", work / "nginx-paths.txt", work,
                    opts.seconds)
            )  # fmt: skip
        return {
            "channels": opts.channels,
            "playlist_bytes": len(body),
            "create_seconds": round(created, 1),
            "rounds": rounds,
        }
    finally:
        nginx.stop()
        stop_group(server)


def window_costs(quick: bool) -> dict[str, Any]:
    """Seconds per window computed (sequence.on_air), pure, on synthetic pools."""
    from streamer.channels.model import (
        ChannelPlan,
        Checkpoint,
        PlanRevision,
        PoolTrack,
        ScheduleEntry,
    )
    from streamer.channels.sequence import advance, on_air, origin

    rng = random.Random(7)
    pools = {
        f"p{p}": tuple(
            PoolTrack(f"t{p}-{t}", f"artist{t % 40}", tuple([6.0] * rng.randint(25, 45)))
            for t in range(200)
        )
        for p in range(10)
    }
    created = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime(2026, 12, 7, 12, 0, 3, tzinfo=UTC)
    results: dict[str, Any] = {"entries": {}, "checkpoint_age_hours": {}}
    repeat = 3 if quick else 10

    def plan(entries: int) -> list[PlanRevision]:
        scheduled = tuple(
            ScheduleEntry(
                id=f"e{n}",
                playlist_id=f"p{n % 10}",
                start=datetime(2026, 1, 1) + timedelta(hours=n % 168),
                duration=timedelta(minutes=rng.choice((30, 60, 120))),
                rrule="FREQ=WEEKLY",
                priority=n % 5,
                order="shuffle" if n % 2 else "sequential",
            )
            for n in range(entries)
        )
        return [PlanRevision(created, ChannelPlan("bench", "Europe/London", scheduled, seed="s"))]

    for entries in (1, 10, 100, 500):
        revisions = plan(entries)
        start = origin(revisions, pools, now - timedelta(hours=1, minutes=5))
        timings = []
        for _ in range(repeat):
            began = time.perf_counter()
            on_air(start, revisions, pools, now, 60.0)
            timings.append(time.perf_counter() - began)
        results["entries"][entries] = round(statistics.median(timings) * 1000, 2)
    revisions = plan(100)
    for hours in (0.02, 1, 6, 24):
        first = origin(revisions, pools, now - timedelta(hours=hours + 1))
        checkpoint = advance(first, revisions, pools, now - timedelta(hours=hours))
        assert isinstance(checkpoint, Checkpoint)
        timings = []
        for _ in range(repeat):
            began = time.perf_counter()
            on_air(checkpoint, revisions, pools, now, 60.0)
            timings.append(time.perf_counter() - began)
        results["checkpoint_age_hours"][hours] = round(statistics.median(timings) * 1000, 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-servers", action="store_true", help="window costs only")
    opts = parser.parse_args()
    opts.channels = opts.channels or (100 if opts.quick else 1000)
    opts.seconds = opts.seconds or (5 if opts.quick else 20)
    opts.rounds = opts.rounds or (2 if opts.quick else 3)
    raise_fd_limit()
    report: dict[str, Any] = {"windows_ms": window_costs(opts.quick)}
    print("window cost (ms, on_air from a checkpoint 1 h back) by schedule entries:")
    print("  ", report["windows_ms"]["entries"])
    print("window cost (ms, 100 entries) by checkpoint age (hours):")
    print("  ", report["windows_ms"]["checkpoint_age_hours"])
    if not opts.no_servers:
        nginx_bin, wrk_bin = ensure_tools()
        if wrk_bin is None:
            raise SystemExit("wrk is missing")
        served = serve_and_load(opts, nginx_bin, wrk_bin)
        report["served"] = served
        streamer = statistics.median(r["rps"] for r in served["rounds"]["streamer"])
        nginx = statistics.median(r["rps"] for r in served["rounds"]["nginx"])
        p99s = statistics.median(r["p99_ms"] for r in served["rounds"]["streamer"])
        p99n = statistics.median(r["p99_ms"] for r in served["rounds"]["nginx"])
        size, made = served["playlist_bytes"], served["create_seconds"]
        print(f"live media playlists, {served['channels']} channels, {size} bytes each")
        print(f"  (channels created through the API in {made} s)")
        print(f"  streamer {streamer:9.0f} req/s  p99 {p99s:7.1f} ms")
        print(f"  nginx    {nginx:9.0f} req/s  p99 {p99n:7.1f} ms (one static file)")
        print(f"  ratio    {streamer / nginx:9.2f}x")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results / f"live-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
