"""Quotas enforced per project at create: Octavia's 403 and fault text, one kind at a time,
inside a fully populated create and a batch member update with nothing written when over,
`-1` unlimited, defaults from [quotas], concurrent creates that cannot overshoot, and no
enforcement under noauth. Callers come from `auth_strategy = testing` (identity headers
trusted, policy and quotas applied as under keystone); one test goes through keystone."""

from __future__ import annotations

import concurrent.futures
import pathlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests import harness
from tests.harness import Client, Stack
from tests.keystone_tokens import AUTHTOKEN, fake_keystone

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"
OWNER = {"X-Project-Id": "p1", "X-Roles": "member,reader"}
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin,member,reader"}


def met(resource: str) -> dict[str, Any]:
    return {"faultcode": "Client", "faultstring": f"Quota has been met for resources: {resource}",
            "debuginfo": None}


def new_stack(backend: str, overrides: dict[str, dict[str, Any]],
              auth_overrides: dict[str, dict[str, Any]] | None = None
              ) -> tuple[Stack, str, str]:
    state = harness.new_state_dir()
    url = (f"sqlite:///{pathlib.Path(state) / 'ottava.db'}" if backend == "sqlite"
           else harness.server_database(backend))
    return Stack(url, state, overrides, auth_overrides=auth_overrides), state, url


def drop(stack: Stack, backend: str, state: str, url: str) -> None:
    stack.stop()
    if backend != "sqlite":
        harness.drop_server_database(backend, url)
    shutil.rmtree(state, ignore_errors=True)


# The default listener quota comes from configuration ([quotas]); the rest stay -1.
TESTING = {"api_settings": {"auth_strategy": "testing"}, "quotas": {"default_listener_quota": 2}}


@pytest.fixture(scope="module")
def testing_stack() -> Iterator[Stack]:
    # The counting and its rollback are plain SQL; SQLite keeps these tests quick. The one
    # test whose outcome depends on the database's locking runs on every back end.
    stack, state, url = new_stack("sqlite", TESTING)
    yield stack
    drop(stack, "sqlite", state, url)


@pytest.fixture
def owner(testing_stack: Stack) -> Client:
    testing_stack.settle()
    testing_stack.clear()
    return Client(testing_stack.url, OWNER)


@pytest.fixture
def admin(testing_stack: Stack, owner: Client) -> Client:
    return Client(testing_stack.url, ADMIN)


def set_quota(admin: Client, **values: int) -> None:
    resp = admin.put("/v2/lbaas/quotas/p1", {"quota": values})
    assert resp.status_code == 202, resp.text


def create_lb(api: Client, **extra: Any) -> Any:
    return api.post(LB, {"loadbalancer": {"vip_subnet_id": SUBNET, **extra}})


def active_lb(api: Client) -> str:
    resp = create_lb(api)
    assert resp.status_code == 201, resp.text
    lb_id = resp.json()["loadbalancer"]["id"]
    api.wait(f"{LB}/{lb_id}", "loadbalancer")
    return str(lb_id)


def wait_lb(api: Client, lb_id: str) -> None:
    api.wait(f"{LB}/{lb_id}", "loadbalancer")


def test_load_balancer_quota(owner: Client, admin: Client, testing_stack: Stack) -> None:
    set_quota(admin, load_balancer=1)
    active_lb(owner)
    testing_stack.settle()
    before = testing_stack.snapshot()
    resp = create_lb(owner)
    assert resp.status_code == 403 and resp.json() == met("Load Balancer")
    assert testing_stack.snapshot() == before
    # The quota is per project: another project is not limited by p1's.
    other = Client(testing_stack.url, {"X-Project-Id": "p2", "X-Roles": "member"})
    assert create_lb(other).status_code == 201
    # An admin creating for p1 is held to p1's quota too.
    assert create_lb(admin, project_id="p1").status_code == 403
    # Back to unlimited.
    set_quota(admin, load_balancer=-1)
    assert create_lb(owner).status_code == 201


