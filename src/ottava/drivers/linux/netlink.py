"""Small netlink helpers for the local drivers (pyroute2; `ip` only where pyroute2 is awkward).

Everything here touches only the bridge `ottava0`, namespaces named `ottava-*` and the veth pairs
between them. Netlink calls go to the local kernel and return promptly; the subprocess fallbacks
carry timeouts.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import subprocess
import sys
import threading

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

BRIDGE = "ottava0"
PREFIX = "ottava-"
SUBNET = ipaddress.IPv4Network("198.18.0.0/15")
GATEWAY = ipaddress.IPv4Address("198.18.0.1")
# The IPv6 subnet of the same bridge: a ULA /64 whose gateway the host holds too. VIPs come
# from its low end; each amphora's own address sits at AMPHORA6_OFFSET + its IPv4 address,
# so it never needs an allocation of its own and never meets a VIP.
SUBNET6 = ipaddress.IPv6Network("fd00:198:18::/64")
GATEWAY6 = ipaddress.IPv6Address("fd00:198:18::1")
AMPHORA6_OFFSET = 1 << 32
IFA_F_NODAD = 0x02  # local addresses need no duplicate detection: the pools hand them out
NS_IFNAME = "eth0"
# The bridge's own MAC address, set once and for all (locally administered). A bridge left to
# itself takes the lowest MAC of its ports, so it changes whenever an amphora's veth with a
# lower one joins or leaves; every amphora's ARP entry for the gateway is then wrong, and
# what they send the host (heartbeats, traffic to members on it) is lost until it is
# resolved again: seconds of silence for many amphorae at once, failed over for nothing.
BRIDGE_MAC = "02:6f:74:74:61:76"
CMD_TIMEOUT = 10.0
_CAP_NET_ADMIN = 12


class LocalDriverUnavailable(RuntimeError):
    """This process may not manage namespaces and links (needs root / CAP_NET_ADMIN)."""


def require_net_admin() -> None:
    """Raise LocalDriverUnavailable unless this process holds CAP_NET_ADMIN."""
    try:
        with open("/proc/self/status") as f:
            caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        caps = 0
    if not caps & (1 << _CAP_NET_ADMIN):
        raise LocalDriverUnavailable(
            "the local compute and network drivers need root (CAP_NET_ADMIN) to create network "
            "namespaces and links; run as root, or use `ottava standalone --noop` for a "
            "control plane without a data plane")


def run(*argv: str, timeout: float = CMD_TIMEOUT) -> str:
    """Run a command (no shell) with a timeout; returns stdout, raises CalledProcessError."""
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          timeout=timeout).stdout


def ensure_bridge(name: str = BRIDGE, gateway: str = str(GATEWAY),
                  prefixlen: int = SUBNET.prefixlen) -> bool:
    """Make the bridge exist, be UP, hold the gateway addresses (IPv4 and IPv6) and keep one
    MAC address (BRIDGE_MAC) whatever joins it; True when it was created."""
    created = False
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            try:
                ipr.link("add", ifname=name, kind="bridge")
                created = True
            except NetlinkError as e:  # a concurrent creator won
                if e.code != errno.EEXIST:
                    raise
            found = ipr.link_lookup(ifname=name)
        index = found[0]
        ipr.link("set", index=index, address=BRIDGE_MAC, state="up")
        _add_address(ipr, index, gateway, prefixlen)
        _add_address(ipr, index, str(GATEWAY6), SUBNET6.prefixlen)
    return created


def amphora_ipv6(address: str) -> str:
    """The IPv6 address of the amphora whose management (IPv4) address is `address`."""
    return str(SUBNET6.network_address + AMPHORA6_OFFSET + int(ipaddress.IPv4Address(address)))


def list_namespaces(prefix: str = PREFIX) -> list[str]:
    """Names of the network namespaces that start with `prefix`."""
    return sorted(n for n in netns.listnetns() if n.startswith(prefix))


def namespace_exists(name: str) -> bool:
    return name in netns.listnetns()


def host_ifname(namespace: str) -> str:
    """The host end of a namespace's veth: `ov-` + up to 12 characters (IFNAMSIZ is 16)."""
    return "ov-" + namespace.removeprefix(PREFIX)[:12]


