"""Schema migrations: Ottava's (alembic, own version table) and TaskFlow's persistence tables."""

from __future__ import annotations

import contextlib
import pathlib

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

MIGRATIONS = pathlib.Path(__file__).parent / "migrations"
# Ours is not "alembic_version": TaskFlow's own migrations use that name in the same database.
VERSION_TABLE = "ottava_alembic_version"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head", taskflow: bool = True) -> None:
    command.upgrade(alembic_config(engine), revision)
    if taskflow:
        from taskflow.persistence.backends import impl_sqlalchemy

        backend = impl_sqlalchemy.SQLAlchemyBackend({"connection": str(engine.url)},
                                                    engine=engine)
        with contextlib.closing(backend.get_connection()) as conn:
            conn.upgrade()


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()
