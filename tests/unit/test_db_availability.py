"""Telling "the database is down" from a bug: what answers 503 instead of 500."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa

from streamer.db.availability import database_unavailable


class DriverError(Exception):
    """A driver's error with PostgreSQL's SQLSTATE, as asyncpg's are."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(sqlstate: str) -> sa.DBAPIError:
    """As SQLAlchemy's asyncpg dialect wraps it: a plain DBAPIError around the driver's."""
    return sa.DBAPIError("SELECT 1", None, DriverError(sqlstate))


@pytest.mark.parametrize(
    "sqlstate",
    [
        "57P03",  # the database system is starting up / not yet accepting connections
        "57P01",  # terminating connection due to administrator command
        "57P02",  # crash shutdown
        "53300",  # too many connections
        "08006",  # connection failure
        "08001",  # unable to connect
    ],
)
def test_a_server_that_cannot_take_us_now_is_unavailable(sqlstate: str) -> None:
    assert database_unavailable(wrapped(sqlstate))
    assert database_unavailable(DriverError(sqlstate))


@pytest.mark.parametrize(
    "sqlstate",
    [
        "42P01",  # undefined table: a bug or a missed migration
        "23505",  # unique violation
        "22P02",  # invalid text representation
    ],
)
def test_a_bad_query_is_not_unavailability(sqlstate: str) -> None:
    assert not database_unavailable(wrapped(sqlstate))


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        sa.OperationalError("SELECT 1", None, Exception("database is locked")),
    ],
)
def test_refusals_timeouts_and_operational_errors_are_unavailability(exc: Exception) -> None:
    assert database_unavailable(exc)


def test_a_bug_is_not_unavailability() -> None:
    assert not database_unavailable(KeyError("x"))
