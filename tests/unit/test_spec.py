"""The desired-state document of `ottava.domain.spec.build`, built from plain stand-in
objects: every live listener, pool, member, monitor, L7 policy and rule is in it, objects in
PENDING_DELETE are left out, and its hash is stable and follows the content."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace as NS
from typing import Any

from ottava.domain import spec


def _base(ident: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"id": ident, "provisioning_status": status, "admin_state_up": True}


def member(ident: str, status: str = "ACTIVE", **kw: Any) -> NS:
    return NS(**{**_base(ident, status), "address": "192.0.2.10", "protocol_port": 80,
                 "weight": 1, "backup": False, "monitor_address": None, "monitor_port": None,
                 "subnet_id": None, **kw})


def monitor(ident: str, status: str = "ACTIVE") -> NS:
    return NS(**_base(ident, status), type="HTTP", delay=5, timeout=3, max_retries=3,
              max_retries_down=3, http_method="GET", url_path="/", expected_codes="200",
              http_version=None, domain_name=None)


def pool(ident: str, status: str = "ACTIVE", members: list[NS] | None = None,
         health_monitor: NS | None = None) -> NS:
    return NS(**_base(ident, status), protocol="HTTP", lb_algorithm="ROUND_ROBIN",
              session_persistence=None, tls_enabled=False, tls_ciphers=None,
              tls_versions=None, alpn_protocols=None, tls_container_ref=None,
              ca_tls_container_ref=None, crl_container_ref=None, members=members or [],
              health_monitor=health_monitor)


def l7rule(ident: str, status: str = "ACTIVE") -> NS:
    return NS(**_base(ident, status), type="PATH", compare_type="STARTS_WITH", key=None,
              value="/api", invert=False)


def policy(ident: str, status: str = "ACTIVE", rules: list[NS] | None = None) -> NS:
    return NS(**_base(ident, status), action="REJECT", position=1, redirect_pool_id=None,
              redirect_url=None, redirect_prefix=None, redirect_http_code=None,
              rules=rules or [])


def listener(ident: str, status: str = "ACTIVE", l7policies: list[NS] | None = None,
             default_pool_id: str | None = None) -> NS:
    return NS(**_base(ident, status), protocol="HTTP", protocol_port=80,
              connection_limit=-1, default_pool_id=default_pool_id, insert_headers={},
              allowed_cidrs=None, timeout_client_data=50000, timeout_member_connect=5000,
              timeout_member_data=50000, timeout_tcp_inspect=0,
              default_tls_container_ref=None, sni_container_refs=[],
              client_ca_tls_container_ref=None, client_crl_container_ref=None,
              client_authentication="NONE", tls_ciphers=None, tls_versions=None,
              alpn_protocols=None, hsts_max_age=None, hsts_include_subdomains=False,
              hsts_preload=False, l7policies=l7policies or [])


def load_balancer() -> NS:
    """LB with one live and one deleting object at every level."""
    p1 = pool("pool-1", members=[member("m-1"), member("m-gone", "PENDING_DELETE")],
              health_monitor=monitor("hm-1"))
    p2 = pool("pool-gone", "PENDING_DELETE", members=[member("m-2")])
    p3 = pool("pool-3", health_monitor=monitor("hm-gone", "PENDING_DELETE"))
    li = listener("li-1", default_pool_id="pool-1", l7policies=[
        policy("pol-1", rules=[l7rule("r-1"), l7rule("r-gone", "PENDING_DELETE")]),
        policy("pol-gone", "PENDING_DELETE", rules=[l7rule("r-2")]),
    ])
    li_gone = listener("li-gone", "PENDING_DELETE")
    return NS(id="lb-1", project_id="p-1", admin_state_up=True, topology="SINGLE",
              vip_address="203.0.113.5",
              vip_subnet_id="subnet-1", additional_vips=[], listeners=[li, li_gone],
              pools=[p1, p2, p3])


def test_document_shape() -> None:
    doc = spec.build(load_balancer())
    assert doc["version"] == spec.SPEC_VERSION
    assert doc["load_balancer"] == {
        "id": "lb-1", "project_id": "p-1", "enabled": True, "topology": "SINGLE",
        "vip_address": "203.0.113.5",
        "vip_subnet_id": "subnet-1", "additional_vips": []}
    assert isinstance(doc["hash"], str) and len(doc["hash"]) == 64
    json.dumps(doc)  # plain JSON


def test_pending_delete_children_are_left_out() -> None:
    doc = spec.build(load_balancer())
    assert [li["id"] for li in doc["listeners"]] == ["li-1"]
    assert [p["id"] for p in doc["pools"]] == ["pool-1", "pool-3"]
    pool1 = doc["pools"][0]
    assert [m["id"] for m in pool1["members"]] == ["m-1"]
    assert pool1["health_monitor"]["id"] == "hm-1"
    assert doc["pools"][1]["health_monitor"] is None
    policies = doc["listeners"][0]["l7policies"]
    assert [p["id"] for p in policies] == ["pol-1"]
    assert [r["id"] for r in policies[0]["rules"]] == ["r-1"]


def test_admin_state_is_carried_as_enabled() -> None:
    lb = load_balancer()
    lb.pools[0].members[0].admin_state_up = False
    lb.listeners[0].admin_state_up = False
    doc = spec.build(lb)
    assert doc["pools"][0]["members"][0]["enabled"] is False
    assert doc["listeners"][0]["enabled"] is False
    assert doc["listeners"][0]["default_pool_id"] == "pool-1"


def test_pool_without_monitor() -> None:
    lb = load_balancer()
    lb.pools = [pool("p", members=[])]
    assert spec.build(lb)["pools"][0]["health_monitor"] is None


def test_hash_is_stable() -> None:
    first = spec.build(load_balancer())
    second = spec.build(load_balancer())
    assert first == second
    assert first["hash"] == second["hash"]
    assert spec.digest(first) == first["hash"]
    # The hash does not cover itself.
    tampered = dict(first, hash="x")
    assert spec.digest(tampered) == first["hash"]


def test_hash_covers_the_content_not_key_order() -> None:
    doc = spec.build(load_balancer())
    reordered = json.loads(json.dumps(doc, sort_keys=False))
    reordered = dict(reversed(list(reordered.items())))
    assert spec.digest(reordered) == doc["hash"]


def test_hash_changes_when_content_changes() -> None:
    base = spec.build(load_balancer())["hash"]
    changes = [
        lambda lb: setattr(lb.pools[0].members[0], "weight", 5),
        lambda lb: setattr(lb.pools[0].members[0], "admin_state_up", False),
        lambda lb: setattr(lb.listeners[0], "connection_limit", 100),
        lambda lb: setattr(lb.pools[0].health_monitor, "delay", 10),
        lambda lb: setattr(lb.listeners[0].l7policies[0].rules[0], "value", "/other"),
        lambda lb: setattr(lb, "vip_address", "203.0.113.6"),
        lambda lb: setattr(lb.pools[0].members[0], "provisioning_status", "PENDING_DELETE"),
        lambda lb: lb.pools[0].members.append(member("m-new")),
    ]
    seen = {base}
    for change in changes:
        lb = load_balancer()
        change(lb)
        digest = spec.build(lb)["hash"]
        assert digest != base
        seen.add(digest)
    assert len(seen) == len(changes) + 1


def test_statuses_other_than_pending_delete_do_not_change_the_document() -> None:
    base = spec.build(load_balancer())
    lb = load_balancer()
    lb.pools[0].members[0].provisioning_status = "PENDING_UPDATE"
    lb.listeners[0].provisioning_status = "PENDING_CREATE"
    assert spec.build(lb) == base


def test_build_does_not_modify_its_input() -> None:
    lb = load_balancer()
    before = copy.deepcopy(vars(lb))
    spec.build(lb)
    assert json.dumps(vars(lb), default=vars, sort_keys=True) == json.dumps(
        before, default=vars, sort_keys=True)


def test_member_subnets_are_those_members_name_but_the_vips() -> None:
    lb = load_balancer()
    lb.pools[0].members += [member("m-3", subnet_id="subnet-2"),
                            member("m-4", subnet_id="subnet-1"),  # the VIP's: plugged already
                            member("m-5", "PENDING_DELETE", subnet_id="subnet-9")]
    lb.pools[2].members = [member("m-6", subnet_id="subnet-3")]
    assert spec.member_subnets(spec.build(lb)) == {"subnet-2", "subnet-3"}
    assert spec.member_subnets(spec.build(load_balancer())) == set()
