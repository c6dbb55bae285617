"""The amphora heartbeat, version 2: one signed UDP datagram an agent sends every interval.

Layout of a datagram (all of it is covered by the signature):

    b"OTHB"  magic (4 bytes)
    version  one byte, HEARTBEAT_VERSION
    id       the amphora's id, ID_SIZE ASCII bytes (a UUID)
    sent     when it was sent: milliseconds since the epoch, 8 bytes big-endian
    body     zlib-compressed JSON, a `Heartbeat`
    mac      HMAC-SHA256 over everything before it, with the amphora's own key (32 bytes)

Each amphora signs with its own key, `amphora_key(deployment key, amphora id)`, delivered
with its certificate; the controller derives it from the id in the clear header. So an
amphora that is broken into can speak only for itself: it cannot forge another's heartbeat
(keeping a dead amphora "alive", or failing a healthy one over).

The receiver checks, in this order and before anything is parsed: the size (MIN_SIZE ..
MAX_SIZE), the magic, the signature (constant-time compare), the version, the age (a
heartbeat sent more than `max_age` seconds before or after now is stale: a replay from the
past, or a clock far off), then inflates at most MAX_BODY bytes and checks the JSON's shape
and that the body names the amphora the header does. Any failure is a `Rejected` with a
`reason` the health manager counts by; nothing a stranger sends can crash it or cost it more
than two HMACs. Replays within the age window are refused by the receiver, which remembers
the newest `sent_at` of each amphora.

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
import time
import zlib
from typing import Any, NotRequired, TypedDict

MAGIC = b"OTHB"
HEARTBEAT_VERSION = 2
ID_SIZE = 36
MAC_SIZE = 32
VERSION_AT = len(MAGIC)
ID_AT = VERSION_AT + 1
SENT_AT = ID_AT + ID_SIZE
HEADER_SIZE = SENT_AT + 8
MIN_SIZE = HEADER_SIZE + 8 + MAC_SIZE
MAX_AGE = 30.0  # seconds a heartbeat may be older (or newer) than the receiver's clock
KEY_PURPOSE = b"ottava heartbeat key of amphora "
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


def amphora_key(deployment_key: bytes, amphora_id: str) -> bytes:
    """The key amphora `amphora_id` signs its heartbeats with (hex, as ASCII bytes)."""
    return hmac.new(deployment_key, KEY_PURPOSE + amphora_id.encode(),
                    hashlib.sha256).hexdigest().encode()


def encode(heartbeat: Heartbeat, key: bytes, sent: float | None = None) -> bytes:
    """The datagram of `heartbeat`, signed with `key`: the amphora's own key."""
    ident = heartbeat["id"].encode()
    if len(ident) != ID_SIZE:
        raise ValueError(f"an amphora id is {ID_SIZE} characters: {heartbeat['id']!r}")
    millis = int((time.time() if sent is None else sent) * 1000)
    body = zlib.compress(json.dumps(heartbeat, separators=(",", ":")).encode(), 6)
    signed = (MAGIC + bytes([HEARTBEAT_VERSION]) + ident + millis.to_bytes(8, "big")
              + body)
    datagram = signed + hmac.new(key, signed, hashlib.sha256).digest()
    if len(datagram) > MAX_SIZE:
        raise ValueError(f"a heartbeat of {len(datagram)} bytes exceeds {MAX_SIZE}")
    return datagram


def sender(datagram: bytes) -> str:
    """The amphora id in a datagram's header (not verified: decode() verifies it)."""
    return datagram[ID_AT:SENT_AT].decode("ascii", errors="replace")


def sent_at(datagram: bytes) -> float:
    """When a datagram says it was sent, in seconds since the epoch."""
    return int.from_bytes(datagram[SENT_AT:HEADER_SIZE], "big") / 1000


class Keys:
    """Each amphora's key, derived from the deployment's key once and remembered."""

    LIMIT = 200_000  # amphorae remembered before the cache starts over

    def __init__(self, deployment_key: bytes) -> None:
        self.deployment_key = deployment_key
        self._keys: dict[str, bytes] = {}

    def __call__(self, amphora_id: str) -> bytes:
        key = self._keys.get(amphora_id)
        if key is None:
            if len(self._keys) >= self.LIMIT:
                self._keys.clear()
            key = self._keys[amphora_id] = amphora_key(self.deployment_key, amphora_id)
        return key


def decode(datagram: bytes, keys: Keys | bytes, now: float | None = None,
           max_age: float = MAX_AGE) -> Heartbeat:
    """The heartbeat in `datagram`, or Rejected(reason) — reasons: size, magic, signature,
    version, stale, body, shape, identity. `keys`: the deployment's key (or a `Keys` over
    it, which remembers each amphora's)."""
    if not MIN_SIZE <= len(datagram) <= MAX_SIZE:
        raise Rejected("size", f"{len(datagram)} bytes")
    if datagram[:VERSION_AT] != MAGIC:
        raise Rejected("magic")
    ident = sender(datagram)
    key = keys(ident) if isinstance(keys, Keys) else amphora_key(keys, ident)
    signed, mac = datagram[:-MAC_SIZE], datagram[-MAC_SIZE:]
    if not hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), mac):
        raise Rejected("signature")
    if signed[VERSION_AT] != HEARTBEAT_VERSION:
        raise Rejected("version", str(signed[VERSION_AT]))
    age = (time.time() if now is None else now) - sent_at(datagram)
    if abs(age) > max_age:
        raise Rejected("stale", f"sent {age:.0f} s from now")
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
    heartbeat = check(document)
    if heartbeat["id"] != ident:
        raise Rejected("identity", "the body names another amphora than the header")
    return heartbeat


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
