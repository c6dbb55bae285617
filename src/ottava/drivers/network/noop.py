"""Network driver with no network behind it, as Octavia's noop driver.

It accepts any network, subnet, port, security group and QoS policy id (tempest's noop mode
sends random UUIDs) and makes up VIP addresses in 198.18.0.0/15, the benchmarking range. It
shows one default network and subnet, which is what the Neutron-compatible endpoint lists. The
access it is asked to give a VIP is kept, by load balancer, for the tests to read (`access`).
"""

from __future__ import annotations

import ipaddress
import threading
import uuid

from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.network import (
    Network,
    PluggedPort,
    PluggedVip,
    Port,
    Subnet,
    Vip,
    VipAccess,
    VipRequest,
    amphora_port_id,
)
from ottava.settings import DriverSettings

DEFAULT_NETWORK_ID = "c0ffee00-0000-4000-8000-000000000001"
DEFAULT_SUBNET_ID = "c0ffee00-0000-4000-8000-000000000002"
VIP_RANGE = ipaddress.ip_network("198.18.0.0/15")
_NAMESPACE = uuid.UUID("9c7b0c1e-2f53-4f6a-8d0e-7e6a0f1d2b3c")


class NoopNetworkDriver:
    """Both network ports (`NetworkCatalog` and `NetworkPlumbing`), with nothing behind them."""

    def __init__(self, settings: DriverSettings | None = None) -> None:
        # Keeps its made-up ports in memory; needs no setting.
        self._lock = threading.Lock()
        self._next_host = 10
        self._network = Network(DEFAULT_NETWORK_ID, "ottava-default", (DEFAULT_SUBNET_ID,))
        self._subnet = Subnet(
            DEFAULT_SUBNET_ID, "ottava-default", DEFAULT_NETWORK_ID, str(VIP_RANGE), 4,
            str(VIP_RANGE[1]),
        )
        self._ports: dict[str, Port] = {}
        self.access: dict[str, VipAccess] = {}

    def networks(self) -> list[Network]:
        return [self._network]

    def subnets(self) -> list[Subnet]:
        return [self._subnet]

    def ports(self) -> list[Port]:
        with self._lock:
            return list(self._ports.values())

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        if subnet_id == DEFAULT_SUBNET_ID:
            return self._subnet
        network_id = str(uuid.uuid5(_NAMESPACE, subnet_id))
        return Subnet(subnet_id, "", network_id, str(VIP_RANGE), 4)

    def find_network(self, network_id: str) -> Network | None:
        if network_id == DEFAULT_NETWORK_ID:
            return self._network
        return Network(network_id, "")

    def find_port(self, port_id: str) -> Port | None:
        with self._lock:
            return self._ports.get(port_id) or Port(port_id, "", DEFAULT_NETWORK_ID)

    def find_security_group(self, group_id: str) -> str | None:
        return group_id

    def find_qos_policy(self, policy_id: str) -> str | None:
        return policy_id

    def as_user(self, token: str | None) -> NoopNetworkDriver:
        return self

    def allocate_vip(self, request: VipRequest) -> Vip:
        with self._lock:
            address = request.address or self._take_address()
            subnet_id = request.subnet_id or DEFAULT_SUBNET_ID
            network_id = request.network_id or (
                DEFAULT_NETWORK_ID
                if subnet_id == DEFAULT_SUBNET_ID
                else str(uuid.uuid5(_NAMESPACE, subnet_id))
            )
            port_id = request.port_id or str(uuid.uuid4())
            self._ports[port_id] = Port(
                port_id, f"octavia-lb-{request.load_balancer_id}", network_id,
                ((subnet_id, address),), device_id=f"lb-{request.load_balancer_id}",
            )
        return Vip(address, port_id, subnet_id, network_id)

    def _take_address(self) -> str:
        host = self._next_host
        # Wrap around before the broadcast address; 10 leaves room for gateways.
        last = VIP_RANGE.num_addresses - 2
        self._next_host = host + 1 if host < last else 10
        return str(VIP_RANGE[host])

    def deallocate_vip(self, load_balancer_id: str, vip: Vip) -> None:
        with self._lock:
            self._ports.pop(vip.port_id, None)
            self.access.pop(load_balancer_id, None)

    def set_vip_access(self, access: VipAccess) -> None:
        with self._lock:
            self.access[access.load_balancer_id] = access

    def plug_vip(self, amphora: AmphoraRef, vip: Vip) -> PluggedVip:
        return PluggedVip(vrrp_ip=vip.address, vrrp_port_id=amphora_port_id(amphora.id))

    def unplug_vip(self, amphora: AmphoraRef, vip: Vip) -> None:
        return None

    def set_member_subnets(self, amphora: AmphoraRef, subnet_ids: set[str]
                           ) -> list[PluggedPort]:
        return []  # No network: nothing to plug.
