"""Nothing leaves the process inside an open transaction: while the network driver is slow to
answer a lookup (here: held until the test lets it go), other writes go through at once.

Before, `find_subnet` and `allocate_vip` ran inside the API's transaction, so on SQLite one
slow network answer held the database's write lock and every other change waited behind it.
The test holds the driver's answer on an event, not on a clock: if the lock were held, the
second write could not finish before the first is released, and the test fails on its
request timeout instead of passing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import VIP_SUBNET
from tests.harness import Client, Stack

HELD = 20.0  # seconds at most the test waits for anything (a bound, never a measurement)


@pytest.fixture
def held_subnet_lookup(stack: Stack) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The network driver's find_subnet blocks until `release` is set; `entered` says a
    lookup is under way."""
    driver = stack.drivers.network.target  # behind the Bounded proxy, as the API sees it
    original: Callable[[str], Any] = driver.find_subnet
    entered, release = threading.Event(), threading.Event()

    def find_subnet(subnet_id: str) -> Any:
        entered.set()
        release.wait(HELD)
        return original(subnet_id)

    driver.find_subnet = find_subnet
    try:
        yield entered, release
    finally:
        release.set()
        driver.find_subnet = original


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


@pytest.mark.parametrize("request_kind", ["loadbalancer", "member"])
def test_a_slow_network_lookup_holds_no_database_lock(
        stack: Stack, api: Client, lb: dict, request_kind: str,
        held_subnet_lookup: tuple[threading.Event, threading.Event]) -> None:
    entered, release = held_subnet_lookup
    if request_kind == "loadbalancer":
        def slow() -> Any:
            return api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
                "name": "slow", "vip_subnet_id": VIP_SUBNET}})
    else:
        pool = api.post("/v2/lbaas/pools", {"pool": {
            "loadbalancer_id": lb["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
        assert pool.status_code == 201, pool.text
        pool_id = pool.json()["pool"]["id"]
        api.wait(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")

        def slow() -> Any:
            return api.post(f"/v2/lbaas/pools/{pool_id}/members", {"member": {
                "address": "192.0.2.10", "protocol_port": 80, "subnet_id": VIP_SUBNET}})
    thread, answer = in_thread(slow)
    try:
        assert entered.wait(HELD), "the request never asked the network"
        # Another change, while the lookup is held: answered before the lookup is let go.
        other = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
            "name": f"while-{request_kind}", "provider_name": "amphora",
            "flavor_data": "{}"}}, timeout=HELD / 2)
        assert other.status_code == 201, other.text
        assert not release.is_set() and thread.is_alive()
    finally:
        release.set()
        thread.join(HELD)
    assert answer and answer[0].status_code == 201, answer and answer[0].text
    stack.settle()
