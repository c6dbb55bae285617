"""Network driver `neutron`: VIPs as Neutron ports, held by amphorae through allowed address
pairs, as Octavia's driver does.

`NeutronNetworkDriver(settings)` talks to Neutron (and to Nova, to attach ports to amphora
servers) with openstacksdk as Ottava's service user (`[service_auth]`, which needs Neutron's
admin role: it makes ports in the user's project and on the user's networks), in
`[neutron] region_name` through its `endpoint_type`.

- **The VIP** is a port `octavia-lb-<load balancer id>` in the load balancer's project, on the
  VIP network, with one fixed IP on the VIP subnet (the requested address, or one Neutron
  picks), owned by `Octavia` with device `lb-<id>` and administratively down: nothing binds
  it, it only reserves the addresses. Each of `additional_vips` is one more fixed IP on the
  same port. A port the user gave (`vip_port_id`) is used as it is and never deleted.
- **Each amphora** gets a port of its own on the VIP network, `octavia-lb-vrrp-<amphora id>`
  in Ottava's project, whose allowed address pairs hold every VIP address, attached to the
  amphora's server through Nova. Its fixed IP is the amphora's VRRP address. The agent inside
  the amphora answers for the VIP on that interface (keepalived moves it within a pair).
- **Member subnets** (members with a `subnet_id`) get the amphora a port each,
  `octavia-member-<amphora id>`, attached like the VRRP port and configured by the agent;
  one no member uses any more is detached and deleted.
- **A security group per load balancer**, `lb-<load balancer id>` in Ottava's project, on
  the VIP port and every amphora's port on the VIP network (with the user's `vip_sg_ids`
  beside it): its ingress rules open each listener's port on its transport to the listener's
  `allowed_cidrs` (to anyone without them; none at all when the user's groups decide), and,
  for a pair, VRRP and HAProxy's peer port from the group's own ports only. Neutron enforces
  it in front of the amphorae; HAProxy checks `allowed_cidrs` again inside. The VIP's QoS
  policy is set on the same ports. The group goes with the VIP.
- **Unplugging** takes a VIP out of the amphora port's pairs; once none is left the port is
  detached from the server and deleted. Giving the VIP back deletes the VIP port (or takes the
  additional address off it) and any amphora port still holding the address.

Every call can be repeated: what exists is found by name (and owner) before anything is
made. The catalog answers what the caller can see (`as_user`, with their token, unless
`[networking] allow_invisible_resource_usage`), as Octavia's does: another project's subnet,
network, port, security group or QoS policy is "not found" (the API's 400). Errors:
`drivers/cloud.errors`; an address taken or outside its subnet is the API's 409 / 400 with
Octavia's words.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
import uuid
from collections.abc import Callable
from typing import Any

import openstack
from keystoneauth1 import session, token_endpoint
from openstack import exceptions as sdk_errors
from oslo_log import log as logging

from ottava.domain.errors import Conflict, Invalid
from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.inventory import Made
from ottava.domain.ports.network import (
    Network,
    PluggedPort,
    PluggedVip,
    Port,
    Subnet,
    Vip,
    VipAccess,
    VipRequest,
)
from ottava.drivers import cloud
from ottava.settings import DriverSettings

LOG = logging.getLogger(__name__)
OWNER = "Octavia"  # device_owner of the ports made here, as Octavia's
VIP_PORT_PREFIX = "octavia-lb-"
VRRP_PORT_PREFIX = "octavia-lb-vrrp-"
MEMBER_PORT_PREFIX = "octavia-member-"
SECURITY_GROUP_PREFIX = "lb-"
VRRP_PROTOCOL = "112"  # keepalived's advertisements within a pair
PEER_PORT = 1025  # HAProxy's peers (stick tables) within a pair: wire.lbspec.PEER_PORT
GROUP_DELETE_TRIES = 5  # Neutron lets a group go only once no port holds it any more
GROUP_DELETE_PAUSE_S = 1.0


def vip_port_name(load_balancer_id: str) -> str:
    return f"{VIP_PORT_PREFIX}{load_balancer_id}"


def vrrp_port_name(amphora_id: str) -> str:
    return f"{VRRP_PORT_PREFIX}{amphora_id}"


def member_port_name(amphora_id: str) -> str:
    return f"{MEMBER_PORT_PREFIX}{amphora_id}"


def security_group_name(load_balancer_id: str) -> str:
    return f"{SECURITY_GROUP_PREFIX}{load_balancer_id}"


class NeutronNetworkDriver:
    """Both network ports (`NetworkCatalog` and `NetworkPlumbing`) over Neutron."""

    def __init__(self, settings: DriverSettings, connection: Any | None = None,
                 as_caller: bool = False) -> None:
        """`connection`: an openstacksdk Connection to use instead of one made from
        `settings.service_auth`; `as_caller`: it speaks with a caller's token (`as_user`)."""
        if connection is None:
            if settings.service_auth is None:
                raise ValueError("The neutron network driver needs [service_auth]")
            connection = cloud.connect(settings.service_auth, settings.neutron.region_name,
                                       settings.neutron.endpoint_type)
        self._conn = connection
        self._driver_settings = settings
        self._settings = settings.neutron
        self._qos: bool | None = None  # whether Neutron has QoS, asked once
        self._as_caller = as_caller

    # --- the catalog ---------------------------------------------------------------------

    def networks(self) -> list[Network]:
        with cloud.errors():
            return [_network(n) for n in self._conn.network.networks()]

    def subnets(self) -> list[Subnet]:
        with cloud.errors():
            return [_subnet(s) for s in self._conn.network.subnets()]

    def ports(self) -> list[Port]:
        with cloud.errors():
            return [_port(p) for p in self._conn.network.ports()]

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        found = self._look(lambda: self._conn.network.find_subnet(subnet_id,
                                                                  ignore_missing=True))
        return _subnet(found) if found is not None and found.id == subnet_id else None

    def find_network(self, network_id: str) -> Network | None:
        found = self._look(lambda: self._conn.network.find_network(network_id,
                                                                   ignore_missing=True))
        return _network(found) if found is not None and found.id == network_id else None

    def find_port(self, port_id: str) -> Port | None:
        found = self._look(lambda: self._conn.network.get_port(port_id))
        return _port(found) if found is not None else None

    def find_security_group(self, group_id: str) -> str | None:
        found = self._look(lambda: self._conn.network.get_security_group(group_id))
        return str(found.id) if found is not None else None

    def find_qos_policy(self, policy_id: str) -> str | None:
        if not self._look(self._has_qos):
            raise Invalid("Validation failure: VIP QoS policy is not allowed in this "
                          "deployment.")
        found = self._look(lambda: self._conn.network.get_qos_policy(policy_id))
        return str(found.id) if found is not None else None

    def _look(self, lookup: Callable[[], Any]) -> Any:
        """A catalog lookup's answer; None where Neutron has no such thing or, asked with
        the caller's token, will not show it to them (401, 403: as Octavia, "not found")."""
        with cloud.errors():
            try:
                return lookup()
            except sdk_errors.NotFoundException:
                return None
            except sdk_errors.HttpException as exc:
                if self._as_caller and exc.status_code in (401, 403):
                    return None
                raise

    def as_user(self, token: str | None) -> NeutronNetworkDriver:
        """The catalog through the caller's token, on the same Neutron endpoint."""
        if token is None or self._settings.allow_invisible_resource_usage:
            return self
        with cloud.errors():
            endpoint = self._conn.network.get_endpoint()
        user = openstack.connection.Connection(session=session.Session(
            auth=token_endpoint.Token(endpoint, token), timeout=cloud.HTTP_TIMEOUT,
            app_name=cloud.APP_NAME))
        return NeutronNetworkDriver(self._driver_settings, connection=user, as_caller=True)

    def _has_qos(self) -> bool:
        if self._qos is None:
            self._qos = self._conn.network.find_extension("qos") is not None
        return self._qos

    # --- VIPs ----------------------------------------------------------------------------

    def allocate_vip(self, request: VipRequest) -> Vip:
        with cloud.errors():
            if request.port_id is not None:
                port = self._get_port(request.port_id)
                if port is None:
                    raise Invalid(f"Port {request.port_id} not found.")
                if _is_ours(port, request.load_balancer_id):
                    return self._add_address(port, request)  # an additional VIP
                return self._users_port(port, request)
            subnet = self._vip_subnet(request)
            port = self._vip_port(request.load_balancer_id)
            if port is None:
                fixed: dict[str, str] = {"subnet_id": subnet.id}
                if request.address:
                    fixed["ip_address"] = request.address
                port = self._create_port(
                    name=vip_port_name(request.load_balancer_id), network_id=subnet.network_id,
                    fixed_ips=[fixed], admin_state_up=False, device_owner=OWNER,
                    device_id=f"lb-{request.load_balancer_id}",
                    **({"project_id": request.project_id} if request.project_id else {}))
            address = _address_on(port, subnet.id)
            if address is None or (request.address and address != request.address):
                raise Conflict(f"The VIP port of load balancer {request.load_balancer_id} "
                               "holds another address")
            return Vip(address, port.id, subnet.id, port.network_id)

    def deallocate_vip(self, load_balancer_id: str, vip: Vip) -> None:
        with cloud.errors():
            port = self._get_port(vip.port_id) if vip.port_id else None
            if port is not None and _is_ours(port, load_balancer_id):
                remaining = [ip for ip in port.fixed_ips if ip["ip_address"] != vip.address]
                if remaining and port.fixed_ips[0]["ip_address"] != vip.address:
                    self._conn.network.update_port(port, fixed_ips=remaining)
                else:  # the primary address goes with the port
                    self._conn.network.delete_port(port, ignore_missing=True)
            # An amphora port still holding the address: the load balancer is going (or was
            # never made), so whatever amphora it was attached to is going too.
            # (Attached, its owner is Nova's "compute:<zone>": found by its name.)
            for vrrp in self._conn.network.ports(network_id=vip.network_id):
                if (vrrp.name or "").startswith(VRRP_PORT_PREFIX) and \
                        vip.address in _pairs(vrrp):
                    self._release_port(vrrp)
            # The load balancer's VIPs go only with it (or its failed create): its group too,
            # whoever owns the VIP port (a user's port never held it).
            self._delete_group(load_balancer_id)

    def set_vip_access(self, access: VipAccess) -> None:
        with cloud.errors():
            group = self._group(access.load_balancer_id)
            self._set_rules(group.id, _wanted_rules(access, group.id))
            groups = [group.id, *access.user_groups]
            vip_port = self._get_port(access.vip_port_id)
            ports = [vip_port] if vip_port is not None and \
                _is_ours(vip_port, access.load_balancer_id) else []  # a user's port: theirs
            ports += [p for p in map(self._get_port, access.amphora_port_ids) if p is not None]
            for port in ports:
                changes: dict[str, Any] = {}
                if sorted(port.security_group_ids or []) != sorted(groups):
                    changes["security_group_ids"] = groups
                if (port.qos_policy_id or None) != access.qos_policy_id:
                    changes["qos_policy_id"] = access.qos_policy_id
                if changes:
                    # A port deleted meanwhile (an amphora being replaced) needs nothing.
                    with contextlib.suppress(sdk_errors.NotFoundException):
                        self._conn.network.update_port(port, **changes)

    # --- amphorae ------------------------------------------------------------------------

    def plug_vip(self, amphora: AmphoraRef, vip: Vip) -> PluggedVip:
        if not amphora.compute_id:
            raise Invalid(f"amphora {amphora.id} has no server")
        with cloud.errors():
            port = self._vrrp_port(amphora.id, vip.network_id)
            if port is None:
                port = self._create_port(
                    name=vrrp_port_name(amphora.id), network_id=vip.network_id,
                    device_owner=OWNER, allowed_address_pairs=[{"ip_address": vip.address}])
            elif vip.address not in _pairs(port):
                port = self._conn.network.update_port(port, allowed_address_pairs=[
                    *port.allowed_address_pairs, {"ip_address": vip.address}])
            if port.device_id != amphora.compute_id:
                # Nova sets device_id and the owner; the port keeps its name.
                self._conn.compute.create_server_interface(amphora.compute_id,
                                                           port_id=port.id)
            own = port.fixed_ips[0]
            subnet = self._conn.network.get_subnet(own["subnet_id"])
            # The amphora configures the port itself (the agent's PUT /v1/interface).
            return PluggedVip(vrrp_ip=own["ip_address"], vrrp_port_id=port.id,
                              mac=port.mac_address,
                              prefixlen=ipaddress.ip_network(subnet.cidr).prefixlen,
                              routes=_host_routes(subnet))

    def unplug_vip(self, amphora: AmphoraRef, vip: Vip) -> None:
        with cloud.errors():
            port = self._vrrp_port(amphora.id, vip.network_id)
            if port is None:
                return
            kept = [pair for pair in port.allowed_address_pairs
                    if pair["ip_address"] != vip.address]
            if kept:
                self._conn.network.update_port(port, allowed_address_pairs=kept)
            else:
                self._release_port(port)

    def set_member_subnets(self, amphora: AmphoraRef, subnet_ids: set[str]
                           ) -> list[PluggedPort]:
        """One port per member subnet, `octavia-member-<amphora id>` in Ottava's project,
        attached to the amphora's server; a port on a subnet no member uses any more is
        detached and deleted."""
        if not amphora.compute_id:
            raise Invalid(f"amphora {amphora.id} has no server")
        with cloud.errors():
            held = {port.fixed_ips[0]["subnet_id"]: port
                    for port in self._conn.network.ports(name=member_port_name(amphora.id))
                    if port.fixed_ips}
            for subnet_id, port in held.items():
                if subnet_id not in subnet_ids:
                    self._release_port(port)
            plugged = []
            for subnet_id in sorted(subnet_ids):
                port = held.get(subnet_id)
                subnet = self._conn.network.find_subnet(subnet_id, ignore_missing=True)
                if subnet is None or subnet.id != subnet_id:
                    raise Invalid(f"Subnet {subnet_id} not found.")
                if port is None:
                    port = self._create_port(name=member_port_name(amphora.id),
                                             network_id=subnet.network_id, device_owner=OWNER,
                                             fixed_ips=[{"subnet_id": subnet_id}])
                if port.device_id != amphora.compute_id:
                    self._conn.compute.create_server_interface(amphora.compute_id,
                                                               port_id=port.id)
                plugged.append(PluggedPort(
                    port_id=port.id, subnet_id=subnet_id, mac=port.mac_address,
                    address=port.fixed_ips[0]["ip_address"],
                    prefixlen=ipaddress.ip_network(subnet.cidr).prefixlen,
                    routes=_host_routes(subnet)))
            return plugged

    # --- what the cloud holds (`ottava.domain.ports.inventory`) ---------------------------

    def made(self) -> list[Made]:
        """VIP ports and security groups (by load balancer) and amphorae's ports (by
        amphora), by name; groups only in Ottava's own project, where it makes them, and
        last: a group goes once the ports that held it are gone."""
        with cloud.errors():
            out = []
            for port in self._conn.network.ports():
                name = port.name or ""
                if name.startswith((VRRP_PORT_PREFIX, MEMBER_PORT_PREFIX)):
                    amphora_id = name.removeprefix(VRRP_PORT_PREFIX).removeprefix(
                        MEMBER_PORT_PREFIX)
                    out.append(Made("port", port.id, amphora_id=amphora_id,
                                    age=cloud.age(port.created_at)))
                elif name.startswith(VIP_PORT_PREFIX) and port.device_owner == OWNER:
                    out.append(Made("port", port.id,
                                    load_balancer_id=name[len(VIP_PORT_PREFIX):],
                                    age=cloud.age(port.created_at)))
            for group in self._conn.network.security_groups(
                    project_id=self._conn.current_project_id):
                name = group.name or ""
                if name.startswith(SECURITY_GROUP_PREFIX) and \
                        _is_uuid(name[len(SECURITY_GROUP_PREFIX):]):
                    out.append(Made("security group", group.id,
                                    load_balancer_id=name[len(SECURITY_GROUP_PREFIX):],
                                    age=cloud.age(group.created_at)))
            return out

    def unmake(self, made: Made) -> None:
        with cloud.errors():
            if made.kind == "security group":
                self._conn.network.delete_security_group(made.ident, ignore_missing=True)
                return
            port = self._get_port(made.ident)
            if port is not None and (port.name or "").startswith((VRRP_PORT_PREFIX,
                                                                  MEMBER_PORT_PREFIX)):
                self._release_port(port)
            elif port is not None:
                self._conn.network.delete_port(port, ignore_missing=True)

    # --- steps ---------------------------------------------------------------------------

    def _group(self, load_balancer_id: str) -> Any:
        """The load balancer's security group, made with no ingress rule if missing; looked
        for in Ottava's own project only (a tenant may name a group of theirs the same)."""
        name = security_group_name(load_balancer_id)
        for group in self._conn.network.security_groups(
                name=name, project_id=self._conn.current_project_id):
            return group
        return self._conn.network.create_security_group(
            name=name, description=f"Ottava: the VIP of load balancer {load_balancer_id}")

    def _set_rules(self, group_id: str, wanted: set[tuple[Any, ...]]) -> None:
        """Exactly `wanted` as the group's ingress rules (egress is left as Neutron made
        it: the amphorae reach their members and the health managers)."""
        present = self._ingress(group_id)
        # New rules first, old ones after: a change of allowed_cidrs never closes the port
        # in between.
        for key in wanted - present.keys():
            ethertype, protocol, port, cidr, remote_group = key
            try:
                self._conn.network.create_security_group_rule(
                    security_group_id=group_id, direction="ingress", ether_type=ethertype,
                    protocol=protocol, port_range_min=port, port_range_max=port,
                    remote_ip_prefix=cidr, remote_group_id=remote_group)
            except sdk_errors.ConflictException:
                # Made by a concurrent call since the listing, or refused (over quota: a
                # 409 too): only the first is fine.
                if key not in self._ingress(group_id):
                    raise
        for key, rule_id in present.items():
            if key not in wanted:
                self._conn.network.delete_security_group_rule(rule_id, ignore_missing=True)

    def _ingress(self, group_id: str) -> dict[tuple[Any, ...], str]:
        return {_rule_key(rule): rule.id for rule in self._conn.network.security_group_rules(
            security_group_id=group_id, direction="ingress")}

    def _delete_group(self, load_balancer_id: str) -> None:
        """Delete the load balancer's group once its ports let it go (Neutron refuses, 409,
        while a port being deleted still holds it): a few tries, then Retryable."""
        for group in self._conn.network.security_groups(
                name=security_group_name(load_balancer_id),
                project_id=self._conn.current_project_id):
            for attempt in range(GROUP_DELETE_TRIES):
                try:
                    self._conn.network.delete_security_group(group, ignore_missing=True)
                    break
                except sdk_errors.ConflictException:
                    if attempt == GROUP_DELETE_TRIES - 1:
                        raise
                    time.sleep(GROUP_DELETE_PAUSE_S)

    def _get_port(self, port_id: str) -> Any | None:
        try:
            return self._conn.network.get_port(port_id)
        except sdk_errors.NotFoundException:
            return None

    def _vip_subnet(self, request: VipRequest) -> Any:
        if request.subnet_id is not None:
            subnet = self._conn.network.find_subnet(request.subnet_id, ignore_missing=True)
            if subnet is None or subnet.id != request.subnet_id:
                raise Invalid(f"Subnet {request.subnet_id} not found.")
            if request.network_id is not None and subnet.network_id != request.network_id:
                raise Invalid(f"Subnet {request.subnet_id} is not on network "
                              f"{request.network_id}.")
            return subnet
        if request.network_id is None:
            raise Invalid("Validation failure: VIP must include one of: vip_port_id, "
                          "vip_network_id, vip_subnet_id.")
        network = self._conn.network.find_network(request.network_id, ignore_missing=True)
        if network is None or network.id != request.network_id:
            raise Invalid(f"Network {request.network_id} not found.")
        subnets = [self._conn.network.get_subnet(s) for s in network.subnet_ids]
        for subnet in sorted(subnets, key=lambda s: s.ip_version):  # IPv4's first
            if request.address is None or _contains(subnet.cidr, request.address):
                return subnet
        raise Invalid(f"Validation failure: Network {request.network_id} has no subnet "
                      f"for VIP address {request.address}.")

    def _vip_port(self, load_balancer_id: str) -> Any | None:
        for port in self._conn.network.ports(name=vip_port_name(load_balancer_id),
                                             device_owner=OWNER):
            return port
        return None

    def _vrrp_port(self, amphora_id: str, network_id: str) -> Any | None:
        for port in self._conn.network.ports(name=vrrp_port_name(amphora_id),
                                             network_id=network_id):
            return port
        return None

    def _create_port(self, **attrs: Any) -> Any:
        try:
            return self._conn.network.create_port(**attrs)
        except sdk_errors.ConflictException as exc:  # IpAddressAlreadyAllocated
            raise Conflict(f"IP address {_requested(attrs)} is already allocated: "
                           f"{exc.details or exc}") from exc
        except sdk_errors.BadRequestException as exc:  # InvalidIpForSubnet and the like
            raise Invalid(f"Invalid VIP address {_requested(attrs)}: "
                          f"{exc.details or exc}") from exc

    def _add_address(self, port: Any, request: VipRequest) -> Vip:
        """An additional VIP: one more fixed IP on the load balancer's own VIP port."""
        subnet_id = request.subnet_id
        if subnet_id is None:
            raise Invalid("Validation failure: an additional VIP needs a subnet_id.")
        address = _address_on(port, subnet_id)
        if address is None:
            fixed: dict[str, str] = {"subnet_id": subnet_id}
            if request.address:
                fixed["ip_address"] = request.address
            try:
                port = self._conn.network.update_port(port, fixed_ips=[*port.fixed_ips, fixed])
            except sdk_errors.ConflictException as exc:
                raise Conflict(f"IP address {request.address} is already allocated") from exc
            except sdk_errors.BadRequestException as exc:
                raise Invalid(f"Invalid VIP address {request.address}: "
                              f"{exc.details or exc}") from exc
            address = _address_on(port, subnet_id)
        assert address is not None
        return Vip(address, port.id, subnet_id, port.network_id)

    def _users_port(self, port: Any, request: VipRequest) -> Vip:
        """The VIP on a port the user made: its address on the requested subnet (its first
        when none is named)."""
        for fixed in port.fixed_ips:
            if request.subnet_id in (None, fixed["subnet_id"]) and \
                    request.address in (None, fixed["ip_address"]):
                return Vip(fixed["ip_address"], port.id, fixed["subnet_id"], port.network_id)
        raise Invalid(f"Port {port.id} has no address on subnet {request.subnet_id}.")

    def _release_port(self, port: Any) -> None:
        if port.device_id:
            # A server that is gone already left the port to Neutron: deleted below.
            with contextlib.suppress(sdk_errors.NotFoundException):
                self._conn.compute.delete_server_interface(port.id, server=port.device_id,
                                                           ignore_missing=True)
        self._conn.network.delete_port(port, ignore_missing=True)


