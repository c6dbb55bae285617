"""Operating status by Octavia's rules (`ottava.domain.health.derive` and `member_status`):
everything UP is ONLINE; a member DOWN makes it ERROR and its pool and load balancer DEGRADED; a
backend DOWN makes the pool and load balancer ERROR; a FULL listener is DEGRADED and degrades
the load balancer; DRAIN, MAINT, "no check" and transitional "UP 1/3" map to DRAINING, OFFLINE,
NO_MONITOR and ONLINE; objects absent from the report go OFFLINE (a member keeps NO_MONITOR); a
disabled load balancer is OFFLINE; only changes are returned; an unknown word changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from ottava.domain.health import LoadBalancerSnapshot, PoolSnapshot, derive, member_status
from ottava.domain.lifecycles import Operating

LB = "lb"
L1, L2 = "listener-1", "listener-2"
P1, P2 = "pool-1", "pool-2"
M1, M2, M3 = "member-1", "member-2", "member-3"

ONLINE, OFFLINE, DEGRADED, ERROR = "ONLINE", "OFFLINE", "DEGRADED", "ERROR"


def snapshot(status: str = OFFLINE, enabled: bool = True, listeners: Any = None,
             pools: Any = None) -> LoadBalancerSnapshot:
    """A load balancer with one listener, one pool and two members, all OFFLINE (new)."""
    return LoadBalancerSnapshot(
        id=LB, enabled=enabled, provisioning_status="ACTIVE", status=status, spec_hash="h1",
        listeners={L1: OFFLINE} if listeners is None else listeners,
        pools={P1: PoolSnapshot(OFFLINE, {M1: OFFLINE, M2: OFFLINE})} if pools is None
        else pools)


def report(listener: str = "OPEN", pool: str = "UP", m1: str | None = "UP",
           m2: str | None = "UP") -> tuple[dict[str, Any], dict[str, Any]]:
    members = {k: v for k, v in ((M1, m1), (M2, m2)) if v is not None}
    return ({L1: {"status": listener, "stats": {}}},
            {P1: {"status": pool, "members": members}})


def all_online() -> dict[tuple[str, str], str]:
    return {("loadbalancer", LB): ONLINE, ("listener", L1): ONLINE, ("pool", P1): ONLINE,
            ("member", M1): ONLINE, ("member", M2): ONLINE}


def test_all_up_is_all_online() -> None:
    assert derive(snapshot(), *report()) == all_online()


def test_member_down() -> None:
    changes = derive(snapshot(), *report(m2="DOWN"))
    assert changes == {**all_online(), ("member", M2): ERROR, ("pool", P1): DEGRADED,
                       ("loadbalancer", LB): DEGRADED}


def test_all_members_down_and_backend_down() -> None:
    changes = derive(snapshot(), *report(pool="DOWN", m1="DOWN", m2="DOWN"))
    assert changes == {("listener", L1): ONLINE, ("member", M1): ERROR, ("member", M2): ERROR,
                       ("pool", P1): ERROR, ("loadbalancer", LB): ERROR}


def test_backend_down_outranks_a_full_listener() -> None:
    changes = derive(snapshot(), *report(listener="FULL", pool="DOWN", m1="DOWN", m2="DOWN"))
    assert changes[("listener", L1)] == DEGRADED
    assert changes[("loadbalancer", LB)] == ERROR


def test_listener_full() -> None:
    changes = derive(snapshot(), *report(listener="FULL"))
    assert changes == {**all_online(), ("listener", L1): DEGRADED,
                       ("loadbalancer", LB): DEGRADED}


@pytest.mark.parametrize(("haproxy", "octavia"), [
    ("DRAIN", Operating.DRAINING),
    ("MAINT", Operating.OFFLINE),
    ("MAINT(via)", Operating.OFFLINE),
    ("no check", Operating.NO_MONITOR),
    ("UP 1/3", Operating.ONLINE),
    ("UP", Operating.ONLINE),
    ("DOWN", Operating.ERROR),
    ("DOWN 1/2", Operating.ERROR),
])
def test_member_words(haproxy: str, octavia: str) -> None:
    assert member_status(haproxy) == octavia
    start = ONLINE if octavia == OFFLINE else OFFLINE  # so that the new status is a change
    pools = {P1: PoolSnapshot(OFFLINE, {M1: start, M2: OFFLINE})}
    changes = derive(snapshot(pools=pools), *report(m1=haproxy))
    assert changes[("member", M1)] == octavia
    if octavia != Operating.ERROR:  # only DOWN degrades the pool and load balancer
        assert changes[("pool", P1)] == ONLINE
        assert changes[("loadbalancer", LB)] == ONLINE


def test_drain_maint_and_no_check_do_not_degrade() -> None:
    pools = {P1: PoolSnapshot(OFFLINE, {M1: OFFLINE, M2: OFFLINE, M3: OFFLINE})}
    changes = derive(snapshot(pools=pools), {L1: {"status": "OPEN"}},
                     {P1: {"status": "UP", "members": {M1: "DRAIN", M2: "MAINT",
                                                       M3: "no check"}}})
    assert changes == {("listener", L1): ONLINE, ("pool", P1): ONLINE,
                       ("loadbalancer", LB): ONLINE, ("member", M1): "DRAINING",
                       ("member", M3): "NO_MONITOR"}  # M2 was OFFLINE already


def test_member_missing_from_report_goes_offline() -> None:
    current = snapshot(status=ONLINE, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(ONLINE, {M1: ONLINE, M2: ONLINE})})
    assert derive(current, *report(m2=None)) == {("member", M2): OFFLINE}


def test_member_missing_from_report_keeps_no_monitor() -> None:
    current = snapshot(status=ONLINE, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(ONLINE, {M1: ONLINE, M2: "NO_MONITOR"})})
    assert derive(current, *report(m2=None)) == {}


def test_listener_missing_from_report_goes_offline() -> None:
    current = snapshot(listeners={L1: OFFLINE, L2: ONLINE})
    changes = derive(current, *report())
    assert changes[("listener", L2)] == OFFLINE
    assert changes[("listener", L1)] == ONLINE


def test_empty_report_takes_everything_offline_but_the_load_balancer() -> None:
    current = snapshot(status=ONLINE, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(ONLINE, {M1: ONLINE, M2: ONLINE})})
    assert derive(current, {}, {}) == {("listener", L1): OFFLINE, ("pool", P1): OFFLINE}


def test_pool_not_reported_goes_offline_with_its_members_untouched() -> None:
    pools = {P1: PoolSnapshot(OFFLINE, {M1: OFFLINE, M2: OFFLINE}),
             P2: PoolSnapshot(ONLINE, {M3: ONLINE})}
    changes = derive(snapshot(pools=pools), *report())
    assert changes[("pool", P2)] == OFFLINE
    assert ("member", M3) not in changes
    assert changes[("pool", P1)] == ONLINE


def test_disabled_load_balancer_is_offline() -> None:
    current = snapshot(status=ONLINE, enabled=False)
    changes = derive(current, *report(m2="DOWN", listener="FULL"))
    assert changes[("loadbalancer", LB)] == OFFLINE
    # Its objects still get what HAProxy says of them.
    assert changes[("member", M2)] == ERROR


def test_disabled_load_balancer_stays_offline_when_a_backend_is_down() -> None:
    current = snapshot(status=OFFLINE, enabled=False)
    changes = derive(current, *report(pool="DOWN"))
    assert ("loadbalancer", LB) not in changes
    assert changes[("pool", P1)] == ERROR


def test_unchanged_statuses_produce_no_changes() -> None:
    current = snapshot(status=ONLINE, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(ONLINE, {M1: ONLINE, M2: ONLINE})})
    assert derive(current, *report()) == {}
    degraded = snapshot(status=DEGRADED, listeners={L1: ONLINE},
                        pools={P1: PoolSnapshot(DEGRADED, {M1: ONLINE, M2: ERROR})})
    assert derive(degraded, *report(m2="DOWN")) == {}


def test_only_what_changes_is_returned() -> None:
    current = snapshot(status=ONLINE, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(ONLINE, {M1: ONLINE, M2: ONLINE})})
    assert derive(current, *report(m2="DOWN")) == {
        ("member", M2): ERROR, ("pool", P1): DEGRADED, ("loadbalancer", LB): DEGRADED}


def test_recovery_back_to_online() -> None:
    current = snapshot(status=DEGRADED, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(DEGRADED, {M1: ONLINE, M2: ERROR})})
    assert derive(current, *report()) == {
        ("member", M2): ONLINE, ("pool", P1): ONLINE, ("loadbalancer", LB): ONLINE}


@pytest.mark.parametrize("word", ["NOLB", "STOP", "", "weird"])
def test_unknown_status_word_leaves_the_status_alone(word: str) -> None:
    current = snapshot(status=ONLINE, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(DEGRADED, {M1: ONLINE, M2: ERROR})})
    # Unknown listener, pool and member words: none of those objects change, and the load
    # balancer is judged from what is known.
    changes = derive(current, {L1: {"status": word}},
                     {P1: {"status": word, "members": {M1: word, M2: word}}})
    assert changes == {}
    assert member_status(word) is None


def test_unknown_pool_word_still_judges_its_members() -> None:
    current = snapshot(status=ONLINE, listeners={L1: ONLINE},
                       pools={P1: PoolSnapshot(ONLINE, {M1: ONLINE, M2: ONLINE})})
    changes = derive(current, *report(pool="NOLB", m2="DOWN"))
    assert changes == {("member", M2): ERROR}  # pool unknown: neither it nor the LB degrade


def test_two_pools_one_down_one_degraded() -> None:
    pools = {P1: PoolSnapshot(OFFLINE, {M1: OFFLINE}), P2: PoolSnapshot(OFFLINE, {M2: OFFLINE})}
    changes = derive(snapshot(pools=pools), {L1: {"status": "OPEN"}},
                     {P1: {"status": "UP", "members": {M1: "DOWN"}},
                      P2: {"status": "DOWN", "members": {M2: "DOWN"}}})
    assert changes[("pool", P1)] == DEGRADED
    assert changes[("pool", P2)] == ERROR
    assert changes[("loadbalancer", LB)] == ERROR
