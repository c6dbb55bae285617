"""UDP through real amphorae: nftables in the amphora's namespace balancing datagrams to UDP
servers on the host's bridge address, members checked by the agent, statuses and counters
through heartbeats to the health manager as standalone runs it.

Covered: round robin over new flows, weights, one flow staying on its member, SOURCE_IP and
SOURCE_IP_PORT hashing, SOURCE_IP persistence over round robin, a dead member taken out by
UDP-CONNECT (member ERROR, pool DEGRADED, datagrams only to the living) and back, backup
members, allowed_cidrs, listener statistics, a listener removed and the table gone with the
load balancer; an SCTP listener's rules loaded (its traffic where the kernel has SCTP
sockets); LEAST_CONNECTIONS refused.

Traffic goes only to 198.18.0.1 (backends) and to VIPs in our namespaces. Every loop is
bounded in count and time; every server started is stopped.
"""

from __future__ import annotations

import collections
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests import harness
from tests.e2e.backends import GATEWAY, UdpBackend
from tests.harness import eventually

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"
PORT = 5300


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[harness.Stack, harness.Client]]:
    # UDP-CONNECT monitors may probe every second here (Octavia's floor is 3 s).
    overrides = {"api_settings": {"udp_connect_min_interval_health_monitor": 1}}
    with harness.local_stack(health=True, overrides=overrides) as pair:
        yield pair


def ask(vip: str, sock: socket.socket | None = None, timeout: float = 1.0,
        port: int = PORT) -> str | None:
    """One datagram to the VIP (either family) and the name that answered (None: no
    answer). A new socket, so a new source port and a new flow, unless `sock` is given."""
    own = sock is None
    family = socket.AF_INET6 if ":" in vip else socket.AF_INET
    s = sock or socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(b"who?", (vip, port))
        data, _ = s.recvfrom(2048)
        return data.decode()
    except OSError:
        return None
    finally:
        if own:
            s.close()


def spread(vip: str, flows: int) -> collections.Counter[str | None]:
    return collections.Counter(ask(vip) for _ in range(flows))


def create(api: harness.Client, *backends: UdpBackend, algorithm: str = "ROUND_ROBIN",
           monitor: dict[str, Any] | None = None, **pool: Any) -> dict[str, Any]:
    members = [{"name": b.name, "address": GATEWAY, "protocol_port": b.port}
               for b in backends]
    body: dict[str, Any] = {"name": "udp", "protocol": "UDP", "lb_algorithm": algorithm,
                            "members": members, **pool}
    if monitor:
        body["healthmonitor"] = monitor
    resp = api.post(LB, {"loadbalancer": {
        "vip_subnet_id": SUBNET, "name": "datagrams",
        "listeners": [{"name": "dns", "protocol": "UDP", "protocol_port": PORT,
                       "default_pool": body}]}})
    assert resp.status_code == 201, resp.text
    lb = resp.json()["loadbalancer"]
    return api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)  # type: ignore[no-any-return]


def delete(api: harness.Client, lb_id: str) -> None:
    api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=60)
    assert api.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
    api.wait_gone(f"{LB}/{lb_id}", timeout=60)


def change(api: harness.Client, lb_id: str, path: str, body: dict[str, Any]) -> None:
    resp = api.put(path, body)
    assert resp.status_code == 200, resp.text
    api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=60)


def members(api: harness.Client, pool_id: str) -> dict[str, str]:
    return {m["name"]: m["id"]
            for m in api.get(f"/v2/lbaas/pools/{pool_id}/members").json()["members"]}


def statuses(api: harness.Client, lb_id: str) -> dict[str, Any]:
    lb = api.get(f"{LB}/{lb_id}/status").json()["statuses"]["loadbalancer"]
    pool = lb["listeners"][0]["pools"][0]
    return {"pool": pool["operating_status"],
            "members": {m["name"]: m["operating_status"] for m in pool["members"]}}


def namespace_of(api: harness.Client, lb_id: str) -> str:
    """The amphora's network namespace: its compute id, with the local compute driver."""
    amps = [a for a in api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")
            .json()["amphorae"] if a["status"] != "DELETED"]
    return str(amps[0]["compute_id"])


