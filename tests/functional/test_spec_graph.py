"""The desired state read as plain rows (`ottava.db.spec_graph`) is the one the ORM's object
graph gives, on every database back end: every listener, L7 policy (in position order) and
rule, pool, member and health monitor of a fully populated load balancer, its amphorae, and
nothing of another load balancer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ottava.db import loads, spec_graph
from ottava.db import models as m
from ottava.domain import spec
from tests.conftest import VIP_SUBNET
from tests.harness import Client

LB = "/v2/lbaas/loadbalancers"


def populated(api: Client, name: str) -> str:
    members = [{"address": f"192.0.2.{i}", "protocol_port": 80 + i} for i in range(1, 4)]
    body = {"loadbalancer": {
        "name": name, "vip_subnet_id": VIP_SUBNET,
        "listeners": [
            {"name": "web", "protocol": "HTTP", "protocol_port": 80,
             "default_pool": {"name": "web-pool"},
             "l7policies": [
                 {"action": "REDIRECT_TO_URL", "redirect_url": "http://example.com/",
                  "position": 2, "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                                            "value": "/old"}]},
                 {"action": "REJECT", "position": 1,
                  "rules": [{"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Bad",
                             "value": "1"},
                            {"type": "PATH", "compare_type": "REGEX", "value": "^/x"}]}]},
            {"name": "tcp", "protocol": "TCP", "protocol_port": 9000,
             "allowed_cidrs": ["198.51.100.0/24"]}],
        "pools": [
            {"name": "web-pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": members,
             "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}},
            {"name": "spare", "protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS"}]}}
    created = api.post(LB, body)
    assert created.status_code == 201, created.text
    ident = str(created.json()["loadbalancer"]["id"])
    api.wait(f"{LB}/{ident}", "loadbalancer")
    return ident


def orm_document(stack: Any, lb_id: str) -> dict[str, Any]:
    with stack.db.reader() as s:
        graph = s.scalars(select(m.LoadBalancer).where(m.LoadBalancer.id == lb_id)
                          .options(*loads.GRAPH)).one()
        return spec.build(graph)


def by_id(document: Any) -> Any:
    """The document with every list of objects in id order (the ORM's lists come in the
    database's order, which no query asked for)."""
    if isinstance(document, dict):
        return {k: by_id(v) for k, v in document.items() if k != "hash"}
    if isinstance(document, list):
        items = [by_id(v) for v in document]
        if items and all(isinstance(v, dict) and "id" in v for v in items):
            return sorted(items, key=lambda v: v["id"])
        return items
    return document


def test_the_rows_give_the_document_the_object_graph_gives(
        api: Client, stack: Any) -> None:
    lb_id = populated(api, "graph")
    populated(api, "another")  # whose rows must not leak in
    with stack.db.reader() as s:
        amphora_ids = list(s.scalars(select(m.Amphora.id)
                                     .where(m.Amphora.load_balancer_id == lb_id)))
    assert amphora_ids

    tree, amphorae = stack.db.read(spec_graph.load, lb_id, [*amphora_ids, "not-there"])
    document = spec.build(tree)

    assert [a.id for a in amphorae] == amphora_ids
    assert by_id(document) == by_id(orm_document(stack, lb_id))
    assert len(document["listeners"]) == 2 and len(document["pools"]) == 2
    web = next(li for li in document["listeners"] if li["protocol_port"] == 80)
    assert [p["position"] for p in web["l7policies"]] == [1, 2]
    assert [len(p["rules"]) for p in web["l7policies"]] == [2, 1]
    pool = next(p for p in document["pools"] if p["members"])
    assert len(pool["members"]) == 3 and pool["health_monitor"]["delay"] == 5
    # The same rows give the same document, hash included.
    assert spec.build(stack.db.read(spec_graph.load, lb_id)[0]) == document
