"""The small Protocols the drivers implement, and the plain values that cross them.

Compute boots and removes amphorae; network finds networks and allocates VIPs; the amphora
driver pushes a load balancer's full desired state to an amphora. Each has a noop beside the
real ones under `ottava.drivers`, and drivers are built only by `ottava.bootstrap`.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, Protocol


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
class AmphoraRef:
    """What drivers need to know of an amphora."""

    id: str
    load_balancer_id: str | None
    compute_id: str | None = None
    role: str | None = None
    lb_network_ip: str | None = None


@dataclasses.dataclass(frozen=True)
class AgentBootConfig:
    """What an amphora's agent is born with (Octavia's config drive): its identity, its own
    server certificate, and the CA whose client certificates (the controller's) it accepts."""

    amphora_id: str
    ca_pem: str
    cert_pem: str
    key_pem: str
    port: int = 9443
    # Where the agent sends its signed heartbeats ("host:port" each), with which key, how often.
    heartbeat_targets: tuple[str, ...] = ()
    heartbeat_key: str = ""
    heartbeat_interval: float = 10.0


@dataclasses.dataclass(frozen=True)
class PluggedVip:
    """An amphora's own port on the VIP's network (its VRRP address, for a pair)."""

    vrrp_ip: str
    vrrp_port_id: str


def amphora_port_id(amphora_id: str) -> str:
    """A stable UUID for an amphora's port where no port service names one (noop, local)."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"ottava-amphora-port-{amphora_id}"))


@dataclasses.dataclass(frozen=True)
class Booted:
    compute_id: str
    lb_network_ip: str | None = None
    image_id: str | None = None
    compute_flavor: str | None = None
    zone: str | None = None


class ComputeDriver(Protocol):
    def create_amphora(self, amphora_id: str, load_balancer_id: str | None,
                       boot: AgentBootConfig | None = None) -> Booted:
        """Start an amphora whose agent runs with `boot` (None: no agent, e.g. noop)."""
        ...

    def delete_amphora(self, compute_id: str) -> None: ...

    def is_running(self, compute_id: str) -> bool: ...


class NetworkDriver(Protocol):
    def networks(self) -> list[Network]: ...

    def subnets(self) -> list[Subnet]: ...

    def ports(self) -> list[Port]: ...

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        """The subnet if a load balancer or member may use it; None makes the API answer 400."""
        ...

    def find_network(self, network_id: str) -> Network | None: ...

    def find_port(self, port_id: str) -> Port | None: ...

    def allocate_vip(self, request: VipRequest) -> Vip: ...

    def deallocate_vip(self, load_balancer_id: str, vip: Vip) -> None: ...

    def plug_vip(self, amphora: AmphoraRef, vip: Vip) -> PluggedVip:
        """Attach the VIP to the amphora; returns the amphora's own port on the VIP network."""
        ...

    def unplug_vip(self, amphora: AmphoraRef, vip: Vip) -> None: ...


class AmphoraDriver(Protocol):
    def apply(self, amphora: AmphoraRef, spec: dict[str, Any]) -> None:
        """Make the amphora run `spec` (the load balancer's full desired state)."""
        ...

    def remove(self, amphora: AmphoraRef) -> None: ...

    def configure_vrrp(self, amphora: AmphoraRef, config: dict[str, Any]) -> None:
        """ACTIVE_STANDBY: make the amphora hold the VIP with its peer (`wire.agent.VrrpConfig`
        fields)."""
        ...

    def rotate_certificate(self, amphora: AmphoraRef, cert_pem: str, key_pem: str) -> None:
        """Make the amphora's agent serve new connections with this certificate."""
        ...

    def stats(self, amphora: AmphoraRef) -> dict[str, dict[str, int]]:
        """Counters per listener id."""
        ...
