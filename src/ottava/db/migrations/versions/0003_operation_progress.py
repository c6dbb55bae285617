"""operation.progress: a flow's TaskFlow logbook in its operation's row; TaskFlow's tables go

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 03:00:00

TaskFlow's own tables (logbooks, flowdetails, atomdetails, and its alembic_version) held only
the progress of flows running at the time of the upgrade; such a flow is run again from its
first step by whichever worker takes its operation over, as every step is safe to run twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Children first: atomdetails refer to flowdetails, which refer to logbooks.
TASKFLOW_TABLES = ("atomdetails", "flowdetails", "logbooks", "alembic_version")


def upgrade() -> None:
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            "progress", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"),
            nullable=True))
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for table in TASKFLOW_TABLES:
        if table in present:
            op.drop_table(table)


def downgrade() -> None:
    # The release before this one creates TaskFlow's tables itself when it starts.
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.drop_column("progress")
