"""events: the live events bus behind GET /api/v1/events

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

Ids must only grow, even after every row was pruned: a client's Last-Event-ID has to keep
meaning the same place. SQLite therefore gets AUTOINCREMENT (a plain INTEGER PRIMARY KEY
reuses the highest id once it is deleted); PostgreSQL's sequence never goes back.
Reads are ``WHERE id > n ORDER BY id`` (the primary key); pruning by age uses
``ix_events_created``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("library_id", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_created")

    op.drop_table("events")
