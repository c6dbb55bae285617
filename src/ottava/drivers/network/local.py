"""Network driver `local`: one bridge, one network with an IPv4 and an IPv6 subnet, VIPs from
the shared pools.

The network `ottava-default` has two subnets on the host bridge `ottava0`, which holds both
gateways: 198.18.0.0/15 (gateway 198.18.0.1) and the ULA fd00:198:18::/64 (gateway
fd00:198:18::1). The host reaches every VIP, and amphorae reach backends listening on the
host, in both families. The IPv4 ids are the noop driver's, so clients see the same default
network either way. A load balancer has one VIP per subnet at most (its `vip_address`, and
`additional_vips` on the other subnet: dual stack); each is a /32 or /128 on the amphora
namespace's `eth0`. Allocations live in memory and are re-derived from the namespaces on
start (the /32 and /128 addresses, with the load balancer named by the `eth0` alias), so no
file is needed.
"""

from __future__ import annotations

import ipaddress
import threading
import uuid

from ottava.domain import topology
from ottava.domain.errors import Conflict, Invalid
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
from ottava.drivers.linux import ipam, netlink
from ottava.drivers.network.noop import DEFAULT_NETWORK_ID, DEFAULT_SUBNET_ID
from ottava.settings import DriverSettings

_PORT_NAMESPACE = uuid.UUID("5d1c7a52-3f0e-4c43-9b7e-0a7c2b1f6e11")
DEFAULT_SUBNET6_ID = "c0ffee00-0000-4000-8000-000000000006"
HOST_PREFIX = {4: 32, 6: 128}  # a VIP is a host route's worth of address


def port_id_for(load_balancer_id: str) -> str:
    return str(uuid.uuid5(_PORT_NAMESPACE, load_balancer_id))


