"""Health end to end: real amphorae sending real heartbeats to the health manager as standalone
runs it (heartbeat every 1 s, failover after 3 s of silence).

Covered: operating status from real HAProxy health checks (a backend killed -> member ERROR,
pool and load balancer DEGRADED, traffic only to the living; back -> ONLINE); PING monitors
answered by ICMP echo (a closed port on a live host is ONLINE, an absent host ERROR); statistics
through the stats API that keep growing across HAProxy reloads; forged, truncated, oversized,
foreign-version and unknown-amphora datagrams dropped and counted while real heartbeats keep
being processed; drift repair (an amphora that lost its configuration gets it back); failover
of a SINGLE amphora whose namespace is destroyed (the VIP serves again from a new amphora and
the load balancer is ACTIVE).

Traffic goes only to 198.18.0.1 (backends), to VIPs in our namespaces and to 127.0.0.1.
Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ottava.domain.ports.amphora import AmphoraRef
from ottava.wire import heartbeat as wire
from tests import harness
from tests.e2e.backends import GATEWAY, Backend
from tests.harness import eventually

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[harness.Stack, harness.Client]]:
    with harness.local_stack(health=True) as pair:
        yield pair


def get(vip: str, path: str = "/", timeout: float = 2.0) -> str | None:
    """The body of GET http://vip/path, or None when it fails."""
    conn = http.client.HTTPConnection(vip, 80, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.read().decode() if resp.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


def create_lb(api: harness.Client, *backends: Backend, monitor: bool = True) -> dict[str, Any]:
    pool: dict[str, Any] = {
        "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"name": b.name, "address": GATEWAY, "protocol_port": b.port}
                    for b in backends]}
    if monitor:
        pool["healthmonitor"] = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                                 "max_retries_down": 1}
    resp = api.post(LB, {"loadbalancer": {"vip_subnet_id": SUBNET, "name": "health",
                                          "listeners": [{"protocol": "HTTP", "protocol_port": 80,
                                                         "default_pool": pool}]}})
    assert resp.status_code == 201, resp.text
    lb = resp.json()["loadbalancer"]
    api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
    return api.get(f"{LB}/{lb['id']}").json()["loadbalancer"]  # type: ignore[no-any-return]


def tree(api: harness.Client, lb_id: str) -> dict[str, Any]:
    """{"lb": status, "listener": status, "pool": status, "members": {name: status}}."""
    lb = api.get(f"{LB}/{lb_id}/status").json()["statuses"]["loadbalancer"]
    listener = lb["listeners"][0]
    pool = listener["pools"][0]
    return {"lb": lb["operating_status"], "listener": listener["operating_status"],
            "pool": pool["operating_status"],
            "members": {m["name"]: m["operating_status"] for m in pool["members"]}}


def amphorae(api: harness.Client, lb_id: str) -> list[dict[str, Any]]:
    return [a for a in api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")
            .json()["amphorae"] if a["status"] != "DELETED"]


def delete_lb(api: harness.Client, lb_id: str) -> None:
    """Delete once the load balancer is ACTIVE again: a change the health manager started
    (a drift repair, a failover) holds it PENDING_UPDATE until it is done."""
    api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=60)
    resp = api.delete(f"{LB}/{lb_id}?cascade=true")
    assert resp.status_code == 204, resp.text
    api.wait_gone(f"{LB}/{lb_id}", timeout=60)


