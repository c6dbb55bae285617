"""The heartbeat datagram (`ottava.wire.heartbeat`): encode/decode round trip, and every reason
`decode` rejects a datagram for — size (truncated, oversized), magic, signature (wrong key, one
bit flipped in the body or in the MAC), version (correctly signed), body (not zlib, a zlib bomb
inflating beyond MAX_BODY, JSON nested deeper than the interpreter's recursion limit) and shape
(missing id, negative counter, non-dict pools, non-str member status, ...) — plus a bounded
fuzz loop: random datagrams, signed or not, never raise anything but `Rejected`."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import time
import zlib
from typing import Any

import pytest

from ottava.wire import heartbeat as wire

KEY = b"test-only heartbeat key, 32 byte"
OTHER_KEY = b"another deployment's key........"

LISTENER = "11111111-1111-4111-8111-111111111111"
POOL = "22222222-2222-4222-8222-222222222222"
MEMBER = "33333333-3333-4333-8333-333333333333"


def heartbeat() -> dict[str, Any]:
    return {
        "id": AMPHORA,
        "seq": 7,
        "hash": "h1",
        "listeners": {LISTENER: {"status": "OPEN", "stats": {
            "bytes_in": 10, "bytes_out": 2_000_000_000_000, "active_connections": 3,
            "total_connections": 40, "request_errors": 0}}},
        "pools": {POOL: {"status": "UP", "members": {MEMBER: "UP 1/3"}}},
    }


AMPHORA = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


def encode(hb: dict[str, Any], key: bytes = KEY, sent: float | None = None) -> bytes:
    """As the amphora `hb["id"]` of the deployment keyed `key` sends it."""
    return wire.encode(hb, wire.amphora_key(key, hb["id"]), sent)  # type: ignore[arg-type]


def sign(body: bytes, version: int = wire.HEARTBEAT_VERSION, key: bytes = KEY,
         ident: str = AMPHORA, sent: float | None = None) -> bytes:
    """A datagram with `body` as is (not compressed here), correctly signed by `ident`."""
    millis = int((time.time() if sent is None else sent) * 1000)
    signed = (wire.MAGIC + bytes([version]) + ident.encode() + millis.to_bytes(8, "big")
              + body)
    return signed + hmac.new(wire.amphora_key(key, ident), signed, hashlib.sha256).digest()


def signed_document(document: Any) -> bytes:
    return sign(zlib.compress(json.dumps(document).encode()))


def reason(datagram: bytes, key: bytes = KEY) -> str:
    with pytest.raises(wire.Rejected) as info:
        wire.decode(datagram, key)
    return info.value.reason


def flip(datagram: bytes, index: int, bit: int = 0) -> bytes:
    mutable = bytearray(datagram)
    mutable[index] ^= 1 << bit
    return bytes(mutable)


# --- round trip -----------------------------------------------------------------------------

def test_round_trip() -> None:
    hb = heartbeat()
    datagram = encode(hb, KEY)
    assert datagram.startswith(wire.MAGIC + bytes([wire.HEARTBEAT_VERSION]))
    assert wire.MIN_SIZE <= len(datagram) <= wire.MAX_SIZE
    assert wire.decode(datagram, KEY) == hb


def test_round_trip_of_an_empty_report_and_null_hash() -> None:
    hb = {"id": AMPHORA, "seq": 0, "hash": None, "listeners": {}, "pools": {}}
    assert wire.decode(encode(hb, KEY), KEY) == hb


def test_encode_refuses_a_heartbeat_too_big_for_a_datagram() -> None:
    rng = random.Random(1)
    hb = heartbeat()
    # Incompressible member ids: far more than 65,000 bytes even after zlib.
    hb["pools"][POOL]["members"] = {f"{rng.getrandbits(128):032x}": "UP" for _ in range(4000)}
    with pytest.raises(ValueError, match="exceeds"):
        encode(hb, KEY)


# --- size -----------------------------------------------------------------------------------

def test_truncated_datagrams_are_rejected_for_size() -> None:
    datagram = encode(heartbeat(), KEY)
    assert reason(b"") == "size"
    assert reason(datagram[:wire.MIN_SIZE - 1]) == "size"
    assert reason(wire.MAGIC) == "size"


def test_a_truncated_datagram_above_the_minimum_fails_the_signature() -> None:
    datagram = encode(heartbeat(), KEY)
    assert len(datagram) - 1 >= wire.MIN_SIZE
    assert reason(datagram[:-1]) == "signature"


def test_oversized_datagram_is_rejected_for_size() -> None:
    assert reason(wire.MAGIC + b"\x01" + b"\0" * wire.MAX_SIZE) == "size"
    # Even when correctly signed: the size is checked before any HMAC is computed.
    assert reason(sign(b"\0" * (wire.MAX_SIZE - wire.HEADER_SIZE - wire.MAC_SIZE + 1))) == "size"


def test_the_largest_allowed_size_gets_past_the_size_check() -> None:
    body = b"\0" * (wire.MAX_SIZE - wire.HEADER_SIZE - wire.MAC_SIZE)
    assert len(sign(body)) == wire.MAX_SIZE
    assert reason(sign(body)) == "body"


# --- magic ----------------------------------------------------------------------------------

def test_wrong_magic() -> None:
    datagram = encode(heartbeat(), KEY)
    assert reason(b"XXXX" + datagram[4:]) == "magic"
    assert reason(flip(datagram, 0)) == "magic"
    assert reason(b"\0" * len(datagram)) == "magic"


# --- signature ------------------------------------------------------------------------------

def test_wrong_key() -> None:
    datagram = encode(heartbeat(), OTHER_KEY)
    assert reason(datagram) == "signature"
    assert wire.decode(datagram, OTHER_KEY)["seq"] == 7


@pytest.mark.parametrize("bit", [0, 7])
def test_one_bit_flipped_in_the_body(bit: int) -> None:
    datagram = encode(heartbeat(), KEY)
    body_middle = (wire.HEADER_SIZE + len(datagram) - wire.MAC_SIZE) // 2
    assert reason(flip(datagram, body_middle, bit)) == "signature"
    assert reason(flip(datagram, wire.HEADER_SIZE, bit)) == "signature"  # first body byte
    assert reason(flip(datagram, len(datagram) - wire.MAC_SIZE - 1, bit)) == "signature"


@pytest.mark.parametrize("bit", [0, 7])
def test_one_bit_flipped_in_the_mac(bit: int) -> None:
    datagram = encode(heartbeat(), KEY)
    assert reason(flip(datagram, len(datagram) - wire.MAC_SIZE, bit)) == "signature"
    assert reason(flip(datagram, len(datagram) - 1, bit)) == "signature"


def test_a_flipped_version_byte_fails_the_signature_not_the_version() -> None:
    datagram = encode(heartbeat(), KEY)
    assert reason(flip(datagram, len(wire.MAGIC))) == "signature"


def test_a_missing_mac() -> None:
    datagram = encode(heartbeat(), KEY)
    stripped = datagram[:-wire.MAC_SIZE]
    assert len(stripped) >= wire.MIN_SIZE
    assert reason(stripped) == "signature"


# --- version --------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [0, 1, 255])
def test_other_version_correctly_signed(version: int) -> None:
    body = zlib.compress(json.dumps(heartbeat()).encode())
    assert wire.decode(sign(body), KEY)["id"] == heartbeat()["id"]  # the control
    with pytest.raises(wire.Rejected) as info:
        wire.decode(sign(body, version=version), KEY)
    assert info.value.reason == "version"
    assert str(version) in str(info.value)


# --- age, identity, each amphora's own key -------------------------------------------------

@pytest.mark.parametrize("offset", [-wire.MAX_AGE - 5, wire.MAX_AGE + 5])
def test_a_heartbeat_sent_too_long_ago_or_from_the_future_is_stale(offset: float) -> None:
    now = time.time()
    assert wire.decode(encode(heartbeat(), sent=now - 1), KEY, now=now)  # the control
    assert reason_at(encode(heartbeat(), sent=now + offset), now) == "stale"


def test_the_body_must_name_the_amphora_the_header_does() -> None:
    other = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
    body = zlib.compress(json.dumps({**heartbeat(), "id": other}).encode())
    assert reason(sign(body, ident=AMPHORA)) == "identity"


def test_one_amphora_cannot_sign_for_another() -> None:
    """An amphora broken into knows its own key only: what it signs as another is refused."""
    victim = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
    own_key = wire.amphora_key(KEY, AMPHORA)
    forged = wire.encode({**heartbeat(), "id": victim}, own_key)
    assert reason(forged) == "signature"
    assert wire.decode(wire.encode(heartbeat(), own_key), KEY) == heartbeat()  # the control


def test_each_amphora_has_its_own_key_and_the_cache_agrees() -> None:
    keys = wire.Keys(KEY)
    other = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
    assert keys(AMPHORA) == wire.amphora_key(KEY, AMPHORA) != wire.amphora_key(KEY, other)
    assert wire.amphora_key(KEY, AMPHORA) != wire.amphora_key(OTHER_KEY, AMPHORA)
    assert wire.decode(encode(heartbeat()), keys) == heartbeat()


def reason_at(datagram: bytes, now: float) -> str:
    with pytest.raises(wire.Rejected) as info:
        wire.decode(datagram, KEY, now=now)
    return info.value.reason


# --- body -----------------------------------------------------------------------------------

def test_body_that_is_not_zlib() -> None:
    assert reason(sign(b"this is not a zlib stream at all")) == "body"


def test_body_that_is_zlib_but_not_json() -> None:
    assert reason(sign(zlib.compress(b"{not json"))) == "body"
    assert reason(sign(zlib.compress(b"\xff\xfe\xfa invalid utf-8 \xc3"))) == "body"


def test_zlib_bomb_beyond_max_body() -> None:
    bomb = zlib.compress(b" " * (wire.MAX_BODY * 8), 9)
    datagram = sign(bomb)
    assert len(datagram) <= wire.MAX_SIZE  # small on the wire
    with pytest.raises(wire.Rejected) as info:
        wire.decode(datagram, KEY)
    assert info.value.reason == "body"
    assert "inflates beyond" in str(info.value)


def test_valid_document_padded_into_a_bomb() -> None:
    """A valid heartbeat followed by whitespace: the first MAX_BODY bytes would parse, so only
    the size check can refuse it."""
    raw = json.dumps(heartbeat()).encode() + b" " * (wire.MAX_BODY * 2)
    assert reason(sign(zlib.compress(raw, 9))) == "body"


def test_a_body_just_within_max_body_is_accepted() -> None:
    doc = json.dumps(heartbeat()).encode()
    raw = doc + b" " * (wire.MAX_BODY - len(doc) - 100)
    assert wire.decode(sign(zlib.compress(raw, 9)), KEY) == heartbeat()


def test_deeply_nested_json_is_rejected_not_raised() -> None:
    """json.loads raises RecursionError (not a ValueError) on deep nesting; decode promises
    Rejected and nothing else."""
    depth = 100_000
    datagram = sign(zlib.compress(b"[" * depth + b"]" * depth, 9))
    assert len(datagram) <= wire.MAX_SIZE
    assert reason(datagram) == "body"


# --- shape ----------------------------------------------------------------------------------

def mutated(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(heartbeat())
    change(doc)
    return doc


def _stats(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["listeners"][LISTENER]["stats"]


SHAPES = {
    "not an object": lambda d: None,  # replaced below
    "missing id": lambda d: d.pop("id"),
    "empty id": lambda d: d.update(id=""),
    "numeric id": lambda d: d.update(id=5),
    "missing seq": lambda d: d.pop("seq"),
    "string seq": lambda d: d.update(seq="1"),
    "numeric hash": lambda d: d.update(hash=1),
    "listeners a list": lambda d: d.update(listeners=[]),
    "pools a list": lambda d: d.update(pools=[POOL]),
    "pools missing": lambda d: d.pop("pools"),
    "listener not a dict": lambda d: d["listeners"].update({LISTENER: "OPEN"}),
    "listener status missing": lambda d: d["listeners"][LISTENER].pop("status"),
    "listener stats missing": lambda d: d["listeners"][LISTENER].pop("stats"),
    "negative counter": lambda d: _stats(d).update(bytes_in=-1),
    "float counter": lambda d: _stats(d).update(bytes_out=1.5),
    "string counter": lambda d: _stats(d).update(total_connections="3"),
    "missing counter": lambda d: _stats(d).pop("request_errors"),
    "pool not a dict": lambda d: d["pools"].update({POOL: ["UP"]}),
    "pool status not str": lambda d: d["pools"][POOL].update(status=1),
    "members a list": lambda d: d["pools"][POOL].update(members=[MEMBER]),
    "member status not str": lambda d: d["pools"][POOL]["members"].update({MEMBER: 1}),
    "member status null": lambda d: d["pools"][POOL]["members"].update({MEMBER: None}),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_shape(case: str) -> None:
    document: Any = [heartbeat()] if case == "not an object" else mutated(SHAPES[case])
    assert reason(signed_document(document)) == "shape"
    # And check() on its own says the same.
    with pytest.raises(wire.Rejected) as info:
        wire.check(document)
    assert info.value.reason == "shape"


@pytest.mark.parametrize("document", [None, 1, "heartbeat", [], True])
def test_shape_of_non_objects(document: Any) -> None:
    assert reason(signed_document(document)) == "shape"


def test_shape_control_the_unmutated_document_passes() -> None:
    assert wire.decode(signed_document(heartbeat()), KEY) == heartbeat()


# --- fuzz -----------------------------------------------------------------------------------

def test_random_datagrams_raise_only_rejected() -> None:
    rng = random.Random(20261126)
    reasons: dict[str, int] = {}

    def attempt(datagram: bytes) -> None:
        try:
            wire.decode(datagram, KEY)
        except wire.Rejected as exc:
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
        else:
            reasons["accepted"] = reasons.get("accepted", 0) + 1

    good = encode(heartbeat(), KEY)
    for i in range(2000):
        kind = i % 5
        size = rng.choice([0, 1, wire.MIN_SIZE - 1, wire.MIN_SIZE, 100, 1500,
                           rng.randrange(0, 4096)])
        noise = rng.randbytes(size)
        if kind == 0:  # pure noise
            attempt(noise)
        elif kind == 1:  # noise behind the right magic
            attempt(wire.MAGIC + noise)
        elif kind == 2:  # a real heartbeat with random bytes changed
            mutable = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                mutable[rng.randrange(len(mutable))] = rng.randrange(256)
            attempt(bytes(mutable))
        elif kind == 3:  # signed noise, raw or compressed: exercises inflate and JSON
            body = noise if rng.random() < 0.5 else zlib.compress(noise)
            attempt(sign(body + b"\0" * 8))
        else:  # signed, compressed, structurally random JSON
            attempt(sign(zlib.compress(json.dumps(random_document(rng)).encode())))
    assert sum(reasons.values()) == 2000
    # The loop reached past the cheap checks, into every stage of decoding.
    for expected in ("size", "magic", "signature", "body", "shape"):
        assert reasons.get(expected, 0) > 0, reasons


def random_document(rng: random.Random, depth: int = 0) -> Any:
    if depth == 0:  # mostly heartbeat-like, so shape checks run deep
        doc = heartbeat()
        key = rng.choice(["id", "seq", "hash", "listeners", "pools"])
        doc[key] = random_document(rng, depth + 1)
        return doc
    choice = rng.randrange(7 if depth < 4 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.randrange(-10, 10)
    if choice == 2:
        return rng.random()
    if choice == 3:
        return rng.choice(["", "UP", "OPEN", "x" * 5])
    if choice == 4:
        return rng.choice([True, False])
    if choice == 5:
        return [random_document(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["status", "stats", "members", LISTENER, POOL]):
            random_document(rng, depth + 1) for _ in range(rng.randrange(3))}
