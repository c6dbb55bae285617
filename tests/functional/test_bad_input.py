"""Refused requests, one table row per case: unknown ids (404), writes while the load balancer
is PENDING_* (409), malformed bodies and list queries (400), wrong methods (405), duplicates
(409). Every case checks the status, Octavia's fault body {"faultcode": "Client",
"faultstring": <something specific>, "debuginfo": null} and that the refused request wrote
nothing: every table, the operation table included, holds the same rows before and after.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.conftest import VIP_SUBNET
from tests.harness import Client

P = "/v2/lbaas"
MISSING = "d0e5a1e7-0000-4000-8000-00000000dead"

# One load balancer with every kind of child, created in one call:
#   listener HTTP:80 -> default pool "web" (member 192.0.2.10:8080, HTTP health monitor)
#   L7 policy REJECT with one PATH rule; pool "spare" (member 192.0.2.20:8080, no monitor).
WORLD = {"loadbalancer": {
    "name": "world", "vip_subnet_id": VIP_SUBNET,
    "listeners": [{
        "name": "http", "protocol": "HTTP", "protocol_port": 80,
        "default_pool": {"name": "web"},
        "l7policies": [{"action": "REJECT", "rules": [
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}]}],
    }],
    "pools": [
        {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
         "members": [{"address": "192.0.2.10", "protocol_port": 8080}],
         "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}},
        {"name": "spare", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
         "members": [{"address": "192.0.2.20", "protocol_port": 8080}]},
    ],
}}


@dataclasses.dataclass(frozen=True)
class Case:
    """One refused request. `path`, `body` and the expectations may name the world's objects
    as {lb}, {listener}, {pool}, {spare}, {member}, {spare_member}, {hm}, {policy}, {rule},
    and {missing} (a well-formed id of nothing)."""

    id: str
    method: str
    path: str
    body: Any = None
    status: int = 400
    says: tuple[str, ...] = ()  # each must be in the faultstring
    says_one_of: tuple[str, ...] = ()  # at least one must be in the faultstring
    pending: bool = False  # hold the load balancer in PENDING_UPDATE first


def fmt(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, ident in ids.items():
            value = value.replace("{" + name + "}", ident)
        return value
    if isinstance(value, dict):
        return {k: fmt(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fmt(v, ids) for v in value]
    return value


def member(**kw: Any) -> dict[str, Any]:
    return {"member": {"address": "192.0.2.99", "protocol_port": 80, **kw}}


def listener(**kw: Any) -> dict[str, Any]:
    return {"listener": {"loadbalancer_id": "{lb}", "protocol": "TCP", "protocol_port": 22,
                         **kw}}


def monitor(**kw: Any) -> dict[str, Any]:
    return {"healthmonitor": {"pool_id": "{spare}", "type": "HTTP", "delay": 5, "timeout": 3,
                              "max_retries": 3, **kw}}


def pool(**kw: Any) -> dict[str, Any]:
    return {"pool": {"loadbalancer_id": "{lb}", "protocol": "HTTP",
                     "lb_algorithm": "ROUND_ROBIN", **kw}}


def invalid(field: str, value: Any) -> str:
    """The start of Octavia's type/range fault (reference 1.1)."""
    return f"Invalid input for field/attribute {field}. Value: '{value}'."


def unknown(root: str, attr: str) -> str:
    return f"Unknown attribute for argument {root}: {attr}"


NOT_ALLOWED = ("not allowed",)
BAD_FILTER = ("One or more arguments are either duplicate or invalid",)
LOCKED = ("is immutable and cannot be updated", "Invalid state PENDING_UPDATE")


def not_found(title: str, ident: str = "{missing}") -> tuple[str, ...]:
    return (f"{title} {ident} not found.",)


