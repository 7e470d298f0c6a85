"""Rows of every table as JSON lines, independent of the database backend.

A backup holds one ``<table>.jsonl`` per table, in dependency order (a table comes after
the tables its foreign keys point at), and the kind of each column. Values are written as
JSON: datetimes as ISO 8601 in UTC, bytes as base64, JSON columns as the JSON they hold.
Restore decodes each value by the kind recorded at backup time, not by what the target
database reports, so a SQLite backup loads into PostgreSQL and back.

The tables are reflected from the database rather than taken from the models: a backup
holds what the database has at its Alembic revision, and restore loads it at that same
revision before migrating on.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, TextIO

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from streamer.db.schema import include_name

__all__ = [
    "ALEMBIC_TABLE",
    "ColumnKind",
    "TableDump",
    "column_kinds",
    "count_rows",
    "current_revision",
    "decode_row",
    "encode_row",
    "open_engine",
    "read_lines",
    "reflect",
    "reset_sequences",
]

ALEMBIC_TABLE = "alembic_version"

ColumnKind = Literal["bool", "bytes", "date", "datetime", "float", "int", "json", "text"]


@dataclass
class TableDump:
    """What a backup records of one table."""

    name: str
    file: str  # relative to the backup's root
    columns: dict[str, ColumnKind]
    rows: int


async def open_engine(url: str) -> AsyncEngine:
    """A plain engine (no pragmas, unlike Database): SQLite's dialect makes the path
    absolute when the engine is built, a filesystem call kept off the loop."""
    return await asyncio.to_thread(create_async_engine, url)


async def reflect(conn: AsyncConnection) -> list[Table]:
    """The application's tables (not Alembic's), parents before children. The search
    index's tables are left out: its triggers fill it again as the tracks are restored."""
    metadata = MetaData()
    await conn.run_sync(lambda sync: metadata.reflect(bind=sync))
    return [
        table
        for table in metadata.sorted_tables
        if table.name != ALEMBIC_TABLE and include_name(table.name, "table", {})
    ]


async def current_revision(conn: AsyncConnection) -> str | None:
    """The Alembic revision the database is at, None when it was never migrated."""

    def read(sync: Connection) -> str | None:
        from sqlalchemy import inspect

        if not inspect(sync).has_table(ALEMBIC_TABLE):
            return None
        return sync.execute(text(f"SELECT version_num FROM {ALEMBIC_TABLE}")).scalar()

    return await conn.run_sync(read)


async def count_rows(conn: AsyncConnection, tables: list[Table]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in tables:
        counts[table.name] = int(
            (await conn.execute(select(func.count()).select_from(table))).scalar_one()
        )
    return counts


def column_kinds(table: Table) -> dict[str, ColumnKind]:
    return {column.name: _kind(column.type) for column in table.columns}


def _kind(type_: Any) -> ColumnKind:
    # Order matters: Boolean before Integer, DateTime before Date.
    if isinstance(type_, JSON):
        return "json"
    if isinstance(type_, Boolean):
        return "bool"
    if isinstance(type_, DateTime):
        return "datetime"
    if isinstance(type_, Date):
        return "date"
    if isinstance(type_, Integer):
        return "int"
    if isinstance(type_, Float | Numeric):
        return "float"
    if isinstance(type_, LargeBinary):
        return "bytes"
    return "text"


def encode_row(row: dict[str, Any], kinds: dict[str, ColumnKind]) -> str:
    """One row as a line of JSON."""
    return json.dumps(
        {name: _encode(value, kinds[name]) for name, value in row.items()},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _encode(value: Any, kind: ColumnKind) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        assert isinstance(value, datetime)
        # SQLite hands back naive datetimes; the application stores UTC everywhere.
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if kind == "date":
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "json" and isinstance(value, str):
        # A JSON column read as text (a driver that does not decode it): keep the value.
        return json.loads(value)
    return value


_DECODERS: dict[ColumnKind, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "bytes": base64.b64decode,
    "bool": bool,
}


def decode_row(line: str, kinds: dict[str, ColumnKind], target: Table) -> dict[str, Any]:
    """A line of JSON back into values for ``target``; columns it lacks are an error."""
    raw = json.loads(line)
    row: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in target.columns:
            raise ValueError(f"table {target.name} has no column {name!r}")
        decoder = _DECODERS.get(kinds.get(name, "text"))
        row[name] = decoder(value) if decoder is not None and value is not None else value
    return row


def read_lines(handle: TextIO, limit: int) -> list[str]:
    """Up to ``limit`` non-empty lines (blocking: call it off the loop)."""
    lines: list[str] = []
    while len(lines) < limit:
        line = handle.readline()
        if not line:
            break
        if line.strip():
            lines.append(line)
    return lines


async def reset_sequences(conn: AsyncConnection, tables: list[Table]) -> None:
    """After rows were loaded with their ids, move PostgreSQL's sequences past them, so the
    next insert does not collide (SQLite takes max(id) + 1 by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        name, column = table.name, keys[0].name
        # pg_get_serial_sequence is NULL for a column without a sequence, and setval is
        # strict, so such tables are left alone without an error.
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f'COALESCE(MAX("{column}"), 1), MAX("{column}") IS NOT NULL) FROM "{name}"'
            ),
            {"table": name, "column": column},
        )
