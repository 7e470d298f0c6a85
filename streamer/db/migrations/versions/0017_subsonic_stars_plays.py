"""subsonic: stars, scrobbled plays, now playing

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

What Subsonic players record for their listener (streamer/subsonic): starred artists,
albums and songs; plays (play counts, recently and most played); what each player is
playing now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subsonic_stars",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("item_id", sa.String(2048), primary_key=True),
        sa.Column("starred_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "subsonic_plays",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column(
            "track_id",
            sa.String(32),
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("played_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
    )
    op.create_index("ix_subsonic_plays_owner_track", "subsonic_plays", ["owner", "track_id"])
    op.create_index("ix_subsonic_plays_owner_played", "subsonic_plays", ["owner", "played_at"])
    op.create_table(
        "subsonic_now_playing",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("client", sa.String(100), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column(
            "track_id",
            sa.String(32),
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subsonic_now_playing")
    op.drop_index("ix_subsonic_plays_owner_played", table_name="subsonic_plays")
    op.drop_index("ix_subsonic_plays_owner_track", table_name="subsonic_plays")
    op.drop_table("subsonic_plays")
    op.drop_table("subsonic_stars")