# (quota column, fault title, how to create one more object under the tree built below)
CHILDREN = [
    ("listener", "Listener", lambda t: ("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": t["lb"], "protocol": "TCP", "protocol_port": 81}})),
    ("pool", "Pool", lambda t: ("/v2/lbaas/pools", {"pool": {
        "loadbalancer_id": t["lb"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})),
    ("health_monitor", "Health Monitor", lambda t: ("/v2/lbaas/healthmonitors", {
        "healthmonitor": {"pool_id": t["bare_pool"], "type": "TCP", "delay": 5,
                          "timeout": 3, "max_retries": 3}})),
    ("member", "Member", lambda t: (f"/v2/lbaas/pools/{t['pool']}/members", {"member": {
        "address": "192.0.2.20", "protocol_port": 80}})),
    ("l7policy", "L7 Policy", lambda t: ("/v2/lbaas/l7policies", {"l7policy": {
        "listener_id": t["listener"], "action": "REJECT"}})),
    ("l7rule", "L7 Rule", lambda t: (f"/v2/lbaas/l7policies/{t['policy']}/rules", {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/y"}})),
]


def build_tree(api: Client) -> dict[str, str]:
    """One of each kind in p1: lb, listener, pool (+member, +monitor), policy (+rule), and a
    pool without monitor."""
    lb_id = active_lb(api)
    ids = {"lb": lb_id}

    def make(path: str, body: dict[str, Any], key: str) -> str:
        resp = api.post(path, body)
        assert resp.status_code == 201, resp.text
        wait_lb(api, lb_id)
        return str(resp.json()[key]["id"])

    ids["listener"] = make("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80}}, "listener")
    ids["pool"] = make("/v2/lbaas/pools", {"pool": {
        "listener_id": ids["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
        "pool")
    ids["bare_pool"] = make("/v2/lbaas/pools", {"pool": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, "pool")
    make("/v2/lbaas/healthmonitors", {"healthmonitor": {
        "pool_id": ids["pool"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}},
        "healthmonitor")
    make(f"/v2/lbaas/pools/{ids['pool']}/members", {"member": {
        "address": "192.0.2.10", "protocol_port": 80}}, "member")
    ids["policy"] = make("/v2/lbaas/l7policies", {"l7policy": {
        "listener_id": ids["listener"], "action": "REJECT"}}, "l7policy")
    make(f"/v2/lbaas/l7policies/{ids['policy']}/rules", {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}}, "rule")
    return ids


@pytest.mark.parametrize(("column", "title", "request_of"), CHILDREN,
                         ids=[c[0] for c in CHILDREN])
def test_child_quotas(owner: Client, admin: Client, testing_stack: Stack, column: str,
                      title: str, request_of: Any) -> None:
    tree = build_tree(owner)
    # The tree holds 2 pools and 1 of every other kind: the quota is met at that.
    set_quota(admin, **{column: 2 if column == "pool" else 1})
    path, body = request_of(tree)
    testing_stack.settle()
    before = testing_stack.snapshot()
    resp = owner.post(path, body)
    assert resp.status_code == 403 and resp.json() == met(title), resp.text
    assert testing_stack.snapshot() == before
    # Raising the quota by one lets exactly one more in.
    set_quota(admin, **{column: 3 if column == "pool" else 2})
    resp = owner.post(path, body)
    assert resp.status_code == 201, resp.text


def test_default_quota_from_configuration(owner: Client, admin: Client) -> None:
    lb_id = active_lb(owner)
    for port in (80, 81):
        resp = owner.post("/v2/lbaas/listeners", {"listener": {
            "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": port}})
        assert resp.status_code == 201, resp.text
        wait_lb(owner, lb_id)
    resp = owner.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 82}})
    assert resp.status_code == 403 and resp.json() == met("Listener")
    assert owner.get("/v2/lbaas/quotas/p1").json()["quota"]["listener"] == 2
    # A project's own value overrides the default; -1 lifts it.
    set_quota(admin, listener=-1)
    assert owner.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 82}}).status_code == 201


def graph(members: int, rules: int = 1) -> dict[str, Any]:
    return {"loadbalancer": {
        "vip_subnet_id": SUBNET,
        "listeners": [{
            "protocol": "HTTP", "protocol_port": 80,
            "default_pool": {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                             "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3,
                                               "max_retries": 3},
                             "members": [{"address": f"192.0.2.{i + 10}", "protocol_port": 80}
                                         for i in range(members)]},
            "l7policies": [{"action": "REJECT", "rules": [
                {"type": "PATH", "compare_type": "STARTS_WITH", "value": f"/{i}"}
                for i in range(rules)]}],
        }],
        "pools": [{"name": "spare", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}],
    }}


@pytest.mark.parametrize(("quota", "body", "title"), [
    ({"member": 2}, graph(members=3), "Member"),
    ({"pool": 1}, graph(members=1), "Pool"),
    ({"l7rule": 1}, graph(members=1, rules=2), "L7 Rule"),
    ({"health_monitor": 0}, graph(members=1), "Health Monitor"),
    ({"listener": 0}, graph(members=1), "Listener"),
], ids=["members", "pools", "rules", "monitor", "listener"])
def test_fully_populated_create_fits_entirely_or_writes_nothing(
        owner: Client, admin: Client, testing_stack: Stack, quota: dict[str, int],
        body: dict[str, Any], title: str) -> None:
    set_quota(admin, **quota)
    testing_stack.settle()
    before = testing_stack.snapshot()
    resp = owner.post(LB, body)
    assert resp.status_code == 403 and resp.json() == met(title), resp.text
    assert testing_stack.snapshot() == before
    set_quota(admin, **{k: v + 1 for k, v in quota.items()})
    resp = owner.post(LB, body)
    assert resp.status_code == 201, resp.text


def test_batch_member_update_counts_only_new_members(owner: Client, admin: Client,
                                                     testing_stack: Stack) -> None:
    tree = build_tree(owner)  # the pool has 192.0.2.10:80
    path = f"/v2/lbaas/pools/{tree['pool']}/members"
    set_quota(admin, member=3)
    wanted = [{"address": f"192.0.2.{i}", "protocol_port": 80} for i in (10, 11, 12, 13)]
    testing_stack.settle()
    before = testing_stack.snapshot()
    # 1 kept + 3 new = 4 > 3: refused whole, nothing written.
    resp = owner.put(path, {"members": wanted})
    assert resp.status_code == 403 and resp.json() == met("Member"), resp.text
    assert testing_stack.snapshot() == before
    # Members the batch deletes still count until removed (as in Octavia): replacing the one
    # member with three new ones needs room for the three.
    resp = owner.put(path, {"members": wanted[1:]})
    assert resp.status_code == 403, resp.text
    assert testing_stack.snapshot() == before
    # Within the quota it goes through.
    resp = owner.put(path, {"members": wanted[:3]})
    assert resp.status_code == 202, resp.text
    wait_lb(owner, tree["lb"])
    assert len(owner.get(path).json()["members"]) == 3


@pytest.mark.parametrize("backend", harness.backends())
def test_concurrent_creates_cannot_overshoot(backend: str) -> None:
    stack, state, url = new_stack(backend, TESTING)
    try:
        owner = Client(stack.url, OWNER)
        set_quota(Client(stack.url, ADMIN), load_balancer=3, member=4)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(lambda _: create_lb(Client(stack.url, OWNER))
                                    .status_code, range(8)))
        assert codes == [201] * 3 + [403] * 5
        lbs = owner.get(LB).json()["loadbalancers"]
        assert len(lbs) == 3
        # Members of different load balancers (no shared lock but the project's quota).
        for lb in lbs:
            wait_lb(owner, lb["id"])
        pools = []
        for lb in lbs:
            resp = owner.post("/v2/lbaas/pools", {"pool": {
                "loadbalancer_id": lb["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
            assert resp.status_code == 201, resp.text
            pools.append(resp.json()["pool"]["id"])
            wait_lb(owner, lb["id"])

        def add(i: int) -> int:
            path = f"/v2/lbaas/pools/{pools[i % 3]}/members"
            return int(Client(stack.url, OWNER).post(path, {"member": {
                "address": f"192.0.2.{i + 1}", "protocol_port": 80}}).status_code)

        with concurrent.futures.ThreadPoolExecutor(9) as pool:
            codes = list(pool.map(add, range(9)))
        # A create on a load balancer another create holds is a 409; none may overshoot.
        assert codes.count(201) <= 4 and set(codes) <= {201, 403, 409}, codes
        stack.settle()
        members = sum(len(owner.get(f"/v2/lbaas/pools/{p}/members").json()["members"])
                      for p in pools)
        assert members == codes.count(201)
    finally:
        drop(stack, backend, state, url)


def test_noauth_enforces_no_quota() -> None:
    stack, state, url = new_stack("sqlite", {})
    try:
        api = Client(stack.url, {"X-Project-Id": "p1"})
        assert api.put("/v2/lbaas/quotas/p1", {"quota": {"load_balancer": 0}}).status_code == 202
        assert create_lb(api).status_code == 201
    finally:
        drop(stack, "sqlite", state, url)


def test_keystone_callers_are_held_to_their_quota() -> None:
    with fake_keystone() as tokens:
        stack, state, url = new_stack("sqlite", {"api_settings": {"auth_strategy": "keystone"}},
                                      {"keystone_authtoken": AUTHTOKEN})
        try:
            admin = Client(stack.url, {"X-Auth-Token": tokens.mint("admins", ["admin"])})
            member = Client(stack.url, {"X-Auth-Token": tokens.mint("p1", ["member"])})
            resp = admin.put("/v2/lbaas/quotas/p1", {"quota": {"loadbalancer": 1}})
            assert resp.status_code == 202, resp.text
            assert create_lb(member).status_code == 201
            resp = create_lb(member)
            assert resp.status_code == 403 and resp.json() == met("Load Balancer")
        finally:
            drop(stack, "sqlite", state, url)
