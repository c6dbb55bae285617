"""The life of every object through the real API, worker and database (noop data plane)."""

from __future__ import annotations

from tests.conftest import VIP_SUBNET
from tests.harness import Client

LB = "/v2/lbaas/loadbalancers"


def create(api: Client, path: str, key: str, body: dict, wait_path: str | None = None) -> dict:
    resp = api.post(path, {key: body})
    assert resp.status_code == 201, resp.text
    obj = resp.json()[key]
    assert obj["provisioning_status"] in ("PENDING_CREATE", "ACTIVE")
    return api.wait(f"{wait_path or path}/{obj['id']}", key)


def test_load_balancer_reaches_active_with_octavia_fields(api: Client) -> None:
    resp = api.post(LB, {"loadbalancer": {"name": "web", "vip_subnet_id": VIP_SUBNET,
                                          "tags": ["a", "b"]}})
    assert resp.status_code == 201
    body = resp.json()["loadbalancer"]
    assert body["provisioning_status"] == "PENDING_CREATE"
    assert body["operating_status"] == "OFFLINE"
    assert body["provider"] == "amphora"
    assert body["vip_address"] and body["vip_port_id"] and body["vip_network_id"]
    assert body["project_id"] == body["tenant_id"]
    assert body["description"] == "" and body["flavor_id"] is None
    lb = api.wait(f"{LB}/{body['id']}", "loadbalancer")
    assert lb["updated_at"] is not None
    assert lb["tags"] == ["a", "b"]
    assert lb["listeners"] == [] and lb["pools"] == []


def test_a_load_balancer_create_answers_the_row_it_wrote(api: Client) -> None:
    """The answer is made from the new row without reading it back: it is what a read of
    that row answers, field for field (but what the worker has moved since)."""
    moved = {"provisioning_status", "operating_status", "updated_at"}
    for body in ({"vip_subnet_id": VIP_SUBNET},
                 {"vip_subnet_id": VIP_SUBNET, "name": "n", "description": "d" * 255,
                  "admin_state_up": False, "tags": ["b", "a", "é"],
                  "vip_address": "10.0.0.77"}):
        resp = api.post(LB, {"loadbalancer": body})
        assert resp.status_code == 201, resp.text
        created = resp.json()["loadbalancer"]
        read = api.wait(f"{LB}/{created['id']}", "loadbalancer")
        assert set(created) == set(read)
        assert {k: v for k, v in created.items() if k not in moved} == \
            {k: v for k, v in read.items() if k not in moved}
        assert created["updated_at"] is None and created["listeners"] == []


def test_full_tree_create_update_delete(api: Client, lb: dict) -> None:
    lb_path = f"{LB}/{lb['id']}"
    listener = create(api, "/v2/lbaas/listeners", "listener",
                      {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80})
    assert listener["loadbalancers"] == [{"id": lb["id"]}]
    assert listener["timeout_client_data"] == 50000
    assert listener["connection_limit"] == -1
    assert listener["allowed_cidrs"] is None
    pool = create(api, "/v2/lbaas/pools", "pool",
                  {"listener_id": listener["id"], "protocol": "HTTP",
                   "lb_algorithm": "ROUND_ROBIN"})
    assert pool["listeners"] == [{"id": listener["id"]}]
    assert pool["session_persistence"] is None
    resp = api.put(f"/v2/lbaas/pools/{pool['id']}",
                   {"pool": {"session_persistence": {"type": "SOURCE_IP"}}})
    assert resp.status_code == 200, resp.text
    # Every key of the object is answered, null where unset, as Octavia answers it.
    assert resp.json()["pool"]["session_persistence"] == {
        "type": "SOURCE_IP", "cookie_name": None, "persistence_timeout": None,
        "persistence_granularity": None}
    api.wait(f"/v2/lbaas/pools/{pool['id']}", "pool")
    assert api.get(f"/v2/lbaas/listeners/{listener['id']}").json()["listener"][
        "default_pool_id"] == pool["id"]
    members = f"/v2/lbaas/pools/{pool['id']}/members"
    member = create(api, members, "member", {"address": "192.0.2.10", "protocol_port": 8080})
    assert member["operating_status"] == "NO_MONITOR"
    assert member["weight"] == 1 and member["backup"] is False
    monitor = create(api, "/v2/lbaas/healthmonitors", "healthmonitor",
                     {"pool_id": pool["id"], "type": "HTTP", "delay": 5, "timeout": 3,
                      "max_retries": 3})
    assert monitor["operating_status"] == "ONLINE"
    assert monitor["http_method"] == "GET" and monitor["url_path"] == "/"
    assert monitor["expected_codes"] == "200" and monitor["max_retries_down"] == 3
    policy = create(api, "/v2/lbaas/l7policies", "l7policy",
                    {"listener_id": listener["id"], "action": "REJECT"})
    assert policy["position"] == 1 and policy["operating_status"] == "ONLINE"
    rules = f"/v2/lbaas/l7policies/{policy['id']}/rules"
    rule = create(api, rules, "rule",
                  {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/admin"})
    assert rule["key"] is None and rule["invert"] is False

    # Updates go through PENDING_UPDATE back to ACTIVE and show the new values.
    resp = api.put(f"/v2/lbaas/listeners/{listener['id']}",
                   {"listener": {"name": "front", "connection_limit": 100}})
    assert resp.status_code == 200, resp.text
    updated = api.wait(f"/v2/lbaas/listeners/{listener['id']}", "listener")
    assert updated["name"] == "front" and updated["connection_limit"] == 100
    resp = api.put(f"{members}/{member['id']}", {"member": {"weight": 0}})
    assert resp.status_code == 200
    assert api.wait(f"{members}/{member['id']}", "member")["weight"] == 0
    assert api.wait(lb_path, "loadbalancer")["provisioning_status"] == "ACTIVE"

    tree = api.get(f"{lb_path}/status").json()["statuses"]["loadbalancer"]
    assert tree["id"] == lb["id"]
    [tl] = tree["listeners"]
    [tp] = tl["pools"]
    assert tp["health_monitor"]["type"] == "HTTP"
    assert tp["members"][0]["address"] == "192.0.2.10"
    stats = api.get(f"{lb_path}/stats").json()["stats"]
    assert stats == {"bytes_in": 0, "bytes_out": 0, "active_connections": 0,
                     "total_connections": 0, "request_errors": 0}

    # Deletes, leaf first.
    for path in (f"{rules}/{rule['id']}", f"/v2/lbaas/l7policies/{policy['id']}",
                 f"/v2/lbaas/healthmonitors/{monitor['id']}", f"{members}/{member['id']}",
                 f"/v2/lbaas/pools/{pool['id']}", f"/v2/lbaas/listeners/{listener['id']}"):
        resp = api.delete(path)
        assert resp.status_code == 204, (path, resp.text)
        api.wait_gone(path)
        api.wait(lb_path, "loadbalancer")
    assert api.delete(lb_path).status_code == 204
    api.wait_gone(lb_path)
    assert api.get(LB).json()["loadbalancers"] == []


def test_write_while_pending_is_409(api: Client, lb: dict, stack) -> None:
    # Hold the load balancer in PENDING_UPDATE as a running operation would.
    from ottava.db import models as m
    from ottava.db.transitions import compare_and_set
    from ottava.domain.lifecycles import PROVISIONING

    with stack.db.transaction() as s:
        assert compare_and_set(s, PROVISIONING, m.LoadBalancer, lb["id"], "PENDING_UPDATE",
                               ["ACTIVE"])
    resp = api.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 22}})
    assert resp.status_code == 409
    assert resp.json()["faultcode"] == "Client"
    assert "immutable" in resp.json()["faultstring"]
    assert api.put(f"{LB}/{lb['id']}", {"loadbalancer": {"name": "x"}}).status_code == 409
    assert api.delete(f"{LB}/{lb['id']}").status_code == 409
    assert api.get("/v2/lbaas/listeners").json()["listeners"] == []


