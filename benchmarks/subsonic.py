"""The Subsonic API on a large catalogue: getAlbumList2 and search3 on 100,000 tracks
(goal: p99 under 50 ms), beside the admin API's own track page on the same server in the
same run; and how many on-demand transcodes run at realtime or faster at once.

    .venv/bin/python benchmarks/subsonic.py                 # 100,000 tracks, SQLite
    .venv/bin/python benchmarks/subsonic.py --tracks 20000  # a quicker look
    .venv/bin/python benchmarks/subsonic.py --database-url postgresql+asyncpg://...

What it does, every process started here stopped here:

1. Writes ``--tracks`` catalogue rows (seeded: 10 tracks an album, 4 albums an artist,
   30 genres, words from a small vocabulary in titles) straight into a fresh database,
   as a scan would have stored them, under one library folder.
2. Starts `streamer serve --no-scan --workers 1` on it, makes a user with an app password.
3. Times ``--requests`` sequential calls of each case, after a warm-up, on one
   keep-alive connection; prints p50, p99 and mean.
4. On-demand transcodes: a 60 s FLAC tone, N concurrent `stream?format=mp3` (no kept
   copy: each asks another bitrate or offset), for N = 1, 2, 4, 8: seconds of audio
   made per second of wall clock per stream (>= 1 is realtime).

Prints the figures and writes them to benchmarks/results/subsonic-<time>.json.
A script, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
from sqlalchemy import insert  # noqa: E402

from benchmarks.ranges import HOST, free_port, stop_group, wait_for_port  # noqa: E402
from streamer.auth.app_passwords import create_app_password  # noqa: E402
from streamer.auth.audit import Actor  # noqa: E402
from streamer.auth.users import create_user  # noqa: E402
from streamer.catalogue.scan import ensure_library  # noqa: E402
from streamer.db import Database, Track, migrate, track_id_for  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WORDS = [
    "love", "night", "blue", "river", "fire", "dream", "light", "rain", "gold", "heart",
    "stone", "moon", "road", "wild", "home", "city", "sun", "star", "ocean", "storm",
    "silver", "shadow", "echo", "glass", "summer", "winter",
]  # fmt: skip
GENRES = [f"Genre {n}" for n in range(30)]


def _rows(library_id: str, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        album = n // 10
        artist = album // 4
        key = f"Artist {artist}/Album {album}/{n % 10 + 1:02d}.flac"
        title = " ".join(rng.sample(WORDS, 3)).title()
        rows.append({
            "id": track_id_for(library_id, key), "library_id": library_id, "key": key,
            "status": "ok", "size": 3_000_000 + n, "mtime": 1.7e9, "version": f"v{n}",
            "content_hash": f"{n:064x}", "content_type": "audio/flac", "duration": 180.0 + n % 60,
            "codec": "flac", "bitrate": 900_000, "sample_rate": 44100, "channels": 2,
            "bits_per_sample": 16, "title": title, "artist": f"Artist {artist}",
            "album": f"Album {album}", "album_artist": f"Artist {artist}",
            "genre": GENRES[album % len(GENRES)], "year": 1960 + album % 60,
            "track_number": n % 10 + 1, "disc_number": 1, "tags": {},
            "created_at": now - timedelta(minutes=n), "updated_at": now, "scanned_at": now,
        })  # fmt: skip
    return rows


async def seed(url: str, library: Path, count: int) -> str:
    """The catalogue and a user; the user's app password."""
    db = Database(url)
    try:
        lib = await ensure_library(db, str(library))
        rows = _rows(lib.id, count, seed=7)
        async with db.session() as session, session.begin():
            for start in range(0, len(rows), 5000):
                await session.execute(insert(Track), rows[start : start + 5000])
        actor = Actor("cli", None, "bench")
        user = await create_user(db, "bench", "a long enough password 1", "admin", actor)
        secret, _ = await create_app_password(db, user.id, "bench", actor)
        return secret
    finally:
        await db.dispose()


def _album_id(artist: str, album: str) -> str:
    from streamer.subsonic.ids import album_id

    return album_id(artist, album)[3:]


def timed(client: httpx.Client, path: str, params: dict[str, Any], n: int) -> dict[str, float]:
    for _ in range(5):  # warm-up
        client.get(path, params=params).raise_for_status()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        if b'"failed"' in response.content[:200]:
            raise RuntimeError(f"{path} failed: {response.text[:300]}")
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "mean_ms": statistics.fmean(samples),
    }