CASES = [
    # --- unknown or malformed ids: 404 "<Resource> <id> not found." (reference 1.4) ---
    Case("lb-show-unknown", "GET", f"{P}/loadbalancers/{{missing}}", status=404,
         says=not_found("Load Balancer")),
    Case("lb-show-not-uuid", "GET", f"{P}/loadbalancers/not-a-uuid", status=404,
         says=not_found("Load Balancer", "not-a-uuid")),
    Case("lb-put-unknown", "PUT", f"{P}/loadbalancers/{{missing}}",
         {"loadbalancer": {"name": "x"}}, status=404, says=not_found("Load Balancer")),
    Case("lb-delete-unknown", "DELETE", f"{P}/loadbalancers/{{missing}}", status=404,
         says=not_found("Load Balancer")),
    Case("lb-stats-unknown", "GET", f"{P}/loadbalancers/{{missing}}/stats", status=404,
         says=not_found("Load Balancer")),
    Case("lb-status-unknown", "GET", f"{P}/loadbalancers/{{missing}}/status", status=404,
         says=not_found("Load Balancer")),
    Case("listener-show-unknown", "GET", f"{P}/listeners/{{missing}}", status=404,
         says=not_found("Listener")),
    Case("listener-delete-not-uuid", "DELETE", f"{P}/listeners/12345", status=404,
         says=not_found("Listener", "12345")),
    Case("listener-create-unknown-lb", "POST", f"{P}/listeners",
         listener(loadbalancer_id="{missing}"), status=404, says=not_found("Load Balancer")),
    Case("pool-put-unknown", "PUT", f"{P}/pools/{{missing}}", {"pool": {"name": "x"}},
         status=404, says=not_found("Pool")),
    Case("pool-create-unknown-listener", "POST", f"{P}/pools",
         {"pool": {"listener_id": "{missing}", "protocol": "HTTP",
                   "lb_algorithm": "ROUND_ROBIN"}}, status=404, says=not_found("Listener")),
    Case("members-of-unknown-pool", "GET", f"{P}/pools/{{missing}}/members", status=404,
         says=not_found("Pool")),
    Case("member-create-unknown-pool", "POST", f"{P}/pools/{{missing}}/members", member(),
         status=404, says=not_found("Pool")),
    Case("member-show-unknown", "GET", f"{P}/pools/{{pool}}/members/{{missing}}", status=404,
         says=not_found("Member")),
    Case("member-of-other-pool", "GET", f"{P}/pools/{{spare}}/members/{{member}}", status=404,
         says=not_found("Member", "{member}")),
    Case("member-delete-not-uuid", "DELETE", f"{P}/pools/{{pool}}/members/nope", status=404,
         says=not_found("Member", "nope")),
    Case("hm-show-unknown", "GET", f"{P}/healthmonitors/{{missing}}", status=404,
         says=not_found("Health Monitor")),
    Case("hm-create-unknown-pool", "POST", f"{P}/healthmonitors", monitor(pool_id="{missing}"),
         status=404, says=not_found("Pool")),
    Case("l7policy-create-unknown-listener", "POST", f"{P}/l7policies",
         {"l7policy": {"listener_id": "{missing}", "action": "REJECT"}}, status=404,
         says=not_found("Listener")),
    Case("rules-of-unknown-policy", "GET", f"{P}/l7policies/{{missing}}/rules", status=404,
         says=not_found("L7 Policy")),
    Case("rule-delete-unknown", "DELETE", f"{P}/l7policies/{{policy}}/rules/{{missing}}",
         status=404, says=not_found("L7 Rule")),

    # --- writes while the load balancer is PENDING_UPDATE: 409, naming the LB (1.3, 2.2) ---
    Case("pending-lb-put", "PUT", f"{P}/loadbalancers/{{lb}}", {"loadbalancer": {"name": "x"}},
         status=409, pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-lb-delete", "DELETE", f"{P}/loadbalancers/{{lb}}?cascade=true", status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-listener-create", "POST", f"{P}/listeners", listener(), status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-listener-put", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"name": "x"}}, status=409, pending=True, says=("{lb}",),
         says_one_of=LOCKED),
    Case("pending-listener-delete", "DELETE", f"{P}/listeners/{{listener}}", status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-pool-create", "POST", f"{P}/pools", pool(), status=409, pending=True,
         says=("{lb}",), says_one_of=LOCKED),
    Case("pending-pool-delete", "DELETE", f"{P}/pools/{{spare}}", status=409, pending=True,
         says=("{lb}",), says_one_of=LOCKED),
    Case("pending-member-create", "POST", f"{P}/pools/{{pool}}/members", member(), status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-member-put", "PUT", f"{P}/pools/{{pool}}/members/{{member}}",
         {"member": {"weight": 3}}, status=409, pending=True, says=("{lb}",),
         says_one_of=LOCKED),
    Case("pending-member-batch", "PUT", f"{P}/pools/{{pool}}/members",
         {"members": [{"address": "192.0.2.10", "protocol_port": 8080, "weight": 4}]},
         status=409, pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-hm-create", "POST", f"{P}/healthmonitors", monitor(), status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-hm-delete", "DELETE", f"{P}/healthmonitors/{{hm}}", status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-l7policy-create", "POST", f"{P}/l7policies",
         {"l7policy": {"listener_id": "{listener}", "action": "REJECT"}}, status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-rule-create", "POST", f"{P}/l7policies/{{policy}}/rules",
         {"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/y"}}, status=409,
         pending=True, says=("{lb}",), says_one_of=LOCKED),
    Case("pending-rule-delete", "DELETE", f"{P}/l7policies/{{policy}}/rules/{{rule}}",
         status=409, pending=True, says=("{lb}",), says_one_of=LOCKED),

    # --- bodies that are not JSON, or not the expected object: 400 ---
    Case("invalid-json", "POST", f"{P}/listeners", '{"listener": {"protocol": ', says=("JSON",)),
    Case("not-json-at-all", "PUT", f"{P}/loadbalancers/{{lb}}", "name=x", says=("JSON",)),
    Case("body-is-a-list", "POST", f"{P}/loadbalancers", [{"name": "x"}],
         says=("loadbalancer",)),
    Case("wrong-root-key", "POST", f"{P}/loadbalancers",
         {"load_balancer": {"vip_subnet_id": VIP_SUBNET}},
         says_one_of=("loadbalancer", "load_balancer")),
    Case("missing-required-field", "POST", f"{P}/listeners",
         {"listener": {"loadbalancer_id": "{lb}", "protocol": "TCP"}},
         says=(invalid("protocol_port", "None"), "Mandatory field missing.")),

    # --- unknown attributes, and immutable ones on PUT: 400 "Unknown attribute" (1.1) ---
    Case("unknown-attr-lb-post", "POST", f"{P}/loadbalancers",
         {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "bogus": 1}},
         says=(unknown("loadbalancer", "bogus"),)),
    Case("unknown-attr-nested-listener", "POST", f"{P}/loadbalancers",
         {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "listeners": [
             {"protocol": "HTTP", "protocol_port": 81, "colour": "red"}]}},
         says=("colour",)),
    Case("unknown-attr-pool-put", "PUT", f"{P}/pools/{{pool}}", {"pool": {"bogus": True}},
         says=(unknown("pool", "bogus"),)),
    Case("unknown-attr-member-post", "POST", f"{P}/pools/{{pool}}/members",
         member(description="members have none"), says=(unknown("member", "description"),)),
    Case("immutable-listener-protocol", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"protocol": "TCP"}}, says=(unknown("listener", "protocol"),)),
    Case("immutable-listener-port", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"protocol_port": 81}}, says=(unknown("listener", "protocol_port"),)),
    Case("immutable-listener-lb", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"loadbalancer_id": "{lb}"}},
         says=(unknown("listener", "loadbalancer_id"),)),
    Case("immutable-lb-vip-address", "PUT", f"{P}/loadbalancers/{{lb}}",
         {"loadbalancer": {"vip_address": "192.0.2.50"}},
         says=(unknown("loadbalancer", "vip_address"),)),
    Case("immutable-lb-provider", "PUT", f"{P}/loadbalancers/{{lb}}",
         {"loadbalancer": {"provider": "amphora"}},
         says=(unknown("loadbalancer", "provider"),)),
    Case("immutable-pool-protocol", "PUT", f"{P}/pools/{{pool}}",
         {"pool": {"protocol": "TCP"}}, says=(unknown("pool", "protocol"),)),
    Case("immutable-member-address", "PUT", f"{P}/pools/{{pool}}/members/{{member}}",
         {"member": {"address": "192.0.2.11"}}, says=(unknown("member", "address"),)),
    Case("immutable-member-port", "PUT", f"{P}/pools/{{pool}}/members/{{member}}",
         {"member": {"protocol_port": 81}}, says=(unknown("member", "protocol_port"),)),
    Case("immutable-hm-type", "PUT", f"{P}/healthmonitors/{{hm}}",
         {"healthmonitor": {"type": "TCP"}}, says=(unknown("healthmonitor", "type"),)),
    Case("immutable-l7policy-listener", "PUT", f"{P}/l7policies/{{policy}}",
         {"l7policy": {"listener_id": "{listener}"}},
         says=(unknown("l7policy", "listener_id"),)),
    Case("read-only-status", "PUT", f"{P}/loadbalancers/{{lb}}",
         {"loadbalancer": {"provisioning_status": "ACTIVE"}},
         says=(unknown("loadbalancer", "provisioning_status"),)),

    # --- values outside an enum: 400 ---
    Case("enum-listener-protocol", "POST", f"{P}/listeners", listener(protocol="FTP"),
         says=(invalid("protocol", "FTP"),)),
    Case("enum-pool-algorithm", "POST", f"{P}/pools", pool(lb_algorithm="RANDOM"),
         says=(invalid("lb_algorithm", "RANDOM"),)),
    Case("enum-pool-algorithm-put", "PUT", f"{P}/pools/{{pool}}",
         {"pool": {"lb_algorithm": "round_robin"}},
         says=(invalid("lb_algorithm", "round_robin"),)),
    Case("enum-hm-type", "POST", f"{P}/healthmonitors", monitor(type="ICMP"),
         says=(invalid("type", "ICMP"),)),
    Case("enum-hm-http-method", "PUT", f"{P}/healthmonitors/{{hm}}",
         {"healthmonitor": {"http_method": "FETCH"}}, says=(invalid("http_method", "FETCH"),)),
    Case("enum-l7policy-action", "POST", f"{P}/l7policies",
         {"l7policy": {"listener_id": "{listener}", "action": "DROP"}},
         says=(invalid("action", "DROP"),)),
    Case("enum-l7rule-compare", "POST", f"{P}/l7policies/{{policy}}/rules",
         {"rule": {"type": "PATH", "compare_type": "LIKE", "value": "/y"}},
         says=(invalid("compare_type", "LIKE"),)),
    Case("enum-client-authentication", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"client_authentication": "MAYBE"}},
         says=(invalid("client_authentication", "MAYBE"),)),

    # --- numbers out of range: 400 ---
    Case("listener-port-0", "POST", f"{P}/listeners", listener(protocol_port=0),
         says=(invalid("protocol_port", 0),)),
    Case("listener-port-65536", "POST", f"{P}/listeners", listener(protocol_port=65536),
         says=(invalid("protocol_port", 65536),)),
    Case("listener-port-not-a-number", "POST", f"{P}/listeners",
         listener(protocol_port="eighty"), says=(invalid("protocol_port", "eighty"),)),
    Case("listener-connection-limit-minus-2", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"connection_limit": -2}}, says=(invalid("connection_limit", -2),)),
    Case("listener-timeout-over-24-days", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"timeout_client_data": 2073600001}},
         says=(invalid("timeout_client_data", 2073600001),)),
    Case("member-port-0", "POST", f"{P}/pools/{{pool}}/members", member(protocol_port=0),
         says=(invalid("protocol_port", 0),)),
    Case("member-weight-257", "POST", f"{P}/pools/{{pool}}/members", member(weight=257),
         says=(invalid("weight", 257),)),
    Case("member-weight-257-put", "PUT", f"{P}/pools/{{pool}}/members/{{member}}",
         {"member": {"weight": 257}}, says=(invalid("weight", 257),)),
    Case("member-weight-negative", "POST", f"{P}/pools/{{pool}}/members", member(weight=-1),
         says=(invalid("weight", -1),)),
    Case("hm-max-retries-11", "POST", f"{P}/healthmonitors", monitor(max_retries=11),
         says=(invalid("max_retries", 11),)),
    Case("hm-max-retries-0", "PUT", f"{P}/healthmonitors/{{hm}}",
         {"healthmonitor": {"max_retries": 0}}, says=(invalid("max_retries", 0),)),
    Case("hm-max-retries-down-11", "PUT", f"{P}/healthmonitors/{{hm}}",
         {"healthmonitor": {"max_retries_down": 11}}, says=(invalid("max_retries_down", 11),)),
    Case("hm-delay-negative", "POST", f"{P}/healthmonitors", monitor(delay=-1),
         says=(invalid("delay", -1),)),
    Case("l7policy-position-0", "POST", f"{P}/l7policies",
         {"l7policy": {"listener_id": "{listener}", "action": "REJECT", "position": 0}},
         says=(invalid("position", 0),)),
    Case("name-too-long", "PUT", f"{P}/loadbalancers/{{lb}}",
         {"loadbalancer": {"name": "n" * 256}}, says=("Invalid input for field/attribute name",)),

    # --- malformed IP addresses and UUIDs: 400 ---
    Case("member-address-not-ip", "POST", f"{P}/pools/{{pool}}/members",
         member(address="not-an-ip"), says=(invalid("address", "not-an-ip"),)),
    Case("member-address-octet-256", "POST", f"{P}/pools/{{pool}}/members",
         member(address="192.0.2.256"), says=(invalid("address", "192.0.2.256"),)),
    Case("member-monitor-address", "PUT", f"{P}/pools/{{pool}}/members/{{member}}",
         {"member": {"monitor_address": "example.com"}},
         says=(invalid("monitor_address", "example.com"),)),
    Case("lb-vip-address-not-ip", "POST", f"{P}/loadbalancers",
         {"loadbalancer": {"vip_subnet_id": VIP_SUBNET, "vip_address": "300.1.1.1"}},
         says=(invalid("vip_address", "300.1.1.1"),)),
    Case("lb-vip-subnet-not-uuid", "POST", f"{P}/loadbalancers",
         {"loadbalancer": {"vip_subnet_id": "xyz"}},
         says=(invalid("vip_subnet_id", "xyz"), "Value should be UUID format")),
    Case("listener-lb-id-not-uuid", "POST", f"{P}/listeners", listener(loadbalancer_id="nope"),
         says=(invalid("loadbalancer_id", "nope"), "Value should be UUID format")),
    Case("pool-listener-id-not-uuid", "POST", f"{P}/pools",
         {"pool": {"listener_id": "123", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
         says=(invalid("listener_id", "123"), "Value should be UUID format")),
    Case("hm-pool-id-not-uuid", "POST", f"{P}/healthmonitors", monitor(pool_id="p"),
         says=(invalid("pool_id", "p"), "Value should be UUID format")),
    Case("member-subnet-not-uuid", "POST", f"{P}/pools/{{pool}}/members",
         member(subnet_id="s-1"), says=(invalid("subnet_id", "s-1"),)),
    Case("listener-default-pool-not-uuid", "PUT", f"{P}/listeners/{{listener}}",
         {"listener": {"default_pool_id": "web"}}, says=(invalid("default_pool_id", "web"),)),

    # --- bad list queries: 400 (reference 1.5-1.7) ---
    Case("sort-unknown-key", "GET", f"{P}/loadbalancers?sort=colour:asc",
         says=("sort key", "colour")),
    Case("sort-key-param-unknown", "GET", f"{P}/listeners?sort_key=colour",
         says=("sort key", "colour")),
    Case("sort-bad-direction", "GET", f"{P}/loadbalancers?sort=name:sideways",
         says=("sort direction", "sideways")),
    Case("sort-dir-param-bad", "GET", f"{P}/pools?sort_key=name&sort_dir=up",
         says=("sort direction", "up")),
    Case("limit-not-a-number", "GET", f"{P}/loadbalancers?limit=abc", says=("limit", "abc")),
    Case("members-limit-not-a-number", "GET", f"{P}/pools/{{pool}}/members?limit=2x",
         says=("limit", "2x")),
    Case("marker-unknown", "GET", f"{P}/loadbalancers?marker={{missing}}",
         says=("marker", "{missing}")),
    Case("members-marker-unknown", "GET", f"{P}/pools/{{pool}}/members?marker={{missing}}",
         says=("marker", "{missing}")),
    Case("filter-unknown", "GET", f"{P}/loadbalancers?colour=red", says=BAD_FILTER),
    Case("filter-unknown-listeners", "GET", f"{P}/listeners?protocol_prot=80", says=BAD_FILTER),
    Case("filter-unknown-members", "GET", f"{P}/pools/{{pool}}/members?colour=red",
         says=BAD_FILTER),

    # --- wrong methods: 405 ---
    Case("patch-lb", "PATCH", f"{P}/loadbalancers/{{lb}}", {"loadbalancer": {"name": "x"}},
         status=405, says=NOT_ALLOWED),
    Case("post-on-lb-item", "POST", f"{P}/loadbalancers/{{lb}}",
         {"loadbalancer": {"name": "x"}}, status=405, says=NOT_ALLOWED),
    Case("put-on-listeners-collection", "PUT", f"{P}/listeners", {"listener": {"name": "x"}},
         status=405, says=NOT_ALLOWED),
    Case("delete-pools-collection", "DELETE", f"{P}/pools", status=405, says=NOT_ALLOWED),
    Case("post-on-member-item", "POST", f"{P}/pools/{{pool}}/members/{{member}}", member(),
         status=405, says=NOT_ALLOWED),
    Case("patch-healthmonitor", "PATCH", f"{P}/healthmonitors/{{hm}}",
         {"healthmonitor": {"delay": 9}}, status=405, says=NOT_ALLOWED),
    Case("get-failover", "GET", f"{P}/loadbalancers/{{lb}}/failover", status=405,
         says=NOT_ALLOWED),

    # --- conflicts with existing objects ---
    Case("duplicate-listener-port", "POST", f"{P}/listeners",
         listener(protocol="HTTP", protocol_port=80), status=409,
         says=("Another Listener on this Load Balancer", "protocol_port 80")),
    Case("duplicate-listener-port-tcp-family", "POST", f"{P}/listeners",
         listener(protocol="TCP", protocol_port=80), status=409,
         says=("Another Listener on this Load Balancer", "protocol_port 80")),
    Case("duplicate-member", "POST", f"{P}/pools/{{pool}}/members",
         member(address="192.0.2.10", protocol_port=8080), status=409,
         says=("192.0.2.10", "8080")),
    Case("duplicate-member-in-batch", "PUT", f"{P}/pools/{{pool}}/members",
         {"members": [{"address": "192.0.2.30", "protocol_port": 80},
                      {"address": "192.0.2.30", "protocol_port": 80}]},
         says=("192.0.2.30",)),
    Case("second-health-monitor", "POST", f"{P}/healthmonitors", monitor(pool_id="{pool}"),
         status=409, says=("health monitor",)),
    Case("second-default-pool", "POST", f"{P}/pools",
         {"pool": {"listener_id": "{listener}", "protocol": "HTTP",
                   "lb_algorithm": "ROUND_ROBIN"}},
         status=409, says=("already has a default pool",)),
    Case("lb-delete-with-children", "DELETE", f"{P}/loadbalancers/{{lb}}",
         says=("Cannot delete Load Balancer {lb} - it has children",)),
]


def build_world(api: Client) -> dict[str, str]:
    resp = api.post(f"{P}/loadbalancers", WORLD)
    assert resp.status_code == 201, resp.text
    graph = resp.json()["loadbalancer"]
    [lst] = graph["listeners"]
    pools = {p["name"]: p for p in graph["pools"]}
    [policy] = lst["l7policies"]
    ids = {
        "lb": graph["id"], "listener": lst["id"], "pool": pools["web"]["id"],
        "spare": pools["spare"]["id"], "member": pools["web"]["members"][0]["id"],
        "spare_member": pools["spare"]["members"][0]["id"],
        "hm": pools["web"]["healthmonitor"]["id"], "policy": policy["id"],
        "rule": policy["rules"][0]["id"], "missing": MISSING,
    }
    api.wait(f"{P}/loadbalancers/{ids['lb']}", "loadbalancer")
    for path, key in ((f"{P}/listeners/{ids['listener']}", "listener"),
                      (f"{P}/pools/{ids['pool']}", "pool"),
                      (f"{P}/pools/{ids['spare']}", "pool"),
                      (f"{P}/healthmonitors/{ids['hm']}", "healthmonitor"),
                      (f"{P}/l7policies/{ids['policy']}", "l7policy")):
        api.wait(path, key)
    return ids






def hold_pending(stack: Any, lb_id: str) -> None:
    """Hold the load balancer in PENDING_UPDATE as a running operation would."""
    from ottava.db import models as m
    from ottava.db.transitions import compare_and_set
    from ottava.domain.lifecycles import PROVISIONING

    with stack.db.transaction() as s:
        assert compare_and_set(s, PROVISIONING, m.LoadBalancer, lb_id, "PENDING_UPDATE",
                               ["ACTIVE"])


# Per stack: the world's ids and the database as it stood once the world was built. A refused
# request leaves the database as it was, so the next case can reuse the world; it is rebuilt
# whenever the database differs (a pending case, a request that wrote, another module's test).
_WORLDS: dict[Any, tuple[dict[str, str], dict[str, list[tuple[str, ...]]]]] = {}


@pytest.fixture
def world(stack: Any) -> tuple[Client, dict[str, str]]:
    client = Client(stack.url)
    cached = _WORLDS.pop(stack, None)
    stack.settle()
    if cached is not None and stack.snapshot() == cached[1]:
        ids = cached[0]
    else:
        stack.clear()
        ids = build_world(client)
        stack.settle()
    _WORLDS[stack] = (ids, stack.snapshot())
    return client, ids


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_refused_request_writes_nothing(case: Case, world: tuple[Client, dict[str, str]],
                                        stack: Any) -> None:
    api, ids = world
    if case.pending:
        hold_pending(stack, ids["lb"])
    stack.settle()
    before = stack.snapshot()

    body = fmt(case.body, ids)
    headers = {"Content-Type": "application/json"} if isinstance(body, str) else {}
    resp = api.request(case.method, fmt(case.path, ids), body, headers=headers)

    assert resp.status_code == case.status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    fault = resp.json()
    assert set(fault) == {"faultcode", "faultstring", "debuginfo"}, fault
    assert fault["faultcode"] == "Client"
    assert fault["debuginfo"] is None
    message = fault["faultstring"]
    assert isinstance(message, str) and message
    for expected in case.says:
        assert fmt(expected, ids) in message, message
    if case.says_one_of:
        assert any(fmt(e, ids) in message for e in case.says_one_of), message
    if case.status == 405:
        assert resp.headers.get("Allow"), resp.headers

    # Let anything the request may have queued run, then compare the whole database.
    stack.settle()
    after = stack.snapshot()
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    assert after == before
    if case.pending:
        lb = api.get(f"{P}/loadbalancers/{ids['lb']}").json()["loadbalancer"]
        assert lb["provisioning_status"] == "PENDING_UPDATE"
