"""The analytics periodic task of a server process: roll up, then run due reports.

Every process of every node runs it; the rollup's lease and the schedules' claims make
one of them do each piece of work. Failures are logged and retried at the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from streamer.analytics import schedules
from streamer.analytics.rollup import CounterLoader, RollupOptions, RollupRun, roll_up
from streamer.background import stop_task
from streamer.db import Database
from streamer.settings import Settings

__all__ = ["AnalyticsTask", "node_owner", "rollup_options"]

logger = logging.getLogger("streamer.analytics.tasks")


def node_owner() -> str:
    """Who holds a lease: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def rollup_options(settings: Settings) -> RollupOptions:
    return RollupOptions(
        batch=settings.analytics_rollup_batch,
        lag=timedelta(seconds=settings.analytics_rollup_lag_seconds),
    )


class AnalyticsTask:
    def __init__(self, db: Database, settings: Settings, load_counter: CounterLoader) -> None:
        self.db = db
        self.settings = settings
        self.load_counter = load_counter
        self.owner = node_owner()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.settings.analytics_rollup_seconds > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="analytics-rollup")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def tick(self) -> RollupRun:
        run = await roll_up(
            self.db, self.load_counter, owner=self.owner, options=rollup_options(self.settings)
        )
        now = datetime.now(UTC)
        timeout = self.settings.analytics_webhook_timeout
        await schedules.run_due(self.db, now, webhook_timeout=timeout)
        await schedules.retry_webhooks(self.db, now, webhook_timeout=timeout)
        return run

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.analytics_rollup_seconds)
            try:
                run = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("analytics rollup failed; retried next time")
            else:
                if run.events:
                    logger.info("analytics rollup: %d events, %d hourly cells, %d days",
                                run.events, run.hourly_cells, run.days)  # fmt: skip
