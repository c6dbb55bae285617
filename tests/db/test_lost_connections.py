"""A pooled connection the server has dropped, on MariaDB and PostgreSQL (killed from another
session, as a restart or a failover would): `Database.read`, whose pool does not ping before
lending, reads again on a new connection; a database that is gone is still a 503
(`Unavailable`), and writes, whose pool pings, never see the dead connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, select, text
from sqlalchemy.engine import make_url

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.errors import Unavailable
from tests import harness

SERVERS = [b for b in harness.backends() if b != "sqlite"]  # a file has no connection to lose


@pytest.fixture(params=SERVERS)
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with harness.migrated_database(request.param, "ottava-lost-") as database:
        with database.transaction() as s:
            s.add(m.Quota(project_id="p", load_balancer=3))
        yield database


def session_id(conn: Connection) -> int:
    postgresql = conn.dialect.name == "postgresql"
    sql = "SELECT pg_backend_pid()" if postgresql else "SELECT CONNECTION_ID()"
    return int(conn.exec_driver_sql(sql).scalar_one())


def kill(db: Database, ident: int) -> None:
    """End server session `ident` from an administrator's connection of its own."""
    backend = {"postgresql": "postgresql", "mysql": "mariadb"}[db.engine.dialect.name]
    admin = create_engine(harness.SERVER_URLS[backend], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if admin.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": ident})
        else:
            conn.execute(text(f"KILL {ident}"))
    admin.dispose()


def quota(conn: Connection) -> Any:
    return conn.execute(select(m.Quota.load_balancer).where(m.Quota.project_id == "p")
                        ).scalar_one()


def test_a_read_on_a_dropped_connection_reads_again_on_a_new_one(db: Database) -> None:
    first = db.read(session_id)
    assert db.read(session_id) == first, "the pool lends its one connection again"
    kill(db, first)

    sessions: list[int] = []

    def remembered(conn: Connection) -> Any:
        sessions.append(session_id(conn))
        return quota(conn)

    assert db.read(remembered) == 3
    assert len(sessions) == 1 and sessions[0] != first, "run once, on a new connection"
    assert db.read(session_id) == sessions[0]


def test_a_database_that_is_gone_is_still_unavailable(db: Database) -> None:
    url = make_url(db.url).set(database="ottava_no_such_database")
    gone = Database(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(Unavailable):
            gone.read(quota)
    finally:
        gone.dispose()


def test_writes_ping_the_connection_they_are_lent(db: Database) -> None:
    with db.transaction() as s:
        first = session_id(s.connection())
    kill(db, first)
    with db.transaction() as s:
        assert session_id(s.connection()) != first
        s.execute(text("UPDATE quota SET load_balancer = 4 WHERE project_id = 'p'"))
    assert db.read(quota) == 4