def test_round_robin_weights_and_flows(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    a, b = UdpBackend("a"), UdpBackend("b")
    try:
        lb = create(api, a, b)
        vip = lb["vip_address"]
        assert spread(vip, 20) == {"a": 10, "b": 10}  # each new flow, the next member
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flow:
            first = ask(vip, flow)
            assert first in ("a", "b")
            assert {ask(vip, flow) for _ in range(5)} == {first}  # one flow, one member

        pool_id = lb["pools"][0]["id"]
        ids = members(api, pool_id)
        change(api, lb["id"], f"/v2/lbaas/pools/{pool_id}/members/{ids['a']}",
               {"member": {"weight": 3}})
        assert spread(vip, 20) == {"a": 15, "b": 5}

        stats = eventually(lambda: (s := api.get(f"{LB}/{lb['id']}/stats").json()["stats"])
                           ["total_connections"] >= 20 and s, 15, "flows counted")
        assert stats["bytes_in"] > 0 and stats["bytes_out"] > 0
        delete(api, lb["id"])
    finally:
        a.stop()
        b.stop()


def test_source_hashing_and_persistence(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    a, b = UdpBackend("a"), UdpBackend("b")
    try:
        lb = create(api, a, b, algorithm="SOURCE_IP")
        vip, pool_id = lb["vip_address"], lb["pools"][0]["id"]
        assert len(spread(vip, 10)) == 1  # one client address, one member

        change(api, lb["id"], f"/v2/lbaas/pools/{pool_id}", {"pool": {
            "lb_algorithm": "SOURCE_IP_PORT"}})
        assert set(spread(vip, 20)) == {"a", "b"}  # source ports differ

        change(api, lb["id"], f"/v2/lbaas/pools/{pool_id}", {"pool": {
            "lb_algorithm": "ROUND_ROBIN",
            "session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 60,
                                    "persistence_granularity": "255.255.255.255"}}})
        pool = api.get(f"/v2/lbaas/pools/{pool_id}").json()["pool"]
        assert pool["session_persistence"]["persistence_timeout"] == 60
        assert len(spread(vip, 10)) == 1  # round robin, but the client is remembered
        delete(api, lb["id"])
    finally:
        a.stop()
        b.stop()


def test_udp_connect_takes_a_dead_member_out(env: tuple[harness.Stack, harness.Client]
                                             ) -> None:
    _, api = env
    a, b, spare = UdpBackend("a"), UdpBackend("b"), UdpBackend("spare")
    monitor = {"type": "UDP-CONNECT", "delay": 1, "timeout": 1, "max_retries": 1,
               "max_retries_down": 1}
    try:
        lb = create(api, a, b, spare, monitor=monitor)
        vip, pool_id = lb["vip_address"], lb["pools"][0]["id"]
        ids = members(api, pool_id)
        change(api, lb["id"], f"/v2/lbaas/pools/{pool_id}/members/{ids['spare']}",
               {"member": {"backup": True}})
        online = {"pool": "ONLINE", "members": {"a": "ONLINE", "b": "ONLINE",
                                                "spare": "ONLINE"}}
        eventually(lambda: statuses(api, lb["id"]) == online, 20, "all ONLINE")
        assert set(spread(vip, 10)) == {"a", "b"}  # the backup waits

        port_a, port_b = a.port, b.port
        b.stop()  # its port answers ICMP port unreachable now
        degraded = {"pool": "DEGRADED", "members": {"a": "ONLINE", "b": "ERROR",
                                                    "spare": "ONLINE"}}
        eventually(lambda: statuses(api, lb["id"]) == degraded, 20, "b ERROR")
        assert spread(vip, 10) == {"a": 10}

        a.stop()  # no primary left: the backup serves
        eventually(lambda: spread(vip, 4) == {"spare": 4}, 20, "the backup serving")

        a, b = UdpBackend("a", port_a), UdpBackend("b", port_b)
        eventually(lambda: statuses(api, lb["id"]) == online, 20, "back ONLINE")
        assert set(spread(vip, 10)) == {"a", "b"}
        delete(api, lb["id"])
    finally:
        for backend in (a, b, spare):
            backend.stop()


def test_allowed_cidrs_and_removal(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    a = UdpBackend("a")
    try:
        lb = create(api, a)
        vip, listener_id = lb["vip_address"], lb["listeners"][0]["id"]
        namespace = namespace_of(api, lb["id"])
        assert ask(vip) == "a"
        change(api, lb["id"], f"/v2/lbaas/listeners/{listener_id}",
               {"listener": {"allowed_cidrs": ["192.0.2.0/24"]}})
        assert ask(vip) is None
        change(api, lb["id"], f"/v2/lbaas/listeners/{listener_id}",
               {"listener": {"allowed_cidrs": [f"{GATEWAY}/32"]}})
        assert ask(vip) == "a"

        assert table_exists(namespace)
        resp = api.delete(f"/v2/lbaas/listeners/{listener_id}")
        assert resp.status_code == 204, resp.text
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
        assert ask(vip) is None
        assert not table_exists(namespace)  # the last datagram listener took it along
        delete(api, lb["id"])
    finally:
        a.stop()


def table_exists(namespace: str) -> bool:
    out = subprocess.run(["ip", "netns", "exec", namespace, "nft", "list", "tables"],
                         capture_output=True, text=True, timeout=10, check=False)
    assert out.returncode == 0, out.stderr
    return "inet ottava" in out.stdout


def test_least_connections_is_refused(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    resp = api.post(LB, {"loadbalancer": {
        "vip_subnet_id": SUBNET, "name": "lc",
        "listeners": [{"name": "dns", "protocol": "UDP", "protocol_port": PORT,
                       "default_pool": {"name": "lc", "protocol": "UDP",
                                        "lb_algorithm": "LEAST_CONNECTIONS"}}]}})
    assert resp.status_code == 400, resp.text
    assert "LEAST_CONNECTIONS" in resp.json()["faultstring"]
    assert api.get(f"{LB}?name=lc").json()["loadbalancers"] == []


def sctp_sockets() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError:
        return False
    return True


def sctp_body(port: int) -> dict[str, Any]:
    return {"loadbalancer": {
        "vip_subnet_id": SUBNET, "name": "sctp",
        "listeners": [{"name": "diameter", "protocol": "SCTP", "protocol_port": 3868,
                       "default_pool": {"name": "sctp", "protocol": "SCTP",
                                        "lb_algorithm": "SOURCE_IP", "members": [
                                            {"address": GATEWAY, "protocol_port": port}]}}]}}


def test_sctp_listener_is_configured(env: tuple[harness.Stack, harness.Client]) -> None:
    """The amphora loads an SCTP listener's rules even on a kernel without SCTP sockets:
    nftables matches and NATs SCTP without them."""
    _, api = env
    resp = api.post(LB, sctp_body(3868))
    assert resp.status_code == 201, resp.text
    lb = api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer", timeout=60)
    out = subprocess.run(["ip", "netns", "exec", namespace_of(api, lb["id"]), "nft", "list",
                          "table", "inet", "ottava"], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    assert "sctp dport 3868" in out
    assert f"{GATEWAY} . 3868" in out
    delete(api, lb["id"])


@pytest.mark.skipif(not sctp_sockets(), reason="this kernel has no SCTP sockets")
def test_sctp_traffic(env: tuple[harness.Stack, harness.Client]) -> None:
    """An SCTP association through the VIP reaches the member and carries data both ways."""
    _, api = env
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP) as server:
        server.bind((GATEWAY, 0))
        server.listen()
        server.settimeout(10)
        resp = api.post(LB, sctp_body(server.getsockname()[1]))
        assert resp.status_code == 201, resp.text
        lb = api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer",
                      timeout=60)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM,
                           socket.IPPROTO_SCTP) as client:
            client.settimeout(10)
            client.connect((lb["vip_address"], 3868))
            client.sendall(b"hello")
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                assert conn.recv(16) == b"hello"
                conn.sendall(b"member")
            assert client.recv(16) == b"member"
        delete(api, lb["id"])
