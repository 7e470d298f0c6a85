"""ad breaks of tracks and playlists, and listeners' ad sessions

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

Where a track or a playlist takes ads, and for each listener session the ads decided at
its start (streamer.ads.sessions). A session names what it plays by kind and id (a track
or a playlist: no one foreign key can say which).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ad_track_breaks",
        sa.Column(
            "track_id",
            sa.String(32),
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("breaks", sa.JSON(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_table(
        "ad_playlist_breaks",
        sa.Column(
            "playlist_id",
            sa.String(32),
            sa.ForeignKey("playlists.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("breaks", sa.JSON(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_table(
        "ad_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("listener", sa.String(64), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_ad_sessions_listener", "ad_sessions", ["listener", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ad_sessions_listener", table_name="ad_sessions")
    op.drop_table("ad_sessions")
    op.drop_table("ad_playlist_breaks")
    op.drop_table("ad_track_breaks")