def test_member_health_from_real_probes(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    a, b = Backend("a"), Backend("b")
    try:
        lb = create_lb(api, a, b)
        healthy = {"lb": "ONLINE", "listener": "ONLINE", "pool": "ONLINE",
                   "members": {"a": "ONLINE", "b": "ONLINE"}}
        eventually(lambda: tree(api, lb["id"]) == healthy, 15, "all ONLINE")

        port = b.port
        b.stop()  # connections to b are refused now: its health check fails
        degraded = {"lb": "DEGRADED", "listener": "ONLINE", "pool": "DEGRADED",
                    "members": {"a": "ONLINE", "b": "ERROR"}}
        eventually(lambda: tree(api, lb["id"]) == degraded, 15, "member b ERROR")
        answers = {get(lb["vip_address"]) for _ in range(10)}
        assert answers == {"a"}, answers  # out of rotation

        b = Backend("b", port)  # back on the same address
        eventually(lambda: tree(api, lb["id"]) == healthy, 15, "back ONLINE")
        eventually(lambda: {get(lb["vip_address"]) for _ in range(6)} == {"a", "b"}, 10,
                   "b serving again")
        delete_lb(api, lb["id"])
    finally:
        a.stop()
        b.stop()


def closed_port() -> int:
    """A port on the bridge address where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind((GATEWAY, 0))
        return int(s.getsockname()[1])


def test_ping_monitor_sends_icmp_echo(env: tuple[harness.Stack, harness.Client]) -> None:
    """A PING monitor asks whether the member's host answers an ICMP echo, not whether its
    port accepts connections: a host with the port closed is ONLINE, an address nobody holds
    is ERROR. (A TCP check, the old fallback, would have marked both ERROR.)"""
    _, api = env
    a = Backend("a")
    nobody = "198.19.255.250"  # inside the local subnet, far above what the pool hands out
    members = [{"name": "a", "address": GATEWAY, "protocol_port": a.port},
               {"name": "closed", "address": GATEWAY, "protocol_port": closed_port()},
               {"name": "nobody", "address": nobody, "protocol_port": 80}]
    pool = {"name": "pinged", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": members,
            "healthmonitor": {"type": "PING", "delay": 1, "timeout": 1, "max_retries": 1,
                              "max_retries_down": 1}}
    try:
        resp = api.post(LB, {"loadbalancer": {
            "vip_subnet_id": SUBNET, "name": "ping",
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}]}})
        assert resp.status_code == 201, resp.text
        lb_id = resp.json()["loadbalancer"]["id"]
        api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=60)
        expected = {"a": "ONLINE", "closed": "ONLINE", "nobody": "ERROR"}
        eventually(lambda: tree(api, lb_id)["members"] == expected, 20,
                   "members judged by ICMP echo")
        assert tree(api, lb_id)["pool"] == "DEGRADED"
        delete_lb(api, lb_id)
    finally:
        a.stop()


def test_stats_grow_across_reloads(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    a = Backend("a")
    try:
        lb = create_lb(api, a, monitor=False)
        stats_path = f"{LB}/{lb['id']}/stats"

        def total() -> dict[str, int]:
            return api.get(stats_path).json()["stats"]  # type: ignore[no-any-return]

        for _ in range(20):
            assert get(lb["vip_address"]) == "a"
        first = eventually(lambda: (s := total())["total_connections"] >= 20 and s, 10,
                           "20 connections counted")
        assert first["bytes_in"] > 0 and first["bytes_out"] > 0

        # A change that reloads HAProxy: the new worker's counters start at zero.
        listener_id = lb["listeners"][0]["id"]
        assert api.put(f"/v2/lbaas/listeners/{listener_id}",
                       {"listener": {"connection_limit": 5000}}).status_code == 200
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
        time.sleep(2.5)  # two heartbeats from the new HAProxy worker
        assert total()["total_connections"] >= first["total_connections"]
        for _ in range(10):
            assert get(lb["vip_address"]) == "a"
        eventually(lambda: total()["total_connections"] >= first["total_connections"] + 10, 10,
                   "counting on after the reload")
        assert total()["bytes_in"] > first["bytes_in"]
        delete_lb(api, lb["id"])
    finally:
        a.stop()


def test_bad_datagrams_are_dropped_and_counted(env: tuple[harness.Stack, harness.Client]
                                               ) -> None:
    stack, api = env
    a = Backend("a")
    try:
        lb = create_lb(api, a, monitor=False)
        amp = amphorae(api, lb["id"])[0]
        receiver, ingest = stack.health.receiver, stack.health.ingest
        address = stack.health.address
        key = receiver.keys.deployment_key
        own_key = wire.amphora_key(key, amp["id"])
        genuine: wire.Heartbeat = {"id": amp["id"], "seq": 1, "hash": None, "listeners": {},
                                   "pools": {}}
        good = wire.encode(genuine, own_key)
        forged = wire.encode(genuine, wire.amphora_key(b"not the deployment's key", amp["id"]))
        unknown = wire.encode({**genuine, "id": "0" * 36}, wire.amphora_key(key, "0" * 36))
        header = good[:wire.HEADER_SIZE]  # magic, version, this amphora's id, when sent
        datagrams = {"signature": [forged],
                     "size": [good[:20], b"\0" * (wire.MAX_SIZE + 100)],  # truncated, oversized
                     "magic": [b"X" * 200],
                     "version": [signed(own_key, wire.MAGIC + bytes([99])
                                        + good[wire.ID_AT:-wire.MAC_SIZE])],
                     "body": [signed(own_key, header + b"not zlib" * 4)]}
        before = dict(receiver.dropped)
        unknown_before = ingest.counters.unknown
        last_seen = stack_last_update(stack, amp["id"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for batch in datagrams.values():
                for datagram in batch:
                    s.sendto(datagram, address)
            s.sendto(unknown, address)
        for reason, batch in datagrams.items():
            wanted = before.get(reason, 0) + len(batch)
            eventually(lambda r=reason, n=wanted: receiver.dropped[r] >= n, 5,
                       f"{len(batch)} {reason} drops counted")
        eventually(lambda: ingest.counters.unknown > unknown_before, 5, "unknown counted")
        # The forged heartbeat said "no configuration": had it been believed, the amphora
        # would be getting its configuration again; the real heartbeats go on arriving.
        eventually(lambda: stack_last_update(stack, amp["id"]) > last_seen, 5,
                   "real heartbeats still processed")
        assert get(lb["vip_address"]) == "a"
        delete_lb(api, lb["id"])
    finally:
        a.stop()


def signed(key: bytes, payload: bytes) -> bytes:
    """`payload` with a valid signature: gets past the signature check, to the next one."""
    return payload + hmac.new(key, payload, hashlib.sha256).digest()


def stack_last_update(stack: harness.Stack, amphora_id: str) -> Any:
    from ottava.db.models import AmphoraHealth

    with stack.db.reader() as s:
        row = s.get(AmphoraHealth, amphora_id)
        return row.last_update if row else None


def test_drift_is_repaired(env: tuple[harness.Stack, harness.Client]) -> None:
    stack, api = env
    a = Backend("a")
    try:
        lb = create_lb(api, a, monitor=False)
        amp = amphorae(api, lb["id"])[0]
        # Someone (or a crash) takes the load balancer off the amphora behind our back.
        stack.drivers.amphora.remove(AmphoraRef(id=amp["id"], load_balancer_id=lb["id"],
                                                compute_id=amp["compute_id"],
                                                lb_network_ip=amp["lb_network_ip"]))
        assert get(lb["vip_address"], timeout=1) is None
        eventually(lambda: get(lb["vip_address"]) == "a", 20, "the configuration pushed back")
        assert stack.health.ingest.counters.drift_repairs >= 1
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=30)  # the repair unlocks it
        delete_lb(api, lb["id"])
    finally:
        a.stop()


def destroy_namespace(name: str) -> None:
    """What a dead host looks like: every process in the namespace killed, the namespace gone."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                          timeout=10, check=False).stdout.split()
    for pid in pids:
        subprocess.run(["kill", "-9", pid], timeout=10, check=False)
    subprocess.run(["ip", "netns", "delete", name], timeout=10, check=True)


def test_single_amphora_failover(env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    a = Backend("a")
    try:
        lb = create_lb(api, a, monitor=False)
        old = amphorae(api, lb["id"])[0]
        assert get(lb["vip_address"]) == "a"
        started = time.monotonic()
        destroy_namespace(old["compute_id"])
        assert get(lb["vip_address"], timeout=0.5) is None
        eventually(lambda: get(lb["vip_address"], timeout=0.5) == "a", 30, "VIP serving again")
        serving_after = time.monotonic() - started
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=30)
        now = amphorae(api, lb["id"])
        assert [x["id"] for x in now] != [old["id"]] and len(now) == 1
        assert now[0]["status"] == "ALLOCATED"
        print(f"failover: VIP serving again {serving_after:.2f} s after the namespace died")
        delete_lb(api, lb["id"])
    finally:
        a.stop()


def served_certificate(stack: harness.Stack, amp: dict[str, Any]) -> bytes:
    """The DER certificate the amphora's agent presents to the controller."""
    context = stack.drivers.amphora.context
    with socket.create_connection((amp["lb_network_ip"], 9443), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=amp["id"]) as tls:
        return tls.getpeercert(binary_form=True)  # type: ignore[no-any-return]


def test_certificate_rotation_without_downtime(env: tuple[harness.Stack, harness.Client]
                                               ) -> None:
    from sqlalchemy import update

    from ottava.db import models
    from ottava.housekeeping import certificates

    stack, api = env
    a = Backend("a")
    try:
        lb = create_lb(api, a, monitor=False)
        amp = amphorae(api, lb["id"])[0]
        before = served_certificate(stack, amp)
        with stack.db.transaction() as s:  # as if it were about to expire
            s.execute(update(models.Amphora).where(models.Amphora.id == amp["id"])
                      .values(cert_expiration=models.utcnow()))
        load = [get(lb["vip_address"]) for _ in range(5)]
        assert certificates.rotate_expiring(stack.db, stack.services.amphorae.rotate_certificate,
                                            buffer=3600) == [amp["id"]]
        load += [get(lb["vip_address"]) for _ in range(5)]

        def rotated() -> bool:
            with stack.db.reader() as s:
                row = s.get(models.Amphora, amp["id"])
                assert row is not None
                return (not row.cert_busy and row.cert_expiration is not None
                        and row.cert_expiration > models.utcnow())

        eventually(rotated, 20, "the new expiry recorded")
        load += [get(lb["vip_address"]) for _ in range(5)]
        assert load == ["a"] * 15
        after = served_certificate(stack, amp)
        assert after != before
        # The controller still reaches the agent over mutual TLS with the new certificate.
        ref = AmphoraRef(id=amp["id"], load_balancer_id=lb["id"], compute_id=amp["compute_id"],
                         lb_network_ip=amp["lb_network_ip"])
        assert stack.drivers.amphora.info(ref)["amphora_id"] == amp["id"]
        delete_lb(api, lb["id"])
    finally:
        a.stop()
