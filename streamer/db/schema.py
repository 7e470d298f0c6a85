"""What the schema comparison (Alembic autogenerate, the models-match-migrations test)
leaves out: the full-text search objects of migration 0007, which the models cannot
express (an FTS5 virtual table and its shadow tables on SQLite, an expression GIN index on
PostgreSQL). They are checked by the query-plan tests instead."""

from __future__ import annotations

from typing import Any

__all__ = ["SEARCH_OBJECTS", "include_name"]

SEARCH_OBJECTS = frozenset({"ix_tracks_search"})
_FTS_TABLE = "tracks_fts"  # and its shadow tables tracks_fts_data, _idx, _content, ...


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: False for the search objects."""
    if name is None:
        return True
    if type_ == "table" and (name == _FTS_TABLE or name.startswith(_FTS_TABLE + "_")):
        return False
    return name not in SEARCH_OBJECTS
