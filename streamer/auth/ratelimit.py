"""Rate limits with the ``limits`` library: a moving window per principal and per IP on
the API, and the sign-in rules of streamer.auth.login_rule on login and second-factor
attempts.

Where the counters live decides what a limit means:
- Redis when ``redis_url`` is set: every worker of every node counts together.
- Otherwise a SQLite file in the data directory (streamer.auth.limit_store): every
  worker of this node counts together.
- In-process memory only when asked (tests, one-off tools).

A 429 carries Retry-After (seconds) and a problem+json body that says which rule held
the request back.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool

from streamer.auth.limit_store import SQLiteStorage
from streamer.auth.login_rule import Backoff, held_back
from streamer.redis_client import DRIVER_INFO

__all__ = ["LIMITS_FILE", "RateLimited", "RateLimits", "Rule", "limit_storage"]

logger = logging.getLogger("streamer.auth")

LIMITS_FILE = "ratelimits.db"  # in the data directory, when there is no Redis
_DAY = 86400


class RateLimited(Exception):
    def __init__(self, retry_after: int, reason: str = "too many requests") -> None:
        super().__init__(f"{reason}; retry in {retry_after} s")
        self.retry_after = retry_after


def limit_storage(
    redis_url: str | None, data_dir: Path | None = None
) -> tuple[Storage, ConnectionPool | None]:
    """The counters' store, and the Redis pool to disconnect at shutdown (if any):
    Redis, else a SQLite file in ``data_dir``, else (no data dir) this process's memory."""
    if not redis_url:
        if data_dir is None:
            return MemoryStorage(), None
        return SQLiteStorage(path=data_dir / LIMITS_FILE), None
    # Our own pool: a named driver (redis-py otherwise reads package metadata, blocking,
    # per connection), short timeouts, and something to close at shutdown.
    pool = ConnectionPool.from_url(
        redis_url, driver_info=DRIVER_INFO, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    uri = "async+" + redis_url if redis_url.startswith(("redis://", "rediss://")) else redis_url
    storage = storage_from_string(uri, implementation="redispy", connection_pool=pool)  # type: ignore[arg-type]
    assert isinstance(storage, Storage)
    return storage, pool


@dataclass(frozen=True)
class Rule:
    scope: str
    item: RateLimitItem


class RateLimits:
    """The server's limits: ``api`` per principal, ``ip`` per client address, and the
    sign-in rules: ``login`` per address, ``login_failures`` per account and address,
    and ``backoff`` per account (streamer.auth.login_rule)."""

    def __init__(
        self,
        storage: Storage,
        *,
        api: str,
        ip: str,
        login: str,
        login_failures: str = "5/15 minutes",
        backoff: Backoff | None = None,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.storage = storage
        self.pool = pool
        self.limiter = MovingWindowRateLimiter(storage)
        self.api = Rule("api", parse(api))
        self.ip = Rule("ip", parse(ip))
        self.login = Rule("login", parse(login))
        self.login_failures = Rule("login-failures", parse(login_failures))
        self.backoff = backoff or Backoff()

    async def hit(self, rule: Rule, *identity: str, reason: str = "too many requests") -> None:
        """Count one request; raise RateLimited when over. A limit store that fails lets
        the request through (logged): an outage of Redis must not lock admins out."""
        try:
            if await self.limiter.hit(rule.item, rule.scope, *identity):
                return
            stats = await self.limiter.get_window_stats(rule.item, rule.scope, *identity)
        except Exception:  # any storage failure: fail open, and say so
            logger.warning("rate limit storage failed; request let through", exc_info=True)
            return
        raise RateLimited(_seconds_until(stats.reset_time), reason)

    async def sign_in_attempt(self, ip: str | None, name: str) -> None:
        """Before checking a password or second factor: raise RateLimited when one of
        the three sign-in rules holds this attempt back."""
        address, account = ip or "-", name.casefold()
        await self.hit(
            self.login, "ip", address, reason="too many sign-in attempts from this address"
        )
        await self.hit(
            self.login_failures,
            account,
            address,
            reason="too many failed sign-ins to this account from this address",
        )
        try:
            until = await self.storage.get_expiry(_key("wait", account))
            waiting = until - time.time() if await self.storage.get(_key("wait", account)) else 0
            known = waiting > 0 and await self.storage.get(_key("known", account, address)) > 0
        except Exception:
            logger.warning("rate limit storage failed; request let through", exc_info=True)
            return
        if held_back(waiting=waiting, known_address=known):
            raise RateLimited(
                _seconds_until(until),
                "this account has had many failed sign-ins: addresses that have not "
                "signed in to it before must wait",
            )

    async def sign_in_result(
        self, ip: str | None, name: str, *, ok: bool, complete: bool | None = None
    ) -> None:
        """After the check: a failure counts toward the account's backoff; a success
        clears the address's failures on the account and, when it ``complete``s the
        sign-in (no second factor still to give), makes the address known to it."""
        address, account = ip or "-", name.casefold()
        try:
            if ok:
                await self.limiter.clear(
                    self.login_failures.item, "login-failures", account, address
                )
                if complete is False:
                    return
                known = _key("known", account, address)
                await self.storage.clear(known)  # so its expiry starts again
                await self.storage.incr(known, self.backoff.known_days * _DAY)
                return
            # Rule 2 counted this attempt already; a success above takes it back.
            failures = await self.storage.incr(_key("failures", account), self.backoff.window)
            delay = self.backoff.delay(failures)
            if delay:
                wait = _key("wait", account)
                await self.storage.clear(wait)
                await self.storage.incr(wait, delay)
        except Exception:
            logger.warning("rate limit storage failed; attempt not counted", exc_info=True)

    async def reset(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        if isinstance(self.storage, SQLiteStorage):
            await self.storage.close()
        if self.pool is not None:
            await self.pool.disconnect()


def _key(kind: str, *parts: str) -> str:
    return "/".join(("streamer-login", kind, *parts))


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))
