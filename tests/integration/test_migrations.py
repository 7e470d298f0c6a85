"""Alembic migrations go up and down cleanly on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from streamer.db import Base, migrate
from streamer.db.engine import alembic_config
from streamer.db.schema import include_name


def _sync(url: str) -> str:
    return (
        url.replace("sqlite+aiosqlite", "sqlite")
        .replace("postgresql+asyncpg", "postgresql+psycopg")
        .replace("?ssl=disable", "?sslmode=disable")
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    migrate(database_url)
    command.downgrade(alembic_config(database_url), "base")
    migrate(database_url)


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    migrate(database_url)
    engine = create_engine(_sync(database_url))
    try:
        with engine.connect() as connection:
            # The full-text search objects are not in the models (see streamer.db.schema).
            context = MigrationContext.configure(connection, opts={"include_name": include_name})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
