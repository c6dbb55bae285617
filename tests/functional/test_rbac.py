"""Octavia's policy table, through keystonemiddleware: every role, action and ownership.

Each policy mode gets a stack with `auth_strategy = keystone` (token validation replaced by
tests/keystone_tokens.py) holding one tree of objects of project p1. Every persona (a token
of some project with some roles) tries every action on p1's objects; the expectation comes
from what the persona's roles grant (read, write, global read, quotas, admin) and whether
the persona is of p1:

- keystone-defaults: oslo.policy's defaults (enforce_new_defaults = True): Keystone's
  reader/member/admin roles, the load-balancer_* roles grant nothing;
- advanced: etc/policy/ottava-advanced-rbac-policy.yaml, Octavia's load-balancer_* roles;
- deprecated-roles: enforce_new_defaults = False, both sets honoured.

Refusals are Octavia's 403 fault; successes are checked for their status code (and lists for
whether p1's object is in them). SQLite only: what is tested is the API's policy, not the
database.
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import harness
from tests.harness import Client, Stack
from tests.keystone_tokens import AUTHTOKEN, Tokens, fake_keystone

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADVANCED_POLICY = ROOT / "etc" / "policy" / "ottava-advanced-rbac-policy.yaml"
SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"
DENIED = {"faultcode": "Client",
          "faultstring": "Policy does not allow this request to be performed.",
          "debuginfo": None}

# What a persona's roles grant; "read"/"write"/"quota_read" within its own project.
READ, WRITE, READ_GLOBAL = "read", "write", "read_global"
QUOTA_READ, QUOTA_READ_GLOBAL, QUOTA_WRITE, ADMIN = (
    "quota_read", "quota_read_global", "quota_write", "admin")
EVERYTHING = frozenset({READ, WRITE, READ_GLOBAL, QUOTA_READ, QUOTA_READ_GLOBAL, QUOTA_WRITE,
                        ADMIN})
OBSERVER = frozenset({READ, QUOTA_READ})
MEMBER = frozenset({READ, WRITE, QUOTA_READ})
GLOBAL_OBSERVER = frozenset({READ, READ_GLOBAL, QUOTA_READ, QUOTA_READ_GLOBAL})
QUOTA_ADMIN = frozenset({QUOTA_READ, QUOTA_READ_GLOBAL, QUOTA_WRITE})
NOTHING: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class Persona:
    name: str
    project: str
    roles: tuple[str, ...]
    grants: frozenset[str]
    system: bool = False

    def can(self, grant: str) -> bool:
        return grant in self.grants or ADMIN in self.grants

    @property
    def of_p1(self) -> bool:
        return self.project == "p1"


MODES: dict[str, dict[str, dict[str, Any]]] = {
    "keystone-defaults": {},
    "advanced": {"oslo_policy": {"policy_file": str(ADVANCED_POLICY)}},
    "deprecated-roles": {"oslo_policy": {"enforce_new_defaults": False}},
}

PERSONAS: dict[str, list[Persona]] = {
    "keystone-defaults": [
        Persona("reader-p1", "p1", ("reader",), OBSERVER),
        Persona("member-p1", "p1", ("member",), MEMBER),
        Persona("member-p2", "p2", ("member",), MEMBER),
        Persona("admin-p3", "p3", ("admin",), EVERYTHING),
        Persona("lb_member-p1", "p1", ("load-balancer_member",), NOTHING),
        Persona("lb_admin-p3", "p3", ("load-balancer_admin",), NOTHING),
        Persona("no-role-p1", "p1", ("heat_stack_owner",), NOTHING),
        Persona("system-admin", "p1", ("admin",), NOTHING, system=True),
    ],
    "advanced": [
        Persona("observer-p1", "p1", ("load-balancer_observer",), OBSERVER),
        Persona("global_observer-p2", "p2", ("load-balancer_global_observer",),
                GLOBAL_OBSERVER),
        Persona("lb_member-p1", "p1", ("load-balancer_member",), MEMBER),
        Persona("lb_member-p2", "p2", ("load-balancer_member",), MEMBER),
        Persona("quota_admin-p2", "p2", ("load-balancer_quota_admin",), QUOTA_ADMIN),
        Persona("lb_admin-p3", "p3", ("load-balancer_admin",), EVERYTHING),
        Persona("admin-p3", "p3", ("admin",), EVERYTHING),
        Persona("member-p1", "p1", ("member",), NOTHING),
    ],
    "deprecated-roles": [
        Persona("observer-p1", "p1", ("load-balancer_observer",), OBSERVER),
        Persona("reader-p1", "p1", ("reader",), OBSERVER),
        Persona("lb_member-p1", "p1", ("load-balancer_member",), MEMBER),
        Persona("member-p2", "p2", ("member",), MEMBER),
        Persona("global_observer-p2", "p2", ("load-balancer_global_observer",),
                GLOBAL_OBSERVER),
        Persona("quota_admin-p2", "p2", ("load-balancer_quota_admin",), QUOTA_ADMIN),
        Persona("lb_admin-p3", "p3", ("load-balancer_admin",), EVERYTHING),
        Persona("no-role-p1", "p1", ("heat_stack_owner",), NOTHING),
    ],
}


# --- the stacks ------------------------------------------------------------------------------

class Env:
    """One policy mode's stack, tokens and p1's tree of objects."""

    def __init__(self, stack: Stack, tokens: Tokens) -> None:
        self.stack, self.tokens = stack, tokens
        self.admin = Client(stack.url, {"X-Auth-Token": tokens.mint("p3", ["admin"])})
        self.clients: dict[str, Client] = {}
        self.ports = itertools.count(1000)
        self.addresses = itertools.count(1)
        self.tree: dict[str, str] = {}

    def client(self, persona: Persona) -> Client:
        if persona.name not in self.clients:
            token = self.tokens.mint(persona.project, persona.roles, system=persona.system)
            self.clients[persona.name] = Client(self.stack.url, {"X-Auth-Token": token})
        return self.clients[persona.name]

    def made(self, path: str, body: dict[str, Any], key: str) -> str:
        """Create (as admin) and wait for the load balancer to be ACTIVE again; the new
        object's id (an availability zone's name)."""
        resp = self.admin.post(path, body)
        assert resp.status_code == 201, resp.text
        self.stack.settle()
        obj = resp.json()[key]
        return str(obj.get("id") or obj["name"])

    def port(self) -> int:
        return next(self.ports)

    def address(self) -> str:
        n = next(self.addresses)
        return f"10.{n // 250}.{n % 250}.1"

    # Objects of p1 that a test may change or delete.
    def lb(self) -> str:
        return self.made(LB, {"loadbalancer": {"vip_subnet_id": SUBNET, "project_id": "p1"}},
                         "loadbalancer")

    def listener(self) -> str:
        return self.made("/v2/lbaas/listeners", {"listener": {
            "loadbalancer_id": self.tree["lb"], "protocol": "TCP",
            "protocol_port": self.port()}}, "listener")

    def pool(self) -> str:
        return self.made("/v2/lbaas/pools", {"pool": {
            "loadbalancer_id": self.tree["lb"], "protocol": "TCP",
            "lb_algorithm": "ROUND_ROBIN"}}, "pool")

    def member(self) -> str:
        return self.made(f"/v2/lbaas/pools/{self.tree['pool']}/members", {"member": {
            "address": self.address(), "protocol_port": 80}}, "member")

    def monitor(self) -> str:
        return self.made("/v2/lbaas/healthmonitors", {"healthmonitor": {
            "pool_id": self.pool(), "type": "TCP", "delay": 5, "timeout": 3,
            "max_retries": 3}}, "healthmonitor")

    def policy(self) -> str:
        return self.made("/v2/lbaas/l7policies", {"l7policy": {
            "listener_id": self.tree["listener"], "action": "REJECT"}}, "l7policy")

    def rule(self) -> str:
        return self.made(f"/v2/lbaas/l7policies/{self.tree['policy']}/rules", {"rule": {
            "type": "PATH", "compare_type": "STARTS_WITH", "value": "/v"}}, "rule")

    def amphora(self) -> str:
        amps = self.admin.get("/v2/octavia/amphorae").json()["amphorae"]
        return str(next(a["id"] for a in amps if a["loadbalancer_id"] == self.tree["lb"]))

    def build_tree(self) -> None:
        t = self.tree
        t["lb"] = self.lb()
        t["listener"] = self.made("/v2/lbaas/listeners", {"listener": {
            "loadbalancer_id": t["lb"], "protocol": "HTTP", "protocol_port": 80}}, "listener")
        t["pool"] = self.made("/v2/lbaas/pools", {"pool": {
            "listener_id": t["listener"], "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN"}}, "pool")
        t["member"] = self.member()
        t["healthmonitor"] = self.made("/v2/lbaas/healthmonitors", {"healthmonitor": {
            "pool_id": t["pool"], "type": "HTTP", "delay": 5, "timeout": 3,
            "max_retries": 3}}, "healthmonitor")
        t["policy"] = self.policy()
        t["rule"] = self.rule()
        profile = self.made("/v2/lbaas/flavorprofiles", {"flavorprofile": {
            "name": "fp", "provider_name": "amphora", "flavor_data": "{}"}}, "flavorprofile")
        t["flavorprofile"] = profile
        t["flavor"] = self.made("/v2/lbaas/flavors", {"flavor": {
            "name": "f", "flavor_profile_id": profile}}, "flavor")
        zone_profile = self.made("/v2/lbaas/availabilityzoneprofiles", {
            "availability_zone_profile": {"name": "azp", "provider_name": "amphora",
                                          "availability_zone_data": "{}"}},
            "availability_zone_profile")
        t["azprofile"] = zone_profile
        t["az"] = self.made("/v2/lbaas/availabilityzones", {"availability_zone": {
            "name": "az", "availability_zone_profile_id": zone_profile}}, "availability_zone")


ENVS: dict[str, Env] = {}


@pytest.fixture(scope="module")
def envs() -> Iterator[dict[str, Env]]:
    states = []
    with fake_keystone() as tokens:
        try:
            for mode, auth in MODES.items():
                state = harness.new_state_dir()
                states.append(state)
                stack = Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state, {
                    "api_settings": {"auth_strategy": "keystone"},
                }, auth_overrides={"keystone_authtoken": AUTHTOKEN, **auth})
                ENVS[mode] = Env(stack, tokens)
                ENVS[mode].build_tree()
            yield ENVS
        finally:
            for env in ENVS.values():
                env.stack.stop()
            ENVS.clear()
            for state in states:
                shutil.rmtree(state, ignore_errors=True)


# --- the actions -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Action:
    """One API call on p1's objects. `run(env, client, allowed)` makes it; when `allowed`
    it may first create (as admin) the object it changes or deletes."""

    name: str
    kind: str  # which expectation applies (see expected())
    run: Callable[[Env, Client, bool], Any]
    ok: int = 200
    listed: str | None = None  # for lists: the collection key and...
    listed_id: str | None = None  # ...which tree object p1's entry is


def get(path: str) -> Callable[[Env, Client, bool], Any]:
    return lambda env, c, allowed: c.get(path.format(**env.tree))


def put(path: str, body: dict[str, Any], victim: Callable[[Env], str] | None = None,
        key: str = "") -> Callable[[Env, Client, bool], Any]:
    def run(env: Env, c: Client, allowed: bool) -> Any:
        ids = dict(env.tree)
        if victim is not None:
            # Refused calls aim at the tree's object (`key`): nothing may happen to it.
            ids["victim"] = victim(env) if allowed else env.tree[key]
        return c.put(path.format(**ids), body)
    return run


def delete(path: str, victim: Callable[[Env], str], key: str) -> Callable[[Env, Client, bool],
                                                                           Any]:
    def run(env: Env, c: Client, allowed: bool) -> Any:
        ids = dict(env.tree)
        # Refused calls aim at the tree's object: nothing may happen to it.
        ids["victim"] = victim(env) if allowed else env.tree[key]
        return c.delete(path.format(**ids))
    return run


def post(path: str, body: Callable[[Env, bool], dict[str, Any]]
         ) -> Callable[[Env, Client, bool], Any]:
    return lambda env, c, allowed: c.post(path.format(**env.tree), body(env, allowed))


def crud(obj: str, plural: str, key: str, path: str, body: Callable[[Env, bool], Any],
         victim: Callable[[Env], str], tree_key: str, update: dict[str, Any],
         listing: str = "list") -> list[Action]:
    one = path + "/{" + tree_key + "}"
    return [
        Action(f"{obj}:get_all", listing, get(path), listed=plural, listed_id=tree_key),
        Action(f"{obj}:get_one", "read", get(one)),
        Action(f"{obj}:post", "write", post(path, body), 201),
        Action(f"{obj}:put", "write", put(one, {key: update})),
        Action(f"{obj}:delete", "write", delete(path + "/{victim}", victim, tree_key), 204),
    ]


def new_lb(project: str | None) -> Callable[[Env, bool], dict[str, Any]]:
    def body(env: Env, allowed: bool) -> dict[str, Any]:
        values: dict[str, Any] = {"vip_subnet_id": SUBNET}
        if project:
            values["project_id"] = project
        return {"loadbalancer": values}
    return body


def quota_victim(env: Env) -> str:
    resp = env.admin.put("/v2/lbaas/quotas/p1", {"quota": {"pool": -1}})
    assert resp.status_code == 202, resp.text
    return "p1"


ACTIONS: list[Action] = [
    Action("loadbalancer:get_all", "list", get(LB), listed="loadbalancers", listed_id="lb"),
    Action("loadbalancer:get_all?project_id=p1", "list_p1", get(LB + "?project_id=p1"),
           listed="loadbalancers", listed_id="lb"),
    Action("loadbalancer:get_one", "read", get(LB + "/{lb}")),
    Action("loadbalancer:get_stats", "read", get(LB + "/{lb}/stats")),
    Action("loadbalancer:get_status", "read", get(LB + "/{lb}/status")),
    Action("loadbalancer:post (own project)", "create_own", post(LB, new_lb(None)), 201),
    Action("loadbalancer:post (project_id p1)", "write", post(LB, new_lb("p1")), 201),
    Action("loadbalancer:put", "write", put(LB + "/{lb}", {"loadbalancer": {"name": "x"}})),
    Action("loadbalancer:delete", "write", delete(LB + "/{victim}", Env.lb, "lb"), 204),
    Action("loadbalancer:put_failover", "admin", put(LB + "/{lb}/failover", {}), 202),
    *crud("listener", "listeners", "listener", "/v2/lbaas/listeners",
          lambda env, allowed: {"listener": {"loadbalancer_id": env.tree["lb"],
                                             "protocol": "TCP", "protocol_port": env.port()}},
          Env.listener, "listener", {"name": "x"}),
    Action("listener:get_stats", "read", get("/v2/lbaas/listeners/{listener}/stats")),
    *crud("pool", "pools", "pool", "/v2/lbaas/pools",
          lambda env, allowed: {"pool": {"loadbalancer_id": env.tree["lb"], "protocol": "TCP",
                                         "lb_algorithm": "ROUND_ROBIN"}},
          Env.pool, "pool", {"name": "x"}),
    *crud("member", "members", "member", "/v2/lbaas/pools/{pool}/members",
          lambda env, allowed: {"member": {"address": env.address(), "protocol_port": 80}},
          Env.member, "member", {"name": "x"}, listing="read"),
    Action("member:put (batch)", "write",
           put("/v2/lbaas/pools/{victim}/members", {"members": []}, Env.pool, "pool"), 202),
    *crud("healthmonitor", "healthmonitors", "healthmonitor", "/v2/lbaas/healthmonitors",
          lambda env, allowed: {"healthmonitor": {
              "pool_id": env.pool() if allowed else env.tree["pool"], "type": "TCP",
              "delay": 5, "timeout": 3, "max_retries": 3}},
          Env.monitor, "healthmonitor", {"name": "x"}),
    *crud("l7policy", "l7policies", "l7policy", "/v2/lbaas/l7policies",
          lambda env, allowed: {"l7policy": {"listener_id": env.tree["listener"],
                                             "action": "REJECT"}},
          Env.policy, "policy", {"name": "x"}),
    *crud("l7rule", "rules", "rule", "/v2/lbaas/l7policies/{policy}/rules",
          lambda env, allowed: {"rule": {"type": "PATH", "compare_type": "STARTS_WITH",
                                         "value": "/w"}},
          Env.rule, "rule", {"value": "/z"}, listing="read"),
    Action("quota:get_all", "quota_list", get("/v2/lbaas/quotas")),
    Action("quota:get_one", "quota_read", get("/v2/lbaas/quotas/p1")),
    Action("quota:get_defaults", "quota_read", get("/v2/lbaas/quotas/p1/default")),
    Action("quota:get_defaults (own)", "quota_own", get("/v2/lbaas/quotas/defaults")),
    Action("quota:put", "quota_write", put("/v2/lbaas/quotas/p1", {"quota": {"pool": -1}}),
           202),
    Action("quota:delete", "quota_write", delete("/v2/lbaas/quotas/{victim}", quota_victim,
                                                 "lb"), 202),
    Action("amphora:get_all", "admin", get("/v2/octavia/amphorae")),
    Action("amphora:get_one", "admin",
           lambda env, c, allowed: c.get(f"/v2/octavia/amphorae/{env.amphora()}")),
    Action("amphora:get_stats", "admin",
           lambda env, c, allowed: c.get(f"/v2/octavia/amphorae/{env.amphora()}/stats")),
    Action("amphora:put_config", "admin",
           lambda env, c, allowed: c.put(f"/v2/octavia/amphorae/{env.amphora()}/config"),
           202),
    Action("amphora:put_failover", "admin",
           lambda env, c, allowed: c.put(f"/v2/octavia/amphorae/{env.amphora()}/failover"),
           202),
    # Only an amphora in ERROR may be deleted: allowed callers get the service's 409.
    Action("amphora:delete", "admin",
           lambda env, c, allowed: c.delete(f"/v2/octavia/amphorae/{env.amphora()}"), 409),
    Action("provider:get_all", "own_read", get("/v2/lbaas/providers")),
    Action("provider-flavor:get_all", "admin",
           get("/v2/lbaas/providers/amphora/flavor_capabilities")),
    Action("provider-availability-zone:get_all", "admin",
           get("/v2/lbaas/providers/amphora/availability_zone_capabilities")),
    Action("flavor:get_all", "own_read", get("/v2/lbaas/flavors")),
    Action("flavor:get_one", "own_read", get("/v2/lbaas/flavors/{flavor}")),
    Action("flavor:post", "admin", post("/v2/lbaas/flavors", lambda env, allowed: {"flavor": {
        "name": uuid.uuid4().hex, "flavor_profile_id": env.tree["flavorprofile"]}}), 201),
    Action("flavor:put", "admin", put("/v2/lbaas/flavors/{flavor}", {"flavor": {
        "description": "x"}})),
    Action("flavor:delete", "admin", delete("/v2/lbaas/flavors/{victim}", lambda env: env.made(
        "/v2/lbaas/flavors", {"flavor": {"name": uuid.uuid4().hex,
                                         "flavor_profile_id": env.tree["flavorprofile"]}},
        "flavor"), "flavor"), 204),
    Action("flavor-profile:get_all", "admin", get("/v2/lbaas/flavorprofiles")),
    Action("flavor-profile:get_one", "admin", get("/v2/lbaas/flavorprofiles/{flavorprofile}")),
    Action("flavor-profile:post", "admin", post(
        "/v2/lbaas/flavorprofiles", lambda env, allowed: {"flavorprofile": {
            "name": uuid.uuid4().hex, "provider_name": "amphora", "flavor_data": "{}"}}), 201),
    Action("flavor-profile:put", "admin", put("/v2/lbaas/flavorprofiles/{flavorprofile}", {
        "flavorprofile": {"name": "fp2"}})),
    Action("flavor-profile:delete", "admin", delete(
        "/v2/lbaas/flavorprofiles/{victim}", lambda env: env.made(
            "/v2/lbaas/flavorprofiles", {"flavorprofile": {
                "name": uuid.uuid4().hex, "provider_name": "amphora", "flavor_data": "{}"}},
            "flavorprofile"), "flavorprofile"), 204),
    Action("availability-zone:get_all", "own_read", get("/v2/lbaas/availabilityzones")),
    Action("availability-zone:get_one", "own_read", get("/v2/lbaas/availabilityzones/{az}")),
    Action("availability-zone:post", "admin", post(
        "/v2/lbaas/availabilityzones", lambda env, allowed: {"availability_zone": {
            "name": uuid.uuid4().hex,
            "availability_zone_profile_id": env.tree["azprofile"]}}), 201),
    Action("availability-zone:put", "admin", put("/v2/lbaas/availabilityzones/{az}", {
        "availability_zone": {"description": "x"}})),
    Action("availability-zone:delete", "admin", delete(
        "/v2/lbaas/availabilityzones/{victim}", lambda env: env.made(
            "/v2/lbaas/availabilityzones", {"availability_zone": {
                "name": uuid.uuid4().hex,
                "availability_zone_profile_id": env.tree["azprofile"]}},
            "availability_zone"), "az"), 204),
    Action("availability-zone-profile:get_all", "admin",
           get("/v2/lbaas/availabilityzoneprofiles")),
    Action("availability-zone-profile:get_one", "admin",
           get("/v2/lbaas/availabilityzoneprofiles/{azprofile}")),
    Action("availability-zone-profile:post", "admin", post(
        "/v2/lbaas/availabilityzoneprofiles", lambda env, allowed: {
            "availability_zone_profile": {"name": uuid.uuid4().hex, "provider_name": "amphora",
                                          "availability_zone_data": "{}"}}), 201),
    Action("availability-zone-profile:put", "admin", put(
        "/v2/lbaas/availabilityzoneprofiles/{azprofile}",
        {"availability_zone_profile": {"name": "azp2"}})),
    Action("availability-zone-profile:delete", "admin", delete(
        "/v2/lbaas/availabilityzoneprofiles/{victim}", lambda env: env.made(
            "/v2/lbaas/availabilityzoneprofiles", {"availability_zone_profile": {
                "name": uuid.uuid4().hex, "provider_name": "amphora",
                "availability_zone_data": "{}"}}, "availability_zone_profile"),
        "azprofile"), 204),
]


def expected(persona: Persona, kind: str) -> tuple[bool, bool | None]:
    """(allowed, whether a list shows p1's object) for `persona` doing an action of `kind`
    on objects of project p1."""
    read_p1 = persona.can(READ_GLOBAL) or (persona.of_p1 and persona.can(READ))
    if kind == "read":
        return read_p1, None
    if kind == "write":
        return persona.can(ADMIN) or (persona.of_p1 and persona.can(WRITE)), None
    if kind == "create_own":
        return persona.can(WRITE), None
    if kind == "admin":
        return persona.can(ADMIN), None
    if kind == "own_read":  # objects of no project, checked against the caller's own
        return persona.can(READ) or persona.can(READ_GLOBAL), None
    if kind == "list":
        if persona.can(READ_GLOBAL):
            return True, True
        return persona.can(READ), persona.of_p1
    if kind == "list_p1":
        return read_p1, True
    if kind == "quota_read":
        return persona.can(QUOTA_READ_GLOBAL) or (persona.of_p1 and persona.can(QUOTA_READ)), None
    if kind == "quota_own":
        return persona.can(QUOTA_READ) or persona.can(QUOTA_READ_GLOBAL), None
    if kind == "quota_write":
        return persona.can(QUOTA_WRITE), None
    if kind == "quota_list":
        return persona.can(QUOTA_READ) or persona.can(QUOTA_READ_GLOBAL), None
    raise AssertionError(kind)


CASES = [pytest.param(mode, persona, action, id=f"{mode}-{persona.name}-{action.name}")
         for mode, personas in PERSONAS.items() for persona in personas for action in ACTIONS]


@pytest.mark.parametrize(("mode", "persona", "action"), CASES)
def test_policy_table(envs: dict[str, Env], mode: str, persona: Persona,
                      action: Action) -> None:
    env = envs[mode]
    env.stack.settle()
    allowed, shows_p1 = expected(persona, action.kind)
    resp = action.run(env, env.client(persona), allowed)
    if persona.system and action.kind == "create_own":
        # A system-scoped token names no project: Octavia's 400 comes before the policy.
        assert resp.status_code == 400, resp.text
        return
    if not allowed:
        assert resp.status_code == 403, resp.text
        assert resp.json() == DENIED
        return
    assert resp.status_code == action.ok, resp.text
    if action.listed is not None and shows_p1 is not None:
        ids = {item["id"] for item in resp.json()[action.listed]}
        assert (env.tree[action.listed_id or ""] in ids) == shows_p1, ids
    env.stack.settle()


# --- the rest of the behaviour ---------------------------------------------------------------

def test_tokens_are_required_except_for_discovery_and_health(envs: dict[str, Env]) -> None:
    env = envs["keystone-defaults"]
    anonymous = Client(env.stack.url)
    for path in ("/", "/v2", "/v2.0", "/healthcheck"):
        assert anonymous.get(path).status_code == 200, path
    for path in (LB, "/v2/lbaas/quotas", "/v2/octavia/amphorae", "/v2/lbaas/providers"):
        resp = anonymous.get(path)
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"] == (
            f"Keystone uri=\"{AUTHTOKEN['www_authenticate_uri']}\"")
    forged = Client(env.stack.url, {"X-Auth-Token": "not-a-token", "X-Project-Id": "p1",
                                    "X-Roles": "admin"})
    assert forged.get(LB).status_code == 401


def test_identity_headers_are_the_tokens_not_the_clients(envs: dict[str, Env]) -> None:
    env = envs["keystone-defaults"]
    # A member of p2 claiming p1 and admin in headers is still a member of p2.
    token = env.tokens.mint("p2", ["member"])
    spoofer = Client(env.stack.url, {"X-Auth-Token": token, "X-Project-Id": "p1",
                                     "X-Roles": "admin", "X-Tenant-Id": "p1"})
    assert spoofer.get(f"{LB}/{env.tree['lb']}").status_code == 403
    assert {lb["project_id"] for lb in spoofer.get(LB).json()["loadbalancers"]} <= {"p2"}
    resp = spoofer.post(LB, {"loadbalancer": {"vip_subnet_id": SUBNET}})
    assert resp.status_code == 201 and resp.json()["loadbalancer"]["project_id"] == "p2"
    env.stack.settle()


def test_missing_objects_are_404_before_any_policy_check(envs: dict[str, Env]) -> None:
    env = envs["keystone-defaults"]
    stranger = Client(env.stack.url, {"X-Auth-Token": env.tokens.mint("p2", ["member"])})
    missing = str(uuid.uuid4())
    for path in (f"{LB}/{missing}", f"/v2/lbaas/pools/{missing}/members",
                 f"/v2/lbaas/l7policies/{missing}/rules"):
        resp = stranger.get(path)
        assert resp.status_code == 404, path
    # A child create under a parent that does not exist: Octavia's 404, nothing written.
    resp = stranger.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": missing, "protocol": "TCP", "protocol_port": 80}})
    assert resp.status_code == 404, resp.text


def test_a_project_id_filter_for_another_project_is_refused(envs: dict[str, Env]) -> None:
    env = envs["keystone-defaults"]
    member = Client(env.stack.url, {"X-Auth-Token": env.tokens.mint("p2", ["member"])})
    resp = member.get(f"{LB}?project_id=p1")
    assert resp.status_code == 403 and resp.json() == DENIED
    resp = member.get("/v2/lbaas/quotas?project_id=p1")
    assert resp.status_code == 403 and resp.json() == DENIED


def test_an_operators_policy_file_overrides_the_defaults(tmp_path: pathlib.Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"os_load-balancer_api:loadbalancer:post": "!"\n'
                      '"os_load-balancer_api:provider:get_all": "@"\n')
    state = harness.new_state_dir()
    with fake_keystone() as tokens:
        stack = Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state, {
            "api_settings": {"auth_strategy": "keystone"},
        }, auth_overrides={"keystone_authtoken": AUTHTOKEN,
                           "oslo_policy": {"policy_file": str(policy)}})
        try:
            admin = Client(stack.url, {"X-Auth-Token": tokens.mint("p3", ["admin"])})
            nobody = Client(stack.url, {"X-Auth-Token": tokens.mint("p1", ["heat"])})
            resp = admin.post(LB, {"loadbalancer": {"vip_subnet_id": SUBNET}})
            assert resp.status_code == 403 and resp.json() == DENIED
            assert nobody.get("/v2/lbaas/providers").status_code == 200
            # Rules the file does not name keep their defaults.
            assert nobody.get("/v2/lbaas/quotas/defaults").status_code == 403
            assert admin.get("/v2/lbaas/quotas/defaults").status_code == 200
        finally:
            stack.stop()
            shutil.rmtree(state, ignore_errors=True)


def test_testing_strategy_trusts_the_headers_and_applies_the_policy() -> None:
    state = harness.new_state_dir()
    stack = Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state, {
        "api_settings": {"auth_strategy": "testing"}})
    try:
        member = Client(stack.url, {"X-Project-Id": "p1", "X-Roles": "member,reader"})
        other = Client(stack.url, {"X-Project-Id": "p2", "X-Roles": "member,reader"})
        nobody = Client(stack.url, {"X-Project-Id": "p1"})
        resp = member.post(LB, {"loadbalancer": {"vip_subnet_id": SUBNET}})
        assert resp.status_code == 201, resp.text
        lb = resp.json()["loadbalancer"]
        assert lb["project_id"] == "p1"
        assert other.get(f"{LB}/{lb['id']}").status_code == 403
        assert nobody.get(LB).status_code == 403
        stack.settle()
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def test_noauth_callers_are_administrators(api: Client) -> None:
    # Octavia's noauth: the project comes from X-Project-Id and every caller is an admin.
    mine = Client(api.base, {"X-Project-Id": "p1"})
    theirs = Client(api.base, {"X-Project-Id": "p2"})
    resp = mine.post(LB, {"loadbalancer": {"vip_subnet_id": SUBNET}})
    assert resp.status_code == 201 and resp.json()["loadbalancer"]["project_id"] == "p1"
    lb_id = resp.json()["loadbalancer"]["id"]
    assert theirs.get(f"{LB}/{lb_id}").status_code == 200
    assert [lb["id"] for lb in theirs.get(LB).json()["loadbalancers"]] == [lb_id]
    assert theirs.get("/v2/octavia/amphorae").status_code == 200
    mine.wait(f"{LB}/{lb_id}", "loadbalancer")


def test_the_policy_sample_lists_every_rule() -> None:
    generator = pathlib.Path(sys.executable).with_name("oslopolicy-sample-generator")
    out = subprocess.run([str(generator), "--namespace", "ottava"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    for name in ("load-balancer:read", "load-balancer:read-global", "load-balancer:write",
                 "load-balancer:read-quota", "load-balancer:read-quota-global",
                 "load-balancer:write-quota", "context_is_admin",
                 "os_load-balancer_api:loadbalancer:get_all-global",
                 "os_load-balancer_api:member:put", "os_load-balancer_api:amphora:put_config",
                 "os_load-balancer_api:provider-availability-zone:get_all",
                 "os_load-balancer_api:quota:get_defaults"):
        assert f'#"{name}":' in out, name
    for action in ACTIONS:
        rule = action.name.split(" ")[0].split("?")[0]
        assert f'#"os_load-balancer_api:{rule}":' in out, rule
