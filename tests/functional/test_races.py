"""Concurrent writes of the same key, on every database back end: never a 5xx.

A service checks a key (a member's address and port in its pool, a pool's one monitor, a
flavor's or zone's name, a project's quota row) before it writes; between the check and the
write a concurrent request may write the same key. PostgreSQL and MariaDB then refuse the
later row; that refusal is a `LostRace`, and the request runs again, when its check sees the
other request and answers as it would have (409, or for a quota, an update). SQLite's
writers queue, so it never races, and must answer the same.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable

from tests.harness import Client

CLIENTS = 12


def burst(api: Client, send: Callable[[Client], int]) -> list[int]:
    """The statuses of CLIENTS requests sent at once, each on its own connection."""
    clients = [Client(api.base) for _ in range(CLIENTS)]
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        return sorted(pool.map(send, clients))


def pool_of(api: Client, lb: dict) -> str:
    resp = api.post("/v2/lbaas/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
    assert resp.status_code == 201, resp.text
    api.wait(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    return str(resp.json()["pool"]["id"])


def test_the_same_member_created_at_once(api: Client, lb: dict) -> None:
    path = f"/v2/lbaas/pools/{pool_of(api, lb)}/members"
    codes = burst(api, lambda c: c.post(path, {"member": {
        "address": "192.0.2.1", "protocol_port": 80}}).status_code)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, codes
    api.wait(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    assert len(api.get(path).json()["members"]) == 1


def test_a_pools_monitor_created_at_once(api: Client, lb: dict) -> None:
    pool = pool_of(api, lb)
    codes = burst(api, lambda c: c.post("/v2/lbaas/healthmonitors", {"healthmonitor": {
        "pool_id": pool, "type": "TCP", "delay": 1, "timeout": 1,
        "max_retries": 1}}).status_code)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, codes


def test_the_same_flavor_and_zone_names_at_once(api: Client) -> None:
    profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "p", "provider_name": "amphora", "flavor_data": "{}"}}).json()[
        "flavorprofile"]["id"]
    codes = burst(api, lambda c: c.post("/v2/lbaas/flavors", {"flavor": {
        "name": "same", "flavor_profile_id": profile}}).status_code)
    assert codes.count(201) == 1 and set(codes) == {201, 409}, codes
    zone_profile = api.post("/v2/lbaas/availabilityzoneprofiles", {
        "availability_zone_profile": {"name": "z", "provider_name": "amphora",
                                      "availability_zone_data": "{}"}}).json()[
        "availability_zone_profile"]["id"]
    codes = burst(api, lambda c: c.post("/v2/lbaas/availabilityzones", {"availability_zone": {
        "name": "same", "availability_zone_profile_id": zone_profile}}).status_code)
    assert codes.count(201) == 1 and set(codes) == {201, 409}, codes


def test_a_new_projects_quota_set_at_once(api: Client) -> None:
    project = uuid.uuid4().hex
    codes = burst(api, lambda c: c.put(f"/v2/lbaas/quotas/{project}", {
        "quota": {"pool": 7}}).status_code)
    assert codes == [202] * CLIENTS, codes
    assert api.get(f"/v2/lbaas/quotas/{project}").json()["quota"]["pool"] == 7
    # Reset at once: one finds the row, the others find it gone.
    codes = burst(api, lambda c: c.delete(f"/v2/lbaas/quotas/{project}").status_code)
    assert codes.count(202) == 1 and set(codes) == {202, 404}, codes


def test_a_catalog_object_deleted_at_once(api: Client) -> None:
    """One delete removes it; the others find it gone (404), as one after another would."""
    for collection, key, body in (
            ("flavorprofiles", "flavorprofile", {"name": "p", "provider_name": "amphora",
                                                 "flavor_data": "{}"}),
            ("availabilityzoneprofiles", "availability_zone_profile",
             {"name": "z", "provider_name": "amphora", "availability_zone_data": "{}"})):
        ident = api.post(f"/v2/lbaas/{collection}", {key: body}).json()[key]["id"]
        codes = burst(api, lambda c, i=ident, col=collection: c.delete(
            f"/v2/lbaas/{col}/{i}").status_code)
        assert codes.count(204) == 1 and set(codes) == {204, 404}, (collection, codes)
