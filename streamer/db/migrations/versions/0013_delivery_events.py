"""delivery events: one row per media or HLS answer, and the daily salts of listener hashes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

SQLite: one table with an index on ``at``. PostgreSQL: a table partitioned by range of
``at``, one partition per UTC day named ``delivery_events_pYYYYMMDD``, so retention drops
whole days instead of deleting rows and clearing yesterday's addresses touches one
partition. A partitioned table's primary key must hold the partition key: (id, at). This
migration creates the partitions from yesterday to a week ahead; the capture's writer
creates each further day before it first writes to it, and its maintenance keeps a week
ahead (streamer/analytics/repository.py). Partitions are left out of the schema
comparison and of backups (streamer/db/schema.py): the parent holds their rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = """
    id BIGSERIAL NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    node VARCHAR(100) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    subject_id VARCHAR(64) NOT NULL,
    rendition VARCHAR(64) NOT NULL,
    segment INTEGER,
    range_start BIGINT,
    range_end BIGINT,
    total_bytes BIGINT,
    duration FLOAT,
    status INTEGER NOT NULL,
    sent BIGINT NOT NULL,
    user_agent TEXT NOT NULL,
    referrer TEXT,
    ip VARCHAR(45),
    listener VARCHAR(32) NOT NULL,
    country VARCHAR(2),
    PRIMARY KEY (id, at)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TABLE delivery_events ({_COLUMNS}) PARTITION BY RANGE (at)")
        op.execute("CREATE INDEX ix_delivery_events_at ON delivery_events (at)")
        today = datetime.now(UTC).date()
        for offset in range(-1, 8):
            day = today + timedelta(days=offset)
            following = day + timedelta(days=1)
            op.execute(
                f"CREATE TABLE IF NOT EXISTS delivery_events_p{day:%Y%m%d} "
                f"PARTITION OF delivery_events FOR VALUES FROM ('{day.isoformat()} 00:00+00') "
                f"TO ('{following.isoformat()} 00:00+00')"
            )
    else:
        op.create_table(
            "delivery_events",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("node", sa.String(length=100), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("subject_id", sa.String(length=64), nullable=False),
            sa.Column("rendition", sa.String(length=64), nullable=False),
            sa.Column("segment", sa.Integer(), nullable=True),
            sa.Column("range_start", sa.BigInteger(), nullable=True),
            sa.Column("range_end", sa.BigInteger(), nullable=True),
            sa.Column("total_bytes", sa.BigInteger(), nullable=True),
            sa.Column("duration", sa.Float(), nullable=True),
            sa.Column("status", sa.Integer(), nullable=False),
            sa.Column("sent", sa.BigInteger(), nullable=False),
            sa.Column("user_agent", sa.Text(), nullable=False),
            sa.Column("referrer", sa.Text(), nullable=True),
            sa.Column("ip", sa.String(length=45), nullable=True),
            sa.Column("listener", sa.String(length=32), nullable=False),
            sa.Column("country", sa.String(length=2), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("delivery_events", schema=None) as batch_op:
            batch_op.create_index("ix_delivery_events_at", ["at"], unique=False)
    op.create_table(
        "analytics_salts",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("analytics_salts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE delivery_events")  # and its partitions
    else:
        with op.batch_alter_table("delivery_events", schema=None) as batch_op:
            batch_op.drop_index("ix_delivery_events_at")
        op.drop_table("delivery_events")
