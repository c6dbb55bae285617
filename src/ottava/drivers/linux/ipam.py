"""Addresses of the local subnets (IPv4 and IPv6): which are free, derived from what the kernel
has configured.

There is no allocation file: an address is used when it is configured in an `ottava-` namespace
(management address or VIP), or reserved in memory by this process (a VIP allocated but not yet
plugged, an amphora being created). A restart therefore re-derives the pool from the namespaces.
The network address, the gateway (held by the host bridge) and the broadcast are never given.
One pool per subnet per process, shared by the compute and network drivers, behind one lock.
"""

from __future__ import annotations

import ipaddress
import threading

from ottava.drivers.linux import netlink

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressInUse(Exception):
    """The requested address is configured or reserved already."""


class AddressOutside(Exception):
    """The requested address is not a usable host address of the subnet."""


class AddressPool:
    def __init__(self, subnet: IPNetwork = netlink.SUBNET,
                 gateway: IPAddress = netlink.GATEWAY,
                 prefix: str = netlink.PREFIX) -> None:
        self.subnet = subnet
        self.gateway = gateway
        self.prefix = prefix
        self.lock = threading.RLock()
        self._reserved: set[IPAddress] = set()

    def configured(self) -> set[IPAddress]:
        """Addresses of the subnet configured in the `ottava-` namespaces now."""
        out: set[IPAddress] = set()
        everywhere = netlink.addresses_everywhere(self.prefix, version=self.subnet.version)
        for pairs in everywhere.values():
            for address, _ in pairs:
                ip = ipaddress.ip_address(address)
                if ip in self.subnet:
                    out.add(ip)
        return out

    def used(self) -> set[IPAddress]:
        with self.lock:
            return self.configured() | self._reserved | {self.gateway}

    def check(self, address: str) -> IPAddress:
        """The address if it is a host address of the subnet; AddressOutside otherwise."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError as e:
            raise AddressOutside(f"{address} is not an IP address") from e
        if (ip not in self.subnet or ip == self.subnet.network_address
                or ip == self.subnet.broadcast_address):
            raise AddressOutside(f"{address} is not a host address of {self.subnet}")
        return ip

    def allocate(self, requested: str | None = None) -> str:
        """Reserve `requested` (AddressInUse/AddressOutside) or the lowest free address."""
        with self.lock:
            used = self.used()
            if requested is not None:
                ip = self.check(requested)
                if ip in used:
                    raise AddressInUse(f"IP address {requested} is already allocated")
                self._reserved.add(ip)
                return str(ip)
            for ip in self.subnet.hosts():
                if ip not in used:
                    self._reserved.add(ip)
                    return str(ip)
            raise AddressInUse(f"no free address left in {self.subnet}")

    def reserve(self, address: str) -> None:
        """Hold `address` in memory (e.g. a VIP found at start, configured or not)."""
        with self.lock:
            self._reserved.add(ipaddress.ip_address(address))

    def release(self, address: str) -> None:
        with self.lock:
            self._reserved.discard(ipaddress.ip_address(address))


_POOLS: dict[str, AddressPool] = {}
_POOLS_LOCK = threading.Lock()


def pool(subnet: IPNetwork = netlink.SUBNET) -> AddressPool:
    """The process-wide pool of `subnet` (one of the bridge's), shared by the compute and
    network drivers."""
    with _POOLS_LOCK:
        found = _POOLS.get(str(subnet))
        if found is None:
            gateway = netlink.GATEWAY6 if subnet.version == 6 else netlink.GATEWAY
            found = _POOLS[str(subnet)] = AddressPool(subnet, gateway)
        return found