async def transcodes(
    base: str, auth: dict[str, str], song: str, counts: list[int]
) -> list[dict[str, float]]:
    results = []
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for count in counts:

            async def one(k: int) -> float:
                params = {
                    **auth,
                    "id": song,
                    "format": "mp3",
                    "timeOffset": k + 1,
                    "maxBitRate": 128,
                }  # an offset: never a kept copy
                started = time.perf_counter()
                async with client.stream("GET", "/rest/stream", params=params) as response:
                    async for _ in response.aiter_bytes():
                        pass
                return time.perf_counter() - started

            started = time.perf_counter()
            seconds = await asyncio.gather(*(one(k) for k in range(count)))
            wall = time.perf_counter() - started
            audio = [60.0 - (k + 1) for k in range(count)]
            speed = [a / s for a, s in zip(audio, seconds, strict=True)]
            results.append({"streams": count, "wall_s": wall, "min_speed": min(speed),
                            "mean_speed": statistics.fmean(speed)})  # fmt: skip
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--transcodes", default="1,2,4,8")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-subsonic-"))
    library, data = work / "library", work / "data"
    library.mkdir()
    from tests.fixtures.audio import make_audio

    make_audio(library / "tone.flac", "flac", 60.0, tags={"title": "Benchmark tone"})
    url = opts.database_url or f"sqlite+aiosqlite:///{data / 'streamer.db'}"
    data.mkdir()
    migrate(url)
    from streamer import cli
    from streamer.settings import Settings

    settings = Settings.load({}, data_dir=data, database_url=opts.database_url)
    asyncio.run(cli.scan_roots(settings, [str(library)], progress=False))  # the tone
    started = time.monotonic()
    password = asyncio.run(seed(url, library, opts.tracks))
    print(f"{opts.tracks:,} tracks written in {time.monotonic() - started:.1f} s")
    port = free_port()
    env = {**os.environ, "STREAMER_RATE_LIMIT_API": "1000000/minute",
           "STREAMER_RATE_LIMIT_IP": "1000000/minute", "STREAMER_WATCH_LIBRARIES": "false",
           "STREAMER_TRANSCODE_ON_START": "false"}  # fmt: skip
    if opts.database_url:
        env["STREAMER_DATABASE_URL"] = opts.database_url
    binary = Path(sys.executable).with_name("streamer")
    with (work / "streamer.log").open("ab") as log:
        server = subprocess.Popen(
            [str(binary), "serve", "--library", str(library), "--data-dir", str(data),
             "--host", HOST, "--port", str(port), "--workers", "1", "--no-scan"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    report: dict[str, Any] = {"tracks": opts.tracks, "database": url.split(":")[0]}
    try:
        wait_for_port(port, server, timeout=120)
        base = f"http://{HOST}:{port}"
        auth = {"u": "bench", "p": password, "c": "bench", "v": "1.16.1", "f": "json"}
        cases = {
            "getAlbumList2 newest": ("/rest/getAlbumList2", {"type": "newest", "size": 50}),
            "getAlbumList2 alphabeticalByName": (
                "/rest/getAlbumList2",
                {"type": "alphabeticalByName", "size": 50, "offset": 500},
            ),
            "getAlbumList2 random": ("/rest/getAlbumList2", {"type": "random", "size": 50}),
            "getAlbumList2 byGenre": (
                "/rest/getAlbumList2",
                {"type": "byGenre", "genre": "Genre 7", "size": 50},
            ),
            "search3 one word": ("/rest/search3", {"query": "river"}),
            "search3 two words": ("/rest/search3", {"query": "blue moon"}),
            "search3 artist": ("/rest/search3", {"query": "artist 1234"}),
            "getAlbum": ("/rest/getAlbum", {"id": "al-" + _album_id("Artist 1234", "Album 4936")}),
            "getArtists": ("/rest/getArtists", {}),
            "reference: /api/v1/tracks?q=river": ("/api/v1/tracks", {"q": "river"}),
        }
        figures = {}
        with httpx.Client(base_url=base, timeout=60) as client:
            key = subprocess.run(
                [str(binary), "apikey", "create", "--name", "bench", "--role", "admin",
                 "--data-dir", str(data)],
                capture_output=True, text=True, timeout=60, check=True, env=env,
            ).stdout.strip()  # fmt: skip
            for name, (path, params) in cases.items():
                if path.startswith("/api/"):
                    client.headers["authorization"] = f"Bearer {key}"
                    figures[name] = timed(client, path, params, opts.requests)
                else:
                    figures[name] = timed(client, path, {**auth, **params}, opts.requests)
                f = figures[name]
                print(f"{name:40s} p50 {f['p50_ms']:7.1f} ms  p99 {f['p99_ms']:7.1f} ms")
            song = client.get("/rest/search3", params={**auth, "query": "benchmark tone"}).json()
        report["cases"] = figures
        song_id = song["subsonic-response"]["searchResult3"]["song"][0]["id"]
        counts = [int(c) for c in opts.transcodes.split(",") if c]
        report["transcodes"] = asyncio.run(
            transcodes(base, {k: v for k, v in auth.items() if k != "f"}, song_id, counts)
        )
        for t in report["transcodes"]:
            print(f"{t['streams']} concurrent mp3 transcodes: slowest {t['min_speed']:.1f}x "
                  f"realtime, mean {t['mean_speed']:.1f}x")  # fmt: skip
    finally:
        stop_group(server)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"subsonic-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