def test_cascade_delete_and_children_guard(api: Client, lb: dict) -> None:
    create(api, "/v2/lbaas/listeners", "listener",
           {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 443})
    resp = api.delete(f"{LB}/{lb['id']}")
    assert resp.status_code == 400
    assert "it has children" in resp.json()["faultstring"]
    assert api.delete(f"{LB}/{lb['id']}?cascade=True").status_code == 204
    api.wait_gone(f"{LB}/{lb['id']}")
    assert api.get("/v2/lbaas/listeners").json()["listeners"] == []


def test_fully_populated_create(api: Client) -> None:
    body = {"loadbalancer": {
        "name": "graph", "vip_subnet_id": VIP_SUBNET,
        "listeners": [{
            "name": "http", "protocol": "HTTP", "protocol_port": 80,
            "default_pool": {"name": "web"},
            "l7policies": [{"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "api"},
                            "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                                       "value": "/api"}]}],
        }],
        "pools": [
            {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": "192.0.2.1", "protocol_port": 80},
                         {"address": "192.0.2.2", "protocol_port": 80}],
             "healthmonitor": {"type": "HTTP", "delay": 3, "timeout": 2, "max_retries": 2}},
            {"name": "api", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS"},
        ],
    }}
    resp = api.post(LB, body)
    assert resp.status_code == 201, resp.text
    graph = resp.json()["loadbalancer"]
    [listener] = graph["listeners"]
    assert listener["l7policies"][0]["rules"][0]["value"] == "/api"
    pools = {p["name"]: p for p in graph["pools"]}
    assert listener["default_pool"]["id"] == pools["web"]["id"]
    assert len(pools["web"]["members"]) == 2
    assert pools["web"]["healthmonitor"]["type"] == "HTTP"
    api.wait(f"{LB}/{graph['id']}", "loadbalancer")
    for p in pools.values():
        assert api.get(f"/v2/lbaas/pools/{p['id']}").json()["pool"][
            "provisioning_status"] == "ACTIVE"
    member_statuses = {m["operating_status"] for m in api.get(
        f"/v2/lbaas/pools/{pools['web']['id']}/members").json()["members"]}
    assert member_statuses == {"OFFLINE"}


def test_batch_member_update(api: Client, lb: dict) -> None:
    pool = create(api, "/v2/lbaas/pools", "pool", {"loadbalancer_id": lb["id"],
                  "protocol": "TCP", "lb_algorithm": "SOURCE_IP"})
    members = f"/v2/lbaas/pools/{pool['id']}/members"
    create(api, members, "member", {"address": "192.0.2.1", "protocol_port": 80})
    create(api, members, "member", {"address": "192.0.2.2", "protocol_port": 80})
    resp = api.put(members, {"members": [
        {"address": "192.0.2.2", "protocol_port": 80, "weight": 5},
        {"address": "192.0.2.3", "protocol_port": 80},
    ]})
    assert resp.status_code == 202, resp.text
    api.wait(f"/v2/lbaas/pools/{pool['id']}", "pool")
    got = {(m["address"], m["weight"]) for m in api.get(members).json()["members"]}
    assert got == {("192.0.2.2", 5), ("192.0.2.3", 1)}
    resp = api.put(members + "?additive_only=true",
                   {"members": [{"address": "192.0.2.9", "protocol_port": 80}]})
    assert resp.status_code == 202
    api.wait(f"/v2/lbaas/pools/{pool['id']}", "pool")
    assert len(api.get(members).json()["members"]) == 3
