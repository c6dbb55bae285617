"""Network driver `local`: one bridge, one network and subnet, VIPs from the shared pool.

The network `ottava-default` has one subnet, 198.18.0.0/15, whose gateway 198.18.0.1 is held by
the host bridge `ottava0`: the host reaches every VIP, and amphorae reach backends listening on
the host. The ids are the noop driver's, so clients see the same default network either way.
A VIP is a /32 on the amphora namespace's `eth0`; allocations live in memory and are re-derived
from the namespaces on start (the /32 addresses, with the load balancer named by the `eth0`
alias), so no file is needed.
"""

from __future__ import annotations

import threading
import uuid

from ottava.domain import topology
from ottava.domain.errors import Conflict, Invalid
from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.network import (
    Network,
    PluggedVip,
    Port,
    Subnet,
    Vip,
    VipRequest,
    amphora_port_id,
)
from ottava.drivers.linux import ipam, netlink
from ottava.drivers.network.noop import DEFAULT_NETWORK_ID, DEFAULT_SUBNET_ID
from ottava.settings import DriverSettings

_PORT_NAMESPACE = uuid.UUID("5d1c7a52-3f0e-4c43-9b7e-0a7c2b1f6e11")


def port_id_for(load_balancer_id: str) -> str:
    return str(uuid.uuid5(_PORT_NAMESPACE, load_balancer_id))


class LocalNetworkDriver:
    """Both network ports (`NetworkCatalog` and `NetworkPlumbing`) over the local bridge."""

    def __init__(self, settings: DriverSettings | None = None) -> None:
        # Everything this driver knows lives in the namespaces; it keeps no files (and needs
        # no setting).
        netlink.require_net_admin()
        netlink.ensure_bridge()
        self._pool = ipam.pool()
        self._lock = threading.RLock()
        self._network = Network(DEFAULT_NETWORK_ID, "ottava-default", (DEFAULT_SUBNET_ID,))
        self._subnet = Subnet(DEFAULT_SUBNET_ID, "ottava-default", DEFAULT_NETWORK_ID,
                              str(netlink.SUBNET), 4, str(netlink.GATEWAY))
        self._vips: dict[str, str] = {}  # load balancer id -> address
        self._adopt()

    def _adopt(self) -> None:
        for name in netlink.list_namespaces():
            try:
                lb_id = netlink.parse_alias(netlink.alias(name)).get("lb")
                pairs = netlink.addresses(name)
            except Exception:  # the namespace went away meanwhile
                continue
            for address, prefixlen in pairs:
                if prefixlen == 32 and lb_id:
                    self._vips.setdefault(lb_id, address)
                    self._pool.reserve(address)

    def _port(self, load_balancer_id: str, address: str) -> Port:
        return Port(port_id_for(load_balancer_id), f"octavia-lb-{load_balancer_id}",
                    DEFAULT_NETWORK_ID, ((DEFAULT_SUBNET_ID, address),),
                    device_id=f"lb-{load_balancer_id}")

    def networks(self) -> list[Network]:
        return [self._network]

    def subnets(self) -> list[Subnet]:
        return [self._subnet]

    def ports(self) -> list[Port]:
        with self._lock:
            return [self._port(lb, address) for lb, address in sorted(self._vips.items())]

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        return self._subnet if subnet_id == DEFAULT_SUBNET_ID else None

    def find_network(self, network_id: str) -> Network | None:
        return self._network if network_id == DEFAULT_NETWORK_ID else None

    def find_port(self, port_id: str) -> Port | None:
        return next((p for p in self.ports() if p.id == port_id), None)

    def allocate_vip(self, request: VipRequest) -> Vip:
        lb_id = request.load_balancer_id
        if request.subnet_id not in (None, DEFAULT_SUBNET_ID):
            raise Invalid(f"Subnet {request.subnet_id} not found.")
        if request.network_id not in (None, DEFAULT_NETWORK_ID):
            raise Invalid(f"Network {request.network_id} not found.")
        if request.port_id not in (None, port_id_for(lb_id)):
            raise Invalid(f"Port {request.port_id} not found.")
        with self._lock:
            current = self._vips.get(lb_id)
            if current is not None and request.address in (None, current):
                return self._vip(lb_id, current)  # a retry
            try:
                address = self._pool.allocate(request.address)
            except ipam.AddressOutside as e:
                raise Invalid(f"Invalid VIP address {request.address}: {e}") from e
            except ipam.AddressInUse as e:
                raise Conflict(str(e)) from e
            if current is not None:
                self._pool.release(current)
            self._vips[lb_id] = address
            return self._vip(lb_id, address)

    def _vip(self, load_balancer_id: str, address: str) -> Vip:
        return Vip(address, port_id_for(load_balancer_id), DEFAULT_SUBNET_ID, DEFAULT_NETWORK_ID)

    def deallocate_vip(self, load_balancer_id: str, vip: Vip) -> None:
        with self._lock:
            if self._vips.get(load_balancer_id) == vip.address:
                del self._vips[load_balancer_id]
            self._pool.release(vip.address)

    def plug_vip(self, amphora: AmphoraRef, vip: Vip) -> PluggedVip:
        if not amphora.compute_id:
            raise Invalid(f"amphora {amphora.id} has no compute id")
        if not topology.holds_vip_by_vrrp(amphora.role):  # a pair's VIP is keepalived's
            netlink.add_address(amphora.compute_id, vip.address, 32)
            netlink.announce(amphora.compute_id, vip.address)
        for address, prefixlen in netlink.addresses(amphora.compute_id):
            if prefixlen != 32:  # the amphora's eth0 is its one port, VIP network included
                return PluggedVip(vrrp_ip=address, vrrp_port_id=amphora_port_id(amphora.id))
        raise Invalid(f"amphora {amphora.id} has no management address")

    def unplug_vip(self, amphora: AmphoraRef, vip: Vip) -> None:
        if amphora.compute_id:
            netlink.remove_address(amphora.compute_id, vip.address, 32)
