"""upload pieces: uploads staged in an object store record their committed pieces

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

With ``upload_staging`` an object store URL, each PATCH's bytes are one object (a piece)
and ``uploads.pieces`` lists, in order, the names of those the offset moved over. The list
changes in the same compare-and-set as the offset. NULL for uploads staged locally.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pieces", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_column("pieces")
