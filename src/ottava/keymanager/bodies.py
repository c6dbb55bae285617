"""What a request to the key manager may carry: JSON bodies of secrets, containers and ACLs,
and payloads, checked as Barbican checks them. Anything else ends the request with
`fail(status, why)`, which `app.py` renders in Barbican's error format; never a 500 for bad
input. Nothing here reads the store or knows who is calling."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import json
from typing import Any, NoReturn

import falcon

from ottava.keymanager import store as storage

SECRET_TYPES = ("symmetric", "public", "private", "passphrase", "certificate", "opaque")
TEXT, BINARY, PKCS8 = "text/plain", "application/octet-stream", "application/pkcs8"
BINARY_TYPES = (BINARY, PKCS8)
# Names a container of each type may give its secrets: (required, allowed); generic: any.
CONTAINER_NAMES: dict[str, tuple[set[str], set[str]] | None] = {
    "generic": None,
    "rsa": ({"public_key", "private_key"},
            {"public_key", "private_key", "private_key_passphrase"}),
    "certificate": ({"certificate"},
                    {"certificate", "private_key", "private_key_passphrase", "intermediates"}),
}


def fail(status: int, description: str) -> NoReturn:
    """End the request with Barbican's error body."""
    raise falcon.HTTPError(falcon.code_to_http_status(status), description=description)


