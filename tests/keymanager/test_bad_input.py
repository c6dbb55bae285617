"""Malformed requests answer 4xx in Barbican's error format, never a 500."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.keymanager.conftest import KeyManager

JSON = {"Content-Type": "application/json"}


def _secret(key_manager: KeyManager, **body: object) -> str:
    resp = requests.post(f"{key_manager.url}/v1/secrets", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["secret_ref"])


def _check(resp: requests.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == status and body["title"] and body["description"]


@pytest.mark.parametrize(("body", "status"), [
    ("{not json", 400),
    ("[1, 2]", 400),
    ('"text"', 400),
    ('{"secret_type": "banana"}', 400),
    ('{"bit_length": "256"}', 400),
    ('{"bit_length": true}', 400),
    ('{"bit_length": 0}', 400),
    ('{"name": 7}', 400),
    ('{"name": "' + "n" * 256 + '"}', 400),
    ('{"expiration": "yesterday"}', 400),
    ('{"expiration": "2001-01-01T00:00:00Z"}', 400),
    ('{"payload": "x"}', 400),
    ('{"payload": "", "payload_content_type": "text/plain"}', 400),
    ('{"payload": 5, "payload_content_type": "text/plain"}', 400),
    ('{"payload": "x", "payload_content_type": "image/png"}', 400),
    ('{"payload": "x", "payload_content_type": "text/plain",'
     ' "payload_content_encoding": "base64"}', 400),
    ('{"payload": "x", "payload_content_type": "application/octet-stream"}', 400),
    ('{"payload": "not base64!", "payload_content_type": "application/octet-stream",'
     ' "payload_content_encoding": "base64"}', 400),
    ('{"payload_content_type": "text/plain"}', 400),
    ('{"payload": "' + "a" * 20_001 + '", "payload_content_type": "text/plain"}', 413),
])
def test_bad_secrets(key_manager: KeyManager, body: str, status: int) -> None:
    _check(requests.post(f"{key_manager.url}/v1/secrets", data=body, headers=JSON,
                         timeout=10), status)


def test_bad_requests_around_secrets(key_manager: KeyManager) -> None:
    url = key_manager.url
    _check(requests.post(f"{url}/v1/secrets", data="{}", headers={"Content-Type": "text/plain"},
                         timeout=10), 415)
    _check(requests.post(f"{url}/v1/secrets", data="x" * 30_000, headers=JSON, timeout=10), 413)
    _check(requests.get(f"{url}/v1/secrets/not-a-uuid", timeout=10), 404)
    _check(requests.get(f"{url}/v1/secrets/{uuid.uuid4()}/payload", timeout=10), 404)
    _check(requests.get(f"{url}/v1/nothing", timeout=10), 404)
    _check(requests.patch(f"{url}/v1/secrets", json={}, timeout=10), 405)

    empty = _secret(key_manager, name="metadata only")
    _check(requests.get(f"{empty}/payload", timeout=10), 404)
    _check(requests.put(empty, data=b"", headers={"Content-Type": "text/plain"}, timeout=10),
           400)
    _check(requests.put(empty, data=b"x", headers=JSON, timeout=10), 415)
    _check(requests.put(empty, data=b"\xff\xfe", headers={"Content-Type": "text/plain"},
                        timeout=10), 400)
    _check(requests.put(empty, data=b"!!", headers={"Content-Type": "application/octet-stream",
                                                    "Content-Encoding": "base64"},
                        timeout=10), 400)
    _check(requests.put(empty, data=b"x" * 20_001,
                        headers={"Content-Type": "application/octet-stream"}, timeout=10), 413)

    binary = _secret(key_manager, payload="AAH/", payload_content_type="application/octet-stream",
                     payload_content_encoding="base64")
    _check(requests.get(f"{binary}/payload", headers={"Accept": "text/plain"}, timeout=10), 406)
    _check(requests.get(f"{binary}/payload", headers={"Accept": "image/png"}, timeout=10), 406)
    raw = requests.get(binary, headers={"Accept": "application/octet-stream"}, timeout=10)
    assert raw.status_code == 200 and raw.content == b"\x00\x01\xff"  # the legacy payload GET


@pytest.mark.parametrize("body", [
    {"write": {"users": ["u"]}},
    {"read": {"users": "u"}},
    {"read": {"users": [1]}},
    {"read": {"project-access": "no"}},
    {"read": {"groups": []}},
    {"read": ["u"]},
])
def test_bad_acls(key_manager: KeyManager, body: object) -> None:
    ref = _secret(key_manager, payload="x", payload_content_type="text/plain")
    _check(requests.put(f"{ref}/acl", json=body, timeout=10), 400)
    _check(requests.patch(f"{ref}/acl", json=body, timeout=10), 400)


@pytest.mark.parametrize("body", [
    {},
    {"type": "bundle"},
    {"type": "generic", "secret_refs": "x"},
    {"type": "generic", "secret_refs": [{"name": "a"}]},
    {"type": "generic", "secret_refs": [5]},
    {"type": "certificate", "secret_refs": [{"name": "private_key", "secret_ref": "{ref}"}]},
    {"type": "generic", "secret_refs": [{"name": "a", "secret_ref": "{ref}"},
                                        {"name": "b", "secret_ref": "{ref}"}]},
    {"type": "rsa", "name": 3},
])
def test_bad_containers(key_manager: KeyManager, body: dict) -> None:
    ref = _secret(key_manager, payload="x", payload_content_type="text/plain")
    text = requests.models.complexjson.dumps(body).replace("{ref}", ref)
    _check(requests.post(f"{key_manager.url}/v1/containers", data=text, headers=JSON,
                         timeout=10), 400)


def test_container_of_unknown_secret_is_404(key_manager: KeyManager) -> None:
    missing = f"{key_manager.url}/v1/secrets/{uuid.uuid4()}"
    _check(requests.post(f"{key_manager.url}/v1/containers", json={
        "type": "generic", "secret_refs": [{"name": "a", "secret_ref": missing}]}, timeout=10),
        404)
    _check(requests.post(f"{key_manager.url}/v1/containers", json={
        "type": "generic", "secret_refs": [{"name": "a", "secret_ref": "garbage"}]}, timeout=10),
        404)
