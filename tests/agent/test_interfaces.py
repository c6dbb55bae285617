"""`ottava.agent.interfaces.plug` in a network namespace of its own: the interface is found
by its MAC address, brought up, and made to hold exactly the port's own address and the VIPs
it is told, both families, and routes the subnet's host routes through it (exactly those);
a second call with fewer VIPs takes one away; an interface that
appears a moment after the call (a NIC hot-plugged into a VM) is waited for; an unknown MAC is
reported, after the wait, and changes nothing. `plug` runs from a thread inside the
namespace, as the agent's request threads do (`ottava.agent.netns.run_inside`)."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest

from ottava.agent import interfaces, netns
from ottava.wire.agent import InterfacePlug

MAC = "02:00:5e:00:53:51"


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True,
                          timeout=20).stdout


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"ottava-test-if-{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        # A veth pair inside it stands for the port (this kernel has no dummy links).
        ip("-n", name, "link", "add", "eth1", "type", "veth", "peer", "name", "peer1")
        ip("-n", name, "link", "set", "eth1", "address", MAC)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=20,
                       check=False)


def held(namespace: str) -> tuple[bool, set[str]]:
    (link,) = json.loads(ip("-n", namespace, "-j", "addr", "show", "dev", "eth1"))
    addresses = {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]
                 if a.get("scope") == "global"}
    return "UP" in link["flags"], addresses


def test_the_port_holds_exactly_its_address_and_the_vips(namespace: str) -> None:
    request: InterfacePlug = {"mac": MAC.upper(), "address": "198.51.100.5", "prefixlen": 24,
                              "vips": ["198.51.100.10", "2001:db8:51::10"]}
    assert netns.run_inside(namespace, interfaces.plug, request) == "eth1"
    assert held(namespace) == (True, {"198.51.100.5/24", "198.51.100.10/32",
                                      "2001:db8:51::10/128"})
    assert netns.run_inside(namespace, interfaces.plug, request) == "eth1"  # idempotent

    fewer: InterfacePlug = {**request, "vips": ["198.51.100.10"]}
    netns.run_inside(namespace, interfaces.plug, fewer)
    assert held(namespace)[1] == {"198.51.100.5/24", "198.51.100.10/32"}
    assert ip("-j", "addr").count("198.51.100.") == 0  # the host's namespace untouched


def routes(namespace: str) -> set[tuple[str, str]]:
    found = set()
    for family in ("-4", "-6"):
        for route in json.loads(ip("-n", namespace, "-j", family, "route", "show", "dev",
                                   "eth1")):
            if route.get("gateway"):
                found.add((route["dst"], route["gateway"]))
    return found


def test_the_subnets_host_routes_go_through_the_port(namespace: str) -> None:
    ip("-n", namespace, "link", "set", "peer1", "up")
    request: InterfacePlug = {
        "mac": MAC, "address": "198.51.100.5", "prefixlen": 24, "vips": [],
        "routes": [{"destination": "10.9.0.0/16", "nexthop": "198.51.100.1"},
                   {"destination": "0.0.0.0/0", "nexthop": "198.51.100.254"}]}
    netns.run_inside(namespace, interfaces.plug, request)
    assert routes(namespace) == {("10.9.0.0/16", "198.51.100.1"),
                                 ("default", "198.51.100.254")}
    netns.run_inside(namespace, interfaces.plug, request)  # idempotent
    assert len(routes(namespace)) == 2

    fewer: InterfacePlug = {**request, "routes": [
        {"destination": "10.9.0.0/16", "nexthop": "198.51.100.2"}]}
    netns.run_inside(namespace, interfaces.plug, fewer)
    assert routes(namespace) == {("10.9.0.0/16", "198.51.100.2")}
    netns.run_inside(namespace, interfaces.plug, {**request, "routes": []})
    assert routes(namespace) == set()


def test_an_interface_that_appears_later_is_waited_for(namespace: str) -> None:
    late = "02:00:5e:00:53:52"
    timer = threading.Timer(1.0, lambda: ip("-n", namespace, "link", "add", "eth2",
                                            "address", late, "type", "veth", "peer", "name",
                                            "peer2"))
    timer.start()
    try:
        request: InterfacePlug = {"mac": late, "address": "198.51.100.6", "prefixlen": 24,
                                  "vips": []}
        assert netns.run_inside(namespace, interfaces.plug, request) == "eth2"
    finally:
        timer.join()


def test_an_unknown_mac_is_reported_and_changes_nothing(
        namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interfaces, "APPEAR_WAIT", 1.0)
    request: InterfacePlug = {"mac": "02:00:5e:00:53:99", "address": "198.51.100.5",
                              "prefixlen": 24, "vips": []}
    with pytest.raises(interfaces.InterfaceNotFound, match="02:00:5e:00:53:99"):
        netns.run_inside(namespace, interfaces.plug, request)
    assert held(namespace) == (False, set())
