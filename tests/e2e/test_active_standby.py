"""ACTIVE_STANDBY end to end: a flavor whose profile asks for the topology gives a load
balancer two real amphorae with keepalived holding the VIP between them; killing the one that
holds it moves the VIP to the other under a bounded load (the takeover time and the failed
requests are printed), then the health manager replaces the dead one and the pair is whole
again.

Traffic goes only to 198.18.0.1 (backends) and to VIPs in our namespaces; the load loop is
bounded in count and in time.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ottava.agent.haproxy import socket_folder
from ottava.drivers.network.local import DEFAULT_SUBNET6_ID
from tests import harness
from tests.e2e.backends import GATEWAY, Backend
from tests.e2e.test_health import amphorae, destroy_namespace, eventually, get

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[harness.Stack, harness.Client]]:
    with harness.local_stack(health=True) as pair:
        yield pair


def holder(namespaces: list[str], vip: str) -> str | None:
    """The namespace whose eth0 holds the VIP (either family)."""
    family, prefix = ("-6", 128) if ":" in vip else ("-4", 32)
    for name in namespaces:
        out = subprocess.run(["ip", "-n", name, family, "-o", "addr", "show", "dev", "eth0"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
        if f" {vip}/{prefix} " in out:
            return name
    return None


def rebuilt(api: harness.Client, lb_id: str, dead: str) -> bool:
    """Whether the pair is whole again: two ALLOCATED amphorae, the dead one not among them."""
    now = amphorae(api, lb_id)
    return (len(now) == 2 and all(a["status"] == "ALLOCATED" for a in now)
            and dead not in {a["compute_id"] for a in now})


def ha_flavor(api: harness.Client, name: str) -> str:
    """A flavor whose profile asks for ACTIVE_STANDBY; its id."""
    profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": name, "provider_name": "amphora",
        "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})}})
    assert profile.status_code == 201, profile.text
    flavor = api.post("/v2/lbaas/flavors", {"flavor": {
        "name": name, "flavor_profile_id": profile.json()["flavorprofile"]["id"]}})
    assert flavor.status_code == 201, flavor.text
    return str(flavor.json()["flavor"]["id"])


def stick_entries(stack: harness.Stack, amphora_id: str) -> int:
    """Entries in the stick tables of the amphora's HAProxy (its admin socket, read from
    the host: a Unix socket is a file, whatever the namespace)."""
    folder = socket_folder(stack.settings.common.state_dir / "amphorae" / amphora_id / "lb")
    path = folder / "haproxy.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(b"show table\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return sum(int(part.split(":")[1]) for line in answer.decode().splitlines()
               for part in line.split(",") if part.strip().startswith("used:"))


class Load:
    """GETs to the VIP, one at a time, until stopped (at most `limit` requests / seconds)."""

    def __init__(self, vip: str, limit: int = 3000, seconds: float = 60.0) -> None:
        self.vip, self.limit, self.seconds = vip, limit, seconds
        self.results: list[tuple[float, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while not self.stop.is_set() and len(self.results) < self.limit \
                and time.monotonic() < deadline:
            ok = get(self.vip, timeout=0.3) is not None
            self.results.append((time.monotonic(), ok))
            if not ok:
                time.sleep(0.01)

    def finish(self) -> list[tuple[float, bool]]:
        self.stop.set()
        self.thread.join(timeout=10)
        return self.results


def test_master_killed_vip_moves_then_pair_is_rebuilt(
        env: tuple[harness.Stack, harness.Client]) -> None:
    stack, api = env
    backend = Backend("a")
    try:
        resp = api.post(LB, {"loadbalancer": {
            "vip_subnet_id": SUBNET, "flavor_id": ha_flavor(api, "ha"),
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {"type": "SOURCE_IP"},
                "members": [{"address": GATEWAY, "protocol_port": backend.port}]}}]}})
        assert resp.status_code == 201, resp.text
        lb: dict[str, Any] = resp.json()["loadbalancer"]
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
        pair = amphorae(api, lb["id"])
        assert sorted(a["role"] for a in pair) == ["BACKUP", "MASTER"]
        assert all(a["status"] == "ALLOCATED" for a in pair)
        vip = lb["vip_address"]
        names = [a["compute_id"] for a in pair]
        master = eventually(lambda: holder(names, vip), 10, "keepalived holding the VIP")
        assert eventually(lambda: get(vip) == "a", 10, "the VIP serving")
        # The backup's HAProxy learns the master's stickiness through the peers section.
        backup = next(a for a in pair if a["compute_id"] != master)
        eventually(lambda: stick_entries(stack, backup["id"]) >= 1, 10,
                   "the stick table synchronised to the backup")

        load = Load(vip)
        time.sleep(1.0)
        killed_at = time.monotonic()
        destroy_namespace(master)
        survivor = next(n for n in names if n != master)
        eventually(lambda: holder([survivor], vip), 10, "the VIP on the survivor")
        eventually(lambda: any(t > killed_at and ok for t, ok in load.results), 10,
                   "a request served after the kill")
        time.sleep(1.0)
        results = load.finish()
        served = [t for t, ok in results if ok]
        # The outage: the longest wait between two served requests around the kill.
        outage = max(b - a for a, b in itertools.pairwise(served)
                     if b > killed_at)
        failed = sum(1 for _, ok in results if not ok)
        print(f"ACTIVE_STANDBY takeover: longest gap between served requests {outage:.2f} s; "
              f"{failed} of {len(results)} requests failed")

        # The health manager replaces the dead amphora; the pair is whole again.
        eventually(lambda: rebuilt(api, lb["id"], master), 60, "the dead amphora replaced")
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
        assert holder([survivor], vip) == survivor  # nopreempt: no needless move back
        assert get(vip) == "a"
        api.delete(f"{LB}/{lb['id']}?cascade=true")
        api.wait_gone(f"{LB}/{lb['id']}", timeout=60)
    finally:
        backend.stop()


def test_dual_stack_pair_moves_both_vips(env: tuple[harness.Stack, harness.Client]) -> None:
    """A pair with an IPv4 VIP and an IPv6 additional VIP: keepalived moves both (the IPv6
    one outside the IPv4 adverts) when the holder dies, and both keep serving."""
    _, api = env
    backend = Backend("a")
    try:
        resp = api.post(LB, {"loadbalancer": {
            "vip_subnet_id": SUBNET, "flavor_id": ha_flavor(api, "ha-dual"),
            "additional_vips": [{"subnet_id": DEFAULT_SUBNET6_ID}],
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": GATEWAY, "protocol_port": backend.port}]}}]}})
        assert resp.status_code == 201, resp.text
        lb: dict[str, Any] = resp.json()["loadbalancer"]
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
        vip4, vip6 = lb["vip_address"], lb["additional_vips"][0]["ip_address"]
        names = [a["compute_id"] for a in amphorae(api, lb["id"])]
        master = eventually(lambda: holder(names, vip4), 10, "keepalived holding the VIP")
        assert eventually(lambda: holder(names, vip6), 10, "the IPv6 VIP held") == master
        assert eventually(lambda: get(vip4) == "a" and get(vip6) == "a", 10, "both serving")

        destroy_namespace(master)
        survivor = next(n for n in names if n != master)
        eventually(lambda: holder([survivor], vip4) and holder([survivor], vip6), 10,
                   "both VIPs on the survivor")
        eventually(lambda: get(vip4) == "a" and get(vip6) == "a", 10,
                   "both VIPs serving from the survivor")

        eventually(lambda: rebuilt(api, lb["id"], master), 60, "the dead amphora replaced")
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
        names = [a["compute_id"] for a in amphorae(api, lb["id"])]
        assert holder(names, vip4) == holder(names, vip6) == survivor
        assert get(vip4) == "a" and get(vip6) == "a"
        assert api.delete(f"{LB}/{lb['id']}?cascade=true").status_code == 204
        api.wait_gone(f"{LB}/{lb['id']}", timeout=60)
    finally:
        backend.stop()
