"""A load balancer served by a real amphora: a network namespace on this host running the
agent and HAProxy, created through the API, carrying real HTTP traffic to backends on the
host's bridge address (198.18.0.1), then deleted without leaving anything behind."""

from __future__ import annotations

import http.client
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests import harness
from tests.e2e.backends import GATEWAY, Backend

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return {line.split()[0] for line in out.stdout.splitlines() if line.startswith("ottava-")}


@pytest.fixture(scope="module")
def local() -> Iterator[tuple[harness.Stack, harness.Client]]:
    with harness.local_stack() as pair:
        yield pair


def get(address: str, port: int = 80, path: str = "/") -> tuple[int, str]:
    conn = http.client.HTTPConnection(address, port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_round_robin_through_a_real_amphora(local: tuple[harness.Stack, harness.Client]
                                            ) -> None:
    _stack, api = local
    a, b = Backend("a"), Backend("b")
    before = namespaces()
    started = time.monotonic()
    resp = api.post(LB, {"loadbalancer": {
        "name": "e2e", "vip_subnet_id": SUBNET,
        "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "pool"}}],
        "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": GATEWAY, "protocol_port": a.port},
                               {"address": GATEWAY, "protocol_port": b.port}]}],
    }})
    assert resp.status_code == 201, resp.text
    lb = api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer", timeout=60)
    print(f"fully populated create -> ACTIVE in {time.monotonic() - started:.2f} s")
    [amphora] = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert amphora["compute_id"] in namespaces() - before
    answers = [get(lb["vip_address"]) for _ in range(6)]
    assert [status for status, _ in answers] == [200] * 6
    bodies = [body for _, body in answers]
    assert sorted(set(bodies)) == ["a", "b"]
    assert all(bodies[i] != bodies[i + 1] for i in range(5)), bodies

    # A member taken out of the pool stops receiving traffic once the update is ACTIVE.
    pool_id = resp.json()["loadbalancer"]["pools"][0]["id"]
    members = api.get(f"/v2/lbaas/pools/{pool_id}/members").json()["members"]
    gone = next(mb for mb in members if mb["protocol_port"] == b.port)
    assert api.delete(f"/v2/lbaas/pools/{pool_id}/members/{gone['id']}").status_code == 204
    api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
    assert {get(lb["vip_address"])[1] for _ in range(4)} == {"a"}

    assert api.delete(f"{LB}/{lb['id']}?cascade=true").status_code == 204
    api.wait_gone(f"{LB}/{lb['id']}", timeout=60)
    assert amphora["compute_id"] not in namespaces()
    a.stop()
    b.stop()


def test_a_load_balancer_whose_amphora_died_is_still_deleted(
        local: tuple[harness.Stack, harness.Client]) -> None:
    """Deleting a load balancer does not depend on its amphora answering: an agent that
    cannot be reached has nothing left to stop, and its namespace is deleted anyway."""
    _stack, api = local
    resp = api.post(LB, {"loadbalancer": {"name": "dead", "vip_subnet_id": SUBNET}})
    assert resp.status_code == 201, resp.text
    lb = api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer", timeout=60)
    [amphora] = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    name = amphora["compute_id"]
    for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                              timeout=10, check=True).stdout.split():
        subprocess.run(["kill", "-9", pid], timeout=10, check=False)  # the agent and HAProxy
    assert api.delete(f"{LB}/{lb['id']}").status_code == 204
    api.wait_gone(f"{LB}/{lb['id']}", timeout=60)
    assert name not in namespaces()


def test_the_agent_port_setting_reaches_both_ends() -> None:
    """`[haproxy_amphora] bind_port` is the port the agent listens on and the one the REST
    driver dials: with a non-default port the load balancer still comes up and serves."""
    import json
    import socket

    port = 9444
    with harness.local_stack(overrides={"haproxy_amphora": {"bind_port": port}}) as (stack,
                                                                                       api):
        a = Backend("a")
        try:
            resp = api.post(LB, {"loadbalancer": {
                "name": "e2e-port", "vip_subnet_id": SUBNET,
                "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                               "default_pool": {"name": "pool"}}],
                "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                           "members": [{"address": GATEWAY, "protocol_port": a.port}]}],
            }})
            assert resp.status_code == 201, resp.text
            lb = api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer",
                          timeout=60)
            [amphora] = api.get(
                f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
            config = json.loads((stack.settings.common.state_dir / "amphorae" / amphora["id"]
                                 / "agent.json").read_text())
            assert config["bind_port"] == port
            assert get(lb["vip_address"]) == (200, "a")
            with socket.create_connection((amphora["lb_network_ip"], port), timeout=5):
                pass  # the agent listens on the configured port, and only there
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((amphora["lb_network_ip"], 9443), timeout=5)
            assert api.delete(f"{LB}/{lb['id']}?cascade=true").status_code == 204
            api.wait_gone(f"{LB}/{lb['id']}", timeout=60)
        finally:
            a.stop()
