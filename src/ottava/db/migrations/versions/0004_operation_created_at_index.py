"""operation.created_at indexed: the dashboard's recent events read the newest operations first

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_operation_created_at", "operation", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_operation_created_at", table_name="operation")
