"""upload completion lease: who is turning a whole upload into a track, until when

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

The request that brings an upload's last byte claims its completion (in the same
compare-and-set that moves the offset) until ``completing_until``; a retry, or the
background recovery of completions that failed (storage down) or were cut short (a
crash), claims it again only once that time has passed or the claim was given back.
So two nodes never store one upload twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        lease = sa.Column("completing_until", sa.DateTime(timezone=True), nullable=True)
        batch_op.add_column(lease)


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_column("completing_until")
