"""Every lifecycle in Ottava as data: its states and one table of allowed transitions.

Four lifecycles: the provisioning status of API objects, their operating status (one table per
kind of object: which statuses it can show), the status of amphorae and the state of
operations. Every write of one of these goes through the repository's one compare-and-set
(`ottava.db.transitions.compare_and_set`), which refuses what its table does not allow; no
other code spells a state as a string or writes it with a plain UPDATE. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping

from ottava.domain.operations import Entity


class Provisioning(enum.StrEnum):
    ACTIVE = "ACTIVE"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"


class Operating(enum.StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"
    DRAINING = "DRAINING"
    NO_MONITOR = "NO_MONITOR"


class AmphoraStatus(enum.StrEnum):
    BOOTING = "BOOTING"
    ALLOCATED = "ALLOCATED"
    READY = "READY"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"
    FAILOVER_STOPPED = "FAILOVER_STOPPED"


class OperationState(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


class IllegalTransition(ValueError):
    """A write asked for a transition its lifecycle's table does not allow (a bug)."""


@dataclasses.dataclass(frozen=True)
class Lifecycle:
    """The states of one lifecycle and, for each, the states it may move to.

    Staying put is always allowed: writing the state a row already has changes nothing."""

    name: str
    column: str  # the model attribute holding the state
    transitions: Mapping[str, frozenset[str]]

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self.transitions)

    def allows(self, old: str, new: str) -> bool:
        """Whether a row may move from `old` to `new`; ValueError for unknown states."""
        for state in (old, new):
            if state not in self.transitions:
                raise ValueError(f"{state!r} is not a {self.name}")
        return old == new or new in self.transitions[old]

    def sources(self, new: str) -> frozenset[str]:
        """Every state from which `new` may be reached (`new` itself included)."""
        return frozenset(old for old in self.transitions if self.allows(old, new))

    def check(self, old: Iterable[str], new: str) -> None:
        """IllegalTransition unless every state in `old` may move to `new`."""
        refused = sorted(o for o in old if not self.allows(o, new))
        if refused:
            raise IllegalTransition(f"{self.name}: {refused} -> {new}")


def _table(rows: Mapping[enum.StrEnum, Iterable[enum.StrEnum]]) -> dict[str, frozenset[str]]:
    return {str(old): frozenset(str(new) for new in targets) for old, targets in rows.items()}


_P = Provisioning
PROVISIONING = Lifecycle("provisioning status", "provisioning_status", _table({
    _P.ACTIVE: {_P.PENDING_UPDATE, _P.PENDING_DELETE},
    # ERROR objects are repaired by an update or failover, or removed.
    _P.ERROR: {_P.PENDING_UPDATE, _P.PENDING_DELETE},
    _P.PENDING_CREATE: {_P.ACTIVE, _P.ERROR},
    _P.PENDING_UPDATE: {_P.ACTIVE, _P.ERROR},
    # A failed child delete returns the parent to ACTIVE and the child to ERROR.
    _P.PENDING_DELETE: {_P.DELETED, _P.ERROR, _P.ACTIVE},
    _P.DELETED: set(),
}))

PENDING = frozenset({_P.PENDING_CREATE, _P.PENDING_UPDATE, _P.PENDING_DELETE})
# A load balancer (or pool, or L7 policy) accepts changes to itself or its children only here.
MUTABLE = frozenset({_P.ACTIVE})
# A load balancer may be deleted or failed over from these.
DELETABLE = frozenset({_P.ACTIVE, _P.ERROR})

_A = AmphoraStatus
AMPHORA = Lifecycle("amphora status", "status", _table({
    # A new row, or a spare taken by a create or failover: once its instance runs it serves
    # (ALLOCATED) or waits as a spare (READY); a taken spare runs already. BOOTING is what
    # rows written by earlier versions may still hold.
    _A.PENDING_CREATE: {_A.BOOTING, _A.ALLOCATED, _A.READY, _A.ERROR, _A.DELETED},
    _A.BOOTING: {_A.ALLOCATED, _A.READY, _A.ERROR, _A.DELETED},
    # A spare waits READY until a create or failover takes it.
    _A.READY: {_A.PENDING_CREATE, _A.ERROR, _A.DELETED},
    # The failover circuit breaker parks silent amphorae in FAILOVER_STOPPED (and back).
    _A.ALLOCATED: {_A.FAILOVER_STOPPED, _A.PENDING_DELETE, _A.ERROR, _A.DELETED},
    _A.FAILOVER_STOPPED: {_A.ALLOCATED, _A.ERROR, _A.DELETED},
    _A.PENDING_DELETE: {_A.DELETED, _A.ERROR},
    _A.ERROR: {_A.DELETED},
    _A.DELETED: set(),
}))
# Amphorae that serve, or should: the watchdog expects their heartbeats.
IN_SERVICE = frozenset({_A.ALLOCATED, _A.FAILOVER_STOPPED})

_O = OperationState
OPERATION = Lifecycle("operation state", "state", _table({
    _O.QUEUED: {_O.RUNNING},
    # QUEUED again: the reconciler hands an operation whose lease lapsed to another worker.
    _O.RUNNING: {_O.DONE, _O.FAILED, _O.QUEUED},
    _O.DONE: set(),
    _O.FAILED: set(),
}))
UNFINISHED = frozenset({_O.QUEUED, _O.RUNNING})
FINISHED = frozenset({_O.DONE, _O.FAILED})


def _any_to_any(name: str, statuses: Iterable[Operating]) -> Lifecycle:
    """An operating status reflects what the data plane reports, so it may move between any
    two statuses its kind of object can show, and to no other."""
    chosen = frozenset(str(s) for s in statuses)
    return Lifecycle(f"{name} operating status", "operating_status",
                     {state: chosen - {state} for state in chosen})


_S = Operating
_E = Entity
# What each kind of object can show.
OPERATING: Mapping[str, Lifecycle] = {
    _E.LOADBALANCER: _any_to_any("load balancer", (_S.ONLINE, _S.OFFLINE, _S.DEGRADED,
                                                   _S.ERROR)),
    _E.LISTENER: _any_to_any("listener", (_S.ONLINE, _S.OFFLINE, _S.DEGRADED, _S.ERROR)),
    _E.POOL: _any_to_any("pool", (_S.ONLINE, _S.OFFLINE, _S.DEGRADED, _S.ERROR)),
    _E.MEMBER: _any_to_any("member", (_S.ONLINE, _S.OFFLINE, _S.ERROR, _S.DRAINING,
                                      _S.NO_MONITOR)),
    # These have no data-plane report: their operating status is their admin state.
    _E.HEALTHMONITOR: _any_to_any("health monitor", (_S.ONLINE, _S.OFFLINE)),
    _E.L7POLICY: _any_to_any("L7 policy", (_S.ONLINE, _S.OFFLINE)),
    _E.L7RULE: _any_to_any("L7 rule", (_S.ONLINE, _S.OFFLINE)),
}

LIFECYCLES: tuple[Lifecycle, ...] = (PROVISIONING, AMPHORA, OPERATION, *OPERATING.values())
