"""Telling "the database is down" from a bug, so callers answer 503 or serve what they
already know instead of failing with a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa

from streamer.errors import DatabaseUnavailable

__all__ = ["SERVE_STALE_SECONDS", "database_unavailable", "translate_unavailable"]

# How long the serving caches may keep answering from what they last knew while the
# database (or a store's index) is unreachable.
SERVE_STALE_SECONDS = 300.0

P = ParamSpec("P")
R = TypeVar("R")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached now (refused or dropped
    connections, a restarting server, a pool or connect timeout, SQLite's lock), as
    opposed to a bad query or a bug."""
    if isinstance(exc, DatabaseUnavailable | sa.OperationalError | sa.InterfaceError):
        return True
    if isinstance(exc, sa.TimeoutError):  # the pool's: no connection came free
        return True
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    # Raised as they are by drivers while connecting (asyncpg), or by our own timeouts.
    return isinstance(exc, ConnectionError | TimeoutError)


def translate_unavailable(
    function: Callable[P, Awaitable[R]],
) -> Callable[P, Awaitable[R]]:
    """Wrap an async database read so that "unavailable" surfaces as DatabaseUnavailable."""

    @wraps(function)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await function(*args, **kwargs)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if database_unavailable(exc):
                raise DatabaseUnavailable(f"the database is unavailable: {exc}") from exc
            raise

    return wrapped
