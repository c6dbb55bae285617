"""A TERMINATED_HTTPS listener whose certificate lives in the cloud's real Barbican, read by
Ottava as its service user through real Keystone, serving real HTTPS from a local amphora.

The owner (a demo user in a project of its own) stores a certificate container and grants
Ottava's service user read on it; the load balancer is created in the owner's project (the
API without authentication takes the project from X-Project-Id). A container the owner did
not grant is refused with Octavia's message and nothing is created.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from tests import certs, harness
from tests.cloud.conftest import Owner, barbican_overrides
from tests.e2e.backends import GATEWAY, Backend

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
P = "/v2/lbaas"
PKI = certs.Pki(name="Ottava cloud TLS")


@pytest.fixture(scope="module")
def stack(accounts: dict[str, str]) -> Iterator[tuple[harness.Stack, harness.Client]]:
    with harness.local_stack(overrides=barbican_overrides(accounts)) as (stack, _):
        yield stack, harness.Client(stack.url, {"X-Project-Id": accounts["project_id"]})


def test_a_granted_container_serves_https_and_an_ungranted_one_is_refused(
        stack: tuple[harness.Stack, harness.Client], owner: Owner) -> None:
    _, api = stack
    leaf = PKI.leaf("www.example.test", dns=("www.example.test",))
    granted = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem,
                              intermediates=PKI.chain_pem)
    owner.grant(granted)
    kept = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)

    before = api.get(f"{P}/loadbalancers").json()["loadbalancers"]
    refused = api.post(f"{P}/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": SUBNET, "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": kept}]}})
    assert refused.status_code == 400, refused.text
    assert refused.json()["faultstring"] == f"Could not retrieve certificate: ['{kept}']"
    assert api.get(f"{P}/loadbalancers").json()["loadbalancers"] == before

    resp = api.post(f"{P}/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": SUBNET, "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": granted}]}})
    assert resp.status_code == 201, resp.text
    lb = api.wait(f"{P}/loadbalancers/{resp.json()['loadbalancer']['id']}", "loadbalancer",
                  timeout=60)
    backend = Backend("cloud")  # the bridge address exists once the amphora is plugged
    try:
        pool = api.post(f"{P}/pools", {"pool": {
            "listener_id": lb["listeners"][0]["id"], "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN"}})
        assert pool.status_code == 201, pool.text
        api.wait(f"{P}/loadbalancers/{lb['id']}", "loadbalancer", timeout=60)
        member = api.post(f"{P}/pools/{pool.json()['pool']['id']}/members", {"member": {
            "address": GATEWAY, "protocol_port": backend.port}})
        assert member.status_code == 201, member.text
        api.wait(f"{P}/loadbalancers/{lb['id']}", "loadbalancer", timeout=60)

        context = ssl.create_default_context(cadata=PKI.ca_pem)
        with socket.create_connection((lb["vip_address"], 443), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="www.example.test") as tls:
            assert tls.getpeercert(binary_form=True) == leaf.cert.public_bytes(certs.DER)
            tls.sendall(b"GET / HTTP/1.1\r\nHost: www.example.test\r\n"
                        b"Connection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
        assert answer.split(b" ")[1] == b"200" and answer.endswith(b"cloud"), answer
    finally:
        backend.stop()
