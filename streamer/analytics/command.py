"""`streamer analytics rollup`: run the rollup (and due scheduled reports) once, now.

The server runs the same task periodically; running it by hand takes the same lease, so
it waits for nobody and does nothing while a server holds the lease (it says so).
``--reset`` forgets the rollups first and counts every stored raw event again.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from streamer.analytics.rollup import CounterLoader, reset
from streamer.analytics.tasks import AnalyticsTask
from streamer.db import Database, migrate
from streamer.settings import Settings

__all__ = ["add_parser", "analytics_command"]


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    analytics_p = sub.add_parser("analytics", help="listener analytics: rollups")
    actions = analytics_p.add_subparsers(dest="analytics_command", required=True)
    rollup_p = actions.add_parser(
        "rollup", parents=[common], help="roll raw delivery events up into hourly/daily rows"
    )
    rollup_p.add_argument(
        "--reset", action="store_true", help="forget the rollups and count every raw event again"
    )


def analytics_command(settings: Settings, args: argparse.Namespace, load: CounterLoader) -> int:
    migrate(settings.effective_database_url)
    return asyncio.run(_rollup(settings, bool(args.reset), load))


async def _rollup(settings: Settings, wipe: bool, load: CounterLoader) -> int:
    db = Database(settings.effective_database_url)
    try:
        if wipe:
            await reset(db)
        started = time.perf_counter()
        run = await AnalyticsTask(db, settings, load).tick()
        seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    if run.skipped:
        print("another process holds the rollup lease; nothing done")
        return 0
    rate = run.events / seconds if seconds else 0.0
    print(f"rolled up {run.events} events in {seconds:.1f} s ({rate:,.0f} events/s): "
          f"{run.hourly_cells} hourly cells, {run.days} days")  # fmt: skip
    return 0
