"""Providers, flavors, flavor profiles, availability zones and their profiles."""

from __future__ import annotations

import json

from ottava.domain.ports.compute import Placement
from tests.conftest import VIP_SUBNET
from tests.harness import Client, Stack

NIL = "00000000-0000-0000-0000-000000000000"


def test_providers_and_capabilities(api: Client) -> None:
    providers = api.get("/v2/lbaas/providers").json()["providers"]
    assert {p["name"] for p in providers} == {"amphora", "octavia"}
    caps = api.get("/v2/lbaas/providers/amphora/flavor_capabilities").json()[
        "flavor_capabilities"]
    assert "loadbalancer_topology" in {c["name"] for c in caps}
    one = api.get("/v2/lbaas/providers/octavia/flavor_capabilities?name=compute_flavor").json()
    assert [c["name"] for c in one["flavor_capabilities"]] == ["compute_flavor"]
    zones = api.get("/v2/lbaas/providers/amphora/availability_zone_capabilities").json()
    assert "compute_zone" in {c["name"] for c in zones["availability_zone_capabilities"]}
    assert api.get("/v2/lbaas/providers/bogus/flavor_capabilities").status_code == 400


def test_flavor_profile_and_flavor_lifecycle(api: Client) -> None:
    data = json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})
    resp = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "ha", "provider_name": "amphora", "flavor_data": data}})
    assert resp.status_code == 201, resp.text
    profile = resp.json()["flavorprofile"]
    listed = api.get("/v2/lbaas/flavorprofiles").json()
    assert [p["id"] for p in listed["flavorprofiles"]] == [profile["id"]]
    assert "flavorprofile_links" in listed
    resp = api.post("/v2/lbaas/flavors", {"flavor": {
        "name": "gold", "flavor_profile_id": profile["id"]}})
    assert resp.status_code == 201, resp.text
    flavor = resp.json()["flavor"]
    assert flavor["enabled"] is True and flavor["description"] == ""
    dup = api.post("/v2/lbaas/flavors", {"flavor": {"name": "gold",
                                                   "flavor_profile_id": profile["id"]}})
    assert dup.status_code == 409

    # A load balancer of that flavor gets its topology: two amphorae.
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": VIP_SUBNET, "flavor_id": flavor["id"]}})
    assert resp.status_code == 201, resp.text
    lb = api.wait(f"/v2/lbaas/loadbalancers/{resp.json()['loadbalancer']['id']}",
                  "loadbalancer")
    assert lb["flavor_id"] == flavor["id"]
    amps = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert sorted(a["role"] for a in amps) == ["BACKUP", "MASTER"]

    # In use: the flavor cannot go, the profile's data cannot change.
    assert api.delete(f"/v2/lbaas/flavors/{flavor['id']}").status_code == 409
    resp = api.put(f"/v2/lbaas/flavorprofiles/{profile['id']}",
                   {"flavorprofile": {"flavor_data": "{}"}})
    assert resp.status_code == 409
    resp = api.put(f"/v2/lbaas/flavors/{flavor['id']}", {"flavor": {"enabled": False}})
    assert resp.status_code == 200 and resp.json()["flavor"]["enabled"] is False
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": VIP_SUBNET, "flavor_id": flavor["id"]}})
    assert resp.status_code == 400
    for path in (f"/v2/lbaas/flavors/{NIL}", f"/v2/lbaas/flavorprofiles/{NIL}"):
        assert api.get(path).status_code == 404


def test_flavor_profile_data_is_checked(api: Client) -> None:
    for data in ("not json", json.dumps({"bogus": 1}),
                 json.dumps({"loadbalancer_topology": "TRIPLE"})):
        resp = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
            "name": "x", "provider_name": "amphora", "flavor_data": data}})
        assert resp.status_code == 400, data
    resp = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "x", "provider_name": "nope", "flavor_data": "{}"}})
    assert resp.status_code == 400
    assert api.get("/v2/lbaas/flavorprofiles").json()["flavorprofiles"] == []


def test_availability_zones_are_keyed_by_name(api: Client) -> None:
    resp = api.post("/v2/lbaas/availabilityzoneprofiles", {"availability_zone_profile": {
        "name": "zp", "provider_name": "amphora",
        "availability_zone_data": json.dumps({"compute_zone": "nova"})}})
    assert resp.status_code == 201, resp.text
    profile = resp.json()["availability_zone_profile"]
    assert "availability_zone_profile_links" in api.get(
        "/v2/lbaas/availabilityzoneprofiles").json()
    resp = api.post("/v2/lbaas/availabilityzones", {"availability_zone": {
        "name": "az1", "availability_zone_profile_id": profile["id"]}})
    assert resp.status_code == 201, resp.text
    assert api.get("/v2/lbaas/availabilityzones/az1").json()["availability_zone"][
        "availability_zone_profile_id"] == profile["id"]
    assert api.post("/v2/lbaas/availabilityzones", {"availability_zone": {
        "name": "az1", "availability_zone_profile_id": profile["id"]}}).status_code == 409
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": VIP_SUBNET, "availability_zone": "az1"}})
    assert resp.status_code == 201
    assert resp.json()["loadbalancer"]["availability_zone"] == "az1"
    assert api.delete("/v2/lbaas/availabilityzones/az1").status_code == 409
    assert api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": VIP_SUBNET, "availability_zone": "nowhere"}}).status_code == 400


def test_the_profiles_place_the_amphorae(stack: Stack, api: Client) -> None:
    """compute_flavor and amp_image_tag of the flavor's profile, compute_zone of the
    availability zone's profile, and the pair's spreading reach the compute driver."""
    profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "placed", "provider_name": "amphora", "flavor_data": json.dumps({
            "loadbalancer_topology": "ACTIVE_STANDBY", "compute_flavor": "f-large",
            "amp_image_tag": "amphora-gold"})}}).json()["flavorprofile"]
    flavor = api.post("/v2/lbaas/flavors", {"flavor": {
        "name": "placed", "flavor_profile_id": profile["id"]}}).json()["flavor"]
    zone_profile = api.post("/v2/lbaas/availabilityzoneprofiles", {
        "availability_zone_profile": {"name": "zp-placed", "provider_name": "amphora",
                                      "availability_zone_data": json.dumps(
                                          {"compute_zone": "rack-9"})}}).json()[
        "availability_zone_profile"]
    assert api.post("/v2/lbaas/availabilityzones", {"availability_zone": {
        "name": "placed", "availability_zone_profile_id": zone_profile["id"]}}
    ).status_code == 201
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": VIP_SUBNET, "flavor_id": flavor["id"],
        "availability_zone": "placed"}})
    assert resp.status_code == 201, resp.text
    lb = api.wait(f"/v2/lbaas/loadbalancers/{resp.json()['loadbalancer']['id']}",
                  "loadbalancer")
    amps = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    placements = stack.drivers.compute.target.placements
    assert [placements[a["id"]] for a in amps] == [Placement(
        compute_flavor="f-large", image_tag="amphora-gold", zone="rack-9", spread=True)] * 2

    plain = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": VIP_SUBNET}}).json()["loadbalancer"]
    api.wait(f"/v2/lbaas/loadbalancers/{plain['id']}", "loadbalancer")
    (amp,) = api.get(f"/v2/octavia/amphorae?loadbalancer_id={plain['id']}").json()["amphorae"]
    assert placements[amp["id"]] == Placement()
