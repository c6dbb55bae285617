"""What the network in front of the amphorae is told to let through (GuardVip): the listeners'
ports to their allowed_cidrs, VRRP within a pair, the user's security groups instead, the
VIP's QoS policy; followed on every change and given back with the VIP. Read off the noop
network driver, which keeps what it was asked (the neutron driver's rules are tested against
the real Neutron in tests/cloud)."""

from __future__ import annotations

import json
import uuid

from ottava.domain.ports.network import Opening, VipAccess
from tests.conftest import VIP_SUBNET
from tests.harness import Client, Stack

LB = "/v2/lbaas/loadbalancers"


def _access(stack: Stack, lb_id: str) -> VipAccess | None:
    found: VipAccess | None = stack.drivers.network.target.access.get(lb_id)
    return found


def _listener(api: Client, lb_id: str, protocol: str, port: int, **extra: object) -> str:
    resp = api.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port, **extra}})
    assert resp.status_code == 201, resp.text
    api.wait(f"{LB}/{lb_id}", "loadbalancer")
    return str(resp.json()["listener"]["id"])


def test_listeners_open_their_ports_to_their_cidrs(stack: Stack, api: Client,
                                                   lb: dict) -> None:
    web = _listener(api, lb["id"], "HTTP", 80, allowed_cidrs=["10.0.0.0/8", "192.0.2.0/24"])
    _listener(api, lb["id"], "UDP", 53)
    access = _access(stack, lb["id"])
    assert access is not None
    assert access.openings == (Opening("udp", 53), Opening("tcp", 80, "10.0.0.0/8"),
                               Opening("tcp", 80, "192.0.2.0/24"))
    assert access.vip_port_id == lb["vip_port_id"]
    assert access.addresses == (lb["vip_address"],)
    assert not access.pair and access.user_groups == () and access.qos_policy_id is None
    amphorae = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert access.amphora_port_ids == tuple(a["vrrp_port_id"] for a in amphorae)

    assert api.put(f"/v2/lbaas/listeners/{web}", {"listener": {
        "allowed_cidrs": ["172.16.0.0/12"]}}).status_code == 200
    api.wait(f"{LB}/{lb['id']}", "loadbalancer")
    assert _access(stack, lb["id"]).openings == (  # type: ignore[union-attr]
        Opening("udp", 53), Opening("tcp", 80, "172.16.0.0/12"))

    assert api.delete(f"/v2/lbaas/listeners/{web}").status_code == 204
    api.wait(f"{LB}/{lb['id']}", "loadbalancer")
    assert _access(stack, lb["id"]).openings == (  # type: ignore[union-attr]
        Opening("udp", 53),)

    policy = str(uuid.uuid4())
    assert api.put(f"{LB}/{lb['id']}", {"loadbalancer": {
        "vip_qos_policy_id": policy}}).status_code == 200
    api.wait(f"{LB}/{lb['id']}", "loadbalancer")
    assert _access(stack, lb["id"]).qos_policy_id == policy  # type: ignore[union-attr]

    assert api.delete(f"{LB}/{lb['id']}?cascade=true").status_code == 204
    api.wait_gone(f"{LB}/{lb['id']}")
    assert _access(stack, lb["id"]) is None


def test_the_users_groups_decide_instead(stack: Stack, api: Client) -> None:
    groups = [str(uuid.uuid4()), str(uuid.uuid4())]
    resp = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "vip_sg_ids": groups}})
    assert resp.status_code == 201, resp.text
    lb_id = resp.json()["loadbalancer"]["id"]
    api.wait(f"{LB}/{lb_id}", "loadbalancer")
    _listener(api, lb_id, "TCP", 443)
    access = _access(stack, lb_id)
    assert access is not None
    assert access.user_groups == tuple(groups) and access.openings == ()


def test_a_pair_lets_vrrp_through(stack: Stack, api: Client) -> None:
    profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "pair", "provider_name": "amphora",
        "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})}}).json()
    flavor = api.post("/v2/lbaas/flavors", {"flavor": {
        "name": "pair", "flavor_profile_id": profile["flavorprofile"]["id"]}}).json()
    resp = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET,
                                          "flavor_id": flavor["flavor"]["id"]}})
    assert resp.status_code == 201, resp.text
    lb_id = resp.json()["loadbalancer"]["id"]
    api.wait(f"{LB}/{lb_id}", "loadbalancer")
    access = _access(stack, lb_id)
    assert access is not None and access.pair and len(access.amphora_port_ids) == 2
