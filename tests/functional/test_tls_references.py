"""TLS references through the API: what a listener or pool names is fetched, as its load
balancer's project may read it, before anything is written; what reaches the amphora carries
the PEMs, and no key is ever kept in the database (rows or TaskFlow's logbook).

The stack's certificate store is the in-memory one; tests put bundles in it under made-up
Barbican references, readable by the default project or by another one.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import certs, harness
from tests.conftest import VIP_SUBNET

P = "/v2/lbaas"
BASE = "http://127.0.0.1:9311/v1"
PKI = certs.Pki()
OTHER_PKI = certs.Pki(name="Other")


def _ref(kind: str = "containers") -> str:
    return f"{BASE}/{kind}/{uuid.uuid4()}"


class Store:
    """The stack's in-memory certificate store, with bundles made on demand."""

    def __init__(self, stack: harness.Stack) -> None:
        self.target = stack.drivers.certificates.target

    def bundle(self, cn: str = "www.example.test", project: str | None = None,
               key_of: certs.Leaf | None = None) -> str:
        from ottava.domain.ports.certificates import CertificateBundle

        leaf = PKI.leaf(cn, dns=(cn,))
        key = (key_of or leaf).key_pem
        ref = _ref()
        self.target.put(ref, CertificateBundle(leaf.cert_pem, key,
                                               (certs.cert_pem(PKI.inter),)), project)
        return ref

    def secret(self, pem: str, project: str | None = None) -> str:
        ref = _ref("secrets")
        self.target.put_secret(ref, pem, project)
        return ref


@pytest.fixture
def store(stack: harness.Stack) -> Store:
    return Store(stack)


def _listener(lb: dict, **fields: Any) -> dict:
    return {"listener": {"loadbalancer_id": lb["id"], "protocol": "TERMINATED_HTTPS",
                         "protocol_port": 443, **fields}}


def _refused(api: harness.Client, stack: harness.Stack, method: str, path: str, body: Any,
             says: str) -> None:
    stack.settle()  # the fixtures' operations end before the rows are compared
    before = stack.snapshot()
    resp = api.request(method, path, body)
    assert resp.status_code == 400, resp.text
    fault = resp.json()
    assert fault["faultcode"] == "Client" and says in fault["faultstring"], fault
    assert stack.snapshot() == before


def _sent(stack: harness.Stack, lb: dict) -> dict[str, Any]:
    """The document last sent to `lb`'s amphora (the noop driver keeps every amphora's)."""
    [spec] = [s for s in stack.drivers.amphora.target.applied.values()
              if s["load_balancer"]["id"] == lb["id"]]
    return spec  # type: ignore[no-any-return]


def _no_key_in_database(stack: harness.Stack) -> None:
    for table, rows in stack.snapshot().items():
        for row in rows:
            assert not any("PRIVATE KEY" in value for value in row), table


def test_a_terminated_https_listener_sends_its_pems_and_keeps_no_key(
        api: harness.Client, stack: harness.Stack, store: Store, lb: dict) -> None:
    www, api_cert = store.bundle("www.example.test"), store.bundle("api.example.test")
    ca = store.secret(PKI.ca_pem)
    crl = store.secret(PKI.crl(signer="intermediate"))
    resp = api.post(f"{P}/listeners", _listener(
        lb, default_tls_container_ref=www, sni_container_refs=[api_cert],
        client_authentication="OPTIONAL", client_ca_tls_container_ref=ca,
        client_crl_container_ref=crl))
    assert resp.status_code == 201, resp.text
    listener = resp.json()["listener"]
    assert listener["default_tls_container_ref"] == www
    assert listener["sni_container_refs"] == [api_cert]
    api.wait(f"{P}/loadbalancers/{lb['id']}", "loadbalancer")

    spec = _sent(stack, lb)
    [sent] = spec["listeners"]
    pems = spec["certificates"]
    assert set(pems) == {sent["tls_certificate"], *sent["sni_certificates"],
                         sent["client_ca"], sent["client_crl"]}
    assert "PRIVATE KEY" in pems[sent["tls_certificate"]]
    assert "BEGIN X509 CRL" in pems[sent["client_crl"]]
    _no_key_in_database(stack)


