"""Ad insertion's cost: a listener session's personalised media playlist against the same
track's own (unpersonalised) media playlist on the same server in the same run (goal: at
least 0.5x), session starts per second, and the p99 of a decision.

    .venv/bin/python benchmarks/ads.py                  # 10-minute programme, 20 campaigns
    .venv/bin/python benchmarks/ads.py --seconds 5 --samples 2   # a quicker look

What it does, every process started here stopped here:

1. Makes a 10-minute FLAC programme (100 segments of 6 s) and three ads (15, 20, 30 s),
   starts `streamer serve --workers 1` on them (it catalogues and transcodes them), and
   through the API: ``--campaigns`` campaigns (three priority tiers, categories, caps),
   one creative each, and the programme's breaks (pre-roll, two mid-rolls, post-roll, 60 s
   each: several ads per break).
2. wrk (``--connections``, ``--seconds`` a sample, ``--samples`` interleaved samples,
   the median printed) on: the track's own aac_128 media playlist; one session's
   personalised aac_128 media playlist; the master, where every GET starts a session
   (decisions for four breaks and a database insert).
3. A decision's p99: ``POST /api/v1/ads/decisions`` sequentially on one connection (it
   reads the campaigns from the database each time), and the pure ``decide`` in this
   process on the same campaigns.

Prints the figures and writes them to benchmarks/results/ads-<time>.json.
A script, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import m3u8  # noqa: E402

from benchmarks.ranges import (  # noqa: E402
    HOST,
    WRK_DONE,
    ensure_tools,
    free_port,
    stop_group,
    wait_for_port,
)

RESULTS = ROOT / "benchmarks" / "results"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FLIGHT = {
    "starts_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    "ends_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
}


def wrk(binary: str, url: str, seconds: int, connections: int, work: Path) -> dict[str, float]:
    script = work / "ads.lua"
    script.write_text(f'wrk.headers["User-Agent"] = "{CHROME}"\n' + WRK_DONE)
    proc = subprocess.run(
        [binary, "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
         "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[len("WRKJSON ") :])
            errors = sum(d[k] for k in ("connect", "read", "write", "status", "timeout"))
            return {
                "rps": d["requests"] / (d["duration_us"] / 1e6),
                "p99_ms": d["p99_us"] / 1e3,
                "errors": errors,
            }
    raise RuntimeError(f"wrk printed no result: {proc.stdout[-500:]} {proc.stderr[-500:]}")


def wait_for_transcodes(client: httpx.Client, count: int) -> dict[str, str]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        tracks = client.get("/api/v1/tracks", params={"limit": 100}).json()["items"]
        ready = {
            t["path"]: t["id"]
            for t in tracks
            if client.get(f"/api/v1/tracks/{t['id']}").json().get("renditions")
        }
        if len(ready) == count:
            return ready
        time.sleep(1)
    raise TimeoutError("the tracks were not transcoded in 10 minutes")


def configure(client: httpx.Client, tracks: dict[str, str], campaigns: int) -> None:
    ads = [("ad15.flac", 15), ("ad20.flac", 20), ("ad30.flac", 30)]
    tiers = ["sponsorship", "standard", "standard", "standard", "house"]
    for n in range(campaigns):
        advertiser = client.post(
            "/api/v1/ads/advertisers", json={"name": f"Advertiser {n}", "category": f"cat{n % 7}"}
        ).json()["id"]
        campaign = client.post(
            "/api/v1/ads/campaigns",
            json={"advertiser_id": advertiser, "name": f"Campaign {n}", **FLIGHT,
                  "priority": tiers[n % len(tiers)], "goal": 100_000, "price": 12.0,
                  "caps": [{"impressions": 3, "window_seconds": 3600}]},
        ).json()  # fmt: skip
        name, seconds = ads[n % len(ads)]
        made = client.post(
            f"/api/v1/ads/campaigns/{campaign['id']}/creatives",
            json={"name": "spot", "slot_seconds": seconds, "track_id": tracks[name]},
        )
        made.raise_for_status()
    breaks = [
        {"position": "pre", "seconds": 60},
        {"position": "mid", "at": 200, "seconds": 60},
        {"position": "mid", "at": 400, "seconds": 60},
        {"position": "post", "seconds": 60},
    ]
    client.put(f"/api/v1/tracks/{tracks['show.flac']}/ad-breaks", json={"breaks": breaks})


def decision_p99(client: httpx.Client, requests: int) -> dict[str, float]:
    body = {"break": {"seconds": 60}, "listener": {"session": "bench"}}
    samples = []
    for n in range(requests + 20):
        body["listener"]["session"] = f"bench-{n}"  # type: ignore[index]
        started = time.perf_counter()
        client.post("/api/v1/ads/decisions", json=body).raise_for_status()
        if n >= 20:  # warm-up
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99)]}


def pure_decision_p99(url: str, campaigns: int, requests: int) -> dict[str, float]:
    from streamer.ads.decision import decide
    from streamer.ads.model import Break, Listener
    from streamer.ads.repository import decision_inputs
    from streamer.db import Database

    async def load() -> list[Any]:
        db = Database(url)
        try:
            return (await decision_inputs(db, -16.0, datetime.now(UTC))).campaigns
        finally:
            await db.dispose()

    loaded = asyncio.run(load())
    slot = Break("b", 60.0)
    now = datetime.now(UTC)
    samples = []
    for n in range(requests):
        started = time.perf_counter()
        decide(slot, Listener(f"s{n}", now), loaded, {})
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"campaigns": len(loaded), "p50_ms": statistics.median(samples),
            "p99_ms": samples[int(len(samples) * 0.99)]}  # fmt: skip


def make_media(library: Path) -> None:
    from transcoder.ffmpeg import ffmpeg_exe

    for name, frequency, seconds, volume in [("show.flac", 440, 600, 0.5),
                                             ("ad15.flac", 880, 15, 0.4),
                                             ("ad20.flac", 990, 20, 0.4),
                                             ("ad30.flac", 660, 30, 0.4)]:  # fmt: skip
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"sine=f={frequency}:d={seconds},volume={volume}", "-ac", "2",
             "-c:a", "flac", str(library / name)],
            check=True, timeout=120,
        )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--decisions", type=int, default=500)
    opts = parser.parse_args()
    _, wrk_bin = ensure_tools()
    if wrk_bin is None:
        raise SystemExit("wrk is missing: scripts/need wrk:wrk installs it")
    work = Path(tempfile.mkdtemp(prefix="bench-ads-"))
    library, data = work / "library", work / "data"
    library.mkdir()
    data.mkdir()
    make_media(library)
    port = free_port()
    env = {
        **os.environ,
        "STREAMER_RATE_LIMIT_API": "1000000/minute",
        "STREAMER_RATE_LIMIT_IP": "1000000/minute",
        "STREAMER_WATCH_LIBRARIES": "false",
    }
    binary = Path(sys.executable).with_name("streamer")
    with (work / "streamer.log").open("ab") as log:
        server = subprocess.Popen(
            [str(binary), "serve", "--library", str(library), "--data-dir", str(data),
             "--host", HOST, "--port", str(port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    report: dict[str, Any] = {"campaigns": opts.campaigns, "connections": opts.connections}
    try:
        wait_for_port(port, server, timeout=120)
        base = f"http://{HOST}:{port}"
        key = subprocess.run(
            [str(binary), "apikey", "create", "--name", "bench", "--role", "admin",
             "--data-dir", str(data)],
            capture_output=True, text=True, timeout=60, check=True, env=env,
        ).stdout.strip()  # fmt: skip
        with httpx.Client(base_url=base, timeout=60,
                          headers={"authorization": f"Bearer {key}"}) as client:  # fmt: skip
            tracks = wait_for_transcodes(client, 4)
            configure(client, tracks, opts.campaigns)
            show = tracks["show.flac"]
            own = m3u8.loads(client.get(f"/hls/{show}/master.m3u8").text)
            own_media = f"/hls/{show}/" + next(p.uri for p in own.playlists if "aac_128" in p.uri)
            session = m3u8.loads(
                client.get(f"/hls/ads/{show}/master.m3u8", headers={"user-agent": CHROME}).text
            )
            uri = next(p.uri for p in session.playlists if "aac_128" in p.uri)
            personal = f"/hls/ads/{show}/{uri}"
            text = client.get(personal).text
            report["session_playlist"] = {
                "segments": text.count("#EXTINF"),
                "ads": text.count("#EXT-X-DATERANGE"),
                "bytes": len(text.encode()),
            }
            cases = {
                "own media playlist (reference)": own_media,
                "personalised media playlist": personal,
                "session start (master)": f"/hls/ads/{show}/master.m3u8",
            }
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
            for _ in range(opts.samples):
                for name, path in cases.items():
                    samples[name].append(
                        wrk(wrk_bin, base + path, opts.seconds, opts.connections, work)
                    )
            figures = {
                name: {
                    "rps": statistics.median(s["rps"] for s in found),
                    "p99_ms": statistics.median(s["p99_ms"] for s in found),
                    "errors": sum(s["errors"] for s in found),
                }
                for name, found in samples.items()
            }
            report["cases"] = figures
            reference = figures["own media playlist (reference)"]["rps"]
            print(f"session playlist: {report['session_playlist']}")
            for name, f in figures.items():
                ratio = f["rps"] / reference
                print(f"{name:34s} {f['rps']:9.0f} req/s  p99 {f['p99_ms']:7.1f} ms  "
                      f"{ratio:5.2f}x reference  errors {f['errors']:.0f}")  # fmt: skip
            report["decision_api"] = decision_p99(client, opts.decisions)
            print(f"POST /ads/decisions: p50 {report['decision_api']['p50_ms']:.1f} ms, "
                  f"p99 {report['decision_api']['p99_ms']:.1f} ms")  # fmt: skip
        url = f"sqlite+aiosqlite:///{data / 'streamer.db'}"
        report["decision_pure"] = pure_decision_p99(url, opts.campaigns, 10_000)
        pure = report["decision_pure"]
        print(f"decide() on {pure['campaigns']} campaigns: p50 {pure['p50_ms'] * 1000:.0f} us, "
              f"p99 {pure['p99_ms'] * 1000:.0f} us")  # fmt: skip
    finally:
        stop_group(server)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ads-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
