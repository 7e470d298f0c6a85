"""scheduled reports: webhook attempts and the next one, for retries

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

A run's webhook is tried again after a failure that may pass (streamer/analytics/
webhook_policy.py): ``webhook_attempts`` counts the tries, ``webhook_next_at`` says when
the next is due (NULL: none), indexed for the periodic task's query.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analytics_report_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("webhook_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_analytics_report_runs_webhook_next", ["webhook_next_at"])


def downgrade() -> None:
    with op.batch_alter_table("analytics_report_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_report_runs_webhook_next")
        batch_op.drop_column("webhook_next_at")
        batch_op.drop_column("webhook_attempts")
