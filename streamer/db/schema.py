"""What the schema comparison (Alembic autogenerate, the models-match-migrations test)
leaves out: the full-text search objects of migration 0007, which the models cannot
express (an FTS5 virtual table and its shadow tables on SQLite, an expression GIN index on
PostgreSQL), checked by the query-plan tests instead; and the daily partitions of
``delivery_events`` on PostgreSQL (migration 0013), which backups skip too since the
partitioned table itself reads and loads their rows."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SEARCH_OBJECTS", "include_name", "is_partition"]

SEARCH_OBJECTS = frozenset({"ix_tracks_search"})
_FTS_TABLE = "tracks_fts"  # and its shadow tables tracks_fts_data, _idx, _content, ...
_PARTITION = re.compile(r"^delivery_events_p\d{8}$")


def is_partition(name: str) -> bool:
    """Whether ``name`` is a daily partition of delivery_events (PostgreSQL)."""
    return _PARTITION.match(name) is not None


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: False for the search objects and partitions."""
    if name is None:
        return True
    if type_ == "table" and (name == _FTS_TABLE or name.startswith(_FTS_TABLE + "_")):
        return False
    if type_ == "table" and _PARTITION.match(name):
        return False
    return name not in SEARCH_OBJECTS
