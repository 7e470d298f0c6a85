"""analytics rollups, rollup state, dashboards, scheduled reports, conversions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Hourly and daily rollups keyed by (period, kind, subject_id, app, device, os, browser,
country): dimensions are '' where unknown, never NULL, so the unique key holds on every
backend. ``analytics_rollup_state`` holds the lease, the watermark and the counter state
of each rollup (streamer/analytics/rollup.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KEY = ["period", "kind", "subject_id", "app", "device", "os", "browser", "country"]


def _rollup_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("period", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("os", sa.String(length=64), nullable=False),
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("listeners", sa.Integer(), nullable=False),
        sa.Column("listener_sketch", sa.LargeBinary(), nullable=False),
        sa.Column("listening_seconds", sa.Float(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("q1", sa.Integer(), nullable=False),
        sa.Column("q2", sa.Integer(), nullable=False),
        sa.Column("q3", sa.Integer(), nullable=False),
        sa.Column("q4", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(f"ux_{name}_key", _KEY, unique=True)
        batch_op.create_index(f"ix_{name}_subject", ["kind", "subject_id", "period"])


def upgrade() -> None:
    _rollup_table("analytics_hourly")
    _rollup_table("analytics_daily")
    op.create_table(
        "analytics_rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark_id", sa.BigInteger(), nullable=False),
        sa.Column("counter", sa.LargeBinary(), nullable=False),
        sa.Column("daily_dirty_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("events_read", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "analytics_dashboards",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("owner_name", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("views", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("analytics_dashboards", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_dashboards_owner", ["owner_id"])
    op.create_table(
        "analytics_scheduled_reports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("owner_name", sa.String(length=100), nullable=False),
        sa.Column("libraries", sa.JSON(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("cadence", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("analytics_scheduled_reports", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_scheduled_due", ["next_run_at"])
    op.create_table(
        "analytics_report_runs",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.String(length=32), nullable=False),
        sa.Column("period_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("webhook_status", sa.Integer(), nullable=True),
        sa.Column("webhook_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["analytics_scheduled_reports.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("analytics_report_runs", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_report_runs_schedule", ["schedule_id", "created_at"])
    op.create_table(
        "analytics_conversions",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("listener", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("analytics_conversions", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_conversions_at", ["at"])
        batch_op.create_index("ix_analytics_conversions_listener", ["listener"])


def downgrade() -> None:
    op.drop_table("analytics_conversions")
    op.drop_table("analytics_report_runs")
    op.drop_table("analytics_scheduled_reports")
    op.drop_table("analytics_dashboards")
    op.drop_table("analytics_rollup_state")
    op.drop_table("analytics_daily")
    op.drop_table("analytics_hourly")
