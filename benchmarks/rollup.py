"""The analytics rollup on PostgreSQL: how long 10 million delivery events take to roll up,
and how long typical reports take against the rollups they make.

    .venv/bin/python benchmarks/rollup.py                      # 10 M events over 7 days
    .venv/bin/python benchmarks/rollup.py --events 1000000     # a quicker look

What it does, every process started here stopped here:

1. Starts a PostgreSQL of its own (initdb in a temporary folder, as the tests do; or
   uses ``--database-url``), migrates it.
2. Generates ``--events`` delivery events spread evenly over ``--days`` days (seeded):
   ``--listeners`` listeners on a few podcast apps and browsers, 2 % bots, Zipf-like
   popularity over ``--tracks`` 30-minute tracks; three in four requests progressive
   (a whole file or a 1 MB range, a few pre-loads), one in four HLS segments. They go in
   with COPY, through the capture's own insert (daily partitions).
3. Runs the rollup (IAB counting, hourly rows, daily rows) once over all of them and
   times it.
4. Times typical reports against the rollups (median of ``--repeat`` runs each).

Prints the figures and writes them to benchmarks/results/rollup-<time>.json. A script,
not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from streamer.analytics import reports, repository  # noqa: E402
from streamer.analytics.iab_counter import load_counter  # noqa: E402
from streamer.analytics.periods import zone  # noqa: E402
from streamer.analytics.report_model import ReportQuery  # noqa: E402
from streamer.analytics.rollup import RollupOptions, roll_up  # noqa: E402
from streamer.analytics.rows import day_of  # noqa: E402
from streamer.db import Database, migrate  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
START = datetime(2026, 11, 1, tzinfo=UTC)
AGENTS = [
    ("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)", 25),
    ("Podcasts/1410.53 CFNetwork/1111 Darwin/19.0.0 (x86_64)", 30),
    ("PocketCasts/1.0 (Pocket Casts Android, 7.20)", 10),
    ("Spotify/8.8.12 Android/33 (SM-G991B)", 10),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", 15),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", 8),
    ("Googlebot/2.1 (+http://www.google.com/bot.html)", 2),
]  # fmt: skip
COUNTRIES = ["US", "US", "US", "GB", "DE", "FR", "CA", "AU", "BR", "IN", "JP", ""]
TRACK_BYTES = 28_800_000  # 30 minutes at 128 kb/s
TRACK_SECONDS = 1800.0
SEGMENTS = 300


def rows(n: int, days: int, listeners: int, tracks: int, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    pool = [f"{rng.getrandbits(128):032x}" for _ in range(listeners)]
    agent_of = [rng.choices([a for a, _ in AGENTS], [w for _, w in AGENTS])[0] for _ in pool]
    country_of = [rng.choice(COUNTRIES) or None for _ in pool]
    track_ids = [f"{i:016x}" for i in range(tracks)]
    step = days * 86400 / n
    out = []
    for i in range(n):
        who = min(int(rng.paretovariate(1.2)) - 1, listeners - 1) if rng.random() < 0.3 \
            else rng.randrange(listeners)  # fmt: skip
        track = track_ids[min(int(rng.paretovariate(1.1)) - 1, tracks - 1)]
        at = START.timestamp() + i * step  # rows hold epoch seconds, as the capture's
        if rng.random() < 0.75:  # progressive
            roll = rng.random()
            if roll < 0.05:
                first, last = 0, 1  # a pre-load
            elif roll < 0.5:
                first, last = 0, TRACK_BYTES - 1
            else:
                first = rng.randrange(0, TRACK_BYTES - 1_000_000)
                last = first + 999_999
            row = (at, "bench", "track", track, "original", None, first, last, TRACK_BYTES,
                   TRACK_SECONDS, 206, last - first + 1)  # fmt: skip
        else:
            segment = rng.randrange(SEGMENTS)
            row = (at, "bench", "track", track, "aac_128", segment, None, None, 96_000, 6.0,
                   200, 96_000)  # fmt: skip
        out.append((*row, agent_of[who], None, None, pool[who], country_of[who]))
    return out


def insert(url: str, all_rows: list[tuple[Any, ...]], chunk: int = 200_000) -> float:
    engine = create_engine(url.replace("+asyncpg", "+psycopg").replace("?ssl=disable", ""))
    started = time.perf_counter()
    try:
        days = {day_of(r[0]) for r in all_rows[:: max(1, len(all_rows) // 1000)]}
        days |= {day_of(all_rows[0][0]), day_of(all_rows[-1][0])}
        with engine.begin() as conn:
            repository.ensure_partitions(conn, sorted(days))
        for i in range(0, len(all_rows), chunk):
            with engine.begin() as conn:
                repository.insert_rows(conn, all_rows[i : i + chunk])
    finally:
        engine.dispose()
    return time.perf_counter() - started


def table_sizes(url: str) -> dict[str, int]:
    """Bytes on disk (with indexes) of the raw events (every partition) and the rollups."""
    engine = create_engine(url.replace("+asyncpg", "+psycopg").replace("?ssl=disable", ""))
    try:
        with engine.connect() as conn:
            raw = conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "WHERE c.relname LIKE 'delivery_events%' AND c.relkind = 'r'"
                )
            ).scalar_one()
            out = {"delivery_events": int(raw)}
            for table in ("analytics_hourly", "analytics_daily"):
                out[table] = int(
                    conn.exec_driver_sql(f"SELECT pg_total_relation_size('{table}')").scalar_one()
                )
            return out
    finally:
        engine.dispose()


async def timed_reports(url: str, days: int, repeat: int) -> dict[str, float]:
    db = Database(url)
    end = START + timedelta(days=days)
    queries = {
        "downloads by day, top 10 tracks": ReportQuery(
            metric="downloads", start=START, end=end, interval="day", group_by="track"
        ),
        "unique listeners by day, all": ReportQuery(
            metric="listeners", start=START, end=end, interval="day"
        ),
        "listening seconds by hour, one day, by app (Europe/Paris)": ReportQuery(
            metric="listening_seconds",
            start=START,
            end=START + timedelta(days=1),
            interval="hour",
            tz="Europe/Paris",
            group_by="app",
        ),
        "downloads by country, week, with previous and moving average": ReportQuery(
            metric="downloads",
            start=START,
            end=START + timedelta(days=7),
            group_by="country",
            compare=True,
            moving_average=3,
        ),
    }
    out = {}
    try:
        for name, query in queries.items():
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                await reports.report(db, query, None)
                times.append(time.perf_counter() - started)
            out[name] = statistics.median(times)
    finally:
        await db.dispose()
    return out


async def rollup(url: str, batch: int, days: int) -> tuple[float, float, Any]:
    """Wall seconds, this process's CPU seconds (all threads) and the run."""
    db = Database(url)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        run = await roll_up(db, load_counter, owner="bench", now=START + timedelta(days=days + 1),
                            options=RollupOptions(batch=batch, lag=timedelta(0),
                                                  lease=timedelta(hours=6)))  # fmt: skip
        return time.perf_counter() - started, time.process_time() - cpu, run
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--listeners", type=int, default=200_000)
    parser.add_argument("--tracks", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (asyncpg URL)")
    args = parser.parse_args()
    for name in ("UTC", "Europe/Paris"):
        zone(name)
    server = None
    if args.database_url:
        url = args.database_url
    else:
        from tests.fixtures.postgres import PostgresProcess

        server = PostgresProcess()
        server.start()
        url = f"{server.url.replace('postgresql://', 'postgresql+asyncpg://')}/postgres?ssl=disable"
    try:
        migrate(url)
        started = time.perf_counter()
        generated = rows(args.events, args.days, args.listeners, args.tracks, args.seed)
        generate_seconds = time.perf_counter() - started
        insert_seconds = insert(url, generated)
        del generated
        print(f"generated {args.events:,} events in {generate_seconds:.0f} s, "
              f"COPY in {insert_seconds:.0f} s", flush=True)  # fmt: skip
        seconds, cpu, run = asyncio.run(rollup(url, args.batch, args.days))
        rate = run.events / seconds
        print(f"rollup: {run.events:,} events in {seconds:.0f} s = {rate:,.0f} events/s "
              f"({run.batches} batches, {run.hourly_cells:,} hourly cells, {run.days} days)",
              flush=True)  # fmt: skip
        print(f"  CPU of this process: {cpu:.0f} s = {run.events / cpu:,.0f} events per CPU second "
              "(PostgreSQL's own not included)")  # fmt: skip
        print(f"  read {run.read_seconds:.0f} s, counting {run.count_seconds:.0f} s, hourly rows "
              f"{run.write_seconds:.0f} s, daily rows {run.daily_seconds:.0f} s")  # fmt: skip
        sizes = table_sizes(url)
        per_event = sizes["delivery_events"] / max(1, args.events)
        print(f"  on disk: raw events {sizes['delivery_events'] / 1e6:.0f} MB "
              f"({per_event:.0f} bytes/event), hourly rows {sizes['analytics_hourly'] / 1e6:.0f}"
              f" MB, daily rows {sizes['analytics_daily'] / 1e6:.0f} MB")  # fmt: skip
        latency = asyncio.run(timed_reports(url, args.days, args.repeat))
        for name, value in latency.items():
            print(f"report: {name}: {value * 1000:.0f} ms (median of {args.repeat})")
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"rollup-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
        out.write_text(json.dumps({
            "args": vars(args), "generate_seconds": generate_seconds,
            "insert_seconds": insert_seconds, "rollup_seconds": seconds, "rollup_cpu_seconds": cpu,
            "events": run.events, "events_per_second": rate, "batches": run.batches,
            "hourly_cells": run.hourly_cells, "report_seconds": latency, "sizes": sizes,
            "phases": {"read": run.read_seconds, "count": run.count_seconds,
                       "hourly": run.write_seconds, "daily": run.daily_seconds},
        }, indent=2))  # fmt: skip
        print(f"written to {out}")
    finally:
        if server is not None:
            server.stop()
            server.remove()


if __name__ == "__main__":
    main()
