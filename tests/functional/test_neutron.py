"""The read-only Neutron-compatible endpoint: versions, lists with filters, show, 404s."""

from __future__ import annotations

from tests.conftest import VIP_SUBNET
from tests.harness import Client, Stack

NETWORK = "c0ffee00-0000-4000-8000-000000000001"


def test_versions_networks_subnets(stack: Stack, api: Client) -> None:
    neutron = Client(stack.network_url)
    [version] = neutron.get("/").json()["versions"]
    assert version["id"] == "v2.0" and version["status"] == "CURRENT"
    [network] = neutron.get("/v2.0/networks").json()["networks"]
    assert network["id"] == NETWORK and network["subnets"] == [VIP_SUBNET]
    subnets = neutron.get(f"/v2.0/subnets?id={VIP_SUBNET}").json()["subnets"]
    assert [s["id"] for s in subnets] == [VIP_SUBNET]
    assert subnets[0]["network_id"] == NETWORK and subnets[0]["cidr"] == "198.18.0.0/15"
    by_name = neutron.get("/v2.0/subnets?name=ottava-default").json()["subnets"]
    assert [s["id"] for s in by_name] == [VIP_SUBNET]
    assert neutron.get("/v2.0/subnets?name=nothing").json() == {"subnets": []}
    assert neutron.get(f"/v2.0/subnets/{VIP_SUBNET}").json()["subnet"]["ip_version"] == 4
    assert neutron.get("/v2.0/floatingips").json() == {"floatingips": []}


def test_unknown_ids_answer_neutron_404(stack: Stack) -> None:
    neutron = Client(stack.network_url)
    resp = neutron.get("/v2.0/subnets/9b2c4e8e-6a56-4c61-9a4e-2b7d3f0a1c11")
    assert resp.status_code == 404
    error = resp.json()["NeutronError"]
    assert error["type"] == "SubnetNotFound"
    assert "9b2c4e8e-6a56-4c61-9a4e-2b7d3f0a1c11" in error["message"]
    assert neutron.get("/v2.0/nothing").status_code == 404


def test_vip_ports_are_listed(stack: Stack, api: Client, lb: dict) -> None:
    neutron = Client(stack.network_url)
    port = neutron.get(f"/v2.0/ports/{lb['vip_port_id']}").json()["port"]
    assert port["fixed_ips"] == [{"subnet_id": VIP_SUBNET, "ip_address": lb["vip_address"]}]
