"""Redis clients made one way: named, so connecting never scans package metadata.

redis-py looks its own version up in the installed packages' metadata for every new
connection (for CLIENT SETINFO) unless the driver is named: a blocking file-system scan on
the event loop. Every Redis client of the streamer comes from here.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.driver_info import DriverInfo

__all__ = ["DRIVER_INFO", "connect"]

DRIVER_INFO = DriverInfo(name="streamer", lib_version=redis.__version__)


def connect(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client for ``url`` (connections open lazily, on first use)."""
    client: aioredis.Redis = aioredis.Redis.from_url(url, driver_info=DRIVER_INFO, **options)
    return client
