"""A VM amphora's interfaces on VIP networks: addresses set by the agent, as Octavia's plug
API does, since nothing else inside the amphora configures a port attached after boot.

`plug(InterfacePlug)` finds the interface with the port's MAC address (waiting up to
APPEAR_WAIT seconds for it: a NIC hot-plugged into a VM shows up a moment after Nova says it
is attached), brings it up and makes
it hold exactly the port's own address and the VIPs it is told (others it held before are
removed, so the same call also unplugs a VIP), routes the subnet's host routes through it
(exactly those: a route that is no longer wanted goes), then announces each IPv4 address with a
gratuitous ARP so neighbours forget where the VIP was before. It runs `ip` (iproute2), forked
from the calling thread: in a local amphora that thread is inside the amphora's namespace,
and `ip` acts there. Every command has a timeout.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import time

from ottava.wire.agent import InterfacePlug

IP = "ip"
COMMAND_TIMEOUT = 10.0
APPEAR_WAIT = 20.0  # seconds a hot-plugged NIC may take to appear in the guest
APPEAR_POLL = 0.2


class InterfaceNotFound(LookupError):
    """No interface has the MAC address of the port."""


class InterfaceError(RuntimeError):
    """`ip` refused a change."""


def plug(request: InterfacePlug) -> str:
    """Configure the interface with `request["mac"]`; its name."""
    ifname = _by_mac(request["mac"])
    _ip("link", "set", "dev", ifname, "up")
    wanted = {f"{request['address']}/{request['prefixlen']}"}
    wanted |= {f"{vip}/{ipaddress.ip_address(vip).max_prefixlen}" for vip in request["vips"]}
    held = set(_addresses(ifname))
    for stale in sorted(held - wanted):
        _ip("addr", "del", stale, "dev", ifname)
    for address in sorted(wanted - held):
        # nodad: a VIP is shared by design (a pair), duplicate detection would disable it
        extra = ["nodad"] if ":" in address else []
        _ip("addr", "replace", address, "dev", ifname, *extra)
    _set_routes(ifname, {(r["destination"], r["nexthop"]) for r in request.get("routes", [])})
    for address in [request["address"], *request["vips"]]:
        if ipaddress.ip_address(address).version == 4:
            announce(ifname, address)
    return ifname


def _set_routes(ifname: str, wanted: set[tuple[str, str]]) -> None:
    """Exactly `wanted` (destination, nexthop) as the static routes through `ifname`: the
    subnet's host routes. Routes the kernel made (the subnet's own) are left alone."""
    held = set()
    for family in ("-4", "-6"):
        for route in json.loads(_ip("-j", family, "route", "show", "dev", ifname,
                                    "proto", "static") or "[]"):
            if route.get("gateway"):
                destination = route["dst"]
                if destination == "default":
                    destination = "0.0.0.0/0" if family == "-4" else "::/0"
                held.add((str(ipaddress.ip_network(destination)), route["gateway"]))
    for destination, nexthop in sorted(held - wanted):
        _ip("route", "del", destination, "via", nexthop, "dev", ifname)
    for destination, nexthop in sorted(wanted - held):
        _ip("route", "replace", destination, "via", nexthop, "dev", ifname, "proto", "static")


def _by_mac(mac: str) -> str:
    wait = APPEAR_WAIT
    deadline = time.monotonic() + wait
    while True:
        for link in json.loads(_ip("-j", "link", "show") or "[]"):
            if str(link.get("address", "")).lower() == mac.lower():
                return str(link["ifname"])
        if time.monotonic() >= deadline:
            raise InterfaceNotFound(f"no interface has MAC address {mac} (waited {wait:g} s)")
        time.sleep(APPEAR_POLL)


def _addresses(ifname: str) -> list[str]:
    """Global addresses of `ifname` as address/prefixlen (link-local ones are the kernel's)."""
    out = []
    for link in json.loads(_ip("-j", "addr", "show", "dev", ifname) or "[]"):
        for info in link.get("addr_info", []):
            if info.get("scope") == "global":
                out.append(f"{info['local']}/{info['prefixlen']}")
    return out


def _ip(*args: str) -> str:
    try:
        done = subprocess.run([IP, *args], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterfaceError(f"ip {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise InterfaceError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def announce(ifname: str, address: str) -> None:
    """A gratuitous ARP request and reply for `address` from `ifname` (best effort: a
    neighbour that misses it learns the address on its next ARP)."""
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((ifname, 0x0806))
            mac = s.getsockname()[4]
            ip = socket.inet_aton(address)
            for op in (1, 2):
                s.send(b"\xff" * 6 + mac + b"\x08\x06\x00\x01\x08\x00\x06\x04"
                       + op.to_bytes(2, "big") + mac + ip + b"\xff" * 6 + ip)
    except OSError:
        pass
