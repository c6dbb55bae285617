"""The lifecycle tables of `ottava.domain.lifecycles` (reference §3.1): every table is walked
pair by pair, and every transition it does not list is refused. Spot checks pin the rules
users rely on: creates and updates end ACTIVE or ERROR, only ACTIVE and ERROR objects change,
DELETED is final, a lapsed operation goes back to QUEUED."""

from __future__ import annotations

import itertools

import pytest

from ottava.domain import lifecycles as lc
from ottava.domain.lifecycles import AmphoraStatus as A
from ottava.domain.lifecycles import OperationState as O
from ottava.domain.lifecycles import Provisioning as P

PAIRS = [(table, old, new) for table in lc.LIFECYCLES
         for old, new in itertools.product(sorted(table.states), repeat=2)]


def ids(value: object) -> str:
    return value.name.replace(" ", "_") if isinstance(value, lc.Lifecycle) else str(value)


@pytest.mark.parametrize(("table", "old", "new"), PAIRS, ids=ids)
def test_every_pair_is_allowed_exactly_when_listed(table: lc.Lifecycle, old: str,
                                                   new: str) -> None:
    listed = old == new or new in table.transitions[old]
    assert table.allows(old, new) is listed
    if listed:
        table.check([old], new)
        assert old in table.sources(new)
    else:
        with pytest.raises(lc.IllegalTransition):
            table.check([old], new)
        assert old not in table.sources(new)


@pytest.mark.parametrize("table", lc.LIFECYCLES, ids=ids)
def test_every_target_is_a_state_of_its_table(table: lc.Lifecycle) -> None:
    for old, targets in table.transitions.items():
        assert targets <= table.states, (old, targets - table.states)


@pytest.mark.parametrize("table", lc.LIFECYCLES, ids=ids)
def test_unknown_states_are_refused_loudly(table: lc.Lifecycle) -> None:
    some = sorted(table.states)[0]
    with pytest.raises(ValueError):
        table.allows("NO_SUCH_STATE", some)
    with pytest.raises(ValueError):
        table.allows(some, "NO_SUCH_STATE")


@pytest.mark.parametrize(("old", "new"), [
    (P.PENDING_CREATE, P.ACTIVE), (P.PENDING_CREATE, P.ERROR),
    (P.PENDING_UPDATE, P.ACTIVE), (P.PENDING_UPDATE, P.ERROR),
    (P.PENDING_DELETE, P.DELETED), (P.PENDING_DELETE, P.ERROR),
    (P.ACTIVE, P.PENDING_UPDATE), (P.ACTIVE, P.PENDING_DELETE),
    # An ERROR object is repaired by an update or failover, or removed.
    (P.ERROR, P.PENDING_UPDATE), (P.ERROR, P.PENDING_DELETE),
])
def test_provisioning_moves_users_rely_on(old: P, new: P) -> None:
    assert lc.PROVISIONING.allows(old, new)


@pytest.mark.parametrize(("old", "new"), [
    # Nothing happens to an object while an operation on it is pending.
    (P.PENDING_CREATE, P.PENDING_UPDATE), (P.PENDING_UPDATE, P.PENDING_DELETE),
    (P.PENDING_DELETE, P.PENDING_UPDATE),
    # An existing object never goes back to PENDING_CREATE, nor vanishes without a delete.
    (P.ACTIVE, P.PENDING_CREATE), (P.ACTIVE, P.DELETED), (P.ERROR, P.DELETED),
])
def test_provisioning_moves_refused(old: P, new: P) -> None:
    assert not lc.PROVISIONING.allows(old, new)


@pytest.mark.parametrize("table", [lc.PROVISIONING, lc.AMPHORA], ids=ids)
def test_deleted_is_final(table: lc.Lifecycle) -> None:
    assert table.transitions["DELETED"] == frozenset()


def test_operations_finish_once_and_lapsed_ones_are_queued_again() -> None:
    assert lc.OPERATION.allows(O.RUNNING, O.QUEUED)
    for finished in lc.FINISHED:
        assert lc.OPERATION.transitions[finished] == frozenset()
    assert not lc.OPERATION.allows(O.QUEUED, O.DONE), "an operation runs before it is done"


def test_a_spare_is_taken_from_ready_only() -> None:
    assert lc.AMPHORA.sources(A.PENDING_CREATE) == {A.PENDING_CREATE, A.READY}
