"""Telling "the database is down" from a bug, so callers answer 503 or serve what they
already know instead of failing with a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa

from streamer.coalescing_cache import CoalescingCache
from streamer.errors import DatabaseUnavailable, StorageUnavailable

__all__ = [
    "SERVE_STALE_SECONDS",
    "database_unavailable",
    "serving_cache",
    "translate_unavailable",
]

# How long the serving caches may keep answering from what they last knew while the
# database (or a store's index) is unreachable.
SERVE_STALE_SECONDS = 300.0

P = ParamSpec("P")
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")


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
    if _unavailable_state(_sqlstate(exc)):
        return True
    # Raised as they are by drivers while connecting (asyncpg), or by our own timeouts.
    return isinstance(exc, ConnectionError | TimeoutError)


# PostgreSQL's SQLSTATEs for "not now": connection exceptions (class 08), a server shutting
# down or starting up (57P01-57P03: asyncpg's CannotConnectNowError, which SQLAlchemy
# wraps as a plain DBAPIError, not an OperationalError) and too many connections.
_NOT_NOW = frozenset({"57P01", "57P02", "57P03", "53300"})


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


def _unavailable_state(state: str | None) -> bool:
    return state is not None and (state.startswith("08") or state in _NOT_NOW)


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


def serving_cache(
    load: Callable[[K], Awaitable[V | None]], *, ttl: float, negative_ttl: float, max_entries: int
) -> CoalescingCache[K, V]:
    """A catalogue cache for the serving path: database outages surface as
    DatabaseUnavailable, and what was known keeps being served through them (and through
    a store that cannot be reached) for up to SERVE_STALE_SECONDS."""
    return CoalescingCache(
        translate_unavailable(load),
        ttl=ttl,
        negative_ttl=negative_ttl,
        max_entries=max_entries,
        stale_on=(DatabaseUnavailable, StorageUnavailable),
        max_stale=SERVE_STALE_SECONDS,
    )
