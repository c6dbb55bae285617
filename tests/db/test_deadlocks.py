"""A real deadlock on MariaDB and PostgreSQL: two transactions lock two rows in opposite
orders. The database rolls one back; `translated_errors` names it a `Deadlock` (not a 503),
and a change wrapped in `service.base.retry_deadlocks` is simply run again and succeeds."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.errors import Deadlock
from ottava.service.base import DEADLOCK_TRIES, retry_deadlocks
from tests import harness

SERVERS = [b for b in harness.backends() if b != "sqlite"]  # SQLite has one writer: no cycle


@pytest.fixture(params=SERVERS)
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with harness.migrated_database(request.param, "ottava-deadlock-") as database:
        with database.transaction() as s:
            s.add_all([m.Quota(project_id="first"), m.Quota(project_id="second")])
        yield database


def crossing(db: Database, barrier: threading.Barrier) -> Callable[[str, str], str]:
    """A change locking quota row `a`, then (once the other change holds its first row)
    row `b`."""
    def change(a: str, b: str) -> str:
        with db.transaction() as s:
            s.execute(select(m.Quota).where(m.Quota.project_id == a).with_for_update())
            # A retry runs alone (the other one has finished): no partner to wait for.
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            s.execute(select(m.Quota).where(m.Quota.project_id == b).with_for_update())
        return "done"

    return change


def run_both(first: Callable[[], str], second: Callable[[], str]) -> list[str]:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(first), pool.submit(second)]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=60))
            except Deadlock:
                outcomes.append("deadlock")
    return sorted(outcomes)


def test_the_database_breaking_a_deadlock_is_a_deadlock_not_an_outage(db: Database) -> None:
    barrier = threading.Barrier(2)
    change = crossing(db, barrier)
    outcomes = run_both(lambda: change("first", "second"), lambda: change("second", "first"))
    assert outcomes == ["deadlock", "done"]


def test_a_change_rolled_back_by_a_deadlock_runs_again_and_succeeds(db: Database) -> None:
    barrier = threading.Barrier(2)
    tries: list[str] = []
    change = crossing(db, barrier)

    @retry_deadlocks
    def counted(a: str, b: str) -> str:
        tries.append(a)
        if len(tries) > 2:
            barrier.abort()  # the retry must not wait for a partner that has gone
        return change(a, b)

    outcomes = run_both(lambda: counted("first", "second"), lambda: counted("second", "first"))
    assert outcomes == ["done", "done"]
    assert len(tries) == 3  # one of the two ran twice


def test_a_change_that_keeps_losing_is_a_409_after_a_few_tries() -> None:
    calls: list[int] = []

    @retry_deadlocks
    def always() -> None:
        calls.append(1)
        raise Deadlock()

    with pytest.raises(Deadlock) as raised:
        always()
    assert raised.value.code == 409
    assert len(calls) == DEADLOCK_TRIES
