"""Operating status from an amphora's report, by Octavia's rules; pure, no I/O.

`derive(snapshot, report)` takes what the database holds for one load balancer (its objects and
their current operating statuses) and what HAProxy on one of its amphorae reported (the
heartbeat's `listeners` and `pools`), and returns only the statuses that change.

The rules, as Octavia's health manager applies them:
- load balancer: OFFLINE when disabled; else ONLINE, DEGRADED when a listener is FULL or a
  member is DOWN, ERROR when a pool has no working member (HAProxy's backend DOWN);
- listener: ONLINE (OPEN), DEGRADED (FULL: at its connection limit), OFFLINE when the amphora
  does not run it (disabled, or not yet configured);
- pool: ONLINE (UP), ERROR (DOWN: no server up), DEGRADED when some member is DOWN, OFFLINE
  when no running listener uses it;
- member: ONLINE (UP), ERROR (DOWN), DRAINING (DRAIN: weight 0), OFFLINE (MAINT: admin down,
  or absent from the report), NO_MONITOR ("no check": no health monitor).
A status HAProxy reports that none of these names (e.g. a transitional "NOLB") leaves the
object's status as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ottava.domain.lifecycles import Operating


@dataclasses.dataclass
class PoolSnapshot:
    status: str
    members: dict[str, str]  # member id -> current operating status


@dataclasses.dataclass
class LoadBalancerSnapshot:
    """One load balancer as the database holds it, for status derivation."""

    id: str
    enabled: bool
    provisioning_status: str
    status: str
    spec_hash: str | None
    listeners: dict[str, str]  # listener id -> current operating status
    pools: dict[str, PoolSnapshot]


Changes = dict[tuple[str, str], str]  # (entity, id) -> new operating status

_LISTENER = {"OPEN": Operating.ONLINE, "FULL": Operating.DEGRADED}
_POOL = {"UP": Operating.ONLINE, "DOWN": Operating.ERROR}
_MEMBER_EXACT = {"DRAIN": Operating.DRAINING, "MAINT": Operating.OFFLINE,
                 "no check": Operating.NO_MONITOR}


def member_status(reported: str) -> Operating | None:
    """The operating status HAProxy's server status means ("UP 1/3" is still UP)."""
    word = reported.split(" ", 1)[0]
    if word == "UP":
        return Operating.ONLINE
    if word == "DOWN":
        return Operating.ERROR
    if word.startswith("MAINT"):  # "MAINT", "MAINT(via)", "MAINT (resolution)"
        return Operating.OFFLINE
    return _MEMBER_EXACT.get(reported)


def derive(lb: LoadBalancerSnapshot, listeners: Mapping[str, Any],
           pools: Mapping[str, Any]) -> Changes:
    """The operating statuses that change, given an amphora's `listeners` and `pools`."""
    changes: Changes = {}

    def put(entity: str, ident: str, new: str | None, old: str) -> None:
        if new is not None and new != old:
            changes[(entity, ident)] = new

    lb_status: str = Operating.ONLINE if lb.enabled else Operating.OFFLINE

    def worsen(to: str) -> None:
        nonlocal lb_status
        if lb_status == Operating.ONLINE or (to == Operating.ERROR
                                             and lb_status == Operating.DEGRADED):
            lb_status = to

    for ident, old in lb.listeners.items():
        report = listeners.get(ident)
        if report is None:
            put("listener", ident, Operating.OFFLINE, old)
            continue
        listener = _LISTENER.get(report["status"])
        if listener == Operating.DEGRADED:
            worsen(Operating.DEGRADED)
        put("listener", ident, listener, old)

    for ident, pool in lb.pools.items():
        report = pools.get(ident)
        if report is None:  # no running listener uses it
            put("pool", ident, Operating.OFFLINE, pool.status)
            continue
        pool_status: str | None = _POOL.get(report["status"])
        if pool_status == Operating.ERROR:
            worsen(Operating.ERROR)
        reported_members = report["members"]
        for member_id, old in pool.members.items():
            seen = reported_members.get(member_id)
            if seen is None:
                member = None if old == Operating.NO_MONITOR else Operating.OFFLINE
            else:
                member = member_status(seen)
                if member == Operating.ERROR and pool_status == Operating.ONLINE:
                    pool_status = Operating.DEGRADED
                    worsen(Operating.DEGRADED)
            put("member", member_id, member, old)
        put("pool", ident, pool_status, pool.status)

    put("loadbalancer", lb.id, lb_status, lb.status)
    return changes