# --- reading bodies -----------------------------------------------------------------------


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The whole body, or 413 beyond `limit` bytes (announced or streamed)."""
    if req.content_length is not None and req.content_length > limit:
        fail(413, "The request is larger than this key manager accepts.")
    body = req.bounded_stream.read(limit + 1)
    if len(body) > limit:
        fail(413, "The request is larger than this key manager accepts.")
    return bytes(body)


def read_json_object(req: falcon.Request, limit: int) -> dict[str, Any]:
    if req.content_type is None or req.content_type.split(";")[0].strip() != "application/json":
        fail(415, "This request takes a JSON body (Content-Type: application/json).")
    try:
        body = json.loads(read_body(req, limit))
    except (ValueError, UnicodeDecodeError):
        fail(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        fail(400, "The body must be a JSON object.")
    return _stripped(body)


def _stripped(value: Any) -> Any:
    # Barbican trims every string of a JSON body, payloads included; clients rely on it.
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {k: _stripped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    return value


def _optional_text(body: dict[str, Any], key: str, max_length: int = 255) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        fail(400, f"Invalid '{key}': a string of at most {max_length} characters.")
    return value


def normalize_content_type(value: str) -> str | None:
    """The internal content type of a payload, or None when Barbican stores no such type."""
    media, _, params = value.partition(";")
    media = media.strip().lower()
    if media == TEXT:
        charset = params.partition("=")[2].strip().strip('"').lower()
        return TEXT if not params.strip() or charset == "utf-8" else None
    return media if media in BINARY_TYPES else None


# --- secrets -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NewSecret:
    name: str | None
    secret_type: str
    algorithm: str | None
    bit_length: int | None
    mode: str | None
    expiration: datetime.datetime | None
    content_type: str | None
    payload: bytes | None


def parse_new_secret(body: dict[str, Any], max_secret_bytes: int) -> NewSecret:
    """A POST /v1/secrets body checked as Barbican checks it; 400 (or 413) otherwise."""
    secret_type = body.get("secret_type") or "opaque"
    if secret_type not in SECRET_TYPES:
        fail(400, f"Invalid 'secret_type': one of {', '.join(SECRET_TYPES)}.")
    bit_length = body.get("bit_length")
    if bit_length is not None and (isinstance(bit_length, bool) or not isinstance(
            bit_length, int) or not 1 <= bit_length <= 32767):
        fail(400, "Invalid 'bit_length': an integer from 1 to 32767.")
    if str(body.get("transport_key_needed", "false")).lower() == "true":
        fail(400, "Transport keys are not supported by this key manager.")
    content_type, payload = _new_payload(body, max_secret_bytes)
    return NewSecret(name=_optional_text(body, "name") or None, secret_type=secret_type,
                     algorithm=_optional_text(body, "algorithm"), bit_length=bit_length,
                     mode=_optional_text(body, "mode"), expiration=_expiration(body),
                     content_type=content_type, payload=payload)


def _expiration(body: dict[str, Any]) -> datetime.datetime | None:
    raw = _optional_text(body, "expiration")
    if not raw:
        return None
    try:
        when = datetime.datetime.fromisoformat(raw)
    except ValueError:
        fail(400, "'expiration' is not an ISO 8601 time.")
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    if when <= storage.utcnow():
        fail(400, "'expiration' is already past.")
    return when


def _new_payload(body: dict[str, Any], max_secret_bytes: int
                 ) -> tuple[str | None, bytes | None]:
    raw_type = body.get("payload_content_type")
    if "payload" not in body:
        if raw_type is not None:
            fail(400, "'payload_content_type' comes with a 'payload'.")
        return None, None
    payload, encoding = body["payload"], body.get("payload_content_encoding")
    if not isinstance(payload, str):
        fail(400, "Invalid 'payload': a string.")
    if len(payload.encode()) > max_secret_bytes:
        fail(413, "The request is larger than this key manager accepts.")
    if not payload:
        fail(400, "An empty 'payload' stores nothing; leave it out for a metadata-only secret.")
    if not isinstance(raw_type, str):
        fail(400, "A 'payload' needs its 'payload_content_type'.")
    content_type = normalize_content_type(raw_type)
    if content_type is None:
        fail(400, f"'payload_content_type' must be one of {TEXT}, {BINARY}, {PKCS8}.")
    if content_type == TEXT:
        if encoding is not None:
            fail(400, f"A {TEXT} payload takes no 'payload_content_encoding'.")
        return content_type, payload.encode()
    if encoding != "base64":
        fail(400, "A binary payload is sent with 'payload_content_encoding': 'base64'.")
    return content_type, decode_base64(payload, "Invalid payload for payload_content_encoding")


def decode_base64(text: str | bytes, error: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        fail(400, error)


# --- containers and ACLs -----------------------------------------------------------------


def parse_new_container(body: dict[str, Any]) -> tuple[str, str | None,
                                                       list[tuple[str | None, str]]]:
    """(type, name, [(reference name, secret id)]) of a POST /v1/containers body."""
    kind = body.get("type")
    if kind not in CONTAINER_NAMES:
        fail(400, f"Invalid 'type': one of {', '.join(CONTAINER_NAMES)}.")
    raw_refs = body.get("secret_refs") or []
    if not isinstance(raw_refs, list) or not all(isinstance(r, dict) for r in raw_refs):
        fail(400, "Invalid 'secret_refs': a list of objects.")
    refs: list[tuple[str | None, str]] = []
    for raw in raw_refs:
        ref = raw.get("secret_ref")
        if not isinstance(ref, str) or not ref:
            fail(400, "Invalid 'secret_refs': each needs a 'secret_ref'.")
        refs.append((_optional_text(raw, "name"), ref.rstrip("/").rsplit("/", 1)[-1]))
    names = [name for name, _ in refs]
    if len(set(names)) != len(names):
        fail(400, "Each secret reference of a container needs its own name.")
    if len({secret_id for _, secret_id in refs}) != len(refs):
        fail(400, "A secret appears at most once in a container.")
    rules = CONTAINER_NAMES[kind]
    if rules is not None and refs:
        required, allowed = rules
        given = {name or "" for name in names}
        if not given <= allowed:
            fail(400, f"A {kind} container names its secrets among {sorted(allowed)}.")
        if not required <= given:
            fail(400, f"A {kind} container needs secrets named {sorted(required)}.")
    return kind, _optional_text(body, "name") or None, refs


def parse_acl(body: dict[str, Any]) -> dict[str, Any] | None:
    """The `read` part of an ACL body (None when absent or empty), checked as Barbican checks
    it: only `read`, with only `users` (strings) and `project-access` (a boolean)."""
    if set(body) - {"read"}:
        fail(400, f"Invalid ACL: unknown operation(s) {sorted(set(body) - {'read'})}.")
    read = body.get("read")
    if not read:
        return None
    if not isinstance(read, dict) or set(read) - {"users", "project-access"}:
        fail(400, "Invalid ACL: 'read' takes only 'users' and 'project-access'.")
    users = read.get("users")
    if users is not None and (not isinstance(users, list) or not all(
            isinstance(u, str) and 0 < len(u) <= 255 for u in users)):
        fail(400, "Invalid ACL: 'users' is a list of user ids.")
    access = read.get("project-access")
    if access is not None and not isinstance(access, bool):
        fail(400, "Invalid ACL: 'project-access' is true or false.")
    return read
