"""advertisers, campaigns, creatives and their versions

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

Advertising (streamer.ads): the campaigns a station sells and the creatives it plays.
A creative's audio is a catalogued track, one per version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ad_advertisers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_table(
        "ad_campaigns",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "advertiser_id",
            sa.String(32),
            sa.ForeignKey("ad_advertisers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("starts_at", _WHEN, nullable=False),
        sa.Column("ends_at", _WHEN, nullable=False),
        sa.Column("goal", sa.BigInteger(), nullable=True),
        sa.Column("price_model", sa.String(16), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("targeting", sa.JSON(), nullable=False),
        sa.Column("caps", sa.JSON(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("served", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_ad_campaigns_advertiser", "ad_campaigns", ["advertiser_id"])
    op.create_table(
        "ad_creatives",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.String(32),
            sa.ForeignKey("ad_campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slot_seconds", sa.Float(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_ad_creatives_campaign", "ad_creatives", ["campaign_id"])
    op.create_table(
        "ad_creative_versions",
        sa.Column(
            "creative_id",
            sa.String(32),
            sa.ForeignKey("ad_creatives.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column(
            "track_id",
            sa.String(32),
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_ad_creative_versions_track", "ad_creative_versions", ["track_id"])


def downgrade() -> None:
    op.drop_index("ix_ad_creative_versions_track", table_name="ad_creative_versions")
    op.drop_table("ad_creative_versions")
    op.drop_index("ix_ad_creatives_campaign", table_name="ad_creatives")
    op.drop_table("ad_creatives")
    op.drop_index("ix_ad_campaigns_advertiser", table_name="ad_campaigns")
    op.drop_table("ad_campaigns")
    op.drop_table("ad_advertisers")
