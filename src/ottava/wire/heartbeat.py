"""The amphora heartbeat, version 1: one signed UDP datagram an agent sends every interval.

Layout of a datagram (all of it is covered by the signature):

    b"OTHB"  magic (4 bytes)
    version  one byte, HEARTBEAT_VERSION
    body     zlib-compressed JSON, a `Heartbeat`
    mac      HMAC-SHA256 over magic + version + body with the deployment's key (32 bytes)

The receiver checks, in this order and before anything is parsed: the size (MIN_SIZE ..
MAX_SIZE), the magic, the signature (constant-time compare), the version, then inflates at most
MAX_BODY bytes and checks the JSON's shape. Any failure is a `Rejected` with a `reason` the
health manager counts by; nothing a stranger sends can crash it or cost it more than one HMAC.

The body carries HAProxy's view, by Octavia object id:

    {"id": amphora id, "seq": n (per agent start), "hash": applied spec hash or null,
     "listeners": {id: {"status": "OPEN"|"FULL"|..., "stats": Counters}},
     "pools": {id: {"status": "UP"|"DOWN"|..., "members": {id: "UP"|"DOWN"|"DRAIN"|
                                                             "MAINT"|"no check"|...}}},
     "partial": true (only when HAProxy's view could not be read: liveness only)}

Counters are totals since the amphora's agent first served the load balancer: the agent adds
what each HAProxy generation counted, so a reload does not reset them (see
`ottava.agent.heartbeat`). Only the standard library is imported: the agent stays small.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from typing import Any, NotRequired, TypedDict

MAGIC = b"OTHB"
HEARTBEAT_VERSION = 1
MAC_SIZE = 32
HEADER_SIZE = len(MAGIC) + 1
MIN_SIZE = HEADER_SIZE + 8 + MAC_SIZE
MAX_SIZE = 65_000  # one UDP datagram over IPv4, with room for headers
MAX_BODY = 1_048_576  # bytes of JSON once inflated: refuses compression bombs

COUNTERS = ("bytes_in", "bytes_out", "active_connections", "total_connections",
            "request_errors")


class Counters(TypedDict):
    bytes_in: int
    bytes_out: int
    active_connections: int
    total_connections: int
    request_errors: int


class ListenerReport(TypedDict):
    status: str
    stats: Counters


class PoolReport(TypedDict):
    status: str
    members: dict[str, str]


class Heartbeat(TypedDict):
    id: str
    seq: int
    hash: str | None
    listeners: dict[str, ListenerReport]
    pools: dict[str, PoolReport]
    # True when HAProxy's view could not be read whole this time (a reload under way, too
    # many objects for one datagram): the heartbeat then says only "alive".
    partial: NotRequired[bool]


class Rejected(ValueError):
    """A datagram that is not a heartbeat we accept; `reason` is a short counter name."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def encode(heartbeat: Heartbeat, key: bytes) -> bytes:
    body = zlib.compress(json.dumps(heartbeat, separators=(",", ":")).encode(), 6)
    signed = MAGIC + bytes([HEARTBEAT_VERSION]) + body
    datagram = signed + hmac.new(key, signed, hashlib.sha256).digest()
    if len(datagram) > MAX_SIZE:
        raise ValueError(f"a heartbeat of {len(datagram)} bytes exceeds {MAX_SIZE}")
    return datagram


def decode(datagram: bytes, key: bytes) -> Heartbeat:
    """The heartbeat in `datagram`, or Rejected(reason) — reasons: size, magic, signature,
    version, body, shape."""
    if not MIN_SIZE <= len(datagram) <= MAX_SIZE:
        raise Rejected("size", f"{len(datagram)} bytes")
    if datagram[:len(MAGIC)] != MAGIC:
        raise Rejected("magic")
    signed, mac = datagram[:-MAC_SIZE], datagram[-MAC_SIZE:]
    if not hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), mac):
        raise Rejected("signature")
    if signed[len(MAGIC)] != HEARTBEAT_VERSION:
        raise Rejected("version", str(signed[len(MAGIC)]))
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(signed[HEADER_SIZE:], MAX_BODY)
        if inflater.unconsumed_tail:
            raise Rejected("body", f"inflates beyond {MAX_BODY} bytes")
        document = json.loads(raw)
    except (zlib.error, ValueError, RecursionError) as exc:
        if isinstance(exc, Rejected):
            raise
        raise Rejected("body", str(exc)) from None
    return check(document)


def check(document: Any) -> Heartbeat:
    """`document` as a Heartbeat, or Rejected("shape")."""
    def bad(detail: str) -> Rejected:
        return Rejected("shape", detail)

    if not isinstance(document, dict):
        raise bad("not an object")
    if not isinstance(document.get("id"), str) or not document["id"]:
        raise bad("id")
    if not isinstance(document.get("seq"), int):
        raise bad("seq")
    if document.get("hash") is not None and not isinstance(document["hash"], str):
        raise bad("hash")
    if "partial" in document and type(document["partial"]) is not bool:
        raise bad("partial")
    listeners, pools = document.get("listeners"), document.get("pools")
    if not isinstance(listeners, dict) or not isinstance(pools, dict):
        raise bad("listeners/pools")
    # Plain loops, no generators: this runs for every datagram.
    for report in listeners.values():
        if type(report) is not dict or type(report.get("status")) is not str:
            raise bad("listener")
        stats = report.get("stats")
        if type(stats) is not dict:
            raise bad("listener stats")
        for name in COUNTERS:
            value = stats.get(name)
            if type(value) is not int or value < 0:
                raise bad("listener stats")
    for report in pools.values():
        if type(report) is not dict or type(report.get("status")) is not str:
            raise bad("pool")
        members = report.get("members")
        if type(members) is not dict:
            raise bad("pool members")
        for value in members.values():
            if type(value) is not str:
                raise bad("pool members")
    return document  # type: ignore[return-value]
