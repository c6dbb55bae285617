"""Provisioning and operating statuses, and the one table of allowed provisioning transitions.

Every status write in Ottava goes through `ottava.db.status.compare_and_set`, which refuses a
transition that this table does not allow.
"""

from __future__ import annotations

import enum


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


PENDING = frozenset(
    {Provisioning.PENDING_CREATE, Provisioning.PENDING_UPDATE, Provisioning.PENDING_DELETE}
)
# A load balancer (or pool, or L7 policy) accepts changes to itself or its children only here.
MUTABLE = frozenset({Provisioning.ACTIVE})
# A load balancer may be deleted or failed over from these.
DELETABLE = frozenset({Provisioning.ACTIVE, Provisioning.ERROR})

_P = Provisioning
ALLOWED_TRANSITIONS: dict[Provisioning, frozenset[Provisioning]] = {
    _P.ACTIVE: frozenset({_P.PENDING_UPDATE, _P.PENDING_DELETE}),
    # ERROR objects are repaired by an update or failover, or removed.
    _P.ERROR: frozenset({_P.PENDING_UPDATE, _P.PENDING_DELETE}),
    _P.PENDING_CREATE: frozenset({_P.ACTIVE, _P.ERROR}),
    _P.PENDING_UPDATE: frozenset({_P.ACTIVE, _P.ERROR}),
    # A failed child delete returns the parent to ACTIVE and the child to ERROR.
    _P.PENDING_DELETE: frozenset({_P.DELETED, _P.ERROR, _P.ACTIVE}),
    _P.DELETED: frozenset(),
}


def is_allowed(old: str, new: str) -> bool:
    """Whether a provisioning status may move from `old` to `new` (staying put is allowed)."""
    if old == new:
        return True
    return Provisioning(new) in ALLOWED_TRANSITIONS[Provisioning(old)]