def _is_ours(port: Any, load_balancer_id: str) -> bool:
    return bool(port.device_owner == OWNER and port.name == vip_port_name(load_balancer_id))


def _pairs(port: Any) -> set[str]:
    return {pair["ip_address"] for pair in port.allowed_address_pairs or []}


def _address_on(port: Any, subnet_id: str) -> str | None:
    return next((ip["ip_address"] for ip in port.fixed_ips if ip["subnet_id"] == subnet_id),
                None)


def _requested(attrs: dict[str, Any]) -> str:
    return next((ip.get("ip_address", "") for ip in attrs.get("fixed_ips", [])), "")


def _contains(cidr: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


def _host_routes(subnet: Any) -> tuple[tuple[str, str], ...]:
    """The subnet's host routes (destination, nexthop), for the amphora to route through
    its port there, as Octavia's amphorae do."""
    return tuple((r["destination"], r["nexthop"]) for r in subnet.host_routes or [])


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _ethertype(address_or_cidr: str) -> str:
    return "IPv6" if ":" in address_or_cidr else "IPv4"


def _wanted_rules(access: VipAccess, group_id: str) -> set[tuple[Any, ...]]:
    """The ingress rules of `access`: (ethertype, protocol, port, remote cidr, remote group),
    one per address family of the VIPs that each opening applies to."""
    families = {_ethertype(a) for a in access.addresses if a} or {"IPv4"}
    rules: set[tuple[Any, ...]] = set()
    for opening in access.openings:
        for family in families:
            if opening.cidr is None or _ethertype(opening.cidr) == family:
                rules.add((family, opening.protocol, opening.port, opening.cidr, None))
    if access.pair:  # from the pair's own ports, never from outside
        for family in families:
            rules.add((family, VRRP_PROTOCOL, None, None, group_id))
            rules.add((family, "tcp", PEER_PORT, None, group_id))
    return rules


def _rule_key(rule: Any) -> tuple[Any, ...]:
    return (rule.ether_type, str(rule.protocol) if rule.protocol is not None else None,
            rule.port_range_max, rule.remote_ip_prefix, rule.remote_group_id)


def _network(n: Any) -> Network:
    return Network(n.id, n.name or "", tuple(n.subnet_ids or ()), n.project_id or "")


def _subnet(s: Any) -> Subnet:
    return Subnet(s.id, s.name or "", s.network_id, s.cidr, s.ip_version, s.gateway_ip,
                  s.project_id or "")


def _port(p: Any) -> Port:
    return Port(p.id, p.name or "", p.network_id,
                tuple((ip["subnet_id"], ip["ip_address"]) for ip in p.fixed_ips or []),
                p.device_id or "", p.project_id or "")
