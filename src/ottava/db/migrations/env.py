"""Alembic environment: runs on the engine handed over by `ottava.db.migrate`."""

from __future__ import annotations

from alembic import context

from ottava.db.migrate import VERSION_TABLE
from ottava.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
    )
    context.run_migrations()