def create_namespace(name: str, address: str, prefixlen: int = SUBNET.prefixlen,
                     gateway: str = str(GATEWAY), bridge: str = BRIDGE,
                     alias: str | None = None) -> None:
    """Create namespace `name` with `eth0` (veth peer of a host link on `bridge`) holding
    `address` and its IPv6 twin (`amphora_ipv6`), `lo` UP and default routes via `gateway`
    and GATEWAY6. Undone on failure."""
    host = host_ifname(name)
    peer = "op-" + host[3:]
    netns.create(name)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=host, kind="veth",
                     peer={"ifname": peer, "net_ns_fd": name})
            index = ipr.link_lookup(ifname=host)[0]
            ipr.link("set", index=index, master=ipr.link_lookup(ifname=bridge)[0],
                     state="up")
        with IPRoute(netns=name) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            index = ns.link_lookup(ifname=peer)[0]
            ns.link("set", index=index, ifname=NS_IFNAME)
            if alias:
                ns.link("set", index=index, ifalias=alias)
            ns.link("set", index=index, state="up")
            _add_address(ns, index, address, prefixlen)
            _add_address(ns, index, amphora_ipv6(address), SUBNET6.prefixlen)
            ns.route("add", dst="0.0.0.0/0", gateway=gateway)
            ns.route("add", dst="::/0", gateway=str(GATEWAY6), family=10)
        # HAProxy on the backup of a pair binds the VIP before keepalived gives it the address.
        run("ip", "netns", "exec", name, "sh", "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind; "
            "echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind")
    except BaseException:
        delete_namespace(name)
        raise


def delete_namespace(name: str) -> None:
    """Delete the namespace (its veth goes with it) and any host end left behind."""
    if namespace_exists(name):
        netns.remove(name)
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=host_ifname(name)):
            try:
                ipr.link("del", index=index)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise


def namespace_pids(name: str) -> list[int]:
    """PIDs of the processes that run inside the namespace."""
    if not namespace_exists(name):
        return []
    return [int(p) for p in run("ip", "netns", "pids", name).split()]


def _add_address(ipr: IPRoute, index: int, address: str, prefixlen: int) -> None:
    flags = IFA_F_NODAD if ":" in address else 0
    try:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, flags=flags)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise


def add_address(namespace: str, address: str, prefixlen: int = 32,
                ifname: str = NS_IFNAME) -> None:
    """Add `address/prefixlen` to `ifname` inside the namespace (no error if present)."""
    with IPRoute(netns=namespace) as ns:
        _add_address(ns, ns.link_lookup(ifname=ifname)[0], address, prefixlen)


def remove_address(namespace: str, address: str, prefixlen: int = 32,
                   ifname: str = NS_IFNAME) -> None:
    """Remove `address/prefixlen` from `ifname` inside the namespace (no error if absent)."""
    if not namespace_exists(namespace):
        return
    with IPRoute(netns=namespace) as ns:
        found = ns.link_lookup(ifname=ifname)
        if not found:
            return
        try:
            ns.addr("del", index=found[0], address=address, prefixlen=prefixlen)
        except NetlinkError as e:
            if e.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):
                raise


# Sent from inside the namespace: a raw packet socket must be opened there, and a short-lived
# interpreter is the one way to do that without switching a thread of this process into it.
_GARP = """
import socket, sys
ip = socket.inet_aton(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[2], 0x0806))
mac = s.getsockname()[4]
for op in (1, 2):  # a gratuitous request, then a gratuitous reply: peers heed one or the other
    s.send(b"\\xff" * 6 + mac + b"\\x08\\x06\\x00\\x01\\x08\\x00\\x06\\x04"
           + bytes([0, op]) + mac + ip + b"\\xff" * 6 + ip)
"""


