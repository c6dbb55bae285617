"""The network ports: a read-only catalog (what the API validates against) and the plumbing
(VIPs and the amphorae's own ports on the VIP network). One driver usually implements both;
each caller depends only on the one it uses."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Protocol

from ottava.domain.ports.amphora import AmphoraRef


@dataclasses.dataclass(frozen=True)
class Network:
    id: str
    name: str
    subnet_ids: tuple[str, ...] = ()
    project_id: str = ""


@dataclasses.dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    network_id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None = None
    project_id: str = ""


@dataclasses.dataclass(frozen=True)
class Port:
    id: str
    name: str
    network_id: str
    fixed_ips: tuple[tuple[str, str], ...] = ()  # (subnet_id, ip_address)
    device_id: str = ""
    project_id: str = ""


@dataclasses.dataclass(frozen=True)
class VipRequest:
    """What a load balancer create asked for; any of it may be missing."""

    load_balancer_id: str
    project_id: str | None
    subnet_id: str | None = None
    network_id: str | None = None
    port_id: str | None = None
    address: str | None = None


@dataclasses.dataclass(frozen=True)
class Vip:
    address: str
    port_id: str
    subnet_id: str
    network_id: str


@dataclasses.dataclass(frozen=True)
class PluggedVip:
    """An amphora's own port on the VIP's network (its VRRP address, for a pair). `mac` and
    `prefixlen` are set when the amphora must configure that port itself (a VM's port
    attached after boot: the worker has its agent do it); None when the driver did (local)."""

    vrrp_ip: str
    vrrp_port_id: str
    mac: str | None = None
    prefixlen: int | None = None
    routes: tuple[tuple[str, str], ...] = ()  # the subnet's host routes (destination, nexthop)


@dataclasses.dataclass(frozen=True)
class PluggedPort:
    """An amphora's port on a member subnet, which the amphora configures itself."""

    port_id: str
    subnet_id: str
    mac: str
    address: str
    prefixlen: int
    routes: tuple[tuple[str, str], ...] = ()  # the subnet's host routes (destination, nexthop)


@dataclasses.dataclass(frozen=True)
class Opening:
    """Traffic a load balancer's VIP lets in: `protocol` ("tcp", "udp", "sctp") to `port`,
    from `cidr` (None: from anywhere)."""

    protocol: str
    port: int
    cidr: str | None = None


@dataclasses.dataclass(frozen=True)
class VipAccess:
    """What the network in front of a load balancer's amphorae lets through, on the VIP's
    port and on each amphora's own port on the VIP network: `openings` (its listeners',
    empty when the user's `user_groups` decide instead), and, for a pair (`pair`), VRRP and
    HAProxy's peer traffic between the two amphorae. `qos_policy_id` shapes those ports."""

    load_balancer_id: str
    vip_port_id: str
    amphora_port_ids: tuple[str, ...]
    addresses: tuple[str, ...]  # every VIP address: the address families the rules cover
    openings: tuple[Opening, ...]
    pair: bool = False
    user_groups: tuple[str, ...] = ()
    qos_policy_id: str | None = None


def amphora_port_id(amphora_id: str) -> str:
    """A stable UUID for an amphora's port where no port service names one (noop, local)."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"ottava-amphora-port-{amphora_id}"))


class NetworkCatalog(Protocol):
    """Lookups only: what exists, and what a load balancer or member may use."""

    def networks(self) -> list[Network]: ...

    def subnets(self) -> list[Subnet]: ...

    def ports(self) -> list[Port]: ...

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        """The subnet if a load balancer or member may use it; None makes the API answer 400."""
        ...

    def find_network(self, network_id: str) -> Network | None: ...

    def find_port(self, port_id: str) -> Port | None: ...

    def find_security_group(self, group_id: str) -> str | None:
        """The group's id if a load balancer may use it (`vip_sg_ids`); None: the API's 400."""
        ...

    def find_qos_policy(self, policy_id: str) -> str | None:
        """The policy's id if a VIP may use it; None: the API's 400. Raises Invalid where
        the network has no QoS at all."""
        ...

    def as_user(self, token: str | None) -> NetworkCatalog:
        """This catalog as the caller sees it (their `token`), so that a load balancer cannot
        name another project's subnet; itself where the network has no per-user view, or
        with no token (no Keystone), or where the deployment lets the service's own view
        decide."""
        ...


class NetworkPlumbing(Protocol):
    """What changes the network: VIPs allocated and attached to amphorae."""

    def allocate_vip(self, request: VipRequest) -> Vip:
        """A VIP for the load balancer; asking again for the same one returns it."""
        ...

    def deallocate_vip(self, load_balancer_id: str, vip: Vip) -> None: ...

    def plug_vip(self, amphora: AmphoraRef, vip: Vip) -> PluggedVip:
        """Attach the VIP to the amphora; returns the amphora's own port on the VIP network."""
        ...

    def unplug_vip(self, amphora: AmphoraRef, vip: Vip) -> None: ...

    def set_vip_access(self, access: VipAccess) -> None:
        """Make the network in front of the amphorae let through exactly what `access` says
        (its security group, made on first use, and the ports' QoS); given back with the VIP
        (`deallocate_vip`). A driver whose amphorae filter for themselves changes nothing."""
        ...

    def set_member_subnets(self, amphora: AmphoraRef, subnet_ids: set[str]
                           ) -> list[PluggedPort]:
        """Give the amphora a port on exactly these member subnets (adding what is missing,
        removing what is no longer used); the ports it has there, for its agent to configure.
        A driver whose amphorae reach every member already answers [] and changes nothing."""
        ...
