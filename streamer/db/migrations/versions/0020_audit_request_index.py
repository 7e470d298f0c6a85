"""audit entries found by request id

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

GET /api/v1/audit?request_id=... links an error group, a log line or an X-Request-Id a
client reported to the changes that request made.
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_request", "audit_log", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_request", table_name="audit_log")
