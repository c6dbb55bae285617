"""IPv6 and dual stack through real amphorae: the local network's IPv6 subnet (a ULA /64 whose
gateway the host bridge holds), IPv6 VIPs, IPv6 members, `additional_vips` giving a load
balancer a VIP in each family, and allowed_cidrs per family.

Covered: the Neutron-compatible endpoint lists both subnets; an IPv6-only load balancer
serving HTTP from an IPv6 and an IPv4 member; a dual-stack load balancer answering on both
VIPs, over HTTP and over UDP (nftables, to the member of the VIP's family); allowed_cidrs
letting one family in and keeping the other out; every VIP given back on delete.

Traffic goes only to the bridge's addresses (backends) and to VIPs in our namespaces.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest

from ottava.drivers.network.local import DEFAULT_SUBNET6_ID
from tests import harness
from tests.e2e.backends import GATEWAY, GATEWAY6, Backend, UdpBackend
from tests.e2e.test_datagrams import ask

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[harness.Stack, harness.Client]]:
    with harness.local_stack() as pair:
        yield pair


def get(vip: str, port: int = 80, timeout: float = 3.0) -> str | None:
    """The body of GET / through `vip` (either family), or None when it fails."""
    conn = http.client.HTTPConnection(vip, port, timeout=timeout)  # a bare IPv6 literal
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.read().decode() if resp.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def create(api: harness.Client, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post(LB, {"loadbalancer": body})
    assert resp.status_code == 201, resp.text
    return api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer",  # type: ignore[no-any-return]
                    timeout=60)


def delete(api: harness.Client, lb_id: str) -> None:
    assert api.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
    api.wait_gone(f"{LB}/{lb_id}", timeout=60)


def test_the_local_network_has_an_ipv6_subnet(env: tuple[harness.Stack, harness.Client]
                                              ) -> None:
    stack, _ = env
    subnets = {s.id: s for s in stack.drivers.network.subnets()}
    assert subnets[DEFAULT_SUBNET6_ID].ip_version == 6
    assert subnets[DEFAULT_SUBNET6_ID].gateway_ip == GATEWAY6


def test_ipv6_vip_with_members_of_both_families(env: tuple[harness.Stack, harness.Client]
                                                ) -> None:
    _, api = env
    six, four = Backend("six", address=GATEWAY6), Backend("four")
    try:
        lb = create(api, {"vip_subnet_id": DEFAULT_SUBNET6_ID, "name": "v6", "listeners": [{
            "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "both", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": GATEWAY6, "protocol_port": six.port},
                            {"address": GATEWAY, "protocol_port": four.port}]}}]})
        assert ":" in lb["vip_address"] and lb["vip_subnet_id"] == DEFAULT_SUBNET6_ID
        assert {get(lb["vip_address"]) for _ in range(6)} == {"six", "four"}
        delete(api, lb["id"])
    finally:
        six.stop()
        four.stop()


def test_dual_stack_answers_on_both_vips(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    web = Backend("web")
    udp4, udp6 = UdpBackend("udp4"), UdpBackend("udp6", address=GATEWAY6)
    try:
        lb = create(api, {
            "vip_subnet_id": SUBNET, "name": "dual",
            "additional_vips": [{"subnet_id": DEFAULT_SUBNET6_ID}],
            "listeners": [
                {"protocol": "HTTP", "protocol_port": 80, "default_pool": {
                    "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": GATEWAY, "protocol_port": web.port}]}},
                {"protocol": "UDP", "protocol_port": 5300, "default_pool": {
                    "name": "dns", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": GATEWAY, "protocol_port": udp4.port},
                                {"address": GATEWAY6, "protocol_port": udp6.port}]}}]})
        [extra] = lb["additional_vips"]
        vip4, vip6 = lb["vip_address"], extra["ip_address"]
        assert "." in vip4 and ":" in vip6 and extra["subnet_id"] == DEFAULT_SUBNET6_ID
        assert get(vip4) == "web" and get(vip6) == "web"
        # A datagram VIP forwards within its family, as LVS does.
        assert {ask(vip4, port=5300) for _ in range(4)} == {"udp4"}
        assert {ask(vip6, port=5300) for _ in range(4)} == {"udp6"}

        [listener] = api.get(f"/v2/lbaas/listeners?loadbalancer_id={lb['id']}"
                             "&protocol=HTTP").json()["listeners"]
        resp = api.put(f"/v2/lbaas/listeners/{listener['id']}",
                       {"listener": {"allowed_cidrs": [f"{GATEWAY6}/128"]}})
        assert resp.status_code == 200, resp.text
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
        assert get(vip6) == "web"
        assert get(vip4) is None  # no IPv4 source is allowed
        delete(api, lb["id"])
        network = env[0].drivers.network
        assert not [p for p in network.ports() if p.device_id == f"lb-{lb['id']}"]
    finally:
        web.stop()
        udp4.stop()
        udp6.stop()
