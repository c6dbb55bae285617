"""`BarbicanCertificateStore` against the real Barbican and Keystone of the mini-openstack.

A demo user in a project of its own stores what a load balancer's owner would (a certificate
container with its chain, one with a passphrase-encrypted key, a PKCS#12 secret, a CA and a
CRL) and grants read on each to Ottava's service user with Barbican ACLs; the store, logged
in as that service user, fetches and checks them. The service user `ottava-<tag>` has only the
`service` role in project `service`: an ACL is all it needs, and (as the admin test shows) a
role would not let it read more.

What a user must grant (learned here): read on the container *and* on every secret in it
(a container's ACL does not reach its secrets), or on the single PKCS#12 / CA / CRL secret.

The cloud and its accounts: tests/cloud/conftest.py.
"""

from __future__ import annotations

import pathlib
import socket
import uuid
from typing import Any

import pytest

from ottava.domain.errors import Fatal, Invalid, Retryable
from ottava.drivers.certificates.barbican import BarbicanCertificateStore
from ottava.settings import DriverSettings, KeyManagerSettings, ServiceAuth
from tests import certs
from tests.cloud.conftest import BARBICAN, KEYSTONE, REGION, Owner, ottava_auth


def _store(auth: ServiceAuth | None, endpoint: str | None = None,
           timeout: float = 10.0) -> BarbicanCertificateStore:
    return BarbicanCertificateStore(DriverSettings(
        state_dir=pathlib.Path("/nonexistent"), certificates="barbican",
        key_manager=KeyManagerSettings(endpoint=endpoint, region_name=REGION,
                                       endpoint_type="public", auth=auth, timeout=timeout)))


@pytest.fixture(scope="module")
def store(accounts: dict[str, str]) -> BarbicanCertificateStore:
    return _store(ottava_auth(accounts))


@pytest.fixture(scope="module")
def pki() -> certs.Pki:
    return certs.Pki(kind="rsa")


def _refused(call: Any, ref: str) -> None:
    with pytest.raises(Invalid) as refused:
        call()
    assert refused.value.code == 400
    assert refused.value.message == f"Could not retrieve certificate: ['{ref}']"


def test_a_granted_certificate_container_is_fetched_and_checked(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf = pki.leaf(kind="rsa")
    ref = owner.container(certificate=leaf.cert_pem,
                          private_key=certs.key_pem(leaf.key, traditional=True),
                          intermediates=pki.chain_pem)
    owner.grant(ref)
    bundle = store.fetch(ref, accounts["project_id"])
    # Barbican gave the PEMs back without their final newline; the bundle has them again.
    assert bundle.certificate == leaf.cert_pem
    assert bundle.private_key == leaf.key_pem
    assert bundle.intermediates == (certs.cert_pem(pki.inter), certs.cert_pem(pki.root))


def test_a_passphrase_encrypted_key_comes_back_decrypted(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf = pki.leaf(kind="ec")
    ref = owner.container(certificate=leaf.cert_pem,
                          private_key=certs.key_pem(leaf.key, "s3cret phrase"),
                          private_key_passphrase="s3cret phrase", intermediates=pki.chain_pem)
    owner.grant(ref)
    bundle = store.fetch(ref, accounts["project_id"])
    assert bundle.private_key == leaf.key_pem
    assert bundle.passphrase is None


def test_a_granted_pkcs12_secret_is_fetched(owner: Owner, store: BarbicanCertificateStore,
                                            accounts: dict[str, str], pki: certs.Pki) -> None:
    leaf = pki.leaf(kind="rsa")
    ref = owner.secret(pki.pkcs12(leaf)).secret_ref  # application/octet-stream
    owner.grant(ref)
    bundle = store.fetch(ref, accounts["project_id"])
    assert bundle.certificate == leaf.cert_pem
    assert bundle.private_key == leaf.key_pem
    assert bundle.intermediates == (certs.cert_pem(pki.inter), certs.cert_pem(pki.root))


def test_without_an_acl_grant_the_fetch_is_refused(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf = pki.leaf()
    project = accounts["project_id"]
    ungranted = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)
    _refused(lambda: store.fetch(ungranted, project), ungranted)
    # Barbican answers 403 for the container, and would for its secrets: read on the
    # container alone is not enough either.
    half = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)
    owner.grant(half, with_secrets=False)
    _refused(lambda: store.fetch(half, project), half)
    p12 = owner.secret(pki.pkcs12(leaf)).secret_ref
    _refused(lambda: store.fetch(p12, project), p12)


def test_an_admin_service_user_reads_no_more_than_its_grants(
        owner: Owner, accounts: dict[str, str], pki: certs.Pki) -> None:
    # The cloud's admin (admin role in project admin) is refused another project's container
    # and secret payloads just the same: Barbican's policy goes by project and ACL, not role.
    admin = _store(ServiceAuth(auth_url=KEYSTONE, username="admin", password="admin-secret",
                               project_name="admin"))
    leaf = pki.leaf()
    ref = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)
    _refused(lambda: admin.fetch(ref, accounts["project_id"]), ref)
    ca = owner.secret(pki.chain_pem).secret_ref
    _refused(lambda: admin.fetch_secret(ca, accounts["project_id"], "ca"), ca)


