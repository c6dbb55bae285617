"""Load balancer spec -> one nftables table: the UDP and SCTP listeners of an amphora.

Pure: the spec (`ottava.wire.lbspec`) and what the agent's health checks say of each member
in, the text of an `nft -f` file out. The file replaces the whole table in one transaction
(declare, delete, declare again), so traffic never sees half a configuration. Decision 0023
says why datagram listeners are balanced by nftables in the kernel rather than by keepalived's
LVS, which needs IPVS (absent from this kernel, and from many a small amphora).

What a datagram listener becomes (one chain per listener, named by its id):
- A dispatch rule in the `prerouting` NAT chain for each of the load balancer's VIPs (an IPv4
  VIP forwards only to IPv4 members, an IPv6 VIP only to IPv6 ones, as LVS does). NAT chains
  see only the first packet of a flow; conntrack carries the rest, in both directions.
- Its chain: count the new flow, then pick a member and DNAT to it:
  ROUND_ROBIN `numgen inc`, SOURCE_IP `jhash` of the source address, SOURCE_IP_PORT `jhash` of
  source address and port, each over slots sized by the members' weights. LEAST_CONNECTIONS
  cannot be expressed (nftables picks without looking at flow counts) and is refused.
- SOURCE_IP session persistence: a dynamic map from the client's address (masked by
  `persistence_granularity`) to the member's number, with `persistence_timeout` (Octavia's
  default 360 s), refreshed by every new flow; the member's number goes through the flow's
  conntrack mark. A remembered member that is no longer available falls through to a new pick.
- Members taking new flows: enabled, weight above 0, not DOWN by the health checks. The
  backup members only when no other is available; with none at all, new flows are dropped.
- `allowed_cidrs`: a filter chain ahead of NAT drops other sources, per family.
- Replies leave with the amphora's address (`masquerade`), so they come back through it.
- Counters per listener: new flows, bytes in (the client's direction) and bytes out.

Values are parsed and re-printed (addresses, CIDRs, ports, numbers), and names are object
ids; anything else raises ValueError.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ottava.render import engine
from ottava.render.values import address as _address
from ottava.render.values import hexadecimal as _hex
from ottava.render.values import ident as _ident
from ottava.render.values import integer as _int

TABLE = "ottava"  # inet family: one table holds both address families
DATAGRAM_LISTENERS = frozenset({"UDP", "SCTP"})
PERSISTENCE_TIMEOUT = 360  # seconds; Octavia's default for UDP and SCTP pools
MAX_SLOTS = 65536  # the sum of the weights a pick spreads over
STICKY_SIZE = 65535  # remembered clients per listener and family
SEED = 0x0774A5  # jhash seed: a fixed one, so a pick survives a reload of the table


# Health as the agent's checks report it: True up, False down, None not checked.
Health = Mapping[str, bool | None]


@dataclass
class Family:
    """What one address family of a listener renders to."""

    name: str  # "ip" or "ip6"
    vips: list[str]
    pick: str  # the selector: "numgen inc mod 4", "jhash ip saddr mod 4 seed 0x774a5"
    slots: list[str]  # its map's elements, "0-2 : 1": slot range -> member number
    members: list[str]  # member map elements, "1 : 192.0.2.10 . 53"
    cidrs: list[str]
    sticky_key: str | None  # "ip saddr & 255.255.255.0", or None without persistence

    @property
    def address_type(self) -> str:
        return "ipv4_addr" if self.name == "ip" else "ipv6_addr"

    @property
    def nfproto(self) -> str:
        # Said before any `ct original` match: nft 1.0 cannot type `proto-dst` without it.
        return "ipv4" if self.name == "ip" else "ipv6"


@dataclass
class DatagramListener:
    id: str
    protocol: str  # "udp" or "sctp"
    port: int
    families: list[Family] = field(default_factory=list)
    persistence_timeout: int = 0


def datagram_listeners(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The listeners of `spec` this table serves."""
    return [li for li in spec["listeners"] if li["protocol"] in DATAGRAM_LISTENERS]


def render(spec: Mapping[str, Any], health: Health) -> str:
    """The `nft -f` text that makes the table serve `spec`'s datagram listeners, given the
    members' health. Raises ValueError for input that cannot be rendered."""
    lb = spec["load_balancer"]
    pools = {pool["id"]: pool for pool in spec["pools"]}
    listeners = [
        _listener(li, lb, pools[li["default_pool_id"]], health)
        for li in datagram_listeners(spec)
        if li["enabled"] and lb["enabled"] and li["default_pool_id"] in pools
        and pools[li["default_pool_id"]]["enabled"]
    ]
    return engine.template("nftables.nft.j2").render(
        table=TABLE, lb_id=_ident(lb["id"], "load balancer id"),
        spec_hash=_hex(spec.get("hash", "")), listeners=listeners, sticky_size=STICKY_SIZE)


def removal() -> str:
    """The `nft -f` text that removes the table, whether or not it exists."""
    return f"table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"


