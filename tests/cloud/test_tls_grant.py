"""With Keystone on, the API reads each TLS reference as its caller may and grants it to
Ottava itself, as Octavia does. Real Keystone (keystonemiddleware checks every token against
the mini-openstack's), real Barbican (its ACLs are what is asserted), Ottava's API with
`auth_strategy = keystone` reading certificates as its service user.

- The owner names certificates it never granted to anyone: the listener and pool are
  created, and the read ACLs of the container, of each secret in it and of the CA secret now
  list Ottava's user. The owner had nothing to grant by hand.
- Another project names those same references, which Ottava's user can by now read: 400
  with Octavia's message and nothing created. Without the caller's token Ottava's own rights
  would have been the only gate, and the stranger's listener would have served the owner's
  certificate.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests import certs, harness
from tests.cloud.conftest import KEYSTONE, REGION, Owner, barbican_overrides, user_token

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
P = "/v2/lbaas"
PKI = certs.Pki(name="Ottava cloud grant")


@pytest.fixture(scope="module")
def stack(accounts: dict[str, str]) -> Iterator[harness.Stack]:
    state = harness.new_state_dir()
    overrides = barbican_overrides(accounts)
    stack = harness.Stack(f"sqlite:///{state}/ottava.db", state, {
        "api_settings": {"auth_strategy": "keystone"}, **overrides},
        auth_overrides={"keystone_authtoken": {
            **overrides["service_auth"], "www_authenticate_uri": KEYSTONE,
            "auth_type": "password", "user_domain_name": "Default",
            "project_domain_name": "Default", "region_name": REGION}})
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def _client(stack: harness.Stack, accounts: dict[str, str]) -> harness.Client:
    return harness.Client(stack.url, {"X-Auth-Token": user_token(accounts)})


def _readers(owner: Owner, ref: str) -> list[str]:
    users: list[str] = owner.barbican.acls.get(ref).read.users or []
    return users


def _load_balancer(api: harness.Client) -> dict[str, Any]:
    resp = api.post(f"{P}/loadbalancers", {"loadbalancer": {"vip_subnet_id": SUBNET}})
    assert resp.status_code == 201, resp.text
    return api.wait(f"{P}/loadbalancers/{resp.json()['loadbalancer']['id']}", "loadbalancer")


def test_the_owner_names_ungranted_references_and_ottava_grants_itself_read(
        stack: harness.Stack, accounts: dict[str, str], owner: Owner) -> None:
    api = _client(stack, accounts)
    leaf = PKI.leaf("www.example.test", dns=("www.example.test",))
    container = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem,
                                intermediates=PKI.chain_pem)
    ca = owner.secret(PKI.ca_pem).secret_ref
    parts = list(owner.barbican.containers.get(container).secret_refs.values())
    assert len(parts) == 3
    for ref in (container, ca, *parts):
        assert accounts["ottava_id"] not in _readers(owner, ref)

    lb = _load_balancer(api)
    listener = api.post(f"{P}/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": container}})
    assert listener.status_code == 201, listener.text
    api.wait(f"{P}/loadbalancers/{lb['id']}", "loadbalancer")
    pool = api.post(f"{P}/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "ca_tls_container_ref": ca}})
    assert pool.status_code == 201, pool.text
    api.wait(f"{P}/loadbalancers/{lb['id']}", "loadbalancer")

    for ref in (container, ca, *parts):
        assert _readers(owner, ref) == [accounts["ottava_id"]], ref
        # The grant adds a reader and changes nothing else: the project still reads it.
        assert owner.barbican.acls.get(ref).read.project_access is True, ref
    # Granting again (an update naming the same container) keeps one entry.
    again = api.put(f"{P}/listeners/{listener.json()['listener']['id']}", {"listener": {
        "sni_container_refs": [container]}})
    assert again.status_code == 200, again.text
    assert _readers(owner, container) == [accounts["ottava_id"]]


def test_another_project_cannot_use_references_ottava_may_read(
        stack: harness.Stack, accounts: dict[str, str], stranger: dict[str, str],
        owner: Owner) -> None:
    leaf = PKI.leaf("www.example.test", dns=("www.example.test",))
    container = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)
    ca = owner.secret(PKI.ca_pem).secret_ref
    owner.grant(container)  # Ottava's user may read all of it, on the owner's behalf
    owner.grant(ca)
    api = _client(stack, stranger)

    refused = api.post(f"{P}/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": SUBNET, "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": container}]}})
    assert refused.status_code == 400, refused.text
    assert refused.json()["faultstring"] == f"Could not retrieve certificate: ['{container}']"
    assert api.get(f"{P}/loadbalancers").json()["loadbalancers"] == []

    lb = _load_balancer(api)
    listener = api.post(f"{P}/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": container}})
    assert listener.status_code == 400, listener.text
    assert listener.json()["faultstring"] == f"Could not retrieve certificate: ['{container}']"
    pool = api.post(f"{P}/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "ca_tls_container_ref": ca}})
    assert pool.status_code == 400, pool.text
    assert api.get(f"{P}/listeners").json()["listeners"] == []
    assert api.get(f"{P}/pools").json()["pools"] == []
    # What the owner set is as it was: the stranger changed no ACL.
    assert _readers(owner, container) == [accounts["ottava_id"]]
