"""What a load balancer's VIP lets in, from its listeners: the openings the network enforces in
front of the amphorae (a Neutron security group), before HAProxy's own `allowed_cidrs` check.

A listener opens its port, on its transport (UDP and SCTP listeners their own, every other
protocol TCP), to each of its `allowed_cidrs`, or to anyone when it has none. A listener being
deleted opens nothing. When the user gives the load balancer security groups of their own
(`vip_sg_ids`), those decide who reaches the listeners and no opening is made here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ottava.domain.lifecycles import Provisioning
from ottava.domain.ports.network import Opening

TRANSPORT = {"UDP": "udp", "SCTP": "sctp"}  # every other listener protocol rides on TCP


def openings(listeners: Iterable[Any]) -> tuple[Opening, ...]:
    """The openings of `listeners` (objects with protocol, protocol_port, allowed_cidrs and
    provisioning_status), sorted so that equal inputs give equal answers."""
    found = set()
    for listener in listeners:
        if listener.provisioning_status in (Provisioning.PENDING_DELETE, Provisioning.DELETED):
            continue
        protocol = TRANSPORT.get(listener.protocol, "tcp")
        for cidr in listener.allowed_cidrs or [None]:
            found.add(Opening(protocol, listener.protocol_port, cidr))
    return tuple(sorted(found, key=lambda o: (o.port, o.protocol, o.cidr or "")))