def available(pool: Mapping[str, Any], health: Health) -> list[Mapping[str, Any]]:
    """The members new flows go to: the available primaries, else the available backups."""
    usable = [m for m in pool["members"]
              if m["enabled"] and m["weight"] > 0 and health.get(m["id"]) is not False]
    primaries = [m for m in usable if not m["backup"]]
    return primaries or [m for m in usable if m["backup"]]


def _listener(listener: Mapping[str, Any], lb: Mapping[str, Any], pool: Mapping[str, Any],
              health: Health) -> DatagramListener:
    lid = _ident(listener["id"], "listener id")
    protocol = listener["protocol"].lower()
    port = _int(listener["protocol_port"], "protocol_port", 1, 65535)
    algorithm = pool["lb_algorithm"]
    if algorithm == "LEAST_CONNECTIONS":
        raise ValueError("LEAST_CONNECTIONS cannot balance UDP or SCTP on this amphora: its "
                         "nftables balancer does not see flow counts")
    persistence = pool.get("session_persistence") or {}
    sticky = persistence.get("type") == "SOURCE_IP"
    if persistence and not sticky:
        raise ValueError(f"session persistence {persistence.get('type')!r} does not apply to "
                         f"{listener['protocol']} pools")
    members = available(pool, health)
    numbers = {m["id"]: n for n, m in enumerate(pool["members"], 1)}
    vips = [lb["vip_address"]] + [v.get("ip_address") for v in lb.get("additional_vips") or []]
    families = []
    for name, version in (("ip", 4), ("ip6", 6)):
        family_vips = [str(a) for a in (_address(v, "VIP address") for v in vips if v)
                       if a.version == version]
        if not family_vips:
            continue
        chosen = [m for m in members if _address(m["address"], "member address").version
                  == version]
        slots, total = _slots(chosen, numbers)
        families.append(Family(
            name=name, vips=family_vips,
            pick=_pick(algorithm, protocol, name, total), slots=slots,
            members=[f"{numbers[m['id']]} : {_address(m['address'], 'member address')} . "
                     f"{_int(m['protocol_port'], 'member protocol_port', 1, 65535)}"
                     for m in chosen],
            cidrs=_cidrs(listener.get("allowed_cidrs"), version),
            sticky_key=_sticky_key(name, persistence) if sticky else None,
        ))
    return DatagramListener(
        id=lid, protocol=protocol, port=port, families=families,
        persistence_timeout=_int(persistence.get("persistence_timeout")
                                 or PERSISTENCE_TIMEOUT, "persistence_timeout", 1,
                                 86_400_000) if sticky else 0)


def _pick(algorithm: str, protocol: str, family: str, total: int) -> str:
    """The expression that picks one of `total` slots for a new flow."""
    if algorithm == "ROUND_ROBIN":
        return f"numgen inc mod {max(total, 1)}"
    if algorithm == "SOURCE_IP":
        return f"jhash {family} saddr mod {max(total, 1)} seed {SEED:#x}"
    if algorithm == "SOURCE_IP_PORT":
        return f"jhash {family} saddr . {protocol} sport mod {max(total, 1)} seed {SEED:#x}"
    raise ValueError(f"lb_algorithm {algorithm!r} is not supported")


def _slots(members: Sequence[Mapping[str, Any]],
           numbers: Mapping[str, int]) -> tuple[list[str], int]:
    """"first-last : number" per member, each as many slots wide as its weight; and how
    many slots there are."""
    slots, start = [], 0
    for member in members:
        weight = _int(member["weight"], "weight", 0, 256)
        end = start + weight - 1
        slots.append(f"{start} : {numbers[member['id']]}" if end == start
                     else f"{start}-{end} : {numbers[member['id']]}")
        start = end + 1
    if start > MAX_SLOTS:
        raise ValueError(f"the members' weights add up to {start}, more than {MAX_SLOTS}")
    return slots, start


def _sticky_key(family: str, persistence: Mapping[str, Any]) -> str:
    """The client's address masked by persistence_granularity (a netmask of that family;
    absent or of the other family: the whole address)."""
    granularity = persistence.get("persistence_granularity")
    full = 32 if family == "ip" else 128
    if granularity:
        try:
            mask = ipaddress.ip_address(granularity)
        except ValueError:
            raise ValueError(f"persistence_granularity {granularity!r} is not a netmask") \
                from None
        if (mask.version == 4) == (family == "ip"):
            bits = f"{int(mask):0{full}b}"
            if "01" in bits:
                raise ValueError(f"persistence_granularity {granularity} is not a netmask")
            if bits.count("1") < full:
                return f"{family} saddr & {mask}"
    return f"{family} saddr"


def _cidrs(cidrs: Any, version: int) -> list[str]:
    networks = []
    for cidr in cidrs or []:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except (TypeError, ValueError):
            raise ValueError(f"allowed_cidrs entry {cidr!r} is not a CIDR") from None
        if network.version == version:
            networks.append(str(network))
    if cidrs and not networks:
        # CIDRs of the other family only: nobody of this family is allowed.
        return ["::/128" if version == 6 else "0.0.0.0/32"]
    return list(dict.fromkeys(networks))
