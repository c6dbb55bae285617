"""Load balancer topologies and the roles of their amphorae (Octavia's names and values)."""

from __future__ import annotations

import enum


class Topology(enum.StrEnum):
    SINGLE = "SINGLE"
    ACTIVE_STANDBY = "ACTIVE_STANDBY"


class AmphoraRole(enum.StrEnum):
    STANDALONE = "STANDALONE"
    MASTER = "MASTER"
    BACKUP = "BACKUP"


# keepalived priorities: the higher one takes the VIP first (both start BACKUP, nopreempt).
VRRP_PRIORITY = {AmphoraRole.MASTER: 100, AmphoraRole.BACKUP: 90}
DEFAULT_VRRP_PRIORITY = 90


def roles(topology: str) -> list[AmphoraRole]:
    """The amphorae a load balancer of `topology` runs on, by role."""
    if topology == Topology.ACTIVE_STANDBY:
        return [AmphoraRole.MASTER, AmphoraRole.BACKUP]
    return [AmphoraRole.STANDALONE]


def holds_vip_by_vrrp(role: str | None) -> bool:
    """Whether keepalived, not the network driver, puts the VIP on an amphora of `role`."""
    return role in (AmphoraRole.MASTER, AmphoraRole.BACKUP)
