"""smart playlists: a playlist's rule, and the rule each revision had

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A smart playlist is a playlist whose ``rules`` (JSON) is set: its items are computed from
the rule, none stored. Revisions keep the rule beside the items, so undo and redo restore
rule edits as they restore item edits. NULL everywhere for the playlists that exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("playlists", "playlist_revisions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("rules", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("playlist_revisions", "playlists"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("rules")