class LocalNetworkDriver:
    """Both network ports (`NetworkCatalog` and `NetworkPlumbing`) over the local bridge."""

    def __init__(self, settings: DriverSettings | None = None) -> None:
        # Everything this driver knows lives in the namespaces; it keeps no files (and needs
        # no setting).
        netlink.require_net_admin()
        netlink.ensure_bridge()
        self._lock = threading.RLock()
        self._network = Network(DEFAULT_NETWORK_ID, "ottava-default",
                                (DEFAULT_SUBNET_ID, DEFAULT_SUBNET6_ID))
        self._subnets = {
            DEFAULT_SUBNET_ID: Subnet(DEFAULT_SUBNET_ID, "ottava-default", DEFAULT_NETWORK_ID,
                                      str(netlink.SUBNET), 4, str(netlink.GATEWAY)),
            DEFAULT_SUBNET6_ID: Subnet(DEFAULT_SUBNET6_ID, "ottava-default-v6",
                                       DEFAULT_NETWORK_ID, str(netlink.SUBNET6), 6,
                                       str(netlink.GATEWAY6)),
        }
        self._pools = {DEFAULT_SUBNET_ID: ipam.pool(netlink.SUBNET),
                       DEFAULT_SUBNET6_ID: ipam.pool(netlink.SUBNET6)}
        self._vips: dict[tuple[str, str], str] = {}  # (load balancer, subnet) -> address
        self._adopt()

    def _adopt(self) -> None:
        for name in netlink.list_namespaces():
            try:
                lb_id = netlink.parse_alias(netlink.alias(name)).get("lb")
                pairs = netlink.addresses(name) + netlink.addresses(name, version=6)
            except Exception:  # the namespace went away meanwhile
                continue
            for address, prefixlen in pairs:
                subnet_id = self._subnet_of(address)
                if lb_id and subnet_id and prefixlen == HOST_PREFIX[_version(address)]:
                    self._vips.setdefault((lb_id, subnet_id), address)
                    self._pools[subnet_id].reserve(address)

    @staticmethod
    def _subnet_of(address: str) -> str | None:
        ip = ipaddress.ip_address(address)
        if ip in netlink.SUBNET:
            return DEFAULT_SUBNET_ID
        return DEFAULT_SUBNET6_ID if ip in netlink.SUBNET6 else None

    def _port(self, load_balancer_id: str, fixed_ips: tuple[tuple[str, str], ...]) -> Port:
        return Port(port_id_for(load_balancer_id), f"octavia-lb-{load_balancer_id}",
                    DEFAULT_NETWORK_ID, fixed_ips, device_id=f"lb-{load_balancer_id}")

    def networks(self) -> list[Network]:
        return [self._network]

    def subnets(self) -> list[Subnet]:
        return list(self._subnets.values())

    def ports(self) -> list[Port]:
        """One port per load balancer, holding its VIP on each subnet (as Neutron's)."""
        with self._lock:
            by_lb: dict[str, list[tuple[str, str]]] = {}
            for (lb, subnet_id), address in sorted(self._vips.items()):
                by_lb.setdefault(lb, []).append((subnet_id, address))
            return [self._port(lb, tuple(ips)) for lb, ips in sorted(by_lb.items())]

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        return self._subnets.get(subnet_id)

    def find_network(self, network_id: str) -> Network | None:
        return self._network if network_id == DEFAULT_NETWORK_ID else None

    def find_port(self, port_id: str) -> Port | None:
        return next((p for p in self.ports() if p.id == port_id), None)

    def find_security_group(self, group_id: str) -> str | None:
        return None  # one bridge, no security groups: a load balancer cannot name one

    def find_qos_policy(self, policy_id: str) -> str | None:
        raise Invalid("Validation failure: VIP QoS policy is not allowed in this deployment.")

    def as_user(self, token: str | None) -> LocalNetworkDriver:
        return self  # one network, everyone's

    def allocate_vip(self, request: VipRequest) -> Vip:
        lb_id = request.load_balancer_id
        subnet_id = request.subnet_id or self._subnet_for_address(request.address)
        if subnet_id not in self._subnets:
            raise Invalid(f"Subnet {request.subnet_id} not found.")
        if request.network_id not in (None, DEFAULT_NETWORK_ID):
            raise Invalid(f"Network {request.network_id} not found.")
        if request.port_id not in (None, port_id_for(lb_id)):
            raise Invalid(f"Port {request.port_id} not found.")
        pool = self._pools[subnet_id]
        with self._lock:
            current = self._vips.get((lb_id, subnet_id))
            if current is not None and request.address in (None, current):
                return self._vip(lb_id, subnet_id, current)  # a retry
            try:
                address = pool.allocate(request.address)
            except ipam.AddressOutside as e:
                raise Invalid(f"Invalid VIP address {request.address}: {e}") from e
            except ipam.AddressInUse as e:
                raise Conflict(str(e)) from e
            if current is not None:
                pool.release(current)
            self._vips[(lb_id, subnet_id)] = address
            return self._vip(lb_id, subnet_id, address)

    def _subnet_for_address(self, address: str | None) -> str:
        """The subnet a VIP address asked for without a subnet belongs to (IPv4's if none)."""
        if address is None:
            return DEFAULT_SUBNET_ID
        try:
            return self._subnet_of(address) or DEFAULT_SUBNET_ID
        except ValueError:
            return DEFAULT_SUBNET_ID  # the pool refuses it with Octavia's message

    def _vip(self, load_balancer_id: str, subnet_id: str, address: str) -> Vip:
        return Vip(address, port_id_for(load_balancer_id), subnet_id, DEFAULT_NETWORK_ID)

    def deallocate_vip(self, load_balancer_id: str, vip: Vip) -> None:
        subnet_id = self._subnet_of(vip.address) if vip.address else None
        with self._lock:
            if subnet_id is None:
                return
            if self._vips.get((load_balancer_id, subnet_id)) == vip.address:
                del self._vips[(load_balancer_id, subnet_id)]
            self._pools[subnet_id].release(vip.address)

    def plug_vip(self, amphora: AmphoraRef, vip: Vip) -> PluggedVip:
        if not amphora.compute_id:
            raise Invalid(f"amphora {amphora.id} has no compute id")
        if not topology.holds_vip_by_vrrp(amphora.role):  # a pair's VIP is keepalived's
            netlink.add_address(amphora.compute_id, vip.address,
                                HOST_PREFIX[_version(vip.address)])
            netlink.announce(amphora.compute_id, vip.address)
        for address, prefixlen in netlink.addresses(amphora.compute_id):
            if prefixlen != 32:  # the amphora's eth0 is its one port, VIP network included
                return PluggedVip(vrrp_ip=address, vrrp_port_id=amphora_port_id(amphora.id))
        raise Invalid(f"amphora {amphora.id} has no management address")

    def unplug_vip(self, amphora: AmphoraRef, vip: Vip) -> None:
        if amphora.compute_id and vip.address:
            netlink.remove_address(amphora.compute_id, vip.address,
                                   HOST_PREFIX[_version(vip.address)])

    def set_member_subnets(self, amphora: AmphoraRef, subnet_ids: set[str]
                           ) -> list[PluggedPort]:
        return []  # One bridge: every member is reachable from eth0 already.

    def set_vip_access(self, access: VipAccess) -> None:
        return None  # No filter in front of the amphorae: each checks allowed_cidrs itself.


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version
