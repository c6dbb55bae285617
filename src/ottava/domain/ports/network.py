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


@dataclasses.dataclass(frozen=True)
class PluggedPort:
    """An amphora's port on a member subnet, which the amphora configures itself."""

    port_id: str
    subnet_id: str
    mac: str
    address: str
    prefixlen: int


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

    def set_member_subnets(self, amphora: AmphoraRef, subnet_ids: set[str]
                           ) -> list[PluggedPort]:
        """Give the amphora a port on exactly these member subnets (adding what is missing,
        removing what is no longer used); the ports it has there, for its agent to configure.
        A driver whose amphorae reach every member already answers [] and changes nothing."""
        ...
