"""Rows of ``delivery_events`` and ``analytics_salts``, written from the capture's thread.

Synchronous on purpose: the writer runs in a thread of its own with a synchronous engine
(sqlite3, psycopg), so inserting a batch costs the event loop nothing but the hand-over.
On SQLite a batch is one ``executemany``; on PostgreSQL one ``COPY``.

PostgreSQL partitions (migration 0013): one per UTC day, ``delivery_events_pYYYYMMDD``
for [day, day + 1). :func:`ensure_partitions` creates those a batch needs before its
first write to them (the writer remembers which exist) and :func:`maintain` keeps
``PARTITIONS_AHEAD`` days ahead; there is no default partition, so a row always lands
in its day. Retention drops whole days' partitions and deletes what is left before the
cut-off in the partition it falls in.
"""

from __future__ import annotations

import os
import time as time_module
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text

from streamer.analytics.privacy import salt_day
from streamer.analytics.rows import COLUMNS, Row

__all__ = [
    "ADDRESS_HOURS",
    "PARTITIONS_AHEAD",
    "SALT_BYTES",
    "TimeText",
    "ensure_partitions",
    "insert_rows",
    "maintain",
    "partition_name",
    "salt_for",
    "writer_engine",
]

PARTITIONS_AHEAD = 7  # days of partitions kept ready beyond today
ADDRESS_HOURS = 24  # raw addresses are cleared from events older than this
SALT_BYTES = 32
DELETE_CHUNK = 10_000
# Rows per SQLite INSERT: 17 parameters each, within the 32,766 SQLite allows since 3.32.
ROWS_PER_INSERT = 1000  # rows per SQLite delete: a writer never holds the lock for long
_PARTITIONS_LOCK = 0x5EA1_0013  # pg_advisory_xact_lock key of partition maintenance


def partition_name(day: date) -> str:
    return f"delivery_events_p{day:%Y%m%d}"


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def ensure_partitions(conn: Connection, days: Iterable[date]) -> None:
    """Create the daily partitions of ``days`` that do not exist yet (PostgreSQL only).
    Concurrent writers serialise on an advisory lock held to the end of the transaction."""
    if not _is_postgres(conn):
        return
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITIONS_LOCK})
    for day in sorted(set(days)):
        following = day + timedelta(days=1)
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF delivery_events "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00+00') "
            f"TO ('{following.isoformat()} 00:00+00')"
        )


def writer_engine(url: str) -> Engine:
    """A synchronous engine for a thread that writes events (the capture's, the spool's
    ingester): one connection; SQLite in WAL mode, waiting up to 30 s for the lock."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=1, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def insert_rows(conn: Connection, rows: Sequence[Row]) -> None:
    """Insert rows (in :data:`streamer.analytics.rows.COLUMNS` order) in one statement."""
    if not rows:
        return
    columns = ", ".join(COLUMNS)
    text_of = TimeText(pg=_is_postgres(conn))
    if _is_postgres(conn):
        raw: Any = conn.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY delivery_events ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((text_of(row[0]), *row[1:]))
        return
    # Many rows per statement: one step of SQLite per chunk rather than per row. Each step
    # lets go of the GIL and takes it back, and with executemany that hand-over, row after
    # row, held up the event loop's thread and doubled the writer's time (measured).
    marks = "(" + ", ".join("?" * len(COLUMNS)) + ")"
    full = f"INSERT INTO delivery_events ({columns}) VALUES " + ", ".join([marks] * ROWS_PER_INSERT)
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        statement = full
        if len(chunk) < ROWS_PER_INSERT:
            statement = f"INSERT INTO delivery_events ({columns}) VALUES " + ", ".join(
                [marks] * len(chunk)
            )
        params = [value for row in chunk for value in (text_of(row[0]), *row[1:])]
        conn.exec_driver_sql(statement, tuple(params))


def _sqlite_time(when: datetime) -> str:
    """The text form SQLAlchemy's DateTime stores on SQLite (naive UTC)."""
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


class TimeText:
    """Seconds since the epoch as the text each database takes for ``at``: SQLite the form
    SQLAlchemy stores (naive UTC, microseconds), PostgreSQL the same with ``+00``. The
    date and time of the second are formatted once per second, not once per row (a
    strftime per row was a fifth of the writer's time)."""

    __slots__ = ("_prefix", "_second", "_zone")

    def __init__(self, *, pg: bool) -> None:
        self._second = -1
        self._prefix = ""
        self._zone = "+00" if pg else ""

    def __call__(self, at: float) -> str:
        second = int(at)
        if second != self._second:
            self._second = second
            self._prefix = time_module.strftime("%Y-%m-%d %H:%M:%S", time_module.gmtime(second))
        micros = min(int((at - second) * 1e6), 999_999)
        return f"{self._prefix}.{micros:06d}{self._zone}"


