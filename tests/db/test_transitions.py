"""`ottava.db.transitions.compare_and_set` on each real database: a transition the table
allows moves exactly the rows in an expected state; one it forbids is refused before any
write (IllegalTransition) and changes nothing; rows in a state that may not move are left
alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.db.transitions import compare_and_set, current
from ottava.domain.lifecycles import (
    AMPHORA,
    OPERATION,
    PROVISIONING,
    AmphoraStatus,
    IllegalTransition,
    OperationState,
    Provisioning,
)
from tests import harness


@pytest.fixture(params=harness.backends(), scope="module")
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with harness.migrated_database(request.param) as database:
        yield database


def new_lb(db: Database, status: Provisioning) -> str:
    with db.transaction() as s:
        lb = m.LoadBalancer(project_id="p", provisioning_status=status,
                            operating_status="ONLINE")
        s.add(lb)
        s.flush()
        return lb.id


def status(db: Database, lb_id: str) -> str | None:
    with db.reader() as s:
        return current(s, PROVISIONING, m.LoadBalancer, lb_id)


def test_an_allowed_move_changes_the_expected_rows_only(db: Database) -> None:
    active, busy = new_lb(db, Provisioning.ACTIVE), new_lb(db, Provisioning.PENDING_UPDATE)
    with db.transaction() as s:
        changed = compare_and_set(s, PROVISIONING, m.LoadBalancer, [active, busy],
                                  Provisioning.PENDING_UPDATE, [Provisioning.ACTIVE])
    assert changed == 1
    assert status(db, active) == Provisioning.PENDING_UPDATE


@pytest.mark.parametrize(("start", "new"), [
    (Provisioning.ACTIVE, Provisioning.DELETED),
    (Provisioning.ACTIVE, Provisioning.PENDING_CREATE),
    (Provisioning.DELETED, Provisioning.ACTIVE),
])
def test_a_forbidden_move_is_refused_and_writes_nothing(db: Database, start: Provisioning,
                                                        new: Provisioning) -> None:
    lb_id = new_lb(db, start)
    with pytest.raises(IllegalTransition), db.transaction() as s:
        compare_and_set(s, PROVISIONING, m.LoadBalancer, lb_id, new, [start])
    assert status(db, lb_id) == start


def test_without_expected_states_only_legal_sources_move(db: Database) -> None:
    """DELETED may be reached from PENDING_DELETE only: an ACTIVE row stays ACTIVE."""
    active, leaving = new_lb(db, Provisioning.ACTIVE), new_lb(db, Provisioning.PENDING_DELETE)
    with db.transaction() as s:
        assert compare_and_set(s, PROVISIONING, m.LoadBalancer, [active, leaving],
                               Provisioning.DELETED) == 1
    assert status(db, active) == Provisioning.ACTIVE
    assert status(db, leaving) == Provisioning.DELETED


def test_amphora_and_operation_tables_guard_their_rows(db: Database) -> None:
    with db.transaction() as s:
        amp = m.Amphora(status=AmphoraStatus.DELETED)
        op = m.Operation(kind="loadbalancer.update", target_id="t", load_balancer_id="l",
                         payload={}, state=OperationState.DONE)
        s.add_all([amp, op])
        s.flush()
        amp_id, op_id = amp.id, op.id
    with db.transaction() as s:
        # No state may move to ALLOCATED from DELETED, none to RUNNING from DONE.
        assert compare_and_set(s, AMPHORA, m.Amphora, amp_id, AmphoraStatus.ALLOCATED) == 0
        assert compare_and_set(s, OPERATION, m.Operation, op_id, OperationState.RUNNING) == 0
    with pytest.raises(IllegalTransition), db.transaction() as s:
        compare_and_set(s, OPERATION, m.Operation, op_id, OperationState.RUNNING,
                        [OperationState.DONE])
