"""openstacksdk (`openstack.connect`) against a real `ottava standalone --noop`: the flow of
peers.md section B, each step run by the real SDK in .venv-compat.

Covered: connect with auth_type none + load_balancer_endpoint_override (keystoneauth version
discovery on `GET /`, then `/v2/lbaas/...`); create_load_balancer, wait_for_load_balancer,
find_load_balancer by name (GET by name -> 404 -> ?name=), get/update; create listener, pool,
member and health monitor; find_member (sends ?pool_id=); get_load_balancer_statistics; the
fully populated single-call create; batch member update (the SDK has no proxy method for it,
so it goes through the SDK's own load-balancer adapter, `conn.load_balancer.put(
'/lbaas/pools/<id>/members', ...)`); listing listeners, pools and health monitors by parent
and the L7 rules of a policy; quotas, providers, flavors, availability zones and amphorae;
delete_load_balancer(cascade=True) and wait_for_delete; connections from a clouds.yaml
(auth_type none, and admin_token).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import NETWORK_ID, SUBNET_ID, Sdk, unique

pytestmark = pytest.mark.compat


def test_discovery_and_list(sdk: Sdk) -> None:
    out = sdk("""
        conn = connect()
        lbs = list(conn.load_balancer.load_balancers())
        endpoint = conn.load_balancer.get_endpoint()
        emit({"count": len(lbs), "endpoint": endpoint})
    """)
    assert isinstance(out["count"], int)
    # Octavia's version document links every version to <root>/v2.
    assert out["endpoint"].rstrip("/").endswith("/v2")


def test_lifecycle(sdk: Sdk) -> None:
    name = unique("sdk-lb")
    out = sdk(f"""
        from openstack import exceptions
        conn = connect()
        lb = conn.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
        created = lb.provisioning_status
        lb = conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        active = lb.provisioning_status
        found = conn.load_balancer.find_load_balancer({name!r})
        missing = conn.load_balancer.find_load_balancer("no-such-lb-anywhere")
        got = conn.load_balancer.get_load_balancer(lb.id)
        conn.load_balancer.update_load_balancer(lb.id, description="set by the SDK")
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        updated = conn.load_balancer.get_load_balancer(lb.id)

        listener = conn.load_balancer.create_listener(
            name={name + "-l"!r}, protocol="HTTP", protocol_port=80, load_balancer_id=lb.id)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        pool = conn.load_balancer.create_pool(
            name={name + "-p"!r}, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
            listener_id=listener.id)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        member = conn.load_balancer.create_member(
            pool, name={name + "-m"!r}, address="192.0.2.10", protocol_port=8080,
            subnet_id=SUBNET_ID)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        hm = conn.load_balancer.create_health_monitor(
            pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3,
            url_path="/health")
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)

        found_member = conn.load_balancer.find_member({name + "-m"!r}, pool)
        members = [m.id for m in conn.load_balancer.members(pool)]
        listener = conn.load_balancer.get_listener(listener.id)
        pool = conn.load_balancer.get_pool(pool.id)
        stats = conn.load_balancer.get_load_balancer_statistics(lb.id)

        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        conn.load_balancer.wait_for_delete(lb, interval=1, wait=60)
        try:
            conn.load_balancer.get_load_balancer(lb.id)
            gone = False
        except exceptions.NotFoundException:
            gone = True
        emit({{
            "id": lb.id, "created": created, "status": active,
            "vip_subnet_id": lb.vip_subnet_id, "vip_address": lb.vip_address,
            "found": found.id if found else None, "missing": missing,
            "got": got.name, "description": updated.description,
            "listener": {{"id": listener.id, "status": listener.provisioning_status,
                          "lbs": [x["id"] for x in listener.load_balancers],
                          "default_pool_id": listener.default_pool_id}},
            "pool": {{"id": pool.id, "status": pool.provisioning_status,
                      "listeners": [x["id"] for x in pool.listeners],
                      "health_monitor_id": pool.health_monitor_id}},
            "member": member.id, "member_subnet": member.subnet_id,
            "found_member": found_member.id if found_member else None,
            "members": members, "hm": hm.id,
            "stats": {{k: getattr(stats, k) for k in (
                "active_connections", "bytes_in", "bytes_out", "request_errors",
                "total_connections")}},
            "gone": gone,
        }})
    """)
    assert out["created"] == "PENDING_CREATE"
    assert out["status"] == "ACTIVE"
    assert out["vip_subnet_id"] == SUBNET_ID
    assert out["vip_address"]
    assert out["found"] == out["id"]
    assert out["missing"] is None
    assert out["got"] == name
    assert out["description"] == "set by the SDK"
    assert out["listener"]["status"] == "ACTIVE"
    assert out["listener"]["lbs"] == [out["id"]]
    assert out["listener"]["default_pool_id"] == out["pool"]["id"]
    assert out["pool"]["status"] == "ACTIVE"
    assert out["pool"]["listeners"] == [out["listener"]["id"]]
    assert out["pool"]["health_monitor_id"] == out["hm"]
    assert out["member_subnet"] == SUBNET_ID
    assert out["found_member"] == out["member"]
    assert out["members"] == [out["member"]]
    assert all(isinstance(v, int) for v in out["stats"].values())
    assert out["gone"] is True


def test_fully_populated_create(sdk: Sdk) -> None:
    name = unique("sdk-full")
    out = sdk(f"""
        conn = connect()
        lb = conn.load_balancer.create_load_balancer(
            name={name!r}, vip_subnet_id=SUBNET_ID,
            listeners=[{{
                "name": "web", "protocol": "HTTP", "protocol_port": 80,
                "default_pool": {{"name": "main"}},
                "l7policies": [{{
                    "name": "api", "action": "REDIRECT_TO_POOL",
                    "redirect_pool": {{"name": "api"}},
                    "rules": [{{"type": "PATH", "compare_type": "STARTS_WITH",
                               "value": "/api"}}]}}]}}],
            pools=[
                {{"name": "main", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                  "members": [{{"address": "192.0.2.11", "protocol_port": 8080,
                               "subnet_id": SUBNET_ID}},
                              {{"address": "192.0.2.12", "protocol_port": 8080}}],
                  "healthmonitor": {{"type": "HTTP", "delay": 5, "timeout": 3,
                                    "max_retries": 3, "url_path": "/healthz"}}}},
                {{"name": "api", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS"}}])
        response = {{"listeners": lb.listeners, "pools": lb.pools}}
        lb = conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        active = lb.provisioning_status
        listeners = [l.to_dict() for l in conn.load_balancer.listeners()
                     if lb.id in [x["id"] for x in l.load_balancers]]
        pools = [p.to_dict() for p in conn.load_balancer.pools()
                 if lb.id in [x["id"] for x in p.loadbalancers]]
        members = {{}}
        for p in pools:
            members[p["name"]] = sorted(m.address for m in conn.load_balancer.members(p["id"]))
        policies = [p.to_dict() for p in conn.load_balancer.l7_policies()
                    if p.listener_id in [l["id"] for l in listeners]]
        rules = [conn.load_balancer.get_l7_rule(r["id"], policies[0]["id"]).to_dict()
                 for r in policies[0]["rules"]]
        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        conn.load_balancer.wait_for_delete(lb, interval=1, wait=60)
        emit({{"status": active, "response": response,
               "listeners": listeners, "pools": pools, "members": members,
               "policies": policies, "rules": rules}})
    """)
    assert out["status"] == "ACTIVE"
    # The 201 body carries the expanded graph (octavia-v2.md 2.1).
    [resp_listener] = out["response"]["listeners"]
    assert resp_listener["name"] == "web"
    assert [p["name"] for p in resp_listener["l7policies"]] == ["api"]
    assert len(resp_listener["l7policies"][0]["rules"]) == 1
    resp_pools = {p["name"]: p for p in out["response"]["pools"]}
    assert set(resp_pools) == {"main", "api"}
    assert len(resp_pools["main"]["members"]) == 2
    assert resp_pools["main"]["healthmonitor"]["url_path"] == "/healthz"

    [listener] = out["listeners"]
    pools = {p["name"]: p for p in out["pools"]}
    assert listener["default_pool_id"] == pools["main"]["id"]
    assert all(p["provisioning_status"] == "ACTIVE" for p in pools.values())
    assert pools["main"]["health_monitor_id"]
    assert pools["api"]["lb_algorithm"] == "LEAST_CONNECTIONS"
    assert out["members"] == {"main": ["192.0.2.11", "192.0.2.12"], "api": []}
    [policy] = out["policies"]
    assert policy["redirect_pool_id"] == pools["api"]["id"]
    assert policy["provisioning_status"] == "ACTIVE"
    [rule] = out["rules"]
    assert (rule["type"], rule["compare_type"], rule["rule_value"]) == (
        "PATH", "STARTS_WITH", "/api")


def test_batch_member_update(sdk: Sdk) -> None:
    name = unique("sdk-batch")
    out = sdk(f"""
        conn = connect()
        lb = conn.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        pool = conn.load_balancer.create_pool(name={name!r}, protocol="HTTP",
                                              lb_algorithm="ROUND_ROBIN", loadbalancer_id=lb.id)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        old = conn.load_balancer.create_member(pool, address="192.0.2.30", protocol_port=80)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        keep = conn.load_balancer.create_member(pool, address="192.0.2.31", protocol_port=80,
                                                weight=1)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        resp = conn.load_balancer.put(
            "/lbaas/pools/%s/members" % pool.id,
            json={{"members": [
                {{"address": "192.0.2.31", "protocol_port": 80, "weight": 5}},
                {{"address": "192.0.2.32", "protocol_port": 80, "name": "new"}}]}})
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        members = sorted((m.address, m.weight, m.provisioning_status, m.id)
                         for m in conn.load_balancer.members(pool))
        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        conn.load_balancer.wait_for_delete(lb, interval=1, wait=60)
        emit({{"code": resp.status_code, "url": resp.request.url, "keep": keep.id,
               "old": old.id, "members": members}})
    """)
    assert out["code"] == 202, out
    assert "/v2/lbaas/pools/" in out["url"]
    addresses = [m[0] for m in out["members"]]
    assert addresses == ["192.0.2.31", "192.0.2.32"]
    kept = out["members"][0]
    assert kept[3] == out["keep"]   # updated in place, same id
    assert kept[1] == 5
    assert all(m[2] == "ACTIVE" for m in out["members"])


def test_list_children_by_parent(sdk: Sdk) -> None:
    """listeners(load_balancer_id=), pools(loadbalancer_id=) and health_monitors(pool_id=) are
    SDK query parameters. Octavia accepts any attribute of the data model as a filter and maps
    loadbalancer_id to load_balancer_id (octavia-v2.md 1.7, api/common/pagination.py)."""
    name = unique("sdk-children")
    out = sdk(f"""
        conn = connect()
        lb = conn.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
        other = conn.load_balancer.create_load_balancer(name={name + "-o"!r},
                                                        vip_subnet_id=SUBNET_ID)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        conn.load_balancer.wait_for_load_balancer(other.id, interval=1, wait=60)
        try:
            listener = conn.load_balancer.create_listener(
                protocol="HTTP", protocol_port=82, load_balancer_id=lb.id)
            conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
            pool = conn.load_balancer.create_pool(
                protocol="HTTP", lb_algorithm="ROUND_ROBIN", loadbalancer_id=lb.id)
            conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
            hm = conn.load_balancer.create_health_monitor(
                pool_id=pool.id, type="TCP", delay=5, timeout=3, max_retries=3)
            conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
            other_pool = conn.load_balancer.create_pool(
                protocol="HTTP", lb_algorithm="ROUND_ROBIN", loadbalancer_id=other.id)
            conn.load_balancer.wait_for_load_balancer(other.id, interval=1, wait=60)
            conn.load_balancer.create_health_monitor(
                pool_id=other_pool.id, type="TCP", delay=5, timeout=3, max_retries=3)
            conn.load_balancer.wait_for_load_balancer(other.id, interval=1, wait=60)
            result = {{"listener": listener.id, "pool": pool.id, "hm": hm.id}}
            lb_ = conn.load_balancer
            for key, call in (
                    ("listeners", lambda: lb_.listeners(load_balancer_id=lb.id)),
                    ("pools", lambda: lb_.pools(loadbalancer_id=lb.id)),
                    ("health_monitors", lambda: lb_.health_monitors(pool_id=pool.id))):
                try:
                    result[key] = [x.id for x in call()]
                except Exception as e:  # report both listings, not just the first failure
                    result[key] = f"{{type(e).__name__}}: {{e}}"
        finally:
            for x in (lb, other):
                conn.load_balancer.delete_load_balancer(x.id, cascade=True)
            for x in (lb, other):
                conn.load_balancer.wait_for_delete(x, interval=1, wait=60)
        emit(result)
    """)
    listed = {k: out[k] for k in ("listeners", "pools", "health_monitors")}
    assert listed == {"listeners": [out["listener"]], "pools": [out["pool"]],
                      "health_monitors": [out["hm"]]}


def test_l7_rules_listing(sdk: Sdk) -> None:
    """`l7_rules(policy)` sends GET .../l7policies/<id>/rules?l7policy_id=<id>; Octavia accepts
    l7policy_id as a filter (it is an L7 rule attribute), as it does pool_id on members."""
    name = unique("sdk-l7")
    out = sdk(f"""
        conn = connect()
        lb = conn.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        try:
            listener = conn.load_balancer.create_listener(
                protocol="HTTP", protocol_port=80, load_balancer_id=lb.id)
            conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
            policy = conn.load_balancer.create_l7_policy(
                name={name!r}, listener_id=listener.id, action="REJECT")
            conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
            rule = conn.load_balancer.create_l7_rule(
                policy, type="HOST_NAME", compare_type="EQUAL_TO", rule_value="example.com")
            conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
            found = conn.load_balancer.find_l7_policy({name!r})
            rules = [(r.id, r.rule_value) for r in conn.load_balancer.l7_rules(policy)]
        finally:
            conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
            conn.load_balancer.wait_for_delete(lb, interval=1, wait=60)
        emit({{"policy": policy.id, "found": found.id if found else None, "rule": rule.id,
               "rules": rules}})
    """)
    assert out["found"] == out["policy"]
    assert out["rules"] == [[out["rule"], "example.com"]]


def test_admin_resources(sdk: Sdk) -> None:
    name = unique("sdk-admin")
    out = sdk(f"""
        import uuid
        conn = connect()
        lb_ = conn.load_balancer
        providers = [p.name for p in lb_.providers()]
        fp = lb_.create_flavor_profile(name={name!r}, provider_name="amphora",
                                       flavor_data='{{"loadbalancer_topology": "SINGLE"}}')
        flavor = lb_.create_flavor(name={name!r}, flavor_profile_id=fp.id, is_enabled=True)
        azp = lb_.create_availability_zone_profile(
            name={name!r}, provider_name="amphora",
            availability_zone_data='{{"compute_zone": "nova"}}')
        az = lb_.create_availability_zone(name={name!r}, availability_zone_profile_id=azp.id)
        found_flavor = lb_.find_flavor({name!r})
        lb = lb_.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID,
                                      flavor_id=flavor.id, availability_zone={name!r})
        lb = lb_.wait_for_load_balancer(lb.id, interval=1, wait=60)
        amphorae = [a.loadbalancer_id for a in lb_.amphorae(loadbalancer_id=lb.id)]
        project = str(uuid.uuid4())
        lb_.update_quota(project, load_balancers=3, members=9)
        quota = lb_.get_quota(project)
        defaults = lb_.get_quota_default()
        lb_.delete_load_balancer(lb.id, cascade=True)
        lb_.wait_for_delete(lb, interval=1, wait=60)
        lb_.delete_quota(project)
        emit({{"providers": providers, "flavor": flavor.id,
               "found_flavor": found_flavor.id if found_flavor else None,
               "lb_flavor": lb.flavor_id, "lb_az": lb.availability_zone, "az": az.name,
               "amphorae": amphorae, "lb": lb.id,
               "quota": [quota.load_balancers, quota.members],
               "default_lbs": defaults.load_balancers}})
    """)
    assert "amphora" in out["providers"]
    assert out["found_flavor"] == out["flavor"]
    assert out["lb_flavor"] == out["flavor"]
    assert out["lb_az"] == out["az"] == name
    assert out["amphorae"] and set(out["amphorae"]) == {out["lb"]}
    assert out["quota"] == [3, 9]
    assert isinstance(out["default_lbs"], int)


CLOUDS = """\
clouds:
  ottava-none:
    auth_type: none
    load_balancer_endpoint_override: {url}
    network_endpoint_override: {net}
  ottava-token:
    auth_type: admin_token
    auth:
      endpoint: {url}
      token: secret-admin-token
    load_balancer_endpoint_override: {url}
"""


def test_clouds_yaml(sdk: Sdk, tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(CLOUDS.format(url=sdk.stack.url, net=sdk.stack.network_url))
    name = unique("sdk-cloud")
    out = sdk(f"""
        import openstack
        conn = openstack.connect(cloud="ottava-none")
        lb = conn.load_balancer.create_load_balancer(name={name!r}, vip_subnet_id=SUBNET_ID)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=1, wait=60)
        subnet = conn.network.get_subnet(SUBNET_ID)
        token = openstack.connect(cloud="ottava-token")
        seen = token.load_balancer.find_load_balancer({name!r})
        token.load_balancer.delete_load_balancer(lb.id, cascade=True)
        token.load_balancer.wait_for_delete(lb, interval=1, wait=60)
        emit({{"lb": lb.id, "seen": seen.id if seen else None,
               "subnet_network": subnet.network_id}})
    """, env={"OS_CLIENT_CONFIG_FILE": str(clouds)})
    assert out["seen"] == out["lb"]
    assert out["subnet_network"] == NETWORK_ID