def test_an_unknown_reference_is_refused_and_nothing_written(
        api: harness.Client, stack: harness.Stack, lb: dict) -> None:
    missing = _ref()
    _refused(api, stack, "POST", f"{P}/listeners",
             _listener(lb, default_tls_container_ref=missing),
             f"Could not retrieve certificate: ['{missing}']")


def test_another_projects_bundle_is_refused(api: harness.Client, stack: harness.Stack,
                                            store: Store, lb: dict) -> None:
    theirs = store.bundle(project="someone-else")
    _refused(api, stack, "POST", f"{P}/listeners",
             _listener(lb, default_tls_container_ref=theirs), theirs)


def test_a_key_that_is_not_the_certificates_is_refused(
        api: harness.Client, stack: harness.Stack, store: Store, lb: dict) -> None:
    mismatched = store.bundle(key_of=PKI.leaf("stranger.example.test"))
    _refused(api, stack, "POST", f"{P}/listeners",
             _listener(lb, default_tls_container_ref=mismatched), mismatched)


def test_a_bad_sni_reference_on_update_leaves_the_listener_as_it_was(
        api: harness.Client, stack: harness.Stack, store: Store, lb: dict) -> None:
    resp = api.post(f"{P}/listeners", _listener(lb, default_tls_container_ref=store.bundle()))
    assert resp.status_code == 201, resp.text
    listener = resp.json()["listener"]
    api.wait(f"{P}/loadbalancers/{lb['id']}", "loadbalancer")
    missing = _ref()
    _refused(api, stack, "PUT", f"{P}/listeners/{listener['id']}",
             {"listener": {"sni_container_refs": [store.bundle(), missing]}}, missing)


def test_a_crl_its_ca_did_not_issue_is_refused(api: harness.Client, stack: harness.Stack,
                                               store: Store, lb: dict) -> None:
    ca = store.secret(PKI.ca_pem)
    foreign_crl = store.secret(OTHER_PKI.crl(signer="intermediate"))
    _refused(api, stack, "POST", f"{P}/listeners",
             _listener(lb, default_tls_container_ref=store.bundle(),
                       client_authentication="MANDATORY", client_ca_tls_container_ref=ca,
                       client_crl_container_ref=foreign_crl),
             "The CRL specified is not valid for client certificate authority reference "
             "supplied.")


def test_a_certificate_given_as_a_crl_is_refused(api: harness.Client, stack: harness.Stack,
                                                 store: Store, lb: dict) -> None:
    ca = store.secret(PKI.ca_pem)
    _refused(api, stack, "POST", f"{P}/listeners",
             _listener(lb, default_tls_container_ref=store.bundle(),
                       client_ca_tls_container_ref=ca, client_crl_container_ref=ca),
             "certificate revocation list is invalid")


def test_pool_references_are_checked_and_sent(api: harness.Client, stack: harness.Stack,
                                              store: Store, lb: dict) -> None:
    pool = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "tls_enabled": True}
    missing = _ref("secrets")
    _refused(api, stack, "POST", f"{P}/pools",
             {"pool": {**pool, "ca_tls_container_ref": missing}}, missing)

    ca, client = store.secret(PKI.ca_pem), store.bundle("client.example.test")
    resp = api.post(f"{P}/pools", {"pool": {**pool, "ca_tls_container_ref": ca,
                                            "tls_container_ref": client}})
    assert resp.status_code == 201, resp.text
    api.wait(f"{P}/loadbalancers/{lb['id']}", "loadbalancer")
    spec = _sent(stack, lb)
    [sent] = spec["pools"]
    assert spec["certificates"][sent["ca_certificate"]] == PKI.ca_pem
    assert "PRIVATE KEY" in spec["certificates"][sent["tls_certificate"]]
    _no_key_in_database(stack)


def test_a_load_balancer_created_whole_with_a_bad_reference_writes_nothing(
        api: harness.Client, stack: harness.Stack) -> None:
    missing = _ref()
    _refused(api, stack, "POST", f"{P}/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": VIP_SUBNET, "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": missing}]}}, missing)
