"""Reports read from the rollup rows (never from raw events).

``select_cells`` turns a query into one SQL statement over the hourly or daily rows:
filtered, restricted to what the caller may read, and summed per (period, series key) in
the database, except for unique listeners, whose sketches are merged here. Access: a
principal limited to some libraries sees tracks and playlists of those libraries only,
and no channels (channels belong to no library); ``libraries=None`` sees everything.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select

from streamer.analytics.cells import Cell
from streamer.analytics.periods import previous_range
from streamer.analytics.report_model import (
    ALL,
    SUBJECT_KINDS,
    Metric,
    ReportQuery,
    Selected,
    build_report,
    top_list,
)
from streamer.analytics.sketch import Sketch
from streamer.db import AnalyticsDaily, AnalyticsHourly, Database, Playlist, Track

__all__ = ["labels_for", "report", "select_cells", "top"]

Table = type[AnalyticsHourly] | type[AnalyticsDaily]


def _access(table: Table, libraries: Collection[str] | None) -> ColumnElement[bool] | None:
    if libraries is None:
        return None
    if not libraries:
        return false()
    return or_(
        and_(
            table.kind == "track",
            table.subject_id.in_(select(Track.id).where(Track.library_id.in_(libraries))),
        ),
        and_(
            table.kind == "playlist",
            table.subject_id.in_(select(Playlist.id).where(Playlist.library_id.in_(libraries))),
        ),
    )


def _where(query: ReportQuery, table: Table, start: datetime, end: datetime) -> list[Any]:
    # In UTC: SQLite compares the stored text, which drops the offset of a bound value.
    clauses: list[Any] = [table.period >= start.astimezone(UTC), table.period < end.astimezone(UTC)]
    subjects = [
        and_(table.kind == kind, table.subject_id == query.filters[kind])
        for kind in SUBJECT_KINDS
        if kind in query.filters
    ]
    if subjects:
        clauses.append(or_(*subjects))
    for dimension in ("app", "device", "os", "browser", "country"):
        if dimension in query.filters:
            clauses.append(getattr(table, dimension) == query.filters[dimension])
    if query.group_by in SUBJECT_KINDS:
        clauses.append(table.kind == query.group_by)
    return clauses


def _statement(
    query: ReportQuery,
    table: Table,
    start: datetime,
    end: datetime,
    libraries: Collection[str] | None,
    by_period: bool,
) -> Select[Any]:
    if query.group_by == "none":
        group: Any = None
    elif query.group_by in SUBJECT_KINDS:
        group = table.subject_id
    else:
        group = getattr(table, query.group_by)
    columns: list[Any] = []
    if by_period:
        columns.append(table.period)
    if group is not None:
        columns.append(group)
    sums = [
        func.sum(table.downloads),
        func.sum(table.listening_seconds),
        func.sum(table.sessions),
        func.sum(table.q1),
        func.sum(table.q2),
        func.sum(table.q3),
        func.sum(table.q4),
    ]
    if query.metric == "listeners":
        # Sketches merge in Python: no sums in SQL, one row per stored cell.
        statement = select(*columns, table.listener_sketch)
    else:
        statement = select(*columns, *sums)
        if columns:
            statement = statement.group_by(*columns)
    access = _access(table, libraries)
    statement = statement.where(*_where(query, table, start, end))
    if access is not None:
        statement = statement.where(access)
    return statement


async def select_cells(
    db: Database,
    query: ReportQuery,
    libraries: Collection[str] | None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    by_period: bool = True,
) -> list[Selected]:
    """The summed cells of [start, end) (the query's range by default)."""
    table: Table = AnalyticsDaily if query.daily_rows else AnalyticsHourly
    start, end = start or query.start, end or query.end
    statement = _statement(query, table, start, end, libraries, by_period)
    grouped = query.group_by != "none"
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    out: list[Selected] = []
    for row in rows:
        values = list(row)
        period = values.pop(0) if by_period else None
        key = str(values.pop(0)) if grouped else ALL
        if query.metric == "listeners":
            cell = Cell(listeners=Sketch(values[0] or b""))
        else:
            downloads, seconds, sessions, q1, q2, q3, q4 = (v or 0 for v in values)
            cell = Cell(downloads=int(downloads), listening_seconds=float(seconds),
                        sessions=int(sessions), q1=int(q1), q2=int(q2), q3=int(q3),
                        q4=int(q4))  # fmt: skip
        out.append(Selected(period, key, cell))
    return out


async def labels_for(db: Database, group_by: str, keys: Collection[str]) -> dict[str, str]:
    """Readable names of series keys: track titles, playlist names; '' is "unknown"."""
    labels = {"": "unknown"}
    keys = [k for k in keys if k]
    if not keys:
        return labels
    async with db.session() as session:
        if group_by == "track":
            rows = await session.execute(
                select(Track.id, Track.title, Track.artist, Track.key).where(Track.id.in_(keys))
            )
            for track_id, title, artist, path in rows:
                name = title or path
                labels[track_id] = f"{artist} - {name}" if artist else name
        elif group_by == "playlist":
            named = await session.execute(
                select(Playlist.id, Playlist.name).where(Playlist.id.in_(keys))
            )
            labels.update(dict(named))
    return labels


async def report(
    db: Database, query: ReportQuery, libraries: Collection[str] | None
) -> dict[str, Any]:
    """The report of ``query`` as the caller with ``libraries`` may see it."""
    selected = await select_cells(db, query, libraries)
    previous = None
    if query.compare:
        start, end = previous_range(query.start, query.end)
        previous = await select_cells(db, query, libraries, start=start, end=end, by_period=False)
    labels = await labels_for(db, query.group_by, {s.key for s in selected})
    return build_report(query, selected, labels, previous)


async def top(
    db: Database, metric: Metric, query: ReportQuery, libraries: Collection[str] | None
) -> list[dict[str, Any]]:
    selected = await select_cells(db, query, libraries, by_period=False)
    labels = await labels_for(db, query.group_by, {s.key for s in selected})
    return top_list(metric, selected, labels, query.limit)
