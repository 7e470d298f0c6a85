"""Alembic environment. Migrations run synchronously (no event loop): they are a blocking
start-up step, and the async drivers' URLs are mapped to their synchronous twins."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from streamer.db.engine import sync_url
from streamer.db.models import Base
from streamer.db.schema import include_name

config = context.config
target_metadata = Base.metadata

url = sync_url(config.get_main_option("sqlalchemy.url") or "")
if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                include_name=include_name,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
