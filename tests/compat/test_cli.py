"""The real `openstack` CLI (python-openstackclient + python-octaviaclient) against a real
`ottava standalone --noop`: the flow of peers.md section A.

Covered: version-less endpoint override with auth_type none; the Neutron-compatible endpoint
(`subnet list/show`, `network list`, and the subnet lookups `loadbalancer create --vip-subnet-id`
and `member create --subnet-id` make); load balancer create --wait / list / list --name / show
by name and id / set --description / delete --cascade --wait; listener, pool (--listener),
member, health monitor, L7 policy and L7 rule create --wait; `status show`, `stats show`,
`member list`, `listener list --loadbalancer` and `pool list --loadbalancer`; quota defaults /
show / set / list / reset; provider and capability list; flavor profile, flavor, availability
zone profile and availability zone create/list/show, and an LB created with --flavor and
--availability-zone; amphora list (--loadbalancer); a clouds.yaml cloud (--os-cloud).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.compat.conftest import NETWORK_ID, SUBNET_ID, Cli, unique

pytestmark = pytest.mark.compat


def create_lb(cli: Cli, name: str, *extra: str) -> dict:
    lb = cli("loadbalancer", "create", "--name", name, "--vip-subnet-id", SUBNET_ID,
             *extra, "--wait")
    assert lb["name"] == name
    assert lb["provisioning_status"] == "ACTIVE", lb
    return lb


def delete_lb(cli: Cli, name_or_id: str) -> None:
    cli("loadbalancer", "delete", "--cascade", "--wait", name_or_id, json_out=False)


def test_network_endpoint_subnets(cli: Cli) -> None:
    subnets = cli("subnet", "list")
    assert SUBNET_ID in [s["ID"] for s in subnets]
    subnet = cli("subnet", "show", SUBNET_ID)
    assert subnet["id"] == SUBNET_ID
    assert subnet["network_id"] == NETWORK_ID
    assert subnet["cidr"]
    networks = cli("network", "list")
    assert NETWORK_ID in [n["ID"] for n in networks]


def test_loadbalancer_lifecycle(cli: Cli) -> None:
    name = unique("cli-lb")
    lb = create_lb(cli, name)
    assert lb["vip_subnet_id"] == SUBNET_ID
    assert lb["vip_network_id"] == NETWORK_ID
    assert lb["vip_address"]
    assert lb["vip_port_id"]
    assert lb["updated_at"]

    listed = cli("loadbalancer", "list")
    assert lb["id"] in [x["id"] for x in listed]
    by_name = cli("loadbalancer", "list", "--name", name, "--provisioning-status", "ACTIVE")
    assert [x["id"] for x in by_name] == [lb["id"]]

    shown = cli("loadbalancer", "show", name)
    assert shown["id"] == lb["id"]
    assert cli("loadbalancer", "show", lb["id"])["name"] == name

    cli("loadbalancer", "set", "--description", "set by the CLI", "--wait", name,
        json_out=False)
    shown = cli("loadbalancer", "show", name)
    assert shown["description"] == "set by the CLI"
    assert shown["provisioning_status"] == "ACTIVE"

    delete_lb(cli, name)
    assert lb["id"] not in [x["id"] for x in cli("loadbalancer", "list")]
    err = cli.fails("loadbalancer", "show", lb["id"])
    assert "404" in err or "not found" in err.lower() or "Unable to locate" in err


def test_full_tree(cli: Cli) -> None:
    lb_name, l_name, p_name = unique("cli-tree"), unique("cli-l"), unique("cli-p")
    m_name, hm_name, pol_name = unique("cli-m"), unique("cli-hm"), unique("cli-pol")
    lb = create_lb(cli, lb_name)

    listener = cli("loadbalancer", "listener", "create", "--name", l_name, "--protocol", "HTTP",
                   "--protocol-port", "80", "--wait", lb_name)
    assert listener["provisioning_status"] == "ACTIVE"
    assert listener["protocol_port"] == 80
    assert lb["id"] in json.dumps(listener["loadbalancers"])

    pool = cli("loadbalancer", "pool", "create", "--name", p_name, "--protocol", "HTTP",
               "--listener", l_name, "--lb-algorithm", "ROUND_ROBIN", "--wait")
    assert pool["provisioning_status"] == "ACTIVE"
    assert listener["id"] in json.dumps(pool["listeners"])
    assert lb["id"] in json.dumps(pool["loadbalancers"])
    assert cli("loadbalancer", "listener", "show", l_name)["default_pool_id"] == pool["id"]

    member = cli("loadbalancer", "member", "create", "--name", m_name, "--address", "192.0.2.10",
                 "--protocol-port", "8080", "--subnet-id", SUBNET_ID, "--wait", p_name)
    assert member["provisioning_status"] == "ACTIVE"
    assert member["subnet_id"] == SUBNET_ID
    assert member["address"] == "192.0.2.10"

    hm = cli("loadbalancer", "healthmonitor", "create", "--name", hm_name, "--delay", "5",
             "--timeout", "3", "--max-retries", "3", "--type", "HTTP", "--url-path", "/health",
             "--wait", p_name)
    assert hm["provisioning_status"] == "ACTIVE"
    assert hm["url_path"] == "/health"

    policy = cli("loadbalancer", "l7policy", "create", "--name", pol_name, "--action",
                 "REDIRECT_TO_POOL", "--redirect-pool", p_name, "--wait", l_name)
    assert policy["provisioning_status"] == "ACTIVE"
    assert policy["redirect_pool_id"] == pool["id"]
    rule = cli("loadbalancer", "l7rule", "create", "--compare-type", "STARTS_WITH",
               "--type", "PATH", "--value", "/api", "--wait", pol_name)
    assert rule["provisioning_status"] == "ACTIVE"
    assert [r["id"] for r in cli("loadbalancer", "l7rule", "list", pol_name)] == [rule["id"]]

    # `status show` prints its own JSON and takes no -f.
    status = json.loads(cli("loadbalancer", "status", "show", lb_name, json_out=False))
    tree = status["loadbalancer"]
    assert tree["id"] == lb["id"]
    assert tree["provisioning_status"] == "ACTIVE"
    [l_status] = tree["listeners"]
    assert l_status["id"] == listener["id"]
    [p_status] = l_status["pools"]
    assert p_status["id"] == pool["id"]
    assert p_status["health_monitor"]["id"] == hm["id"]
    assert [m["id"] for m in p_status["members"]] == [member["id"]]

    stats = cli("loadbalancer", "stats", "show", lb_name)
    assert set(stats) >= {"active_connections", "bytes_in", "bytes_out", "request_errors",
                          "total_connections"}

    members = cli("loadbalancer", "member", "list", p_name)
    assert [(m["id"], m["name"]) for m in members] == [(member["id"], m_name)]
    assert cli("loadbalancer", "member", "show", p_name, m_name)["id"] == member["id"]

    amphorae = cli("loadbalancer", "amphora", "list", "--loadbalancer", lb["id"])
    assert amphorae
    assert {a["loadbalancer_id"] for a in amphorae} == {lb["id"]}

    delete_lb(cli, lb_name)
    assert listener["id"] not in [x["id"] for x in cli("loadbalancer", "listener", "list")]
    assert pool["id"] not in [x["id"] for x in cli("loadbalancer", "pool", "list")]
    assert hm["id"] not in [x["id"] for x in cli("loadbalancer", "healthmonitor", "list")]
    assert lb["id"] not in [a["loadbalancer_id"] for a in cli("loadbalancer", "amphora", "list")]


def test_list_children_by_loadbalancer(cli: Cli) -> None:
    """`listener list --loadbalancer` and `pool list --loadbalancer` send ?loadbalancer_id=,
    which Octavia maps to the load_balancer_id column (octavia-v2.md 1.7)."""
    lb_name = unique("cli-children")
    other = unique("cli-other")
    lb = create_lb(cli, lb_name)
    create_lb(cli, other)
    try:
        listener = cli("loadbalancer", "listener", "create", "--name", unique("cli-l"),
                       "--protocol", "HTTP", "--protocol-port", "81", "--wait", lb_name)
        pool = cli("loadbalancer", "pool", "create", "--name", unique("cli-p"),
                   "--protocol", "HTTP", "--loadbalancer", lb_name,
                   "--lb-algorithm", "ROUND_ROBIN", "--wait")
        cli("loadbalancer", "listener", "create", "--name", unique("cli-l"),
            "--protocol", "HTTP", "--protocol-port", "81", "--wait", other)

        listeners = cli("loadbalancer", "listener", "list", "--loadbalancer", lb["id"])
        assert [x["id"] for x in listeners] == [listener["id"]]
        pools = cli("loadbalancer", "pool", "list", "--loadbalancer", lb_name)
        assert [x["id"] for x in pools] == [pool["id"]]
    finally:
        delete_lb(cli, lb_name)
        delete_lb(cli, other)


def test_quotas(cli: Cli, identity: str) -> None:
    defaults = cli("loadbalancer", "quota", "defaults", "show")
    assert set(defaults) >= {"load_balancer", "listener", "pool", "health_monitor", "member",
                             "l7policy", "l7rule"}
    project = str(uuid.uuid4())
    # A UUID-like project id is looked up on the load-balancer API directly.
    assert cli("loadbalancer", "quota", "show", project) == defaults

    # set/reset resolve the project through Keystone; the stand-in refuses, so the CLI
    # uses the given id as is.
    with_identity = cli.env(OS_ENDPOINT=identity)
    updated = cli("loadbalancer", "quota", "set", "--loadbalancer", "7", "--member", "50",
                  project, env=with_identity)
    assert updated["load_balancer"] == 7
    assert updated["member"] == 50
    shown = cli("loadbalancer", "quota", "show", project)
    assert (shown["load_balancer"], shown["member"]) == (7, 50)
    assert shown["pool"] == defaults["pool"]
    listed = cli("loadbalancer", "quota", "list")
    assert project in [q["project_id"] for q in listed]

    cli("loadbalancer", "quota", "reset", project, env=with_identity, json_out=False)
    assert cli("loadbalancer", "quota", "show", project) == defaults
    assert project not in [q["project_id"] for q in cli("loadbalancer", "quota", "list")]


def test_providers(cli: Cli) -> None:
    providers = cli("loadbalancer", "provider", "list")
    names = [p["name"] for p in providers]
    assert "amphora" in names
    assert all(p["description"] for p in providers)
    caps = cli("loadbalancer", "provider", "capability", "list", "amphora")
    assert "loadbalancer_topology" in [c["name"] for c in caps]
    assert {c["type"] for c in caps} <= {"flavor", "availability_zone"}


def test_flavors_and_availability_zones(cli: Cli) -> None:
    fp_name, f_name = unique("cli-fp"), unique("cli-flavor")
    azp_name, az_name = unique("cli-azp"), unique("cli-az")
    profile = cli("loadbalancer", "flavorprofile", "create", "--name", fp_name, "--provider",
                  "amphora", "--flavor-data", '{"loadbalancer_topology": "SINGLE"}')
    assert profile["provider_name"] == "amphora"
    assert json.loads(profile["flavor_data"]) == {"loadbalancer_topology": "SINGLE"}
    assert profile["id"] in [p["id"] for p in cli("loadbalancer", "flavorprofile", "list")]
    assert cli("loadbalancer", "flavorprofile", "show", fp_name)["id"] == profile["id"]

    flavor = cli("loadbalancer", "flavor", "create", "--name", f_name, "--flavorprofile",
                 fp_name, "--description", "compat", "--enable")
    assert flavor["flavor_profile_id"] == profile["id"]
    assert flavor["enabled"] is True
    assert flavor["id"] in [f["id"] for f in cli("loadbalancer", "flavor", "list")]
    assert cli("loadbalancer", "flavor", "show", f_name)["description"] == "compat"

    az_profile = cli("loadbalancer", "availabilityzoneprofile", "create", "--name", azp_name,
                     "--provider", "amphora", "--availability-zone-data",
                     '{"compute_zone": "nova"}')
    assert az_profile["provider_name"] == "amphora"
    assert az_profile["id"] in [
        p["id"] for p in cli("loadbalancer", "availabilityzoneprofile", "list")]
    zone = cli("loadbalancer", "availabilityzone", "create", "--name", az_name,
               "--availabilityzoneprofile", azp_name, "--description", "compat zone")
    assert zone["availability_zone_profile_id"] == az_profile["id"]
    assert az_name in [z["name"] for z in cli("loadbalancer", "availabilityzone", "list")]
    assert cli("loadbalancer", "availabilityzone", "show", az_name)["enabled"] is True

    lb_name = unique("cli-flavored")
    lb = create_lb(cli, lb_name, "--flavor", f_name, "--availability-zone", az_name)
    try:
        assert lb["flavor_id"] == flavor["id"]
        assert lb["availability_zone"] == az_name
    finally:
        delete_lb(cli, lb_name)


def test_amphora_list(cli: Cli) -> None:
    lb_name = unique("cli-amp")
    lb = create_lb(cli, lb_name)
    try:
        amphorae = cli("loadbalancer", "amphora", "list")
        mine = [a for a in amphorae if a["loadbalancer_id"] == lb["id"]]
        assert mine
        assert all(a["status"] == "ALLOCATED" for a in mine)
        shown = cli("loadbalancer", "amphora", "show", mine[0]["id"])
        assert shown["loadbalancer_id"] == lb["id"]
    finally:
        delete_lb(cli, lb_name)


def test_clouds_yaml(cli: Cli, tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        "  ottava-compat:\n"
        "    auth_type: none\n"
        f"    load_balancer_endpoint_override: {cli.stack.url}\n"
        f"    network_endpoint_override: {cli.stack.network_url}\n")
    env = {k: v for k, v in cli.env().items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    name = unique("cli-cloud")
    lb = cli("--os-cloud", "ottava-compat", "loadbalancer", "create", "--name", name,
             "--vip-subnet-id", SUBNET_ID, "--wait", env=env)
    try:
        assert lb["provisioning_status"] == "ACTIVE"
        listed = cli("--os-cloud", "ottava-compat", "loadbalancer", "list", "--name", name,
                     env=env)
        assert [x["id"] for x in listed] == [lb["id"]]
    finally:
        delete_lb(cli, lb["id"])
