"""List endpoints as Octavia serves them (reference 1.5-1.7): pagination with limit, marker and
page_reverse and the `<plural>_links` next/previous hrefs (followed), sorting with `sort=` and
with `sort_key`/`sort_dir`, equality filters on fields, the four tag filters (comma separated
and repeated), `fields=` selection on list and show; for load balancers, listeners and members.
Also that the /v2/lbaas, /v2.0/lbaas, /v2 and /v2.0 prefixes all serve the same API.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from tests.conftest import VIP_SUBNET
from tests.harness import Client

P = "/v2/lbaas"
LBS = f"{P}/loadbalancers"
LISTENERS = f"{P}/listeners"

# Five load balancers. L0 has three listeners and a pool "web" of four members; L1 has one
# listener and a pool with one member whose address and port equal web's m1.
#   name      tags          admin_state_up
#   L0 alpha   red, blue     true
#   L1 bravo   red           true
#   L2 bravo   blue, green   false
#   L3 charlie               true
#   L4 delta   green         false
LB_SPECS = {
    "L0": {"name": "alpha", "tags": ["red", "blue"]},
    "L1": {"name": "bravo", "tags": ["red"]},
    "L2": {"name": "bravo", "tags": ["blue", "green"], "admin_state_up": False},
    "L3": {"name": "charlie"},
    "L4": {"name": "delta", "tags": ["green"], "admin_state_up": False},
}
L0_GRAPH = {
    "listeners": [
        {"name": "web", "protocol": "HTTP", "protocol_port": 80, "tags": ["red"],
         "default_pool": {"name": "web"}},
        {"name": "tls", "protocol": "TCP", "protocol_port": 443, "tags": ["red", "blue"],
         "admin_state_up": False},
        {"name": "alt", "protocol": "HTTP", "protocol_port": 8080, "tags": ["blue"]},
    ],
    "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
        {"name": "m-a", "address": "192.0.2.1", "protocol_port": 80, "tags": ["red"]},
        {"name": "m-b", "address": "192.0.2.2", "protocol_port": 80, "weight": 5,
         "tags": ["blue"], "admin_state_up": False},
        {"name": "m-c", "address": "192.0.2.3", "protocol_port": 8080, "weight": 3,
         "tags": ["red", "blue"]},
        {"name": "m-d", "address": "192.0.2.4", "protocol_port": 80, "weight": 5,
         "backup": True},
    ]}],
}
L1_GRAPH = {
    "listeners": [{"name": "other", "protocol": "HTTP", "protocol_port": 80,
                   "default_pool": {"name": "other-pool"}}],
    "pools": [{"name": "other-pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
               "members": [{"name": "m-e", "address": "192.0.2.1", "protocol_port": 80}]}],
}
# created_at, oldest first, made distinct so that every order below is fully determined.
LB_AGE = ["L2", "L0", "L4", "L1", "L3"]
LISTENER_AGE = ["alt", "web", "other", "tls"]
MEMBER_AGE = ["m-c", "m-a", "m-d", "m-b", "m-e"]


@dataclasses.dataclass
class World:
    lb: dict[str, str]  # L0..L4 -> id
    listener: dict[str, str]  # name -> id
    member: dict[str, str]  # name -> id
    pool: str  # id of L0's pool "web"
    other_pool: str

    def lb_names(self, ids: list[str]) -> list[str]:
        back = {v: k for k, v in self.lb.items()}
        return [back[i] for i in ids]

    def listener_names(self, ids: list[str]) -> list[str]:
        back = {v: k for k, v in self.listener.items()}
        return [back[i] for i in ids]

    def member_names(self, ids: list[str]) -> list[str]:
        back = {v: k for k, v in self.member.items()}
        return [back[i] for i in ids]

    @property
    def members(self) -> str:
        return f"{P}/pools/{self.pool}/members"






def build_world(api: Client, stack: Any) -> World:
    from ottava.db import models as m

    lbs: dict[str, str] = {}
    listeners: dict[str, str] = {}
    members: dict[str, str] = {}
    pools: dict[str, str] = {}
    for key, spec in LB_SPECS.items():
        body = {"vip_subnet_id": VIP_SUBNET, **spec,
                **{"L0": L0_GRAPH, "L1": L1_GRAPH}.get(key, {})}
        resp = api.post(LBS, {"loadbalancer": body})
        assert resp.status_code == 201, resp.text
        graph = resp.json()["loadbalancer"]
        lbs[key] = graph["id"]
        for lst in graph.get("listeners", []):
            listeners[lst["name"]] = lst["id"]
        for p in graph.get("pools", []):
            pools[p["name"]] = p["id"]
            for mb in p["members"]:
                members[mb["name"]] = mb["id"]
    for ident in lbs.values():
        api.wait(f"{LBS}/{ident}", "loadbalancer")
    stack.settle()
    base = datetime.datetime(2024, 1, 1, 12, 0, 0)
    with stack.db.transaction() as s:
        for model, age, ids in ((m.LoadBalancer, LB_AGE, lbs), (m.Listener, LISTENER_AGE,
                                listeners), (m.Member, MEMBER_AGE, members)):
            for n, key in enumerate(age):
                s.execute(update(model).where(model.id == ids[key])
                          .values(created_at=base + datetime.timedelta(minutes=n)))
        # As a health manager would report them: one ONLINE object of each kind.
        for model, ident in ((m.LoadBalancer, lbs["L3"]), (m.Listener, listeners["alt"]),
                             (m.Member, members["m-c"])):
            s.execute(update(model).where(model.id == ident).values(operating_status="ONLINE"))
    return World(lbs, listeners, members, pools["web"], pools["other-pool"])


# Per stack: the world and the database as it stood when built; rebuilt whenever the database
# differs (another module's test cleared it, or a test here wrote).
_WORLDS: dict[Any, tuple[World, dict[str, list[tuple[str, ...]]]]] = {}


@pytest.fixture
def world(stack: Any) -> World:
    client = Client(stack.url)
    cached = _WORLDS.pop(stack, None)
    stack.settle()
    if cached is not None and stack.snapshot() == cached[1]:
        w = cached[0]
    else:
        stack.clear()
        w = build_world(client, stack)
        stack.settle()
    _WORLDS[stack] = (w, stack.snapshot())
    return w


@pytest.fixture
def client(stack: Any) -> Client:
    return Client(stack.url)


def listing(api: Client, path: str, key: str, params: Any = None) -> dict[str, Any]:
    resp = api.get(path, params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {key, f"{key}_links"}, body.keys()
    return body  # type: ignore[no-any-return]


def ids_of(body: dict[str, Any], key: str) -> list[str]:
    return [item["id"] for item in body[key]]


def links_of(body: dict[str, Any], key: str) -> dict[str, str]:
    links = body[f"{key}_links"]
    rels = [link["rel"] for link in links]
    assert len(rels) == len(set(rels)), links
    assert all(set(link) == {"href", "rel"} for link in links), links
    return {link["rel"]: link["href"] for link in links}


def query_of(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


def follow(api: Client, href: str, key: str) -> dict[str, Any]:
    assert href.startswith(api.base + "/"), href
    return listing(api, href[len(api.base):], key)


# --- pagination -----------------------------------------------------------------------------

def test_load_balancer_pages_follow_next_and_previous_links(client: Client, world: World
                                                            ) -> None:
    # sort=name: alpha, bravo (older L2, then L1: created_at breaks the tie), charlie, delta.
    order = ["L0", "L2", "L1", "L3", "L4"]
    page1 = listing(client, LBS, "loadbalancers", {"limit": "2", "sort": "name"})
    assert world.lb_names(ids_of(page1, "loadbalancers")) == order[:2]
    links = links_of(page1, "loadbalancers")
    assert set(links) == {"next"}  # no marker was given: no previous link
    href = links["next"]
    assert urlsplit(href).path == LBS
    q = query_of(href)
    assert q["limit"] == ["2"] and q["sort"] == ["name"]
    assert q["marker"] == [world.lb["L2"]]
    assert "page_reverse" not in q or q["page_reverse"] == ["False"]

    page2 = follow(client, href, "loadbalancers")
    assert world.lb_names(ids_of(page2, "loadbalancers")) == order[2:4]
    links2 = links_of(page2, "loadbalancers")
    assert set(links2) == {"next", "previous"}
    prev = query_of(links2["previous"])
    assert prev["marker"] == [world.lb["L1"]] and prev["page_reverse"] == ["True"]
    assert prev["limit"] == ["2"] and prev["sort"] == ["name"]
    assert query_of(links2["next"])["marker"] == [world.lb["L3"]]

    # Back from page 2 is page 1, in the same (not reversed) order.
    back = follow(client, links2["previous"], "loadbalancers")
    assert ids_of(back, "loadbalancers") == ids_of(page1, "loadbalancers")

    page3 = follow(client, links2["next"], "loadbalancers")
    assert world.lb_names(ids_of(page3, "loadbalancers")) == order[4:]
    links3 = links_of(page3, "loadbalancers")
    assert set(links3) == {"previous"}  # a short page has no next link
    assert query_of(links3["previous"])["marker"] == [world.lb["L4"]]


def test_full_last_page_links_to_an_empty_page(client: Client, world: World) -> None:
    page = listing(client, LBS, "loadbalancers", {"limit": "5"})
    assert len(page["loadbalancers"]) == 5
    nxt = links_of(page, "loadbalancers")["next"]
    empty = follow(client, nxt, "loadbalancers")
    assert empty == {"loadbalancers": [], "loadbalancers_links": []}


def test_whole_list_fits_no_links(client: Client, world: World) -> None:
    body = listing(client, LBS, "loadbalancers")
    # No sort given: created_at ascending (then id).
    assert world.lb_names(ids_of(body, "loadbalancers")) == LB_AGE
    assert body["loadbalancers_links"] == []
    body = listing(client, LBS, "loadbalancers", {"limit": "6"})
    assert len(body["loadbalancers"]) == 5 and body["loadbalancers_links"] == []
    body = listing(client, LBS, "loadbalancers", {"name": "nobody"})
    assert body == {"loadbalancers": [], "loadbalancers_links": []}


def test_limit_zero_means_no_limit(client: Client, world: World) -> None:
    for limit in ("0", "-1", "infinite"):
        body = listing(client, LBS, "loadbalancers", {"limit": limit})
        assert world.lb_names(ids_of(body, "loadbalancers")) == LB_AGE


def test_unlimited_page_has_next_link(client: Client, world: World) -> None:
    # Reference 1.5: with no limit applying, a non-empty list carries a next link.
    for limit in ("0", "infinite"):
        body = listing(client, LBS, "loadbalancers", {"limit": limit})
        nxt = links_of(body, "loadbalancers").get("next")
        assert nxt is not None, (limit, body["loadbalancers_links"])
        assert query_of(nxt)["marker"] == [world.lb[LB_AGE[-1]]]


def test_marker_and_page_reverse(client: Client, world: World) -> None:
    order = ["L0", "L2", "L1", "L3", "L4"]  # sort=name
    after = listing(client, LBS, "loadbalancers", {"sort": "name", "marker": world.lb["L2"]})
    assert world.lb_names(ids_of(after, "loadbalancers")) == order[2:]
    assert set(links_of(after, "loadbalancers")) == {"previous"}
    before = listing(client, LBS, "loadbalancers",
                     {"sort": "name", "marker": world.lb["L1"], "limit": "2",
                      "page_reverse": "True"})
    assert world.lb_names(ids_of(before, "loadbalancers")) == order[:2]
    same = listing(client, LBS, "loadbalancers",
                   {"sort": "name", "marker": world.lb["L1"], "limit": "2",
                    "page_reverse": "False"})
    assert world.lb_names(ids_of(same, "loadbalancers")) == order[3:5]


def test_listener_pages(client: Client, world: World) -> None:
    sort = "protocol_port:desc,name"
    order = ["alt", "tls", "other", "web"]
    page1 = listing(client, LISTENERS, "listeners", {"limit": "3", "sort": sort})
    assert world.listener_names(ids_of(page1, "listeners")) == order[:3]
    nxt = links_of(page1, "listeners")["next"]
    assert query_of(nxt)["sort"] == [sort]
    page2 = follow(client, nxt, "listeners")
    assert world.listener_names(ids_of(page2, "listeners")) == order[3:]
    links2 = links_of(page2, "listeners")
    assert set(links2) == {"previous"}
    back = follow(client, links2["previous"], "listeners")
    assert world.listener_names(ids_of(back, "listeners")) == order[:3]


def test_member_pages(client: Client, world: World) -> None:
    page1 = listing(client, world.members, "members", {"limit": "2", "sort": "address"})
    assert world.member_names(ids_of(page1, "members")) == ["m-a", "m-b"]
    nxt = links_of(page1, "members")["next"]
    assert urlsplit(nxt).path == world.members
    page2 = follow(client, nxt, "members")
    assert world.member_names(ids_of(page2, "members")) == ["m-c", "m-d"]
    links2 = links_of(page2, "members")
    back = follow(client, links2["previous"], "members")
    assert world.member_names(ids_of(back, "members")) == ["m-a", "m-b"]
    # Page 2 was full, so it links on; the member of the other pool is not on the next page.
    assert follow(client, links2["next"], "members")["members"] == []


# --- sorting --------------------------------------------------------------------------------

SORT_CASES = [
    ({"sort": "name:desc,created_at"}, ["L4", "L3", "L2", "L1", "L0"]),
    ({"sort": "name:desc,created_at:desc"}, ["L4", "L3", "L1", "L2", "L0"]),
    ({"sort": "name"}, ["L0", "L2", "L1", "L3", "L4"]),
    ({"sort": "created_at:desc"}, ["L3", "L1", "L4", "L0", "L2"]),
    ({"sort": "admin_state_up,name"}, ["L2", "L4", "L0", "L1", "L3"]),
    ({"sort_key": "name,created_at", "sort_dir": "desc,desc"}, ["L4", "L3", "L1", "L2", "L0"]),
    # A missing direction is the default, asc.
    ({"sort_key": "name,created_at", "sort_dir": "desc"}, ["L4", "L3", "L2", "L1", "L0"]),
    ({"sort_key": "name"}, ["L0", "L2", "L1", "L3", "L4"]),
    ({"sort_key": "created_at", "sort_dir": "desc"}, ["L3", "L1", "L4", "L0", "L2"]),
]


@pytest.mark.parametrize(("params", "expected"), SORT_CASES,
                         ids=["&".join(f"{k}={v}" for k, v in c[0].items()) for c in SORT_CASES])
def test_load_balancer_sorting(client: Client, world: World, params: dict[str, str],
                               expected: list[str]) -> None:
    body = listing(client, LBS, "loadbalancers", params)
    assert world.lb_names(ids_of(body, "loadbalancers")) == expected


def test_sort_direction_is_case_insensitive(client: Client, world: World) -> None:
    # Octavia lower-cases directions before checking them.
    body = listing(client, LBS, "loadbalancers", {"sort": "name:DESC,created_at:ASC"})
    assert world.lb_names(ids_of(body, "loadbalancers")) == ["L4", "L3", "L2", "L1", "L0"]


def test_listener_and_member_sorting(client: Client, world: World) -> None:
    body = listing(client, LISTENERS, "listeners", {"sort": "protocol_port:desc,name"})
    assert world.listener_names(ids_of(body, "listeners")) == ["alt", "tls", "other", "web"]
    body = listing(client, LISTENERS, "listeners",
                   {"sort_key": "protocol_port,name", "sort_dir": "asc,desc"})
    assert world.listener_names(ids_of(body, "listeners")) == ["web", "other", "tls", "alt"]
    body = listing(client, world.members, "members", {"sort": "weight:desc,name"})
    assert world.member_names(ids_of(body, "members")) == ["m-b", "m-d", "m-c", "m-a"]
    # Equal weights fall back to created_at ascending: m-d is older than m-b.
    body = listing(client, world.members, "members", {"sort_key": "weight", "sort_dir": "desc"})
    assert world.member_names(ids_of(body, "members")) == ["m-d", "m-b", "m-c", "m-a"]


# --- filters --------------------------------------------------------------------------------

def test_load_balancer_filters(client: Client, world: World) -> None:
    l0 = client.get(f"{LBS}/{world.lb['L0']}").json()["loadbalancer"]
    others = set(LB_SPECS) - {"L3"}
    assert {client.get(f"{LBS}/{world.lb[k]}").json()["loadbalancer"]["operating_status"]
            for k in others} == {"OFFLINE"}
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"name": "bravo"}, {"L1", "L2"}),
        ({"id": world.lb["L3"]}, {"L3"}),
        ({"admin_state_up": "false"}, {"L2", "L4"}),
        ({"admin_state_up": "true"}, {"L0", "L1", "L3"}),
        ({"admin_state_up": "False"}, {"L2", "L4"}),
        ({"name": "bravo", "admin_state_up": "false"}, {"L2"}),
        ({"operating_status": "ONLINE"}, {"L3"}),
        ({"operating_status": "OFFLINE"}, others),
        ({"operating_status": "OFFLINE", "admin_state_up": "true"}, {"L0", "L1"}),
        ({"operating_status": "DEGRADED"}, set()),
        ({"provisioning_status": "ACTIVE"}, set(LB_SPECS)),
        ({"provisioning_status": "ERROR"}, set()),
        ({"vip_address": l0["vip_address"]}, {"L0"}),
        ({"name": "alpha", "id": world.lb["L1"]}, set()),
    ]
    for params, expected in cases:
        body = listing(client, LBS, "loadbalancers", params)
        assert set(world.lb_names(ids_of(body, "loadbalancers"))) == expected, params


def test_listener_filters(client: Client, world: World) -> None:
    cases = [
        ({"protocol_port": "443"}, {"tls"}),
        ({"protocol_port": "80"}, {"web", "other"}),
        ({"protocol": "HTTP"}, {"web", "alt", "other"}),
        ({"protocol": "HTTP", "protocol_port": "80"}, {"web", "other"}),
        ({"name": "alt"}, {"alt"}),
        ({"id": world.listener["tls"]}, {"tls"}),
        ({"admin_state_up": "false"}, {"tls"}),
        ({"provisioning_status": "ACTIVE"}, {"web", "tls", "alt", "other"}),
        ({"operating_status": "ONLINE"}, {"alt"}),
        ({"operating_status": "ONLINE", "protocol_port": "80"}, set()),
    ]
    for params, expected in cases:
        body = listing(client, LISTENERS, "listeners", params)
        assert set(world.listener_names(ids_of(body, "listeners"))) == expected, params


def test_filter_by_load_balancer(client: Client, world: World) -> None:
    # Reference 1.7: loadbalancer_id maps to the object's load balancer.
    body = listing(client, LISTENERS, "listeners", {"loadbalancer_id": world.lb["L0"]})
    assert set(world.listener_names(ids_of(body, "listeners"))) == {"web", "tls", "alt"}
    body = listing(client, LISTENERS, "listeners", {"loadbalancer_id": world.lb["L3"]})
    assert body["listeners"] == []
    body = listing(client, f"{P}/pools", "pools", {"loadbalancer_id": world.lb["L1"]})
    assert ids_of(body, "pools") == [world.other_pool]


def test_member_filters(client: Client, world: World) -> None:
    everything = listing(client, world.members, "members")["members"]
    assert {m["name"] for m in everything} == {"m-a", "m-b", "m-c", "m-d"}
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"protocol_port": "80"}, {"m-a", "m-b", "m-d"}),
        ({"protocol_port": "8080"}, {"m-c"}),
        ({"address": "192.0.2.1"}, {"m-a"}),  # not m-e, which is in another pool
        ({"address": "192.0.2.1", "protocol_port": "80"}, {"m-a"}),
        ({"weight": "5"}, {"m-b", "m-d"}),
        ({"backup": "true"}, {"m-d"}),
        ({"admin_state_up": "false"}, {"m-b"}),
        ({"name": "m-c"}, {"m-c"}),
        ({"id": world.member["m-e"]}, set()),
        ({"operating_status": "ONLINE"}, {"m-c"}),
        ({"operating_status": "ERROR"}, set()),
    ]
    for params, expected in cases:
        body = listing(client, world.members, "members", params)
        assert set(world.member_names(ids_of(body, "members"))) == expected, params


# --- tags -----------------------------------------------------------------------------------

LB_TAG_CASES = [
    ([("tags", "red")], {"L0", "L1"}),
    ([("tags", "red,blue")], {"L0"}),
    ([("tags", "red"), ("tags", "blue")], {"L0"}),
    ([("tags-any", "red,green")], {"L0", "L1", "L2", "L4"}),
    ([("tags-any", "blue"), ("tags-any", "green")], {"L0", "L2", "L4"}),
    ([("not-tags", "red,blue")], {"L1", "L2", "L3", "L4"}),
    ([("not-tags", "red"), ("not-tags", "blue")], {"L1", "L2", "L3", "L4"}),
    ([("not-tags", "green")], {"L0", "L1", "L3"}),
    ([("not-tags-any", "red,green")], {"L3"}),
    ([("not-tags-any", "blue"), ("not-tags-any", "green")], {"L1", "L3"}),
    ([("tags", "red"), ("not-tags-any", "blue")], {"L1"}),
    ([("tags-any", "green"), ("admin_state_up", "false")], {"L2", "L4"}),
    ([("tags", "purple")], set()),
]


@pytest.mark.parametrize(("params", "expected"), LB_TAG_CASES,
                         ids=["&".join(f"{k}={v}" for k, v in c[0]) for c in LB_TAG_CASES])
def test_load_balancer_tag_filters(client: Client, world: World,
                                   params: list[tuple[str, str]], expected: set[str]) -> None:
    body = listing(client, LBS, "loadbalancers", params)
    assert set(world.lb_names(ids_of(body, "loadbalancers"))) == expected


def test_listener_and_member_tag_filters(client: Client, world: World) -> None:
    listener_cases = [
        ([("tags", "red")], {"web", "tls"}),
        ([("tags", "red,blue")], {"tls"}),
        ([("tags-any", "red"), ("tags-any", "blue")], {"web", "tls", "alt"}),
        ([("not-tags", "red,blue")], {"web", "alt", "other"}),
        ([("not-tags-any", "red")], {"alt", "other"}),
    ]
    for params, expected in listener_cases:
        body = listing(client, LISTENERS, "listeners", params)
        assert set(world.listener_names(ids_of(body, "listeners"))) == expected, params
    member_cases = [
        ([("tags", "red")], {"m-a", "m-c"}),
        ([("tags", "red"), ("tags", "blue")], {"m-c"}),
        ([("tags-any", "red,blue")], {"m-a", "m-b", "m-c"}),
        ([("not-tags", "red,blue")], {"m-a", "m-b", "m-d"}),
        ([("not-tags-any", "red")], {"m-b", "m-d"}),
        ([("not-tags-any", "red"), ("not-tags-any", "blue")], {"m-d"}),
    ]
    for params, expected in member_cases:
        body = listing(client, world.members, "members", params)
        assert set(world.member_names(ids_of(body, "members"))) == expected, params


# --- field selection ------------------------------------------------------------------------

def test_fields_on_list_and_show(client: Client, world: World) -> None:
    body = listing(client, LBS, "loadbalancers",
                   [("fields", "id"), ("fields", "name"), ("sort", "name:desc,created_at")])
    assert [set(lb) for lb in body["loadbalancers"]] == [{"id", "name"}] * 5
    assert [lb["name"] for lb in body["loadbalancers"]] == [
        "delta", "charlie", "bravo", "bravo", "alpha"]

    resp = client.get(f"{LBS}/{world.lb['L2']}",
                      params=[("fields", "name"), ("fields", "admin_state_up")])
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"loadbalancer": {"name": "bravo", "admin_state_up": False}}

    body = listing(client, LISTENERS, "listeners",
                   [("fields", "protocol_port"), ("fields", "id"), ("sort", "protocol_port")])
    assert [set(x) for x in body["listeners"]] == [{"id", "protocol_port"}] * 4
    assert [x["protocol_port"] for x in body["listeners"]] == [80, 80, 443, 8080]
    resp = client.get(f"{LISTENERS}/{world.listener['tls']}",
                      params=[("fields", "protocol"), ("fields", "tags")])
    shown = resp.json()["listener"]
    assert set(shown) == {"protocol", "tags"}
    assert shown["protocol"] == "TCP" and sorted(shown["tags"]) == ["blue", "red"]

    body = listing(client, world.members, "members",
                   [("fields", "address"), ("fields", "weight"), ("weight", "5")])
    assert sorted((m["address"], m["weight"]) for m in body["members"]) == [
        ("192.0.2.2", 5), ("192.0.2.4", 5)]
    assert all(set(m) == {"address", "weight"} for m in body["members"])
    resp = client.get(f"{world.members}/{world.member['m-d']}",
                      params=[("fields", "backup"), ("fields", "protocol_port")])
    assert resp.json() == {"member": {"backup": True, "protocol_port": 80}}


def test_fields_with_pagination_keeps_links(client: Client, world: World) -> None:
    body = listing(client, LBS, "loadbalancers",
                   [("fields", "name"), ("limit", "2"), ("sort", "name")])
    assert body["loadbalancers"] == [{"name": "alpha"}, {"name": "bravo"}]
    nxt = links_of(body, "loadbalancers")["next"]
    assert query_of(nxt)["marker"] == [world.lb["L2"]]


# --- URL prefixes ---------------------------------------------------------------------------

PREFIXES = ["/v2/lbaas", "/v2.0/lbaas", "/v2", "/v2.0"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix_serves_the_same_api(client: Client, world: World, prefix: str) -> None:
    lbs = listing(client, f"{prefix}/loadbalancers", "loadbalancers", {"sort": "name"})
    assert world.lb_names(ids_of(lbs, "loadbalancers")) == ["L0", "L2", "L1", "L3", "L4"]
    resp = client.get(f"{prefix}/loadbalancers/{world.lb['L3']}")
    assert resp.status_code == 200 and resp.json()["loadbalancer"]["name"] == "charlie"
    listeners = listing(client, f"{prefix}/listeners", "listeners", {"protocol_port": "443"})
    assert world.listener_names(ids_of(listeners, "listeners")) == ["tls"]
    members = listing(client, f"{prefix}/pools/{world.pool}/members", "members",
                      {"sort": "address", "limit": "3"})
    assert world.member_names(ids_of(members, "members")) == ["m-a", "m-b", "m-c"]
    # Links point back under the prefix the request used.
    nxt = links_of(members, "members")["next"]
    assert urlsplit(nxt).path == f"{prefix}/pools/{world.pool}/members"
    assert world.member_names(ids_of(follow(client, nxt, "members"), "members")) == ["m-d"]
    resp = client.get(f"{prefix}/pools/{world.pool}/members/{world.member['m-a']}",
                      params={"fields": "address"})
    assert resp.json() == {"member": {"address": "192.0.2.1"}}
    # Unknown ids are 404 under every prefix.
    assert client.get(f"{prefix}/loadbalancers/{world.pool}").status_code == 404


def test_writes_under_other_prefixes(client: Client, world: World) -> None:
    # Changes the world (it is rebuilt for whichever test uses it next).
    lb = world.lb["L3"]
    resp = client.put(f"/v2.0/loadbalancers/{lb}", {"loadbalancer": {"description": "v2.0"}})
    assert resp.status_code == 200, resp.text
    assert client.wait(f"/v2/loadbalancers/{lb}", "loadbalancer")["description"] == "v2.0"
    resp = client.post("/v2.0/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb, "protocol": "TCP", "protocol_port": 2222, "name": "new"}})
    assert resp.status_code == 201, resp.text
    new = resp.json()["listener"]
    client.wait(f"/v2/listeners/{new['id']}", "listener")
    body = listing(client, "/v2.0/listeners", "listeners", {"name": "new"})
    assert ids_of(body, "listeners") == [new["id"]]
    assert client.delete(f"/v2/lbaas/listeners/{new['id']}").status_code == 204
    client.wait_gone(f"/v2.0/lbaas/listeners/{new['id']}")


# --- relations ------------------------------------------------------------------------------


def test_children_are_read_with_their_parent_as_shown_and_as_listed(
        client: Client, world: World) -> None:
    """Each object's tags and children's ids (one JSON array per relation from the
    database, decision 0030) as Octavia renders them: the same whether shown or listed,
    ids in one order, and a pool's listeners counting those whose L7 policies redirect to it."""
    lb = world.lb["L0"]
    monitor = client.post(f"{P}/healthmonitors", {"healthmonitor": {
        "pool_id": world.pool, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}})
    assert monitor.status_code == 201, monitor.text
    client.wait(f"{LBS}/{lb}", "loadbalancer")
    policy = client.post(f"{P}/l7policies", {"l7policy": {
        "listener_id": world.listener["alt"], "action": "REDIRECT_TO_POOL",
        "redirect_pool_id": world.pool, "tags": ["z \"quoted\" \\ ü", "a"]}})
    assert policy.status_code == 201, policy.text
    client.wait(f"{LBS}/{lb}", "loadbalancer")

    def shown_and_listed(path: str, key: str, ident: str) -> dict[str, Any]:
        shown = client.get(f"{path}/{ident}").json()[key]
        plural = path.rsplit("/", 1)[1]
        listed = [x for x in listing(client, path, plural)[plural] if x["id"] == ident]
        assert listed == [shown]
        return shown  # type: ignore[no-any-return]

    pool = shown_and_listed(f"{P}/pools", "pool", world.pool)
    # Its default listener first, then those whose policies redirect to it.
    assert pool["listeners"] == [{"id": world.listener["web"]}, {"id": world.listener["alt"]}]
    assert pool["members"] == [{"id": i} for i in sorted(
        world.member[n] for n in ("m-a", "m-b", "m-c", "m-d"))]
    assert pool["healthmonitor_id"] == monitor.json()["healthmonitor"]["id"]
    assert pool["loadbalancers"] == [{"id": lb}]

    other = shown_and_listed(f"{P}/pools", "pool", world.other_pool)
    assert other["healthmonitor_id"] is None and other["listeners"] == [
        {"id": world.listener["other"]}]

    balancer = shown_and_listed(LBS, "loadbalancer", lb)
    assert balancer["tags"] == ["blue", "red"]
    assert balancer["listeners"] == [{"id": i} for i in sorted(
        world.listener[n] for n in ("web", "tls", "alt"))]
    assert balancer["pools"] == [{"id": world.pool}]
    assert shown_and_listed(LBS, "loadbalancer", world.lb["L3"])["tags"] == []

    listener = shown_and_listed(LISTENERS, "listener", world.listener["alt"])
    assert listener["l7policies"] == [{"id": policy.json()["l7policy"]["id"]}]
    rule_less = shown_and_listed(f"{P}/l7policies", "l7policy",
                                 policy.json()["l7policy"]["id"])
    assert rule_less["rules"] == [] and rule_less["tags"] == ["a", "z \"quoted\" \\ ü"]
