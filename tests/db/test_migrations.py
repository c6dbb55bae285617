"""Schema migrations on SQLite, PostgreSQL and MariaDB: upgrade from empty, head revision,
downgrade to base and back, no drift between the models and the migrated schema, and the
`ottava db` command line."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from ottava.db import migrate
from ottava.db.engine import make_engine
from ottava.db.models import Base
from tests import harness

# What TaskFlow's own migrations made before revision 0003 removed them.
TASKFLOW_TABLES = {"logbooks", "flowdetails", "atomdetails", "alembic_version"}
VERSION_TABLES = {migrate.VERSION_TABLE}
OTTAVA_TABLES = set(Base.metadata.tables)
ROOT = pathlib.Path(__file__).resolve().parents[2]
OTTAVA_CLI = ROOT / ".venv" / "bin" / "ottava"


def head_revision() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config(None)).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head


@pytest.fixture(params=harness.backends())
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on a fresh, empty, uniquely named database of each back end."""
    with harness.fresh_database(request.param, "ottava-migrate-") as url:
        eng = make_engine(url)
        try:
            yield eng
        finally:
            eng.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_head_is_a_single_revision() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(None))  # type: ignore[arg-type]
    assert len(script.get_heads()) == 1


def test_upgrade_from_empty_creates_every_table(engine: Engine) -> None:
    assert tables(engine) == set()
    assert migrate.current(engine) is None

    migrate.upgrade(engine)

    present = tables(engine)
    missing = (OTTAVA_TABLES | VERSION_TABLES) - present
    assert not missing, f"tables not created by the migration: {sorted(missing)}"
    assert present == OTTAVA_TABLES | VERSION_TABLES, sorted(present)
    assert migrate.current(engine) == head_revision()


def test_upgrade_to_0003_removes_taskflows_tables(engine: Engine) -> None:
    from taskflow.persistence.backends import impl_sqlalchemy

    migrate.upgrade(engine, "0002")
    # As the release before 0003 started: TaskFlow's own migrations beside Ottava's.
    taskflow = impl_sqlalchemy.SQLAlchemyBackend({"connection": str(engine.url)},
                                                 engine=engine)
    conn = taskflow.get_connection()
    conn.upgrade()
    conn.close()
    assert tables(engine) >= {"logbooks", "flowdetails", "atomdetails"}

    migrate.upgrade(engine)
    assert tables(engine) == OTTAVA_TABLES | VERSION_TABLES
    columns = {c["name"] for c in inspect(engine).get_columns("operation")}
    assert "progress" in columns


def test_upgrade_is_idempotent(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    assert migrate.current(engine) == head_revision()
    assert tables(engine) >= OTTAVA_TABLES


def test_downgrade_to_base_removes_ottava_tables_and_upgrade_works_again(
        engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")

    left = tables(engine) & OTTAVA_TABLES
    assert not left, f"tables left after downgrade to base: {sorted(left)}"
    assert migrate.current(engine) is None
    assert tables(engine) <= VERSION_TABLES

    migrate.upgrade(engine)
    assert tables(engine) >= OTTAVA_TABLES
    assert migrate.current(engine) == head_revision()


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                    compare_to: Any) -> bool:
    if type_ == "table" and name in VERSION_TABLES:
        return False
    table = getattr(obj, "table", None)
    return not (table is not None and table.name in VERSION_TABLES)


def _include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    if type_ == "table":
        return name not in VERSION_TABLES
    return parent_names.get("table_name") not in VERSION_TABLES


def test_models_and_migrated_schema_do_not_drift(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.connect() as conn:
        # Configured as src/ottava/db/migrations/env.py configures alembic.
        context = MigrationContext.configure(conn, opts={
            "target_metadata": Base.metadata,
            "version_table": migrate.VERSION_TABLE,
            "render_as_batch": True,
            "compare_type": True,
            "include_object": _include_object,
            "include_name": _include_name,
        })
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], "models and migrations differ:\n" + "\n".join(map(repr, diff))


def _cli(state_dir: str, *args: str) -> str:
    env = {**os.environ, "XDG_DATA_HOME": state_dir}
    done = subprocess.run(
        [str(OTTAVA_CLI), "db", *args, "--state-dir", state_dir],
        capture_output=True, text=True, timeout=120, env=env, cwd=state_dir,
    )
    assert done.returncode == 0, f"ottava db {' '.join(args)} failed:\n{done.stderr}"
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"ottava db {' '.join(args)} printed nothing; stderr:\n{done.stderr}"
    return lines[-1]


def test_cli_upgrade_current_downgrade() -> None:
    state = tempfile.mkdtemp(prefix="ottava-cli-")
    try:
        head = head_revision()
        assert _cli(state, "upgrade") == head
        assert (pathlib.Path(state) / "ottava.db").exists()
        assert _cli(state, "current") == head
        assert _cli(state, "downgrade") == "base"
        assert _cli(state, "current") == "base"
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
