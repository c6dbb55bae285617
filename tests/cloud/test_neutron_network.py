"""The `neutron` network driver against the mini-openstack's real Keystone, Neutron and Nova.

As in a deployment: Ottava's service user has the admin role in its own project, where the
amphorae boot (through the `nova` compute driver, on a management network); a tenant project
owns the VIP network, with an IPv4 and an IPv6 subnet. Checked through the real services:
the VIP port (name, owner, project, administratively down; a requested address, a taken one
refused with 409, one outside the subnet and an unknown subnet with 400; asked again, the same
port); an additional VIP as a second address on that port; an amphora's own port on the VIP
network holding both VIPs as allowed address pairs and attached to its server, once however
often it is plugged; unplugging detaches and deletes it; deleting the amphora's load balancer
gives the VIP port back, and a port the user brought is used and never deleted. The VIP's
security group: its ingress rules follow the listeners' openings exactly (a pair's VRRP and peer
traffic from the group's own ports only), it sits on the VIP port and the amphora's port with
the user's groups beside it, and goes with the VIP. Looked up with a tenant user's token, the
catalog does not show another project's subnet or security group; without Neutron's QoS
extension (the mini-openstack has none) a QoS policy is refused with Octavia's words.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ottava.db import models as m
from ottava.domain.errors import Conflict, Invalid
from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.network import Opening, VipAccess, VipRequest
from ottava.drivers.compute import nova
from ottava.drivers.network import neutron
from ottava.housekeeping import leftovers
from ottava.settings import DriverSettings, NeutronSettings, NovaSettings, ServiceAuth
from tests import harness
from tests.cloud.conftest import KEYSTONE, REGION
from tests.cloud.test_nova_compute import connect, eventually

PASSWORD = "network-secret"


class Deployment:
    """Ottava's project and user (admin), a tenant project with its VIP network, and one
    amphora server booted by the nova driver."""

    def __init__(self) -> None:
        self.tag = f"ottava-net-{uuid.uuid4().hex[:8]}"
        self.admin = connect("admin", "admin-secret", "admin")
        ident = self.admin.identity
        self.service = ident.create_project(name=f"{self.tag}-service", domain_id="default")
        self.tenant = ident.create_project(name=f"{self.tag}-tenant", domain_id="default")
        self.user = ident.create_user(name=self.tag, password=PASSWORD,
                                      default_project_id=self.service.id, domain_id="default")
        ident.assign_project_role_to_user(self.service, self.user, ident.find_role("admin"))
        self.member = ident.create_user(name=f"{self.tag}-member", password=PASSWORD,
                                        default_project_id=self.tenant.id, domain_id="default")
        ident.assign_project_role_to_user(self.tenant, self.member, ident.find_role("member"))
        self.ottava = connect(self.tag, PASSWORD, f"{self.tag}-service")
        net = self.admin.network
        self.vip_net = net.create_network(name=f"{self.tag}-vip", project_id=self.tenant.id)
        self.vip4 = net.create_subnet(network_id=self.vip_net.id, ip_version=4,
                                      cidr="10.20.0.0/24", project_id=self.tenant.id)
        self.vip6 = net.create_subnet(network_id=self.vip_net.id, ip_version=6,
                                      cidr="fd00:20::/64", project_id=self.tenant.id)
        self.mgmt = self.ottava.network.create_network(name=f"{self.tag}-mgmt")
        self.mgmt_subnet = self.ottava.network.create_subnet(
            network_id=self.mgmt.id, ip_version=4, cidr="192.0.2.0/24")
        self.flavor = self.admin.compute.create_flavor(name=self.tag, ram=512, vcpus=1, disk=1)
        self.image = self.ottava.image.create_image(
            name=self.tag, data=b"\0" * 1024, disk_format="raw", container_format="bare",
            tags=[self.tag], visibility="private", allow_duplicates=True, wait=True,
            timeout=120)
        settings = DriverSettings(
            state_dir=pathlib.Path(tempfile.gettempdir()),
            nova=NovaSettings(image_tag=self.tag, flavor_id=self.flavor.id,
                              boot_networks=(self.mgmt.id,), region_name=REGION,
                              active_wait=1.0),
            neutron=NeutronSettings(region_name=REGION),
            service_auth=ServiceAuth(auth_url=KEYSTONE, username=self.tag,
                                     password=PASSWORD, project_name=f"{self.tag}-service"),
            call_timeout=90)
        self.settings = settings
        self.compute = nova.NovaComputeDriver(settings)
        self.network = neutron.NeutronNetworkDriver(settings)
        amphora_id = str(uuid.uuid4())
        booted = self.compute.create_amphora(amphora_id, None)
        self.amphora = AmphoraRef(id=amphora_id, load_balancer_id=None,
                                  compute_id=booted.compute_id)

    def ports(self, **query: Any) -> list[Any]:
        return list(self.admin.network.ports(**query))

    def interfaces(self) -> list[str]:
        return [i.port_id for i in self.ottava.compute.server_interfaces(
            self.amphora.compute_id)]

    def remove(self) -> None:
        for server in self.ottava.compute.servers():
            self.ottava.compute.delete_server(server, ignore_missing=True)
        eventually(lambda: not list(self.ottava.compute.servers()), "servers deleted")
        for network in (self.vip_net, self.mgmt):
            for port in self.ports(network_id=network.id):
                self.admin.network.delete_port(port, ignore_missing=True)
            self.admin.network.delete_network(network, ignore_missing=True)
        for project in (self.service, self.tenant):
            for group in self.admin.network.security_groups(project_id=project.id):
                self.admin.network.delete_security_group(group, ignore_missing=True)
        self.ottava.image.delete_image(self.image, ignore_missing=True)
        self.admin.compute.delete_flavor(self.flavor, ignore_missing=True)
        self.admin.identity.delete_user(self.member, ignore_missing=True)
        self.admin.identity.delete_user(self.user, ignore_missing=True)
        for project in (self.service, self.tenant):
            self.admin.identity.delete_project(project, ignore_missing=True)


@pytest.fixture(scope="module")
def deployment(cloud: None) -> Iterator[Deployment]:
    made = Deployment()
    try:
        yield made
    finally:
        made.remove()


def request(deployment: Deployment, lb_id: str, **values: Any) -> VipRequest:
    return VipRequest(load_balancer_id=lb_id, project_id=deployment.tenant.id, **values)


def test_the_catalog_is_what_the_service_user_sees(deployment: Deployment) -> None:
    net = deployment.network
    subnet = net.find_subnet(deployment.vip4.id)
    assert subnet is not None
    assert (subnet.cidr, subnet.network_id, subnet.ip_version) == \
        ("10.20.0.0/24", deployment.vip_net.id, 4)
    found = net.find_network(deployment.vip_net.id)
    assert found is not None
    assert set(found.subnet_ids) == {deployment.vip4.id, deployment.vip6.id}
    assert net.find_subnet(str(uuid.uuid4())) is None
    assert net.find_network(str(uuid.uuid4())) is None
    assert net.find_port(str(uuid.uuid4())) is None
    assert deployment.vip4.id in {s.id for s in net.subnets()}


def test_a_vip_is_a_port_of_the_tenant_that_nothing_binds(deployment: Deployment) -> None:
    net, lb_id = deployment.network, str(uuid.uuid4())
    vip = net.allocate_vip(request(deployment, lb_id, subnet_id=deployment.vip4.id,
                                   address="10.20.0.50"))
    assert (vip.address, vip.subnet_id, vip.network_id) == \
        ("10.20.0.50", deployment.vip4.id, deployment.vip_net.id)
    port = deployment.admin.network.get_port(vip.port_id)
    assert port.name == f"octavia-lb-{lb_id}"
    assert (port.device_owner, port.device_id) == ("Octavia", f"lb-{lb_id}")
    assert port.project_id == deployment.tenant.id
    assert port.is_admin_state_up is False
    assert net.allocate_vip(request(deployment, lb_id, subnet_id=deployment.vip4.id)) == vip

    other = str(uuid.uuid4())
    with pytest.raises(Conflict, match=re.escape("10.20.0.50")):
        net.allocate_vip(request(deployment, other, subnet_id=deployment.vip4.id,
                                 address="10.20.0.50"))
    with pytest.raises(Invalid, match=re.escape("Invalid VIP address 10.99.0.1")):
        net.allocate_vip(request(deployment, other, subnet_id=deployment.vip4.id,
                                 address="10.99.0.1"))
    missing = str(uuid.uuid4())
    with pytest.raises(Invalid, match=f"Subnet {missing} not found."):
        net.allocate_vip(request(deployment, other, subnet_id=missing))
    assert deployment.ports(name=f"octavia-lb-{other}") == []

    net.deallocate_vip(lb_id, vip)
    assert deployment.ports(name=f"octavia-lb-{lb_id}") == []
    net.deallocate_vip(lb_id, vip)  # given back already: fine


def test_an_amphora_holds_both_vips_on_its_own_port(deployment: Deployment) -> None:
    net, amphora, lb_id = deployment.network, deployment.amphora, str(uuid.uuid4())
    vip = net.allocate_vip(request(deployment, lb_id, network_id=deployment.vip_net.id))
    assert vip.subnet_id == deployment.vip4.id  # a network alone: its IPv4 subnet
    extra = net.allocate_vip(request(deployment, lb_id, subnet_id=deployment.vip6.id,
                                     network_id=vip.network_id, port_id=vip.port_id))
    assert extra.port_id == vip.port_id and ":" in extra.address
    assert {ip["ip_address"] for ip in
            deployment.admin.network.get_port(vip.port_id).fixed_ips} == \
        {vip.address, extra.address}

    plugged = net.plug_vip(amphora, vip)
    again = net.plug_vip(amphora, extra)
    assert again == plugged
    vrrp = deployment.admin.network.get_port(plugged.vrrp_port_id)
    assert vrrp.name == f"octavia-lb-vrrp-{amphora.id}"
    assert vrrp.network_id == deployment.vip_net.id
    assert {p["ip_address"] for p in vrrp.allowed_address_pairs} == {vip.address, extra.address}
    assert vrrp.fixed_ips[0]["ip_address"] == plugged.vrrp_ip
    eventually(lambda: plugged.vrrp_port_id in deployment.interfaces(), "the port attached")
    assert deployment.admin.network.get_port(plugged.vrrp_port_id).device_id == \
        amphora.compute_id
    assert net.plug_vip(amphora, vip) == plugged
    assert len(deployment.ports(name=f"octavia-lb-vrrp-{amphora.id}")) == 1

    net.unplug_vip(amphora, extra)
    vrrp = deployment.admin.network.get_port(plugged.vrrp_port_id)
    assert {p["ip_address"] for p in vrrp.allowed_address_pairs} == {vip.address}
    net.unplug_vip(amphora, vip)
    eventually(lambda: not deployment.ports(name=f"octavia-lb-vrrp-{amphora.id}"),
               "the amphora's port deleted")
    eventually(lambda: plugged.vrrp_port_id not in deployment.interfaces(),
               "the port detached")
    net.unplug_vip(amphora, vip)  # nothing left to unplug: fine

    net.deallocate_vip(lb_id, vip)
    net.deallocate_vip(lb_id, extra)
    assert deployment.ports(name=f"octavia-lb-{lb_id}") == []


def test_giving_the_vip_back_takes_a_leftover_amphora_port_with_it(
        deployment: Deployment) -> None:
    net, amphora, lb_id = deployment.network, deployment.amphora, str(uuid.uuid4())
    vip = net.allocate_vip(request(deployment, lb_id, subnet_id=deployment.vip4.id))
    net.plug_vip(amphora, vip)  # and the amphora's delete never unplugged it
    net.deallocate_vip(lb_id, vip)
    assert deployment.ports(name=f"octavia-lb-vrrp-{amphora.id}") == []
    assert deployment.ports(name=f"octavia-lb-{lb_id}") == []


def test_a_port_the_user_brought_is_used_and_kept(deployment: Deployment) -> None:
    net, lb_id = deployment.network, str(uuid.uuid4())
    users = deployment.admin.network.create_port(
        network_id=deployment.vip_net.id, project_id=deployment.tenant.id,
        fixed_ips=[{"subnet_id": deployment.vip4.id, "ip_address": "10.20.0.77"}])
    vip = net.allocate_vip(request(deployment, lb_id, port_id=users.id))
    assert (vip.address, vip.port_id, vip.subnet_id) == \
        ("10.20.0.77", users.id, deployment.vip4.id)
    net.deallocate_vip(lb_id, vip)
    assert deployment.admin.network.get_port(users.id).id == users.id
    with pytest.raises(Invalid, match="not found"):
        net.allocate_vip(request(deployment, lb_id, port_id=str(uuid.uuid4())))


def _ingress(deployment: Deployment, group_id: str) -> set[tuple[Any, ...]]:
    return {(r.ether_type, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix,
             r.remote_group_id)
            for r in deployment.admin.network.security_group_rules(
                security_group_id=group_id, direction="ingress")}


def test_the_vip_is_guarded_by_a_security_group_of_its_own(deployment: Deployment) -> None:
    net, amphora, lb_id = deployment.network, deployment.amphora, str(uuid.uuid4())
    vip = net.allocate_vip(request(deployment, lb_id, subnet_id=deployment.vip4.id))
    plugged = net.plug_vip(amphora, vip)
    # A tenant's group of the same name is never taken for Ottava's.
    decoy = deployment.admin.network.create_security_group(
        name=f"lb-{lb_id}", project_id=deployment.tenant.id)
    wanted = VipAccess(
        load_balancer_id=lb_id, vip_port_id=vip.port_id,
        amphora_port_ids=(plugged.vrrp_port_id,), addresses=(vip.address,),
        openings=(Opening("udp", 53), Opening("tcp", 80, "10.0.0.0/8"),
                  Opening("tcp", 80, "fd00::/8")), pair=True)
    net.set_vip_access(wanted)
    [group] = deployment.admin.network.security_groups(name=f"lb-{lb_id}",
                                                        project_id=deployment.service.id)
    assert group.id != decoy.id
    assert _ingress(deployment, group.id) == {
        ("IPv4", "udp", 53, 53, None, None),
        ("IPv4", "tcp", 80, 80, "10.0.0.0/8", None),  # the IPv6 CIDR: no IPv6 VIP
        ("IPv4", "112", None, None, None, group.id),  # VRRP, from the pair only
        ("IPv4", "tcp", 1025, 1025, None, group.id)}  # HAProxy's peers, the same
    for port_id in (vip.port_id, plugged.vrrp_port_id):
        assert deployment.admin.network.get_port(port_id).security_group_ids == [group.id]
    net.set_vip_access(wanted)  # again: nothing changes, nothing doubles
    assert len(_ingress(deployment, group.id)) == 4

    theirs = deployment.admin.network.create_security_group(
        name=f"{deployment.tag}-theirs", project_id=deployment.tenant.id)
    net.set_vip_access(dataclasses.replace(
        wanted, openings=(Opening("tcp", 443, "172.16.0.0/12"),), pair=False,
        user_groups=(theirs.id,)))
    assert _ingress(deployment, group.id) == {("IPv4", "tcp", 443, 443, "172.16.0.0/12", None)}
    assert set(deployment.admin.network.get_port(plugged.vrrp_port_id).security_group_ids) == \
        {group.id, theirs.id}

    net.unplug_vip(amphora, vip)
    net.deallocate_vip(lb_id, vip)
    assert [g.id for g in deployment.admin.network.security_groups(name=f"lb-{lb_id}")] == \
        [decoy.id]  # Ottava's gone, the tenant's untouched
    assert _ingress(deployment, decoy.id) == set()
    net.deallocate_vip(lb_id, vip)  # gone already: fine


def test_the_catalog_answers_as_the_caller_sees(deployment: Deployment) -> None:
    """Another project's subnet and security group are not found for a tenant's member, as
    in Octavia (unless [networking] allow_invisible_resource_usage); the service user sees
    them."""
    net = deployment.network
    token = connect(f"{deployment.tag}-member", PASSWORD, f"{deployment.tag}-tenant").auth_token
    theirs = net.as_user(token)
    assert theirs.find_subnet(deployment.vip4.id) is not None
    assert theirs.find_network(deployment.vip_net.id) is not None
    hidden = deployment.mgmt_subnet.id  # in Ottava's project
    assert net.find_subnet(hidden) is not None
    assert theirs.find_subnet(hidden) is None
    assert theirs.find_network(deployment.mgmt.id) is None
    service_group = deployment.ottava.network.create_security_group(
        name=f"{deployment.tag}-service-only")
    assert net.find_security_group(service_group.id) == service_group.id
    assert theirs.find_security_group(service_group.id) is None
    # A token Neutron refuses (401) sees nothing: "not found" (a 400), never an error.
    assert net.as_user("not-a-token").find_subnet(deployment.vip4.id) is None
    seeing_all = neutron.NeutronNetworkDriver(
        dataclasses.replace(deployment.settings, neutron=dataclasses.replace(
            deployment.settings.neutron, allow_invisible_resource_usage=True)))
    assert seeing_all.as_user(token).find_subnet(hidden) is not None


def test_a_qos_policy_is_refused_without_neutrons_qos(deployment: Deployment) -> None:
    with pytest.raises(Invalid, match=re.escape(
            "Validation failure: VIP QoS policy is not allowed in this deployment.")):
        deployment.network.find_qos_policy(str(uuid.uuid4()))


def test_housekeeping_removes_what_no_row_stands_behind(deployment: Deployment) -> None:
    """What the drivers made for a load balancer or amphora without a live row is swept (a
    worker that died between making and recording it); what a live row names is kept."""
    net, compute, amphora = deployment.network, deployment.compute, deployment.amphora
    with harness.migrated_database("sqlite", "ottava-sweep-") as db:
        live_lb, gone_lb = str(uuid.uuid4()), str(uuid.uuid4())
        with db.transaction() as s:
            s.add(m.LoadBalancer(id=live_lb, project_id=deployment.tenant.id,
                                 provisioning_status="ACTIVE", operating_status="ONLINE"))
            s.add(m.Amphora(id=amphora.id, status="ALLOCATED", load_balancer_id=live_lb,
                            compute_id=amphora.compute_id))
        kept_vip = net.allocate_vip(request(deployment, live_lb, subnet_id=deployment.vip4.id))
        kept_vrrp = net.plug_vip(amphora, kept_vip)
        leftover_vip = net.allocate_vip(request(deployment, gone_lb,
                                                subnet_id=deployment.vip4.id))
        stray = AmphoraRef(id=str(uuid.uuid4()), load_balancer_id=gone_lb,
                           compute_id=compute.create_amphora(str(uuid.uuid4()), gone_lb)
                           .compute_id)
        leftover_vrrp = net.plug_vip(stray, leftover_vip)
        net.set_vip_access(VipAccess(gone_lb, leftover_vip.port_id,
                                     (leftover_vrrp.vrrp_port_id,), (leftover_vip.address,),
                                     (Opening("tcp", 80),)))
        [leftover_group] = deployment.admin.network.security_groups(name=f"lb-{gone_lb}")

        removed = leftovers.sweep(db, [net, compute], grace=0)

        assert {(r.kind, r.ident) for r in removed} == {
            ("port", leftover_vip.port_id), ("port", leftover_vrrp.vrrp_port_id),
            ("server", stray.compute_id), ("security group", leftover_group.id)}
        names = {p.name for p in deployment.ports(network_id=deployment.vip_net.id)}
        assert f"octavia-lb-{live_lb}" in names and f"octavia-lb-vrrp-{amphora.id}" in names
        assert f"octavia-lb-{gone_lb}" not in names
        assert deployment.admin.network.get_port(kept_vrrp.vrrp_port_id).device_id == \
            amphora.compute_id
        eventually(lambda: [s.id for s in deployment.ottava.compute.servers()] ==
                   [amphora.compute_id], "the stray server deleted")
        assert leftovers.sweep(db, [net, compute], grace=3600) == []  # too young: kept
        net.unplug_vip(amphora, kept_vip)
        net.deallocate_vip(live_lb, kept_vip)
