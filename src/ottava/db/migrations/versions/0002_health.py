"""health: amphora_health, the applied spec hash, operation leases, amphora claims

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "amphora_health",
        sa.Column("amphora_id", sa.String(length=36), nullable=False),
        sa.Column("last_update", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql",
                                                            "mariadb"), nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("amphora_id", name=op.f("pk_amphora_health")),
    )
    with op.batch_alter_table("amphora_health", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_amphora_health_last_update"), ["last_update"],
                              unique=False)
    with op.batch_alter_table("load_balancer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spec_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_amphora_claimed_by"), ["claimed_by"], unique=False)
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("lease_expires", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_operation_lease_expires"), ["lease_expires"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operation_lease_expires"))
        batch_op.drop_column("lease_expires")
        batch_op.drop_column("worker")
    with op.batch_alter_table("load_balancer", schema=None) as batch_op:
        batch_op.drop_column("spec_hash")
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_amphora_claimed_by"))
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("amphora_health", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_amphora_health_last_update"))
    op.drop_table("amphora_health")