def test_a_container_whose_key_does_not_match_is_refused(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf, other = pki.leaf(), pki.leaf()
    ref = owner.container(certificate=leaf.cert_pem, private_key=other.key_pem)
    owner.grant(ref)
    _refused(lambda: store.fetch(ref, accounts["project_id"]), ref)


def test_ca_and_crl_secrets_are_fetched_and_checked(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    project = accounts["project_id"]
    ca_ref = owner.secret(pki.chain_pem).secret_ref
    crl = pki.crl(revoked=pki.leaf().cert)
    crl_ref = owner.secret(crl).secret_ref
    for ref in (ca_ref, crl_ref):
        owner.grant(ref)
    assert store.fetch_secret(ca_ref, project, "ca") == pki.chain_pem
    assert store.fetch_secret(crl_ref, project, "crl") == crl
    with pytest.raises(Invalid) as refused:
        store.fetch_secret(ca_ref, project, "crl")
    assert refused.value.message.startswith(
        "Validation failure: The client authentication certificate revocation list is invalid.")


def test_a_missing_secret_is_refused(store: BarbicanCertificateStore,
                                     accounts: dict[str, str]) -> None:
    ref = f"{BARBICAN}/v1/secrets/{uuid.uuid4()}"
    _refused(lambda: store.fetch_secret(ref, accounts["project_id"], "ca"), ref)
    container = f"{BARBICAN}/v1/containers/{uuid.uuid4()}"
    _refused(lambda: store.fetch(container, accounts["project_id"]), container)


def test_a_ref_of_another_host_or_shape_is_refused(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    real = owner.secret(pki.chain_pem).secret_ref
    owner.grant(real)
    secret_id = real.rsplit("/", 1)[1]
    for ref in (f"http://169.254.169.254/v1/secrets/{secret_id}",  # SSRF: another host
                f"http://127.0.0.1:29312/v1/secrets/{secret_id}",  # another port
                f"https://127.0.0.1:29311/v1/secrets/{secret_id}",  # another scheme
                f"{BARBICAN}/prefix/v1/secrets/{secret_id}",  # another path
                secret_id,  # a bare UUID
                f"{BARBICAN}/v1/secrets/not-a-uuid",
                f"{BARBICAN}/v1/secrets/{secret_id}?x=1",
                f"{BARBICAN}/v1/orders/{secret_id}"):
        _refused(lambda ref=ref: store.fetch_secret(ref, accounts["project_id"], "ca"), ref)
    # A container reference is no CA secret either.
    container = owner.container(certificate=pki.leaf().cert_pem)
    _refused(lambda: store.fetch_secret(container, accounts["project_id"], "ca"), container)
    assert store.fetch_secret(real + "/", accounts["project_id"], "ca") == pki.chain_pem


def test_an_unreachable_barbican_is_retryable_not_invalid(accounts: dict[str, str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = _store(ottava_auth(accounts), endpoint=closed, timeout=3.0)
    with pytest.raises(Retryable) as unavailable:
        down.fetch(f"{closed}/v1/containers/{uuid.uuid4()}", accounts["project_id"])
    assert unavailable.value.code == 503


def test_refused_service_credentials_are_fatal_not_invalid(accounts: dict[str, str]) -> None:
    wrong = _store(ottava_auth(accounts, password="wrong"))
    with pytest.raises(Fatal) as failed:
        wrong.fetch(f"{BARBICAN}/v1/containers/{uuid.uuid4()}", accounts["project_id"])
    assert failed.value.code == 500
