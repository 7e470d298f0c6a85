"""renditions and loudness

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renditions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("track_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("codecs", sa.String(length=64), nullable=False),
        sa.Column("bitrate", sa.Integer(), nullable=True),
        sa.Column("peak_bitrate", sa.Integer(), nullable=False),
        sa.Column("average_bitrate", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("index_key", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("ladder_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("renditions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_renditions_track_ladder_name", ["track_id", "ladder_hash", "name"], unique=True
        )

    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("loudness_integrated", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("loudness_range", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("true_peak", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("waveform_key", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_column("waveform_key")
        batch_op.drop_column("true_peak")
        batch_op.drop_column("loudness_range")
        batch_op.drop_column("loudness_integrated")

    with op.batch_alter_table("renditions", schema=None) as batch_op:
        batch_op.drop_index("ix_renditions_track_ladder_name")

    op.drop_table("renditions")
