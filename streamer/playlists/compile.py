"""A smart playlist's rule as SQL: the where-clause and the order over ``tracks``.

Pure: builds SQLAlchemy expressions, runs nothing. Every value a rule carries goes into
the statement as a bound parameter (LIKE patterns escaped with ``autoescape``), never as
SQL text, so a value cannot change the statement. The same expressions run on SQLite and
PostgreSQL; where the two differ the choice is written here:

- text compares case-insensitively through the database's ``lower()`` on both sides
  (SQLite folds ASCII letters only, PostgreSQL all of them);
- a negative text test (``is_not``, ``not_contains``, ``not_in``) includes tracks whose
  field is empty: "artist is not X" keeps the tracks without an artist;
- ``tag:{name}`` reads the tag's first value (the scan stores each tag as a list);
- ``play_count`` is 0 for every track until analytics counts plays;
- empty values sort last in both directions, and the track id breaks ties, so an order
  is total and the same on both databases (up to how each collates text);
- ``random`` is not SQL: the caller sorts by :func:`streamer.playlists.rules.shuffle_key`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, and_, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from streamer.db import Track, TrackLabel
from streamer.playlists.rules import AllGroup, AnyGroup, Condition, OrderKey, Rule, field_type

__all__ = ["DEFAULT_ORDER", "column_of", "order_by", "where_clause"]

# Without an order: as an album shelf reads.
DEFAULT_ORDER = (
    OrderKey(field="artist"),
    OrderKey(field="album"),
    OrderKey(field="disc_number"),
    OrderKey(field="track_number"),
    OrderKey(field="title"),
)


def column_of(name: str) -> ColumnElement[Any]:
    """The SQL expression of a (non-list) field."""
    if name.startswith("tag:"):
        return cast("ColumnElement[Any]", Track.tags[(name[4:], 0)].as_string())
    columns: dict[str, ColumnElement[Any]] = {
        "title": Track.title,  # type: ignore[dict-item]
        "artist": Track.artist,  # type: ignore[dict-item]
        "album": Track.album,  # type: ignore[dict-item]
        "album_artist": Track.album_artist,  # type: ignore[dict-item]
        "genre": Track.genre,  # type: ignore[dict-item]
        "path": Track.key,  # type: ignore[dict-item]
        "codec": Track.codec,  # type: ignore[dict-item]
        "year": Track.year,  # type: ignore[dict-item]
        "duration": Track.duration,  # type: ignore[dict-item]
        "loudness": Track.loudness_integrated,  # type: ignore[dict-item]
        "play_count": literal(0, Integer),
        "track_number": Track.track_number,  # type: ignore[dict-item]
        "disc_number": Track.disc_number,  # type: ignore[dict-item]
        "bitrate": Track.bitrate,  # type: ignore[dict-item]
        "added": Track.created_at,  # type: ignore[dict-item]
    }
    return columns[name]


def where_clause(node: Condition | AllGroup | AnyGroup, *, now: datetime) -> ColumnElement[bool]:
    """The rule's tree as one boolean expression; ``now`` anchors "in the last N days"."""
    if isinstance(node, AllGroup):
        return and_(true(), *(where_clause(child, now=now) for child in node.all))
    if isinstance(node, AnyGroup):
        return or_(false(), *(where_clause(child, now=now) for child in node.any))
    return _condition(node, now)


def order_by(rule: Rule) -> list[ColumnElement[Any]] | None:
    """The ORDER BY of the rule (ending with the track id), or None for a random order."""
    keys: Sequence[OrderKey] = rule.order or DEFAULT_ORDER
    if keys[0].field == "random":
        return None
    clauses: list[ColumnElement[Any]] = []
    for key in keys:
        column = column_of(key.field)
        if field_type(key.field) == "text":
            column = func.lower(column)
        ordered = column.desc() if key.direction == "desc" else column.asc()
        clauses.append(ordered.nulls_last())
    clauses.append(Track.id.asc())
    return clauses


def _condition(condition: Condition, now: datetime) -> ColumnElement[bool]:
    kind = field_type(condition.field)
    value = condition.typed_value()
    if kind == "list":
        return _labels(condition.op, value)
    column = column_of(condition.field)
    if kind == "text":
        return _text(column, condition.op, value)
    if kind == "date":
        return _date(column, condition.op, value, now)
    return _number(column, condition.op, value)


def _bool(expression: Any) -> ColumnElement[bool]:
    """A comparison of a column typed Any (mypy cannot see it is boolean)."""
    return cast("ColumnElement[bool]", expression)


def _lower(value: str) -> ColumnElement[str]:
    return func.lower(literal(value))


def _is_empty(column: ColumnElement[Any]) -> ColumnElement[bool]:
    return or_(column.is_(None), column == "")


def _text(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op == "is_empty":
        return _is_empty(column)
    if op == "is_not_empty":
        return not_(_is_empty(column))
    found: ColumnElement[bool]
    if op in ("in", "not_in"):
        found = func.lower(column).in_([_lower(item) for item in value])
    elif op in ("is", "is_not"):
        found = func.lower(column) == _lower(value)
    elif op in ("contains", "not_contains"):
        found = column.icontains(value, autoescape=True)
    elif op == "starts_with":
        return column.istartswith(value, autoescape=True)
    else:
        assert op == "ends_with", op
        return column.iendswith(value, autoescape=True)
    if op in ("is", "in", "contains"):
        return found
    return or_(column.is_(None), not_(found))


def _number(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    match op:
        case "is":
            return _bool(column == value)
        case "is_not":
            return _bool(or_(column.is_(None), column != value))
        case "lt":
            return _bool(column < value)
        case "lte":
            return _bool(column <= value)
        case "gt":
            return _bool(column > value)
        case "gte":
            return _bool(column >= value)
        case "between":
            return _bool(column.between(value[0], value[1]))
        case "is_empty":
            return _bool(column.is_(None))
        case _:
            assert op == "is_not_empty", op
            return _bool(column.is_not(None))


def _date(column: ColumnElement[Any], op: str, value: Any, now: datetime) -> ColumnElement[bool]:
    match op:
        case "before":
            return _bool(column < value)
        case "after":
            return _bool(column > value)
        case "between":
            return _bool(column.between(value[0], value[1]))
        case "in_the_last":
            return _bool(column >= now - timedelta(days=value))
        case _:
            assert op == "not_in_the_last", op
            return _bool(column < now - timedelta(days=value))


def _labels(op: str, value: Any) -> ColumnElement[bool]:
    """Labels live in track_labels (one row per label): EXISTS tests, case-insensitive."""
    mine = TrackLabel.track_id == Track.id
    if op in ("is_empty", "is_not_empty"):
        found = exists(select(TrackLabel.track_id).where(mine))
        return found if op == "is_not_empty" else not_(found)
    wanted = (value,) if isinstance(value, str) else value
    found = exists(
        select(TrackLabel.track_id).where(
            mine, func.lower(TrackLabel.label).in_([_lower(item) for item in wanted])
        )
    )
    return found if op in ("contains", "in") else not_(found)
