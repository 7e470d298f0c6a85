"""app passwords: one per Subsonic player a user connects

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

The OpenSubsonic API's password and token forms check against these, never against an
account's password (streamer/auth/app_passwords.py says why they are kept as they are).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_passwords",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_app_passwords_user", "app_passwords", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_app_passwords_user", table_name="app_passwords")
    op.drop_table("app_passwords")