def salt_for(conn: Connection, day: date) -> bytes:
    """The salt of ``day``'s listener hashes: the stored one, or a new random one that
    every node then shares (the first insert wins)."""
    key = salt_day(day)
    found = conn.execute(text("SELECT salt FROM analytics_salts WHERE day = :day"), {"day": key})
    salt = found.scalar()
    if salt is not None:
        return bytes(salt)
    now = datetime.now(UTC)
    conn.execute(
        text(
            "INSERT INTO analytics_salts (day, salt, created_at) VALUES (:day, :salt, :at) "
            "ON CONFLICT (day) DO NOTHING"
        ),
        {"day": key, "salt": os.urandom(SALT_BYTES), "at": _param_time(conn, now)},
    )
    stored = conn.execute(text("SELECT salt FROM analytics_salts WHERE day = :day"), {"day": key})
    return bytes(stored.scalar_one())


def _param_time(conn: Connection, when: datetime) -> Any:
    return when if _is_postgres(conn) else _sqlite_time(when)


def maintain(
    conn: Connection, now: datetime, retention_days: int, *, since: datetime | None = None
) -> dict[str, int]:
    """The periodic privacy and retention steps, idempotent (every worker may run them):

    - partitions for today and ``PARTITIONS_AHEAD`` days ahead (PostgreSQL);
    - raw addresses cleared from events older than ``ADDRESS_HOURS`` (only from ``since``
      on, when given: the last run's cut-off, so an hourly run reads one hour of rows);
    - events older than ``retention_days`` deleted (whole partitions dropped);
    - salts of days that ended more than a day ago deleted.

    Returns what it did, for the log."""
    today = now.date()
    ensure_partitions(conn, [today + timedelta(days=n) for n in range(PARTITIONS_AHEAD + 1)])
    done: dict[str, int] = {}
    cleared_before = now - timedelta(hours=ADDRESS_HOURS)
    params: dict[str, Any] = {"before": _param_time(conn, cleared_before)}
    lower = ""
    if since is not None:
        lower = " AND at >= :since"
        params["since"] = _param_time(conn, since - timedelta(hours=ADDRESS_HOURS + 1))
    result = conn.execute(
        text(f"UPDATE delivery_events SET ip = NULL WHERE at < :before{lower} AND ip IS NOT NULL"),
        params,
    )
    done["addresses_cleared"] = max(result.rowcount, 0)
    cutoff = now - timedelta(days=retention_days)
    done["partitions_dropped"] = _drop_partitions_before(conn, cutoff)
    done["events_deleted"] = _delete_before(conn, cutoff)
    oldest_salt = salt_day(today - timedelta(days=1))
    result = conn.execute(
        text("DELETE FROM analytics_salts WHERE day < :day"), {"day": oldest_salt}
    )
    done["salts_deleted"] = max(result.rowcount, 0)
    return done


def _drop_partitions_before(conn: Connection, cutoff: datetime) -> int:
    """Drop the daily partitions that end at or before ``cutoff`` (PostgreSQL)."""
    if not _is_postgres(conn):
        return 0
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITIONS_LOCK})
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'delivery_events'"
        )
    ).scalars()
    dropped = 0
    for name in list(names):
        day = _partition_day(name)
        if day is not None and day < cutoff.date():
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            dropped += 1
    return dropped


def _delete_before(conn: Connection, cutoff: datetime) -> int:
    """Delete events before ``cutoff`` (on PostgreSQL, what the dropped partitions left:
    the part of the cut-off's own day before it)."""
    deleted = 0
    if _is_postgres(conn):
        result = conn.execute(
            text("DELETE FROM delivery_events WHERE at < :cutoff"), {"cutoff": cutoff}
        )
        return max(result.rowcount, 0)
    while True:
        result = conn.execute(
            text(
                "DELETE FROM delivery_events WHERE id IN "
                "(SELECT id FROM delivery_events WHERE at < :cutoff LIMIT :n)"
            ),
            {"cutoff": _sqlite_time(cutoff), "n": DELETE_CHUNK},
        )
        count = max(result.rowcount, 0)
        deleted += count
        if count < DELETE_CHUNK:
            return deleted


def _partition_day(name: str) -> date | None:
    digits = name.removeprefix("delivery_events_p")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        return None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)
