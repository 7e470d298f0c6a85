"""analytics spool: files already inserted, and each node's backlog

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

Serving workers hand delivery events to the supervisor through spool files
(streamer/analytics/spool.py); a file's name is stored with its rows, in one transaction,
so that none is inserted twice; each node's oldest event still waiting in its spool
bounds the rollups, so that events inserted late are still counted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_spool_files",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_analytics_spool_files_ingested_at", "analytics_spool_files", ["ingested_at"]
    )
    op.create_table(
        "analytics_spool_backlog",
        sa.Column("node", sa.String(100), primary_key=True),
        sa.Column("oldest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("analytics_spool_backlog")
    op.drop_index("ix_analytics_spool_files_ingested_at", table_name="analytics_spool_files")
    op.drop_table("analytics_spool_files")
