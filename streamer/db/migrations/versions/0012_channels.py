"""channels: schedules, plan revisions, sequence checkpoints, announced plays

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

A channel's plan (entries, fill, rules, the track lists of the playlists it plays) is
written as a new ``channel_plans`` row at every edit, effective from a segment boundary
after the edit: rows are only added, so what went out is never recomputed differently.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("fill_mode", sa.String(length=16), nullable=False),
        sa.Column("fill_playlist_id", sa.String(length=32), nullable=True),
        sa.Column("track_minutes", sa.Float(), nullable=False),
        sa.Column("artist_minutes", sa.Float(), nullable=False),
        sa.Column("loudness_target", sa.Float(), nullable=True),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "channel_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("playlist_id", sa.String(length=32), nullable=False),
        sa.Column("start", sa.String(length=32), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("rrule", sa.Text(), nullable=True),
        sa.Column("exdates", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("order", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("channel_entries", schema=None) as batch_op:
        batch_op.create_index("ix_channel_entries_channel", ["channel_id"], unique=False)
    op.create_table(
        "channel_plans",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("channel_id", "revision"),
    )
    op.create_table(
        "channel_played",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("track_id", sa.String(length=32), nullable=False),
        sa.Column("entry_id", sa.String(length=32), nullable=True),
        sa.Column("playlist_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("channel_id", "started_at"),
    )
    with op.batch_alter_table("channel_played", schema=None) as batch_op:
        batch_op.create_index("ix_channel_played_started", ["started_at"], unique=False)
    op.create_table(
        "channel_checkpoints",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("media_sequence", sa.BigInteger(), nullable=False),
        sa.Column("discontinuity_sequence", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("channel_id", "at"),
    )


def downgrade() -> None:
    op.drop_table("channel_checkpoints")
    with op.batch_alter_table("channel_played", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_played_started")
    op.drop_table("channel_played")
    op.drop_table("channel_plans")
    with op.batch_alter_table("channel_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_entries_channel")
    op.drop_table("channel_entries")
    op.drop_table("channels")