# IPv6's gratuitous ARP: an unsolicited neighbour advertisement (RFC 4861 7.2.6) to all
# nodes, with the Override flag and our link-layer address. The kernel fills the checksum.
_UNSOLICITED_NA = """
import socket, struct, sys
target, ifname = socket.inet_pton(socket.AF_INET6, sys.argv[1]), sys.argv[2]
mac = bytes.fromhex(open(f"/sys/class/net/{ifname}/address").read().strip().replace(":", ""))
index = socket.if_nametoindex(ifname)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
s.sendto(struct.pack("!BBHI", 136, 0, 0, 0x20000000) + target + bytes([2, 1]) + mac,
         ("ff02::1", 0, 0, index))
"""


def announce(namespace: str, address: str, ifname: str = NS_IFNAME) -> None:
    """Gratuitous ARP (IPv4) or an unsolicited neighbour advertisement (IPv6) for `address`
    from `ifname` in the namespace, so neighbours (the host included) forget the MAC of the
    amphora that held the address before."""
    script = _UNSOLICITED_NA if ":" in address else _GARP
    run("ip", "netns", "exec", namespace, sys.executable, "-I", "-S", "-c", script, address,
        ifname, timeout=5.0)


def addresses(namespace: str, ifname: str = NS_IFNAME, version: int = 4
              ) -> list[tuple[str, int]]:
    """The (address, prefixlen) pairs of IP `version` on `ifname` inside the namespace
    (IPv6: global ones only, not the link-local address)."""
    with IPRoute(netns=namespace) as ns:
        return _link_addresses(ns, ifname, version)


def _link_addresses(ipr: IPRoute, ifname: str, version: int) -> list[tuple[str, int]]:
    """`addresses` through a socket already in the namespace."""
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        return []
    pairs = [(a.get("IFA_ADDRESS"), a["prefixlen"])
             for a in ipr.get_addr(family=2 if version == 4 else 10, index=found[0])]
    return [(a, p) for a, p in pairs if not ipaddress.ip_address(a).is_link_local]


_LIBC = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


def addresses_everywhere(prefix: str = PREFIX, version: int = 4,
                         ifname: str = NS_IFNAME) -> dict[str, list[tuple[str, int]]]:
    """`addresses` of every namespace whose name starts with `prefix`, namespace -> pairs.

    The address pools read this before every allocation, so it must stay cheap with a
    hundred amphorae: pyroute2's IPRoute(netns=...) costs about 6 ms a namespace; here one
    short-lived thread enters each namespace in turn (setns moves only the calling thread)
    and asks there, about 1 ms each. The thread ends after returning to its own namespace,
    so no other work ever runs in a foreign one."""
    found: dict[str, list[tuple[str, int]]] = {}
    errors: list[BaseException] = []

    def visit() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            for name in list_namespaces(prefix):
                try:
                    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
                except OSError:  # deleted meanwhile
                    continue
                try:
                    if _LIBC.setns(fd, _CLONE_NEWNET) != 0:
                        continue
                    with IPRoute() as ipr:  # opened here: its socket is in `name`
                        found[name] = _link_addresses(ipr, ifname, version)
                finally:
                    os.close(fd)
        except BaseException as exc:  # reported in the caller's thread
            errors.append(exc)
        finally:
            if _LIBC.setns(own, _CLONE_NEWNET) != 0:
                errors.append(OSError(ctypes.get_errno(), "setns back failed"))
            os.close(own)

    thread = threading.Thread(target=visit, name="netns-scan", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return found


def alias(namespace: str, ifname: str = NS_IFNAME) -> str | None:
    """The alias (free text) of `ifname` inside the namespace."""
    with IPRoute(netns=namespace) as ns:
        found = ns.link_lookup(ifname=ifname)
        if not found:
            return None
        value: str | None = ns.get_links(found[0])[0].get("IFLA_IFALIAS")
        return value


def parse_alias(text: str | None) -> dict[str, str]:
    """An amphora link's alias, `ottava amphora=<id> lb=<id>` -> {"amphora": …, "lb": …}."""
    out: dict[str, str] = {}
    for word in (text or "").split():
        key, sep, value = word.partition("=")
        if sep and value:
            out[key] = value
    return out


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """Whether `pid` runs (not a zombie) and, given `marker`, has it in its command line."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as fb:
            cmdline = fb.read()
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    return marker is None or marker.encode() in cmdline

