"""The provisioning-status transition table of `ottava.domain.states` (reference §3.1):
creates and updates end ACTIVE or ERROR, deletes end DELETED (or ERROR on failure), only
ACTIVE and ERROR objects may be changed or deleted, and DELETED is final."""

from __future__ import annotations

import pytest

from ottava.domain import states
from ottava.domain.states import Provisioning as P

ALL = list(P)


@pytest.mark.parametrize("status", ALL)
def test_staying_put_is_always_allowed(status: P) -> None:
    assert states.is_allowed(status, status)


@pytest.mark.parametrize("status", ALL)
def test_every_status_has_a_row_in_the_table(status: P) -> None:
    assert status in states.ALLOWED_TRANSITIONS


@pytest.mark.parametrize(("old", "new"), [
    (P.PENDING_CREATE, P.ACTIVE),
    (P.PENDING_CREATE, P.ERROR),
    (P.PENDING_UPDATE, P.ACTIVE),
    (P.PENDING_UPDATE, P.ERROR),
    (P.PENDING_DELETE, P.DELETED),
    (P.PENDING_DELETE, P.ERROR),
    (P.ACTIVE, P.PENDING_UPDATE),
    (P.ACTIVE, P.PENDING_DELETE),
    # An ERROR object is repaired by an update or failover, or removed.
    (P.ERROR, P.PENDING_UPDATE),
    (P.ERROR, P.PENDING_DELETE),
])
def test_allowed_transitions(old: P, new: P) -> None:
    assert states.is_allowed(old, new)
    assert states.is_allowed(str(old), str(new)), "plain strings work like the enum"


@pytest.mark.parametrize(("old", "new"), [
    # Nothing happens to an object while an operation on it is pending.
    (P.PENDING_CREATE, P.PENDING_UPDATE),
    (P.PENDING_CREATE, P.PENDING_DELETE),
    (P.PENDING_UPDATE, P.PENDING_DELETE),
    (P.PENDING_UPDATE, P.PENDING_CREATE),
    (P.PENDING_DELETE, P.PENDING_UPDATE),
    # Creation happens once; an existing object never goes back to PENDING_CREATE.
    (P.ACTIVE, P.PENDING_CREATE),
    (P.ERROR, P.PENDING_CREATE),
    # Statuses that end an operation are reached only from a PENDING_* status.
    (P.ACTIVE, P.DELETED),
    (P.ACTIVE, P.ERROR),
    (P.ERROR, P.DELETED),
    (P.PENDING_CREATE, P.DELETED),
    (P.PENDING_UPDATE, P.DELETED),
])
def test_refused_transitions(old: P, new: P) -> None:
    assert not states.is_allowed(old, new)


@pytest.mark.parametrize("new", [s for s in ALL if s != P.DELETED])
def test_deleted_is_final(new: P) -> None:
    assert not states.is_allowed(P.DELETED, new)
    assert states.ALLOWED_TRANSITIONS[P.DELETED] == frozenset()


def test_no_transition_targets_pending_from_pending() -> None:
    for old in states.PENDING:
        assert not (states.ALLOWED_TRANSITIONS[old] - {P.ACTIVE, P.ERROR, P.DELETED}), old


def test_pending_mutable_and_deletable_sets() -> None:
    assert {P.PENDING_CREATE, P.PENDING_UPDATE, P.PENDING_DELETE} == states.PENDING
    # Changes (to the object or its children) need ACTIVE; LB delete/failover also accept ERROR.
    assert {P.ACTIVE} == states.MUTABLE
    assert {P.ACTIVE, P.ERROR} == states.DELETABLE


def test_unknown_status_is_refused_loudly() -> None:
    with pytest.raises(ValueError):
        states.is_allowed("ACTIVE", "BOGUS")


def test_status_values_are_octavias() -> None:
    assert {s.value for s in P} == {
        "ACTIVE", "PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE", "DELETED", "ERROR"}
    assert {s.value for s in states.Operating} == {
        "ONLINE", "OFFLINE", "DEGRADED", "ERROR", "DRAINING", "NO_MONITOR"}
    assert {s.value for s in states.AmphoraStatus} >= {
        "BOOTING", "ALLOCATED", "PENDING_CREATE", "PENDING_DELETE", "DELETED", "ERROR",
        "FAILOVER_STOPPED"}
